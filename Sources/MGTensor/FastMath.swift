import CKernels
import Foundation

// A branch-free exp that the compiler vectorises (SSE2 baseline), for the attention softmax where the exp of
// every score dominates. Cody–Waite range reduction x = n·ln2 + r and the Cephes expf polynomial: relative error
// below 2 ulp on [-87, 88]; inputs below −87.3 (including −∞ from masks) give exactly 0.

@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let clamped = Swift.min(x, 88.3)
    let safe = Swift.max(clamped, -87.3)
    // Round x·log2(e) to nearest with the 1.5·2^23 trick: n lands in the low mantissa bits of t, so both n as a
    // float and n as an integer come out without a libm call or a trapping conversion (the loop vectorises).
    let magic: Float = 12_582_912
    let t = safe * 1.442_695_04 + magic
    let n = t - magic
    let ni = Int32(bitPattern: t.bitPattern &- magic.bitPattern)
    let r = (safe - n * 0.693_359_375) - n * -2.121_944_4e-4
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_1e-1
    let e = p * r * r + r + 1
    let scale = Float(bitPattern: UInt32(bitPattern: (ni &+ 127) << 23))
    return x < -87.3 ? 0 : e * scale
}

/// Sum with eight independent lanes (a serial float sum cannot be vectorised: it would change rounding).
@inline(__always)
func laneSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// In place: row ← softmax(row), with masked entries already set to −∞. A row with no finite entry becomes zeros.
@inline(__always)
func softmaxRowInPlace(_ row: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = mg_max_f32(row, n)
    if m == -.infinity {
        row.initialize(repeating: 0, count: n)
        return
    }
    // Two passes (exp, then sum) so each loop vectorises; the exp pass in CKernels (8 wide where the CPU has AVX2,
    // the same bits as `fastExp`).
    mg_exp_shifted_f32(row, n, m)
    let inv = 1 / laneSum(row, n)
    for j in 0..<n { row[j] *= inv }
}
