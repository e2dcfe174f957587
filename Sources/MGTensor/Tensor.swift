import Foundation

/// A contiguous row-major tensor: a shape over a reference-counted `Storage`, plus its place in the autograd graph.
///
/// `Tensor` is a value type; copying one shares the storage (no data copy). Ops never mutate their inputs; the
/// only in-place writes are the explicitly named `unsafeMutable…` accessors used by optimizers and loaders.
/// Compute ops require `float32`; `float()` widens bf16/f16/int storage.
public struct Tensor: @unchecked Sendable {
    public let storage: Storage
    public let shape: [Int]
    /// The node that produced this tensor (or the leaf accumulator of a tensor that requires grad).
    @usableFromInline internal var node: GradNode?

    public init(storage: Storage, shape: [Int]) {
        let count = Tensor.elementCount(shape)
        precondition(
            count == storage.count, "Tensor: shape \(shape) (\(count) elements) over storage of \(storage.count)")
        self.storage = storage
        self.shape = shape
        self.node = nil
    }

    internal init(storage: Storage, shape: [Int], node: GradNode?) {
        self.storage = storage
        self.shape = shape
        self.node = node
    }

    // MARK: - Basic properties

    public var dtype: DType { storage.dtype }
    public var rank: Int { shape.count }
    public var count: Int { storage.count }
    public var isScalar: Bool { shape.isEmpty }

