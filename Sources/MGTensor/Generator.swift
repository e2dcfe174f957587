import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// A value type: its whole state is `state` (plus a cached normal sample), so trainers can save and restore it
/// for exact resume. Normals use the Box–Muller transform in Double, uniforms the top 24 bits.
public struct Generator: Sendable, Codable, Equatable {
    public private(set) var state: [UInt64]
    private var cachedNormal: Double?

    public init(seed: UInt64) {
        var s = seed
        var words = [UInt64]()
        for _ in 0..<4 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func nextUInt64() -> UInt64 {
        let result = Generator.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = Generator.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (every value exactly representable as Float).
    public mutating func nextUniform() -> Float {
        Float(nextUInt64() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(nextUInt64() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Standard normal.
    public mutating func nextNormal() -> Float {
        if let c = cachedNormal {
            cachedNormal = nil
            return Float(c)
        }
        var u1 = nextDouble()
        while u1 <= Double.leastNormalMagnitude { u1 = nextDouble() }
        let u2 = nextDouble()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        cachedNormal = r * Foundation.sin(2 * Double.pi * u2)
        return Float(r * Foundation.cos(2 * Double.pi * u2))
    }

    /// Uniform integer in 0..<n (n > 0), without modulo bias.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below:) needs n > 0, got \(n)")
        let bound = UInt64(n)
        let threshold = (0 &- bound) % bound
        while true {
            let r = nextUInt64()
            if r >= threshold { return Int(r % bound) }
        }
    }

    /// A seeded Fisher–Yates permutation of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            p.swapAt(i, nextInt(below: i + 1))
        }
        return p
    }
}
