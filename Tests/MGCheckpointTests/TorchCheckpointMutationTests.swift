import Foundation
import XCTest
@testable import MGCheckpoint
import MGTestSupport

/// Seeded random corruptions of the real `pretrain.pth` (an mmengine checkpoint): bytes of `data.pkl`, of the zip
/// directory and local headers, of the end records, and truncations. Every mutant must be refused with a
/// `CheckpointError` or read consistently; nothing may crash or hang. Runs in memory (same parser as mapped
/// files).
final class TorchCheckpointMutationTests: XCTestCase {
    /// An unoptimised build unpickles at roughly 1 µs per opcode (pretrain.pth's data.pkl has ~2,000), so the
    /// debug run (what CI runs) takes a sample that fits in a few seconds; optimised builds run the full 20,000.
    #if DEBUG
        static let cases = 4_000
    #else
        static let cases = 20_000
    #endif

    func testRandomCorruptionsNeverCrash() throws {
        let base = Array(try Data(contentsOf: Fixtures.url("models/mgllava-tiny/pretrain.pth")))
        var mutator = try TorchMutator(base: base, seed: 0x70_5AFE_7E25)
        var accepted = 0, readTensors = 0, failures = 0
        var errorKinds: [String: Int] = [:]

        for index in 0..<Self.cases {
            let (bytes, kind) = mutator.next()
            do {
                let file = try TorchCheckpointFile(bytes: bytes, name: "mutant.pth")
                accepted += 1
                if accepted % 8 == 1 { _ = Self.walk(file.root) }  // a sample: walking is slower than parsing
                // The state dict may be gone (a renamed key, a damaged tensor) — then only errors are allowed.
                if let infos = try? file.tensorInfos() {
                    for info in infos {
                        guard let tensor = try? file.tensor(info.name) else { continue }
                        readTensors += 1
                        if tensor.shape != info.shape || tensor.count != info.elementCount {
                            failures += 1
                            if failures <= 5 { XCTFail("case \(index) (\(kind)): \(info.name) shape mismatch") }
                        }
                    }
                }
                _ = try? file.stateDict()
            } catch let error as CheckpointError {
                errorKinds[Self.kind(error), default: 0] += 1
                if error.description.isEmpty { XCTFail("case \(index): empty message") }
            } catch {
                failures += 1
                if failures <= 5 { XCTFail("case \(index) (\(kind)): not a CheckpointError: \(error)") }
            }
        }

        print(
            "torch.save mutations: \(Self.cases) cases, \(accepted) read, \(readTensors) tensors read, errors "
                + errorKinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        XCTAssertEqual(failures, 0)
        XCTAssertGreaterThan(accepted, Self.cases / 20, "\(errorKinds)")
        XCTAssertGreaterThan(readTensors, 0)
        for kind in ["corruptZip", "badZipEntry", "invalidPickle", "invalidStorage", "missingEntry"] {
            XCTAssertGreaterThan(errorKinds[kind] ?? 0, 0, "no mutation produced \(kind): \(errorKinds)")
        }
    }

    /// Visits every value reachable from `root` once (cycles included), iteratively; returns how many.
    static func walk(_ root: PickleValue) -> Int {
        var seen: Set<Int> = [root.index]
        var pending = [root]
        while let value = pending.popLast() {
            _ = value.description
            var children = value.elements ?? []
            for entry in value.entries ?? [] { children += [entry.key, entry.value] }
            if let call = value.call { children += [call.callee, call.args] + (call.state.map { [$0] } ?? []) }
            for child in children where seen.insert(child.index).inserted { pending.append(child) }
        }
        return seen.count
    }

    /// The case name ("invalidPickle", …).
    static func kind(_ error: CheckpointError) -> String {
        Mirror(reflecting: error).children.first?.label ?? "\(error)"
    }
}

/// Produces corrupted copies of a torch.save file, aimed at the parts a reader parses.
struct TorchMutator {
    let base: [UInt8]
    let pickle: Range<Int>
    /// Zip structure: local headers (header + name + extra) and the central directory through the end record.
    let structure: [Range<Int>]
    var random: SplitMix