    /// Product of the dimensions; precondition-checked against overflow.
    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "Tensor: negative dimension in shape \(shape)")
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            precondition(!overflow, "Tensor: element count of \(shape) overflows")
            n = m
        }
        return n
    }

    /// Resolves a possibly negative axis against this tensor's rank.
    public func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < Swift.max(rank, 1), "axis \(a) out of range for shape \(shape)")
        return r
    }

    // MARK: - Creation

    public init(_ values: [Float], shape: [Int]) {
        let storage = Storage(uninitializedCount: values.count, dtype: .float32)
        precondition(
            Tensor.elementCount(shape) == values.count,
            "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.floats.update(from: base, count: values.count) }
        }
        self.init(storage: storage, shape: shape)
    }

    /// A 1-D tensor.
    public init(_ values: [Float]) { self.init(values, shape: [values.count]) }

    /// A 0-D (scalar) tensor.
    public init(scalar: Float) { self.init([scalar], shape: []) }

    public init(int64 values: [Int64], shape: [Int]) {
        precondition(Tensor.elementCount(shape) == values.count, "Tensor: \(values.count) values for shape \(shape)")
        let storage = Storage(uninitializedCount: values.count, dtype: .int64)
        let p = storage.pointer.assumingMemoryBound(to: Int64.self)
        for i in 0..<values.count { p[i] = values[i] }
        self.init(storage: storage, shape: shape)
    }

    public init(int64 values: [Int], shape: [Int]) {
        self.init(int64: values.map { Int64($0) }, shape: shape)
    }

    /// A float32 tensor of the given shape whose contents are undefined (every element must be written).
    public static func uninitialized(_ shape: [Int]) -> Tensor {
        Tensor(storage: Storage(uninitializedCount: elementCount(shape), dtype: .float32), shape: shape)
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(storage: Storage(zeroedCount: elementCount(shape), dtype: dtype), shape: shape)
    }

    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        let t = uninitialized(shape)
        t.storage.floats.initialize(repeating: value, count: t.count)
        return t
    }

    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }

    /// 0, 1, …, n-1 as float32.
    public static func arange(_ n: Int) -> Tensor {
        let t = uninitialized([n])
        let p = t.storage.floats
        for i in 0..<n { p[i] = Float(i) }
        return t
    }

    /// Standard normal samples × std + mean, from a seeded generator.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout Generator) -> Tensor {
        let t = uninitialized(shape)
        let p = t.storage.floats
        for i in 0..<t.count { p[i] = mean + std * generator.nextNormal() }
        return t
    }

    /// Uniform samples in [low, high), from a seeded generator.
    public static func rand(_ shape: [Int], low: Float = 0, high: Float = 1, generator: inout Generator) -> Tensor {
        let t = uninitialized(shape)
        let p = t.storage.floats
        for i in 0..<t.count { p[i] = low + (high - low) * generator.nextUniform() }
        return t
    }

    // MARK: - Reading values

    /// All elements as Float (widening 16-bit floats and integers).
    public func toArray() -> [Float] {
        let f = float()
        return Array(UnsafeBufferPointer(start: f.storage.floats, count: f.count))
    }

    /// The flat index of the first NaN or ±infinity, nil when every element is finite (integers always are).
    public var firstNonFiniteIndex: Int? {
        guard dtype.isFloatingPoint else { return nil }
        let f = float()
        let p = f.storage.floats
        for i in 0..<f.count where !p[i].isFinite { return i }
        return nil
    }

    /// All elements as Int64 (integer dtypes only; floats are truncated toward zero).
    public func toInt64Array() -> [Int64] {
        switch dtype {
        case .int64:
            return Array(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: Int64.self), count: count))
        case .int32:
            return UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: Int32.self), count: count).map {
                Int64($0)
            }
        case .uint8, .bool:
            return UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: UInt8.self), count: count).map {
                Int64($0)
            }
        default:
            return toArray().map { Int64($0) }
        }
    }

    /// The single element of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item() on a tensor of shape \(shape)")
        return toArray()[0]
    }

    /// Read-only access to float32 contents.
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(dtype == .float32, "withFloats on a \(dtype.rawValue) tensor")
        return try body(UnsafeBufferPointer(start: storage.floats, count: count))
    }

    /// In-place access to float32 contents. Every tensor sharing this storage sees the writes: use only on
    /// storage you own (optimizer state, parameters between steps, freshly created outputs).
    public func unsafeMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(dtype == .float32, "unsafeMutableFloats on a \(dtype.rawValue) tensor")
        return try body(UnsafeMutableBufferPointer(start: storage.floats, count: count))
    }

    // MARK: - Dtype conversion

    /// This tensor as float32: itself if already float32, otherwise a widened copy (no grad recorded).
    public func float() -> Tensor {
        if dtype == .float32 { return self }
        return converted(to: .float32)
    }

    /// A copy in another dtype. Float→16-bit rounds to nearest even; float→int truncates toward zero; float→a
    /// block-quantized type quantizes each row as ggml's reference quantizer does (the last dimension must be a
    /// multiple of the block size), and a block-quantized tensor dequantizes as ggml does.
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return copy() }
        precondition(
            !target.isBlockQuantized || (shape.last ?? 0) % target.blockSize == 0,
            "converted(to: \(target.rawValue)): rows of \(shape.last ?? 0) values are not whole blocks of \(target.blockSize)"
        )
        let out = Storage(uninitializedCount: count, dtype: target)
        let n = count
        // Widen to float first (every source type), then narrow.
        let src: UnsafeMutablePointer<Float>
        var temp: Storage? = nil
        if dtype == .float32 {
            src = storage.floats
        } else {
            let t = Storage(uninitializedCount: n, dtype: .float32)
            temp = t
            let dst = t.floats
            switch dtype {
            case .bfloat16:
                let p = storage.pointer.assumingMemoryBound(to: UInt16.self)
                for i in 0..<n { dst[i] = bf16ToFloat(p[i]) }
            case .float16:
                let p = storage.pointer.assumingMemoryBound(to: UInt16.self)
                for i in 0..<n { dst[i] = f16ToFloat(p[i]) }
            case .int64:
                let p = storage.pointer.assumingMemoryBound(to: Int64.self)
                for i in 0..<n { dst[i] = Float(p[i]) }
            case .int32:
                let p = storage.pointer.assumingMemoryBound(to: Int32.self)
                for i in 0..<n { dst[i] = Float(p[i]) }
            case .uint8, .bool:
                let p = storage.pointer.assumingMemoryBound(to: UInt8.self)
                for i in 0..<n { dst[i] = Float(p[i]) }
            case .float32:
                break
            case .q8_0, .q5_0, .q4_K, .q6_K:
                BlockQuantization.dequantize(storage.pointer, dtype, count: n, into: dst)
            }
            src = dst
        }
        if target == .float32 {
            if let temp { return Tensor(storage: temp, shape: shape) }
            out.floats.update(from: src, count: n)
            return Tensor(storage: out, shape: shape)
        }
        // Integer sources go straight to integer targets without a float round trip (ids beyond 2^24).
        if !dtype.isFloatingPoint && !target.isFloatingPoint {
            let values = toInt64Array()
            switch target {
            case .int64: let p = out.pointer.assumingMemoryBound(to: Int64.self); for i in 0..<n { p[i] = values[i] }
            case .int32:
                let p = out.pointer.assumingMemoryBound(to: Int32.self);
                for i in 0..<n { p[i] = Int32(truncatingIfNeeded: values[i]) }
            case .uint8:
                let p = out.pointer.assumingMemoryBound(to: UInt8.self);
                for i in 0..<n { p[i] = UInt8(truncatingIfNeeded: values[i]) }
            case .bool:
                let p = out.pointer.assumingMemoryBound(to: UInt8.self);
                for i in 0..<n { p[i] = values[i] != 0 ? 1 : 0 }
            default: break
            }
            return Tensor(storage: out, shape: shape)
        }
        switch target {
        case .q8_0, .q5_0, .q4_K, .q6_K:
            BlockQuantization.quantize(src, count: n, to: target, into: out.pointer)
        case .bfloat16:
            let p = out.pointer.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { p[i] = floatToBF16(src[i]) }
        case .float16:
            let p = out.pointer.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { p[i] = floatToF16(src[i]) }
        case .int64:
            let p = out.pointer.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { p[i] = src[i].isFinite ? Int64(src[i]) : 0 }
        case .int32:
            let p = out.pointer.assumingMemoryBound(to: Int32.self)
            for i in 0..<n { p[i] = src[i].isFinite && Swift.abs(src[i]) < 2.1e9 ? Int32(src[i]) : 0 }
        case .uint8:
            let p = out.pointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { p[i] = src[i].isFinite && src[i] >= 0 && src[i] < 256 ? UInt8(src[i]) : 0 }
        case .bool:
            let p = out.pointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { p[i] = src[i] != 0 ? 1 : 0 }
        case .float32:
            break
        }
        return Tensor(storage: out, shape: shape)
    }

    /// A deep copy (same dtype), detached from the graph.
    public func copy() -> Tensor {
        let out = Storage(uninitializedCount: count, dtype: dtype)
        if storage.byteCount > 0 { out.pointer.copyMemory(from: storage.pointer, byteCount: storage.byteCount) }
        return Tensor(storage: out, shape: shape)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = count <= 16 ? toArray().map { String(format: "%.5g", $0) }.joined(separator: ", ") : "…"
        return "Tensor(\(dtype.rawValue) \(shape): [\(values)]\(requiresGrad ? ", requiresGrad" : ""))"
    }
}
