import Foundation
import MGTensor

/// Where the project's own copies of the reference fixtures live (Tests/Fixtures; see its README for provenance).
public enum Fixtures {
    public static let root: URL = {
        // Tests/MGTestSupport/Fixtures.swift → Tests/Fixtures
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }()

    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// Copies the fixture folders `sources` (e.g. a model and its tokenizer) into the existing folder `directory`:
    /// an LLM folder laid out as a download has it (config, weights and tokenizer files together).
    public static func assemble(_ sources: [String], into directory: URL) throws {
        for source in sources {
            let from = url(source)
            for name in try FileManager.default.contentsOfDirectory(atPath: from.path) {
                try FileManager.default.copyItem(
                    at: from.appendingPathComponent(name), to: directory.appendingPathComponent(name))
            }
        }
    }
}

/// Largest |a − b| and whether every element satisfies |a − b| ≤ atol + rtol·|b| (b = reference).
public func compare(
    _ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float = 0
) -> (ok: Bool, maxAbs: Float, message: String) {
    guard actual.shape == expected.shape else {
        return (false, .infinity, "shape \(actual.shape) vs expected \(expected.shape)")
    }
    let a = actual.toArray(), b = expected.toArray()
    var ok = true, worst: Float = 0, worstIndex = 0
    for i in 0..<a.count {
        let diff = Swift.abs(a[i] - b[i])
        if !(diff <= atol + rtol * Swift.abs(b[i])) { ok = false }
        if diff > worst || diff.isNaN { worst = diff; worstIndex = i }
    }
    let msg =
        a.isEmpty ? "empty" : "max |diff| \(worst) at \(worstIndex) (got \(a[worstIndex]), expected \(b[worstIndex]))"
    return (ok, worst, msg)
}