    init(base: [UInt8], seed: UInt64) throws {
        self.base = base
        let archive = try base.withUnsafeBytes { try ZipArchive(file: $0, path: "base") }
        guard let pickleEntry = archive.entries.first(where: { $0.name.hasSuffix("/data.pkl") }) else {
            throw CheckpointError.missingEntry(path: "base", entry: "data.pkl", reason: "test base")
        }
        pickle = pickleEntry.dataRange
        var structure = archive.entries.map { $0.headerOffset..<$0.dataOffset }
        let directoryStart = archive.entries.map(\.dataRange.upperBound).max() ?? 0
        structure.append(directoryStart..<base.count)
        self.structure = structure
        random = SplitMix(seed: seed)
    }

    /// Values that sit on boundaries parsers get wrong.
    static let interesting: [UInt64] = [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF,
        0x1_0000_0000, UInt64(Int64.max), UInt64.max
    ]

    /// Pickle opcodes, so replaced bytes are often meaningful.
    static let opcodes: [UInt8] =
        Array(0x28...0x32) + [
            0x42, 0x43, 0x46, 0x47, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E,
            0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x58, 0x5D, 0x61,
            0x62, 0x63, 0x64, 0x65, 0x67, 0x68, 0x69, 0x6A, 0x6C, 0x6F,
            0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x7D
        ] + Array(0x80...0x98)

    mutating func next() -> (bytes: [UInt8], kind: String) {
        var bytes = base
        switch random.next() % 10 {
        case 0, 1, 2:  // pickle: random bytes
            for _ in 0..<(1 + random.next() % 3) { bytes[pick(pickle)] = UInt8(truncatingIfNeeded: random.next()) }
            return (bytes, "pickle bytes")
        case 3, 4:  // pickle: opcodes dropped in
            for _ in 0..<(1 + random.next() % 2) {
                bytes[pick(pickle)] = Self.opcodes[Int(random.next() % UInt64(Self.opcodes.count))]
            }
            return (bytes, "pickle opcode")
        case 5:  // pickle: a length/index field set to a boundary value
            let at = pick(pickle)
            let width = [1, 2, 4, 8][Int(random.next() % 4)]
            write(&bytes, at: at, width: width, Self.interesting[Int(random.next() % UInt64(Self.interesting.count))])
            return (bytes, "pickle field")
        case 6, 7:  // zip structure: a field set to a boundary value, or random bytes
            let region = structure[Int(random.next() % UInt64(structure.count))]
            let at = pick(region)
            if random.next() % 2 == 0 {
                let width = [2, 4, 8][Int(random.next() % 3)]
                var value = Self.interesting[Int(random.next() % UInt64(Self.interesting.count))]
                if random.next() % 3 == 0 { value = UInt64(base.count) &+ random.next() % 5 &- 2 }
                write(&bytes, at: at, width: width, value)
            } else {
                bytes[at] = UInt8(truncatingIfNeeded: random.next())
            }
            return (bytes, "zip structure")
        case 8:  // truncation (often inside the central directory or end records)
            let keep =
                random.next() % 2 == 0
                ? Int(random.next() % UInt64(base.count))
                : base.count - 1 - Int(random.next() % 400)
            return (Array(bytes.prefix(keep)), "truncation")
        default:  // tensor data: must still read (values are not checked by the format)
            let region = pickle.upperBound..<(structure.last?.lowerBound ?? base.count)
            bytes[pick(region)] ^= 0xFF
            return (bytes, "tensor data")
        }
    }

    private mutating func pick(_ range: Range<Int>) -> Int {
        range.lowerBound + Int(random.next() % UInt64(max(range.count, 1)))
    }

    private func write(_ bytes: inout [UInt8], at offset: Int, width: Int, _ value: UInt64) {
        for i in 0..<width where offset + i < bytes.count {
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
        }
    }
}

/// A small seeded generator (SplitMix64), so every run sees the same mutants.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
