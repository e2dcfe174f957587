import CKernels
import XCTest

@testable import MGTensor

/// CKernels' one-query-row attention products (decoding against a KV cache) against double-precision sums, on
/// head sizes that are and are not multiples of the vector width, rows with a stride wider than the head, and more
/// outputs than the value kernel keeps in registers at once.
final class AttentionKernelTests: XCTestCase {
    func testScoresAndValuesAgainstDoubleSums() {
        var gen = Generator(seed: 71)
        for (d, dv, s, ld) in [
            (128, 128, 37, 128), (20, 36, 5, 40), (64, 144, 130, 160), (16, 16, 1, 16), (3, 200, 9, 211)
        ] {
            let q = Tensor.randn([d], generator: &gen).toArray()
            let k = Tensor.randn([s * ld], generator: &gen).toArray()
            let v = Tensor.randn([s * ld], generator: &gen).toArray()
            let p = Tensor.rand([s], low: 0, high: 1, generator: &gen).toArray()
            var scores = [Float](repeating: .nan, count: s)
            var out = [Float](repeating: .nan, count: dv)
            mg_attention_scores_f32(q, k, ld, s, d, 0.25, &scores)
            mg_attention_values_f32(p, v, ld, s, dv, &out)
            for j in 0..<s {
                var sum = 0.0, scale = 0.0
                for i in 0..<d {
                    sum += Double(q[i]) * Double(k[j * ld + i])
                    scale += abs(Double(q[i]) * Double(k[j * ld + i]))
                }
                XCTAssertEqual(Double(scores[j]), 0.25 * sum, accuracy: 1e-6 * scale, "d \(d) key row \(j)")
            }
            for i in 0..<dv {
                var sum = 0.0, scale = 0.0
                for j in 0..<s {
                    sum += Double(p[j]) * Double(v[j * ld + i])
                    scale += abs(Double(p[j]) * Double(v[j * ld + i]))
                }
                XCTAssertEqual(Double(out[i]), sum, accuracy: 1e-6 * scale, "dv \(dv) output \(i)")
            }
        }
    }

    /// Decoding one query row (the kernels above) gives what the same row gets inside a longer prompt (sgemm).
    func testOneQueryRowEqualsItsRowInAPrompt() {
        var gen = Generator(seed: 72)
        let q = Tensor.randn([1, 4, 6, 40], generator: &gen)
        let k = Tensor.randn([1, 2, 6, 40], generator: &gen)
        let v = Tensor.randn([1, 2, 6, 24], generator: &gen)
        let all = withNoGrad { Tensor.scaledDotProductAttention(query: q, key: k, value: v, isCausal: true) }
        let last = withNoGrad {
            Tensor.scaledDotProductAttention(
                query: q.slice(axis: 2, 5, 6), key: k, value: v, isCausal: true, causalOffset: 5)
        }
        let a = all.slice(axis: 2, 5, 6).toArray(), b = last.toArray()
        for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-5, "output \(i)") }
    }
}
