import CKernels
import Foundation

// Unary element-wise ops and tensor–scalar arithmetic, each with its backward beside it.
// Kernels run on raw pointers, split over cores for large tensors.

@usableFromInline @inline(__always)
func mapUnary(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let input = x.float()
    let out = Tensor.uninitialized(input.shape)
    let src = input.storage.floats, dst = out.storage.floats
    Parallel.forEachChunk(input.count, costPerItem: 4) { r in
        for i in r { dst[i] = f(src[i]) }
    }
    return out
}

@usableFromInline @inline(__always)
func mapBinarySameShape(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(a.shape == b.shape, "element-wise: shapes \(a.shape) and \(b.shape) differ")
    let out = Tensor.uninitialized(a.shape)
    let pa = a.storage.floats, pb = b.storage.floats, dst = out.storage.floats
    Parallel.forEachChunk(a.count, costPerItem: 4) { r in
        for i in r { dst[i] = f(pa[i], pb[i]) }
    }
    return out
}

/// An element-wise function as a type, so that `mapKernel` is specialised per function and its loop inlines the
/// math (a closure passed through the parallel-for stays an opaque call per element and never vectorises).
@usableFromInline
protocol UnaryKernel {
    static func apply(_ x: Float) -> Float
}

@usableFromInline
func mapKernel<K: UnaryKernel>(_ x: Tensor, _: K.Type) -> Tensor {
    let input = x.float()
    let out = Tensor.uninitialized(input.shape)
    let src = input.storage.floats, dst = out.storage.floats
    Parallel.forEachChunk(input.count, costPerItem: 4) { r in
        for i in r { dst[i] = K.apply(src[i]) }
    }
    return out
}

/// A two-input element-wise function as a type (see `UnaryKernel`).
@usableFromInline
protocol BinaryKernel {
    static func apply(_ a: Float, _ b: Float) -> Float
}

@usableFromInline
func mapBinaryKernel<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _: K.Type) -> Tensor {
    precondition(a.shape == b.shape, "element-wise: shapes \(a.shape) and \(b.shape) differ")
    let x = a.float(), y = b.float()
    let out = Tensor.uninitialized(x.shape)
    let pa = x.storage.floats, pb = y.storage.floats, dst = out.storage.floats
    Parallel.forEachChunk(x.count, costPerItem: 4) { r in
        for i in r { dst[i] = K.apply(pa[i], pb[i]) }
    }
    return out
}

enum QuickGeluKernel: UnaryKernel {
    @inline(__always) static func apply(_ v: Float) -> Float { v / (1 + fastExp(-1.702 * v)) }
}

enum SiLUKernel: UnaryKernel {
    @inline(__always) static func apply(_ v: Float) -> Float { v / (1 + fastExp(-v)) }
}

enum SigmoidKernel: UnaryKernel {
    @inline(__always) static func apply(_ v: Float) -> Float { 1 / (1 + fastExp(-v)) }
}

private let sqrt2OverPi: Float = 0.79788456080286535588  // sqrt(2/π)

extension Tensor {
    // MARK: - Basic math

    public func neg() -> Tensor {
        let out = mapUnary(self) { -$0 }
        return Tensor.record("neg", out, inputs: [self]) { g in [g.neg()] }
    }

    public static prefix func - (x: Tensor) -> Tensor { x.neg() }

    public func exp() -> Tensor {
        let out = mapUnary(self) { Foundation.exp($0) }
        return Tensor.record("exp", out, inputs: [self]) { g in [g * out] }
    }

    public func log() -> Tensor {
        let x = self.detached()
        let out = mapUnary(self) { Foundation.log($0) }
        return Tensor.record("log", out, inputs: [self]) { g in [g / x] }
    }

    public func sqrt() -> Tensor {
        let out = mapUnary(self) { $0.squareRoot() }
        return Tensor.record("sqrt", out, inputs: [self]) { g in
            [mapBinarySameShape(g, out) { g, y in g * 0.5 / y }]
        }
    }

    public func rsqrt() -> Tensor {
        let out = mapUnary(self) { 1 / $0.squareRoot() }
        return Tensor.record("rsqrt", out, inputs: [self]) { g in
            // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
            [mapBinarySameShape(g, out) { g, y in -0.5 * g * y * y * y }]
        }
    }

