import MGTensor

// Saving and strict loading of a module's weights by checkpoint key.
//
// Upstream loads with `strict=False` and so fails silently on a renamed key; we verify every key and shape and
// report every problem in one error, so a wrong checkpoint is diagnosed in one run.

// MARK: - Errors and reports

/// Why a checkpoint could not be loaded into a module: every missing, unexpected, mis-shaped and mis-typed key at
/// once, sorted by key.
public struct LoadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A checkpoint tensor whose shape differs from the parameter's.
    public struct ShapeMismatch: Equatable, Sendable {
        public var key: String
        public var expected: [Int]
        public var found: [Int]

        public init(key: String, expected: [Int], found: [Int]) {
            self.key = key
            self.expected = expected
            self.found = found
        }
    }

    /// A checkpoint tensor whose element type cannot be loaded into the parameter.
    public struct DTypeMismatch: Equatable, Sendable {
        public var key: String
        public var expected: DType
        public var found: DType

        public init(key: String, expected: DType, found: DType) {
            self.key = key
            self.expected = expected
            self.found = found
        }
    }

    /// The checkpoint the tensors came from (a file path), when the caller named it.
    public var source: String?
    /// Keys the module expects that the checkpoint lacks.
    public var missing: [String]
    /// Keys the checkpoint holds that the module does not expect (and that no `ignoring` rule excuses).
    public var unexpected: [String]
    public var shapeMismatches: [ShapeMismatch]
    /// A parameter loaded from a non-float tensor, or a buffer from a tensor of the other kind (float vs integer).
    public var dtypeMismatches: [DTypeMismatch]

    public var isEmpty: Bool {
        missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty && dtypeMismatches.isEmpty
    }

    public var description: String {
        var counts: [String] = []
        if !missing.isEmpty { counts.append("\(missing.count) missing") }
        if !unexpected.isEmpty { counts.append("\(unexpected.count) unexpected") }
        if !shapeMismatches.isEmpty { counts.append("\(shapeMismatches.count) with the wrong shape") }
        if !dtypeMismatches.isEmpty { counts.append("\(dtypeMismatches.count) with the wrong dtype") }
        var lines = ["cannot load weights\(source.map { " from \($0)" } ?? ""): \(counts.joined(separator: ", "))"]
        lines += missing.map { "  missing key: \($0)" }
        lines += unexpected.map { "  unexpected key: \($0)" }
        lines += shapeMismatches.map { "  wrong shape: \($0.key) expected \($0.expected), found \($0.found)" }
        lines += dtypeMismatches.map {
            "  wrong dtype: \($0.key) expected \($0.expected.rawValue), found \($0.found.rawValue)"
        }
        return lines.joined(separator: "\n")
    }
}

/// What a successful `load` did; with `strict: false` it lists what was tolerated.
public struct LoadReport: Equatable, Sendable {
    /// Module keys that received a tensor.
    public var loaded: [String]
    /// Module keys absent from the checkpoint (left as they were).
    public var missing: [String]
    /// Checkpoint keys the module does not have, not excused by `ignoring`.
    public var unexpected: [String]
    /// Checkpoint keys the module does not have that `ignoring` excused.
    public var ignored: [String]
}

// MARK: - Saving and loading

