import COpenBLAS
import MGTensor

/// A list of GEMM shapes (m, k, n, count): C[m,n] = A[m,k]·B[n,k]ᵀ, run `count` times.
public typealias GemmShapes = [(Int, Int, Int, Int)]

/// Raw sgemm C[m,n] = A[m,k]·B[n,k]ᵀ for every (m, k, n, count) shape, `count` times each: the model's GEMM
/// work alone, as one closure so it can be timed interleaved with the model's forward. This is the bound most
/// rows of the suite are measured against.
public final class RawGemmSeries {
    var operands: [(Tensor, Tensor, UnsafeMutablePointer<Float>, Int, Int, Int, Int)] = []

    /// Allocates random operands and an output for each shape (seeded, so runs are alike).
    public init(_ shapes: GemmShapes) {
        var gen = Generator(seed: 3)
        for (m, k, n, count) in shapes {
            operands.append(
                (
                    Tensor.rand([m, k], generator: &gen), Tensor.rand([n, k], generator: &gen),
                    UnsafeMutablePointer<Float>.allocate(capacity: m * n), m, k, n, count
                ))
        }
    }

    deinit { for o in operands { o.2.deallocate() } }

    /// Runs every GEMM of the series once.
    public func run() {
        for (a, b, c, m, k, n, count) in operands {
            for _ in 0..<count {
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.storage.floats,
                    Int32(k), b.storage.floats, Int32(k), 0, c, Int32(n))
            }
        }
    }

    /// FLOPs of the shapes (2·m·k·n per GEMM).
    public static func flops(_ shapes: GemmShapes) -> Double {
        shapes.reduce(0) { $0 + 2 * Double($1.0) * Double($1.1) * Double($1.2) * Double($1.3) }
    }
}