    /// x^p for a scalar exponent.
    public func pow(_ p: Float) -> Tensor {
        let x = self.detached()
        let out = mapUnary(self) { Foundation.pow($0, p) }
        return Tensor.record("pow", out, inputs: [self]) { g in
            [mapBinarySameShape(g, x) { g, x in g * p * Foundation.pow(x, p - 1) }]
        }
    }

    public func square() -> Tensor {
        let x = self.detached()
        let out = mapUnary(self) { $0 * $0 }
        return Tensor.record("square", out, inputs: [self]) { g in
            [mapBinarySameShape(g, x) { g, x in 2 * g * x }]
        }
    }

    public func abs() -> Tensor {
        let x = self.detached()
        let out = mapUnary(self) { Swift.abs($0) }
        return Tensor.record("abs", out, inputs: [self]) { g in
            [mapBinarySameShape(g, x) { g, x in x > 0 ? g : (x < 0 ? -g : 0) }]
        }
    }

    // MARK: - Activations

    public func tanh() -> Tensor {
        let out = mapUnary(self) { Foundation.tanh($0) }
        return Tensor.record("tanh", out, inputs: [self]) { g in
            [mapBinarySameShape(g, out) { g, y in g * (1 - y * y) }]
        }
    }

    // sigmoid, quick_gelu and SiLU use the vectorisable `fastExp` (≤ 2 ulp): they run on every MLP activation.

    public func sigmoid() -> Tensor {
        let out = mapKernel(self, SigmoidKernel.self)
        return Tensor.record("sigmoid", out, inputs: [self]) { g in
            [mapBinarySameShape(g, out) { g, y in g * y * (1 - y) }]
        }
    }

    public func relu() -> Tensor {
        let out = mapUnary(self) { $0 > 0 ? $0 : 0 }
        return Tensor.record("relu", out, inputs: [self]) { g in
            [mapBinarySameShape(g, out) { g, y in y > 0 ? g : 0 }]
        }
    }

    /// GELU, exact form x·Φ(x) = x·½(1 + erf(x/√2)) (PyTorch `approximate='none'`, HF "gelu"), with Φ from a
    /// vectorised erfc accurate to ~1e-7 (CKernels: AVX2 + FMA where the CPU has it; libm's scalar erff was most
    /// of the ConvNeXt MLP's non-GEMM time).
    public func gelu() -> Tensor {
        let x = self.float().detached()
        let out = Tensor.uninitialized(x.shape)
        let px = x.storage.floats, py = out.storage.floats
        Parallel.forEachChunk(x.count, costPerItem: 8) { r in
            mg_gelu_f32(px + r.lowerBound, py + r.lowerBound, r.count)
        }
        return Tensor.record("gelu", out, inputs: [self]) { g in
            precondition(g.shape == x.shape, "gelu backward: gradient \(g.shape) for \(x.shape)")
            let gf = g.float(), dx = Tensor.uninitialized(x.shape)
            let pg = gf.storage.floats, pd = dx.storage.floats
            Parallel.forEachChunk(x.count, costPerItem: 8) { r in
                mg_gelu_backward_f32(pg + r.lowerBound, px + r.lowerBound, pd + r.lowerBound, r.count)
            }
            return [dx]
        }
    }