extension Module {
    /// Every parameter and buffer by key. The tensors share storage with the live weights (no copy): serialise
    /// them before the next optimizer step.
    public func stateDict() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for (key, parameter) in namedParameters() { state[key] = parameter.value }
        for (key, buffer) in namedBuffers() { state[key] = buffer.value }
        return state
    }

    /// Loads parameters and buffers from `state`, verifying every key, shape and dtype first.
    ///
    /// - Parameters:
    ///   - strict: when true (the default), a missing or unexpected key is an error, as with PyTorch's
    ///     `strict=True`. Shapes and dtypes are always checked.
    ///   - source: the checkpoint's name (file path) for the error message.
    ///   - ignoring: keys that are neither required nor reported — the documented exceptions, such as CLIP's
    ///     `text_model.*` or a recomputed `rotary_emb.inv_freq`. A key the module has is still loaded when present.
    /// - Returns: what was loaded and what was tolerated.
    /// - Throws: `LoadError` listing every problem. Nothing is modified when it throws.
    ///
    /// Parameters receive float32 copies in owned storage (bf16/f16 are widened): checkpoint tensors may borrow
    /// a read-only memory map, and optimizers write into parameters in place. Shared (tied) parameters load once.
    ///   - inPlaceWhenFrozen: frozen parameters take the checkpoint tensor as it is (16-bit or memory-mapped, no
    ///     copy; see `Parameter.useInPlace`) — inference and frozen towers without a float32 copy of the weights.
    @discardableResult
    public func load(
        _ state: [String: Tensor], strict: Bool = true, source: String? = nil,
        ignoring: (String) -> Bool = { _ in false }, inPlaceWhenFrozen: Bool = false
    ) throws -> LoadReport {
        let parameters = namedParameters()
        let buffers = namedBuffers()
        var error = LoadError(source: source, missing: [], unexpected: [], shapeMismatches: [], dtypeMismatches: [])
        var report = LoadReport(loaded: [], missing: [], unexpected: [], ignored: [])
        var expectedKeys = Set<String>()

        // Check everything before touching any weight, so a failed load leaves the module as it was.
        var parameterUpdates: [(Parameter, Tensor)] = []
        for (key, parameter) in parameters {
            precondition(expectedKeys.insert(key).inserted, "Module: key \(key) declared twice")
            guard let tensor = state[key] else {
                if !ignoring(key) { report.missing.append(key) }
                continue
            }
            guard tensor.dtype.isFloatingPoint else {
                error.dtypeMismatches.append(.init(key: key, expected: .float32, found: tensor.dtype))
                continue
            }
            guard tensor.shape == parameter.shape else {
                error.shapeMismatches.append(.init(key: key, expected: parameter.shape, found: tensor.shape))
                continue
            }
            parameterUpdates.append((parameter, tensor))
            report.loaded.append(key)
        }
        var bufferUpdates: [(Buffer, Tensor)] = []
        for (key, buffer) in buffers {
            precondition(expectedKeys.insert(key).inserted, "Module: key \(key) declared twice")
            guard let tensor = state[key] else {
                if !ignoring(key) { report.missing.append(key) }
                continue
            }
            guard tensor.dtype.isFloatingPoint == buffer.dtype.isFloatingPoint else {
                error.dtypeMismatches.append(.init(key: key, expected: buffer.dtype, found: tensor.dtype))
                continue
            }
            guard tensor.shape == buffer.shape else {
                error.shapeMismatches.append(.init(key: key, expected: buffer.shape, found: tensor.shape))
                continue
            }
            bufferUpdates.append((buffer, tensor))
            report.loaded.append(key)
        }
        for key in state.keys where !expectedKeys.contains(key) {
            if ignoring(key) { report.ignored.append(key) } else { report.unexpected.append(key) }
        }
        report.missing.sort()
        report.unexpected.sort()
        report.ignored.sort()

        if strict {
            error.missing = report.missing
            error.unexpected = report.unexpected
        }
        error.shapeMismatches.sort { $0.key < $1.key }
        error.dtypeMismatches.sort { $0.key < $1.key }
        guard error.isEmpty else { throw error }

        for (parameter, tensor) in parameterUpdates {
            if inPlaceWhenFrozen && parameter.frozen {
                parameter.useInPlace(tensor)
            } else {
                // `copy()` gives owned storage; `converted(to:)` of a 16-bit tensor already does.
                parameter.value = tensor.dtype == .float32 ? tensor.copy() : tensor.converted(to: .float32)
            }
        }
        for (buffer, tensor) in bufferUpdates {
            buffer.value = tensor.dtype == buffer.dtype ? tensor.copy() : tensor.converted(to: buffer.dtype)
        }
        return report
    }
}
