import MGTensor

// MARK: - Module

/// Base class of every layer and model: a tree of named parameters, buffers and submodules whose dotted paths
/// are the checkpoint keys (`encoder.layers.3.self_attn.q_proj.weight`).
///
/// The tree is declared explicitly — no reflection. Each subclass overrides `ownParameters`, `ownBuffers` and
/// `children` to list what it holds, in checkpoint order, under the reference implementation's names:
///
/// ```swift
/// final class Block: Module {
///     let attn: Attention, norm: LayerNorm
///     let scale: Parameter
///     override var ownParameters: [(String, Parameter)] { [("scale", scale)] }
///     override var children: [(String, Module)] { [("self_attn", attn), ("layer_norm1", norm)] }
/// }
/// ```
///
/// Lists of blocks are a `ModuleList` child (keys `layers.0…`); a key prefix with no module of its own in the
/// forward pass (HF's `model.`, CLIP's `encoder.`) is a `ModuleGroup` child; a child named "" is transparent (its
/// entries take the parent's prefix). Keys are recomputed on every call, which is cheap at a few thousand entries and
/// means the tree can never disagree with itself.
open class Module {
    /// Training mode (dropout active). Set for a whole subtree with `train()` / `eval()`.
    public private(set) var isTraining: Bool = true

    public init() {}

    // MARK: Declarations (override in subclasses)

    /// The parameters this module holds directly, with their local names, in checkpoint order.
    open var ownParameters: [(String, Parameter)] { [] }

    /// The buffers this module holds directly, with their local names (see `Buffer`).
    open var ownBuffers: [(String, Buffer)] { [] }

    /// The direct submodules, with their local names, in checkpoint order.
    open var children: [(String, Module)] { [] }

    // MARK: Traversal

    /// Every module of the tree with its key prefix, pre-order (self first, with key ""), as PyTorch's
    /// `named_modules`. A module reachable twice (shared) is listed once, under its first path.
    public func namedModules() -> [(String, Module)] {
        var result: [(String, Module)] = []
        var seen = Set<ObjectIdentifier>()
        // Explicit stack (children pushed in reverse) keeps pre-order without recursion.
        var stack: [(String, Module)] = [("", self)]
        while let (prefix, module) = stack.popLast() {
            guard seen.insert(ObjectIdentifier(module)).inserted else { continue }
            result.append((prefix, module))
            for (name, child) in module.children.reversed() {
                stack.append((Module.join(prefix, name), child))
            }
        }
        return result
    }

    /// Every parameter with its full key, in checkpoint order (each module's own parameters, then its children's).
    /// A parameter shared by two modules (tied weights) is listed once, under its first key, as in PyTorch.
    public func namedParameters() -> [(String, Parameter)] {
        var result: [(String, Parameter)] = []
        var seen = Set<ObjectIdentifier>()
        for (prefix, module) in namedModules() {
            for (name, parameter) in module.ownParameters where seen.insert(ObjectIdentifier(parameter)).inserted {
                result.append((Module.join(prefix, name), parameter))
            }
        }
        return result
    }

    /// Every buffer with its full key.
    public func namedBuffers() -> [(String, Buffer)] {
        var result: [(String, Buffer)] = []
        var seen = Set<ObjectIdentifier>()
        for (prefix, module) in namedModules() {
            for (name, buffer) in module.ownBuffers where seen.insert(ObjectIdentifier(buffer)).inserted {
                result.append((Module.join(prefix, name), buffer))
            }
        }
        return result
    }

    /// Every parameter, in the order of `namedParameters()`.
    public func parameters() -> [Parameter] { namedParameters().map { $0.1 } }

    /// Number of parameter elements (buffers excluded; shared parameters counted once).
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Number of elements in parameters that are not frozen.
    public var trainableParameterCount: Int { parameters().reduce(0) { $0 + ($1.frozen ? 0 : $1.count) } }

    // MARK: Modes

    /// Puts this module and every submodule in training mode (or evaluation mode when `on` is false).
    public func train(_ on: Bool = true) {
        for (_, module) in namedModules() { module.isTraining = on }
    }

    /// Puts this module and every submodule in evaluation mode (dropout becomes the identity).
    public func eval() { train(false) }

    // MARK: Freezing

    /// Freezes every parameter whose key starts with `prefix` as whole dot-separated components: "llm" matches
    /// `llm.model.embed_tokens.weight` but not `llm_extra.weight`; "" matches everything. Returns how many
    /// parameters matched, so a typo in a stage's prefix shows up as 0.
    @discardableResult
    public func freeze(prefix: String = "") -> Int { setFrozen(true, prefix: prefix) }

    /// Unfreezes the parameters matched as in `freeze(prefix:)`. Returns how many matched.
    @discardableResult
    public func unfreeze(prefix: String = "") -> Int { setFrozen(false, prefix: prefix) }

    private func setFrozen(_ frozen: Bool, prefix: String) -> Int {
        var matched = 0
        for (key, parameter) in namedParameters() where Module.key(key, hasPrefix: prefix) {
            parameter.frozen = frozen
            matched += 1
        }
        return matched
    }

    /// Drops the accumulated gradient of every parameter.
    public func zeroGrad() {
        for parameter in parameters() { parameter.zeroGrad() }
    }

    // MARK: Keys

    /// Whether `key` lies under `prefix` as whole components (`prefix` itself, or `prefix.` followed by more).
    /// The empty prefix matches every key.
    public static func key(_ key: String, hasPrefix prefix: String) -> Bool {
        if prefix.isEmpty || key == prefix { return true }
        return key.hasPrefix(prefix) && key.dropFirst(prefix.count).first == "."
    }

    /// `prefix.name`, skipping empty components.
    static func join(_ prefix: String, _ name: String) -> String {
        if prefix.isEmpty { return name }
        if name.isEmpty { return prefix }
        return prefix + "." + name
    }
}

// MARK: - Layer

/// A module that maps one tensor to one tensor; what `Sequential` chains.
public protocol Layer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}
