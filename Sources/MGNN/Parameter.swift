import MGTensor

// MARK: - Parameter

/// A trainable tensor of a module: the live float32 weights plus the persistent autograd leaf that collects their
/// gradient.
///
/// Forward code reads `tensor`. While the parameter is trainable that is one leaf, created once per value, so
/// every forward pass records against the same accumulator and gradients add up across backward calls (gradient
/// accumulation) until `zeroGrad()`. A frozen parameter hands out the plain value instead, so ops that read it
/// record nothing for it (and record nothing at all when no other input requires grad).
///
/// The leaf shares storage with `value`: optimizers write into `value` in place between steps and the next
/// forward sees the new weights without a new leaf. Do not update in place between a forward and its backward —
/// ops keep their inputs by reference for the backward pass.
public final class Parameter {
    private var storedValue: Tensor
    private var leaf: Tensor
    /// True while `storedValue` is a checkpoint tensor used in place (possibly 16-bit, possibly a read-only memory
    /// map): only allowed while frozen.
    public private(set) var isInPlace = false

    /// When true, forward passes record no gradient for this parameter, `grad` is nil and optimizers skip it.
    /// Freezing drops any gradient accumulated so far. Unfreezing a parameter that holds a checkpoint tensor in
    /// place first makes an owned float32 copy of it (a mapped checkpoint must never be written).
    public var frozen: Bool {
        didSet {
            if frozen {
                leaf.zeroGrad()
            } else if isInPlace {
                value = storedValue.dtype == .float32 ? storedValue.copy() : storedValue.converted(to: .float32)
            }
        }
    }

    /// `value` is converted to float32 (16-bit sources are widened into new storage; a float32 tensor is used as
    /// is — pass an owned tensor, since optimizers will write into it).
    public init(_ value: Tensor, frozen: Bool = false) {
        let v = value.float().detached()
        storedValue = v
        leaf = v.requiringGrad()
        self.frozen = frozen
    }

    /// The live float32 weights, cut from the graph. Setting it replaces the storage (same rules as `init`) and
    /// starts a fresh autograd leaf: gradients accumulated against the old value are dropped.
    public var value: Tensor {
        get { storedValue }
        set {
            let v = newValue.float().detached()
            storedValue = v
            leaf = v.requiringGrad()
            isInPlace = false
        }
    }

    /// Freezes the parameter and uses `tensor` as its value without converting or copying it: a bf16/f16 or
    /// memory-mapped checkpoint tensor stays where it is and is widened by the kernels that read it. This is how
    /// a 7B model runs in its stored 16-bit weights. `value` then has the checkpoint's dtype.
    public func useInPlace(_ tensor: Tensor) {
        precondition(
            tensor.dtype.isFloatingPoint && tensor.shape == shape,
            "Parameter.useInPlace: \(tensor.dtype.rawValue) \(tensor.shape) for a parameter of shape \(shape)")
        frozen = true
        storedValue = tensor.detached()
        leaf = storedValue
        isInPlace = true
    }

    /// What forward code uses: the persistent leaf when trainable, the detached value when frozen.
    public var tensor: Tensor { frozen ? storedValue : leaf }

    /// The accumulated gradient (nil before any backward reached this parameter, after `zeroGrad()`, and always
    /// when frozen). Setting it replaces the accumulated gradient (clipping, all-reduce, tests); the shape must
    /// match `shape`.
    public var grad: Tensor? {
        get { frozen ? nil : leaf.grad }
        set { leaf.setGrad(newValue?.float()) }
    }

    public var shape: [Int] { storedValue.shape }
    public var count: Int { storedValue.count }

    /// Drops the accumulated gradient.
    public func zeroGrad() { leaf.zeroGrad() }
}

extension Parameter: CustomStringConvertible {
    public var description: String { "Parameter(\(shape)\(frozen ? ", frozen" : ""))" }
}

// MARK: - Buffer

/// A non-trainable tensor that belongs in a module's checkpoint (running statistics, fixed index tables).
///
/// Buffers are visited separately from parameters (`Module.ownBuffers`): they appear in `stateDict()` and are
/// verified and loaded by `load(_:)`, but never in `parameters()`, never take gradients, and `freeze`/`unfreeze`
/// and optimizers ignore them. Unlike parameters they keep their dtype (an int64 index table stays int64);
/// loading converts between float dtypes, or between integer dtypes, into the buffer's dtype.
///
/// Checkpoint tensors that a module recomputes itself (rotary `inv_freq`, CLIP `position_ids`) need not be
/// buffers: skip them with `load`'s `ignoring` predicate and document the rule there.
public final class Buffer {
    private var storedValue: Tensor

    public init(_ value: Tensor) { storedValue = value.detached() }

    /// The current contents, cut from the graph.
    public var value: Tensor {
        get { storedValue }
        set { storedValue = newValue.detached() }
    }

    public var shape: [Int] { storedValue.shape }
    public var dtype: DType { storedValue.dtype }
}

extension Buffer: CustomStringConvertible {
    public var description: String { "Buffer(\(dtype.rawValue) \(shape))" }
}