    /// GELU, tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (PyTorch `approximate='tanh'`, HF "gelu_new").
    public func geluTanh() -> Tensor {
        let x = self.detached()
        let out = mapUnary(self) { v in
            0.5 * v * (1 + Foundation.tanh(sqrt2OverPi * (v + 0.044715 * v * v * v)))
        }
        return Tensor.record("gelu_tanh", out, inputs: [self]) { g in
            [
                mapBinarySameShape(g, x) { g, v in
                    let inner = sqrt2OverPi * (v + 0.044715 * v * v * v)
                    let t = Foundation.tanh(inner)
                    let dInner = sqrt2OverPi * (1 + 3 * 0.044715 * v * v)
                    return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * dInner)
                }
            ]
        }
    }

    /// x·σ(1.702x) — CLIP's quick_gelu.
    public func quickGelu() -> Tensor {
        let x = self.detached()
        let out = mapKernel(self, QuickGeluKernel.self)
        return Tensor.record("quick_gelu", out, inputs: [self]) { g in
            [
                mapBinarySameShape(g, x) { g, v in
                    let s = 1 / (1 + fastExp(-1.702 * v))
                    return g * (s + 1.702 * v * s * (1 - s))
                }
            ]
        }
    }

    /// x·σ(x) (SiLU / swish), the LLaMA MLP activation.
    public func silu() -> Tensor {
        let x = self.detached()
        let out = mapKernel(self, SiLUKernel.self)
        return Tensor.record("silu", out, inputs: [self]) { g in
            [
                mapBinarySameShape(g, x) { g, v in
                    let s = 1 / (1 + fastExp(-v))
                    return g * s * (1 + v * (1 - s))
                }
            ]
        }
    }

    /// silu(self) ⊙ up — the LLaMA MLP's gate — in one pass forward and one backward (CKernels' silu.c, AVX-512 /
    /// AVX2 / baseline): bit for bit `self.silu() * up` and its gradients, without the intermediate silu tensor.
    public func siluMul(_ up: Tensor) -> Tensor {
        precondition(shape == up.shape, "siluMul: gate \(shape) and up \(up.shape) differ")
        let gate = float().detached(), u = up.float().detached()
        let out = Tensor.uninitialized(shape)
        let pg = gate.storage.floats, pu = u.storage.floats, po = out.storage.floats
        Parallel.forEachChunk(count, costPerItem: 8) { r in
            mg_silu_mul_f32(pg + r.lowerBound, pu + r.lowerBound, po + r.lowerBound, r.count)
        }
        let needGate = requiresGrad, needUp = up.requiresGrad
        return Tensor.record("silu_mul", out, inputs: [self, up]) { g in
            let gf = g.float()
            let dGate = needGate ? Tensor.uninitialized(gate.shape) : nil
            let dUp = needUp ? Tensor.uninitialized(gate.shape) : nil
            // Pointers taken here: the closure holds the saved tensors, so their storages are alive.
            let sg = gate.storage.floats, su = u.storage.floats
            let pd = gf.storage.floats, dg = dGate?.storage.floats, du = dUp?.storage.floats
            Parallel.forEachChunk(gate.count, costPerItem: 8) { r in
                mg_silu_mul_backward_f32(
                    sg + r.lowerBound, su + r.lowerBound, pd + r.lowerBound, dg.map { $0 + r.lowerBound },
                    du.map { $0 + r.lowerBound }, r.count)
            }
            return [dGate, dUp]
        }
    }

    // MARK: - Scalar arithmetic

    public static func + (x: Tensor, s: Float) -> Tensor {
        let out = mapUnary(x) { $0 + s }
        return Tensor.record("add_scalar", out, inputs: [x]) { g in [g] }
    }
    public static func + (s: Float, x: Tensor) -> Tensor { x + s }

    public static func - (x: Tensor, s: Float) -> Tensor { x + (-s) }

    public static func - (s: Float, x: Tensor) -> Tensor {
        let out = mapUnary(x) { s - $0 }
        return Tensor.record("rsub_scalar", out, inputs: [x]) { g in [g.neg()] }
    }

    public static func * (x: Tensor, s: Float) -> Tensor {
        let out = mapUnary(x) { $0 * s }
        return Tensor.record("mul_scalar", out, inputs: [x]) { g in [g * s] }
    }
    public static func * (s: Float, x: Tensor) -> Tensor { x * s }

    public static func / (x: Tensor, s: Float) -> Tensor {
        let out = mapUnary(x) { $0 / s }
        return Tensor.record("div_scalar", out, inputs: [x]) { g in [g / s] }
    }

    public static func / (s: Float, x: Tensor) -> Tensor {
        let xv = x.detached()
        let out = mapUnary(x) { s / $0 }
        return Tensor.record("rdiv_scalar", out, inputs: [x]) { g in
            [mapBinarySameShape(g, xv) { g, v in -g * s / (v * v) }]
        }
    }

    /// Clamps to [low, high]; the gradient passes where the input is inside the interval.
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        let x = self.detached()
        let out = mapUnary(self) { Swift.min(Swift.max($0, low), high) }
        return Tensor.record("clamp", out, inputs: [self]) { g in
            [mapBinarySameShape(g, x) { g, v in v >= low && v <= high ? g : 0 }]
        }
    }
}
