import Foundation

// Reverse-mode autograd: a tape of coarse nodes, one per op, each with a hand-written backward closure.
//
// A tensor that requires grad carries a node: either a leaf accumulator (parameters, inputs marked with
// `requiringGrad()`), whose `grad` survives backward passes and accumulates, or an op node, whose closure maps
// the gradient of its output to gradients of its inputs. `backward()` orders the graph with Kahn's algorithm
// (no recursion, so depth is unbounded) and frees each op node — closure, saved tensors and edges — as soon as
// it has run.

/// A recorded operation of the autograd graph: its inputs and how to send its output's gradient back to them.
public final class GradNode: @unchecked Sendable {
    public let name: String
    let isLeaf: Bool
    let shape: [Int]
    var inputs: [GradNode?]
    var backwardFn: ((Tensor) -> [Tensor?])?
    /// Leaf: the accumulated gradient. Op node: the gradient flowing in during a backward pass.
    var grad: Tensor?

    init(leafWithShape shape: [Int]) {
        self.name = "leaf"
        self.isLeaf = true
        self.shape = shape
        self.inputs = []
    }

    init(name: String, shape: [Int], inputs: [GradNode?], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.isLeaf = false
        self.shape = shape
        self.inputs = inputs
        self.backwardFn = backward
    }

    func accumulate(_ g: Tensor) {
        precondition(g.shape == shape, "autograd: gradient of shape \(g.shape) for a \(name) output of shape \(shape)")
        if let existing = grad {
            grad = withNoGrad { existing + g }
        } else {
            // A leaf keeps its own copy: op backwards may hand the same tensor to several inputs (add, sub) or
            // return the caller's seed, and later in-place users of `.grad` (all-reduce, clipping) must not alias.
            grad = isLeaf ? g.copy() : g
        }
    }
}

/// Whether ops record the graph on this task/thread.
public enum GradMode {
    @TaskLocal public static var isEnabled: Bool = true
}

/// Runs `body` without recording any op (inference, frozen towers, optimizer updates).
@inlinable
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(false) { try body() }
}

/// Runs `body` with recording enabled (e.g. a trainable head inside an outer no-grad scope).
@inlinable
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(true) { try body() }
}

extension Tensor {
    /// True when this tensor takes part in a recorded graph (a leaf that requires grad, or an op result).
    public var requiresGrad: Bool { node != nil }

    /// True when this tensor is a leaf that accumulates gradients.
    public var isLeaf: Bool { node?.isLeaf ?? true }

    /// This tensor as a new leaf that requires grad (shares storage; fresh, empty gradient).
    public func requiringGrad() -> Tensor {
        precondition(
            dtype == .float32, "requiringGrad on a \(dtype.rawValue) tensor: only float32 tensors take gradients")
        return Tensor(storage: storage, shape: shape, node: GradNode(leafWithShape: shape))
    }

    /// The same values, cut from the graph.
    public func detached() -> Tensor { Tensor(storage: storage, shape: shape) }

    /// Accumulated gradient of a leaf (nil before any backward reached it).
    public var grad: Tensor? {
        guard let node, node.isLeaf else { return nil }
        return node.grad
    }

    /// Clears a leaf's accumulated gradient.
    public func zeroGrad() {
        if let node, node.isLeaf { node.grad = nil }
    }

    /// Sets a leaf's accumulated gradient (gradient clipping, all-reduce). The leaf takes `g` as it is: pass a
    /// tensor nobody else writes to.
    public func setGrad(_ g: Tensor?) {
        guard let node, node.isLeaf else { return }
        if let g { precondition(g.shape == shape, "setGrad: \(g.shape) for a leaf of shape \(shape)") }
        node.grad = g?.detached()
    }

    /// Records an op: `output` (computed without a graph) gets a node whose backward maps the output gradient to
    /// one gradient (or nil) per input. Nothing is recorded in a no-grad scope or when no input requires grad.
    @inlinable
    public static func record(
        _ name: String, _ output: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        return makeRecorded(name, output, inputs: inputs, backward: backward)
    }

    @usableFromInline
    static func makeRecorded(
        _ name: String, _ output: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        let node = GradNode(name: name, shape: output.shape, inputs: inputs.map { $0.node }, backward: backward)
        return Tensor(storage: output.storage, shape: output.shape, node: node)
    }

    /// True when an op on these inputs would be recorded (lets ops skip saving tensors for backward).
    @inlinable
    public static func wouldRecord(_ inputs: Tensor...) -> Bool {
        GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad })
    }

    /// Back-propagates from this tensor. A one-element tensor seeds with 1; otherwise pass `gradient` of the same
    /// shape. Leaf gradients accumulate across calls (as in PyTorch) until `zeroGrad()`. The graph is freed.
    public func backward(_ gradient: Tensor? = nil) {
        guard let root = node else {
            preconditionFailure("backward() on a tensor that does not require grad (shape \(shape))")
        }
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "backward: gradient \(gradient.shape) for a tensor of shape \(shape)")
            seed = gradient.float().detached()
        } else {
            precondition(count == 1, "backward() without a gradient needs a one-element tensor, got \(shape)")
            seed = Tensor.ones(shape)
        }
        withNoGrad { Tensor.runBackward(root: root, seed: seed) }
    }

    private static func runBackward(root: GradNode, seed: Tensor) {
        // Count, for every reachable node, how many reachable op nodes consume it.
        var pending: [ObjectIdentifier: Int] = [:]
        var stack: [GradNode] = [root]
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        while let n = stack.popLast() {
            if n.isLeaf { continue }
            precondition(
                n.backwardFn != nil,
                "backward through a graph that was already freed by an earlier backward (\(n.name))")
            for case let input? in n.inputs {
                let id = ObjectIdentifier(input)
                pending[id, default: 0] += 1
                if seen.insert(id).inserted { stack.append(input) }
            }
        }
        root.accumulate(seed)
        var ready: [GradNode] = [root]
        while let n = ready.popLast() {
            if n.isLeaf { continue }
            let inputs = n.inputs
            let fn = n.backwardFn
            let g = n.grad
            // Free this node before running its inputs: its closure holds the saved tensors.
            n.backwardFn = nil
            n.grad = nil
            n.inputs = []
            var grads: [Tensor?] = []
            if let g, let fn { grads = fn(g) }
            precondition(
                grads.isEmpty || grads.count == inputs.count,
                "autograd: \(n.name) returned \(grads.count) gradients for \(inputs.count) inputs")
            for (i, input) in inputs.enumerated() {
                guard let input else { continue }
                if !grads.isEmpty, let gi = grads[i] { input.accumulate(gi) }
                let id = ObjectIdentifier(input)
                let left = (pending[id] ?? 1) - 1
                pending[id] = left
                if left == 0 { ready.append(input) }
            }
        }
    }
}
