import Foundation
import XCTest
@testable import MGCheckpoint

/// Seeded random corruptions of a small valid file: every one must either be refused with a `CheckpointError` or
/// read back consistently. Nothing may crash. Runs in memory (same parser as mapped files) to stay fast.
final class SafeTensorsMutationTests: XCTestCase {
    static let cases = 100_000

    func testRandomCorruptionsNeverCrash() throws {
        let base = try Self.baseFile()
        var mutator = SafeTensorsMutator(base: base, seed: 0x5AFE_7E25)
        var accepted = 0
        var errorKinds: [String: Int] = [:]
        var failures = 0

        for index in 0..<Self.cases {
            let bytes = mutator.next()
            do {
                let file = try SafeTensorsFile(bytes: bytes, name: "mutant")
                accepted += 1
                if let problem = Self.inconsistency(in: file, bytes: bytes) {
                    failures += 1
                    if failures <= 5 { XCTFail("case \(index): \(problem); bytes \(bytes)") }
                }
            } catch let error as CheckpointError {
                errorKinds[Self.kind(error), default: 0] += 1
                if error.description.isEmpty { XCTFail("case \(index): empty message") }
            } catch {
                failures += 1
                if failures <= 5 { XCTFail("case \(index): not a CheckpointError: \(error)") }
            }
        }

        XCTAssertEqual(failures, 0)
        // The mix should exercise acceptance and every stage of validation.
        XCTAssertGreaterThan(accepted, Self.cases / 100, "\(errorKinds)")
        for kind in [
            "headerTooSmall", "headerTooLarge", "invalidHeaderLength", "invalidHeaderUTF8", "invalidHeaderJSON",
            "invalidOffset", "validationOverflow", "misalignedSlice", "tensorInvalidInfo",
            "metadataIncompleteBuffer"
        ] {
            XCTAssertGreaterThan(errorKinds[kind] ?? 0, 0, "no mutation produced \(kind): \(errorKinds)")
        }
    }

    /// A few tensors of different dtypes (one zero-size, one 0-d) with metadata, as our writer lays them out.
    static func baseFile() throws -> [UInt8] {
        let tensors: [String: Tensor] = [
            "model.weight": Tensor([1, -2, 3.5, 0.25, 8, -16], shape: [2, 3]),
            "model.bias": tensor(.bfloat16, [2], bytes: [0x80, 0x3F, 0x00, 0xC0]),
            "half": tensor(.float16, [3], bytes: [0x00, 0x3C, 0x00, 0xB8, 0xFF, 0x7B]),
            "ids": Tensor(int64: [1, 2, 3], shape: [3]),
            "count": tensor(.int32, [], bytes: [9, 0, 0, 0]),
            "mask": tensor(.bool, [2, 2], bytes: [1, 0, 0, 1]),
            "bytes": tensor(.uint8, [5], bytes: [0, 1, 2, 254, 255]),
            "empty": Tensor.zeros([0, 3])
        ]
        return try SafeTensorsWriter.serialize(tensors, metadata: ["format": "pt", "note": "mutation base"])
    }

    /// Checks a file that parsed: every tensor readable (or refused as unsupported), sizes consistent, ranges inside
    /// the file and tiling the data section. Returns a description of the first problem.
    static func inconsistency(in file: SafeTensorsFile, bytes: [UInt8]) -> String? {
        let fileSize = bytes.count
        var ranges: [Range<Int>] = []
        for key in file.keys {
            guard let info = try? file.info(for: key) else { return "info(for: \(key)) failed" }
            var elements = 1
            for dim in info.shape { elements *= dim }
            guard elements * info.dtype.bitSize == info.byteCount * 8 else { return "\(key): byte count" }
            guard info.fileRange.count == info.byteCount, info.fileRange.upperBound <= fileSize else {
                return "\(key): range \(info.fileRange) outside \(fileSize) bytes"
            }
            ranges.append(info.fileRange)
            do {
                let t = try file.tensor(key)
                guard let dtype = info.dtype.tensorDType, t.dtype == dtype, t.shape == info.shape,
                    t.count * dtype.size == info.byteCount
                else { return "\(key): tensor disagrees with info" }
                // Borrowed or copied, the tensor holds the file's bytes for its range.
                let expected = Array(bytes[info.fileRange])
                guard rawBytes(t) == expected, rawBytes(try file.tensor(key, copy: true)) == expected else {
                    return "\(key): tensor bytes differ from the file's"
                }
            } catch CheckpointError.unsupportedDType(_, key, info.dtype.rawValue, .safetensors)
                where info.dtype.tensorDType == nil
            {
                continue
            } catch {
                return "\(key): \(error)"
            }
        }
        // Non-empty ranges never overlap and the data ends at the end of the file.
        let nonEmpty = ranges.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(nonEmpty, nonEmpty.dropFirst()) where a.upperBound != b.lowerBound {
            return "ranges \(a) and \(b) do not tile"
        }
        if let last = nonEmpty.last, last.upperBound != fileSize { return "data does not end at the end of the file" }
        return nil
    }

    static func kind(_ error: CheckpointError) -> String {
        switch error {
        case .headerTooSmall: return "headerTooSmall"
        case .headerTooLarge: return "headerTooLarge"
        case .invalidHeaderLength: return "invalidHeaderLength"
        case .invalidHeaderUTF8: return "invalidHeaderUTF8"
        case .invalidHeaderJSON: return "invalidHeaderJSON"
        case .invalidOffset: return "invalidOffset"
        case .validationOverflow: return "validationOverflow"
        case .misalignedSlice: return "misalignedSlice"
        case .tensorInvalidInfo: return "tensorInvalidInfo"
        case .metadataIncompleteBuffer: return "metadataIncompleteBuffer"
        default: return "other: \(error)"
        }
    }
}

/// Produces corrupted variants of a valid safetensors file: byte-level damage biased toward the header, length
/// changes, and edits of the header's JSON text (numbers, brackets, quotes, dtype names) with the length prefix
/// usually kept consistent so that the edit reaches the JSON and validation stages.
struct SafeTensorsMutator {
    let base: [UInt8]
    let headerLength: Int
    private var random: SplitMix64

    init(base: [UInt8], seed: UInt64) {
        self.base = base
        self.headerLength = Int(base.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        self.random = SplitMix64(seed: seed)
    }

    static let structural: [UInt8] = [0x7B, 0x7D, 0x5B, 0x5D, 0x22, 0x2C, 0x3A]  // { } [ ] " , :
    static let interesting: [UInt8] =
        Array("{}[]\",: 0123456789-.eE\\u".utf8) + [
            0x00, 0x09, 0x0A, 0x7F, 0x80, 0xBF, 0xC3,
            0xE2, 0xED, 0xF0, 0xFF
        ]
    static let numbers = [
        "0", "1", "2", "3", "4", "7", "8", "16", "24", "255", "256", "65535", "4294967296",
        "9223372036854775807", "9223372036854775808", "18446744073709551615",
        "18446744073709551616", "-1", "-0", "1.0", "1e3", "01", "00", "", "2305843009213693952",
        "4611686018427387904"
    ]
    static let dtypeNames = SafeTensorsDType.allCases.map(\.rawValue) + ["F128", "f32", "", "BOOL ", "Q4"]

    mutating func next() -> [UInt8] {
        var bytes = base
        for _ in 0...random.below(3) { mutate(&bytes) }
        return bytes
    }

    /// A position, three times in four inside the prefix + header.
    private mutating func position(in bytes: [UInt8]) -> Int {
        guard !bytes.isEmpty else { return 0 }
        let limit = random.below(4) == 0 ? bytes.count : min(bytes.count, 8 + headerLength)
        return random.below(limit)
    }

    private mutating func mutate(_ bytes: inout [UInt8]) {
        switch random.below(13) {
        case 0:  // flip one bit
            guard !bytes.isEmpty else { return }
            bytes[position(in: bytes)] ^= UInt8(1) << UInt8(random.below(8))
        case 1:  // overwrite with a random byte
            guard !bytes.isEmpty else { return }
            bytes[position(in: bytes)] = UInt8(truncatingIfNeeded: random.next())
        case 2:  // overwrite with a JSON-significant or UTF-8-significant byte
            guard !bytes.isEmpty else { return }
            bytes[position(in: bytes)] = Self.interesting[random.below(Self.interesting.count)]
        case 3:  // truncate, usually by a little
            let cut = random.below(2) == 0 ? random.below(bytes.count + 1) : max(0, bytes.count - 1 - random.below(16))
            bytes.removeLast(bytes.count - cut)
        case 4:  // extend
            for _ in 0...random.below(16) { bytes.append(UInt8(truncatingIfNeeded: random.next())) }
        case 5:  // insert bytes
            let at = position(in: bytes)
            for _ in 0...random.below(4) {
                bytes.insert(Self.interesting[random.below(Self.interesting.count)], at: at)
            }
        case 6:  // delete bytes
            guard !bytes.isEmpty else { return }
            let at = position(in: bytes)
            bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.below(8)))
        case 7:  // set the length prefix to a boundary value
            let n = UInt64(headerLength)
            let values: [UInt64] = [
                0, 1, 2, 7, n &- 8, n &- 1, n + 1, n + 8, UInt64(max(0, bytes.count - 8)),
                100_000_000, 100_000_001, UInt64.max, 1 << 63, random.next()
            ]
            setLength(&bytes, values[random.below(values.count)])
        case 8:  // replace a number in the header text
            editHeader(&bytes) { text, random in
                guard let run = Self.randomRun(in: text, random: &random, where: { $0 >= 0x30 && $0 <= 0x39 }) else {
                    return
                }
                text.replaceSubrange(run, with: Array(Self.numbers[random.below(Self.numbers.count)].utf8))
            }
        case 9:  // replace or delete a structural character
            editHeader(&bytes) { text, random in
                let spots = Self.positions(in: text, where: Self.isStructural)
                guard !spots.isEmpty else { return }
                let at = spots[random.below(spots.count)]
                if random.below(3) == 0 {
                    text.remove(at: at)
                } else {
                    text[at] = Self.structural[random.below(Self.structural.count)]
                }
            }
        case 10:  // duplicate or drop a slice of the header text (repeats keys, entries, brackets)
            editHeader(&bytes) { text, random in
                guard !text.isEmpty else { return }
                let start = random.below(text.count)
                let end = min(text.count, start + 1 + random.below(80))
                if random.below(2) == 0 {
                    text.insert(contentsOf: Array(text[start..<end]), at: random.below(text.count + 1))
                } else {
                    text.removeSubrange(start..<end)
                }
            }
        case 11:  // swap a dtype name
            editHeader(&bytes) { text, random in
                guard
                    let run = Self.randomRun(
                        in: text, random: &random,
                        where: { byte in
                            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F
                        })
                else { return }
                text.replaceSubrange(run, with: Array(Self.dtypeNames[random.below(Self.dtypeNames.count)].utf8))
            }
        default:  // swap two header characters
            editHeader(&bytes) { text, random in
                guard text.count > 1 else { return }
                text.swapAt(random.below(text.count), random.below(text.count))
            }
        }
    }

    /// Applies `edit` to the header text and, nine times in ten, rewrites the length prefix to match.
    private mutating func editHeader(_ bytes: inout [UInt8], _ edit: (inout [UInt8], inout SplitMix64) -> Void) {
        guard bytes.count >= 8 else { return }
        let n = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let end = n <= UInt64(bytes.count - 8) ? 8 + Int(n) : bytes.count
        var text = Array(bytes[8..<end])
        edit(&text, &random)
        bytes.replaceSubrange(8..<end, with: text)
        if random.below(10) != 0 { setLength(&bytes, UInt64(text.count)) }
    }

    private func setLength(_ bytes: inout [UInt8], _ n: UInt64) {
        guard bytes.count >= 8 else { return }
        withUnsafeBytes(of: n.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    }

    // The scans below use raw buffers and plain loops: the test runs in debug builds, where generic collection
    // algorithms over 500-byte headers would dominate its time.

    static func isStructural(_ byte: UInt8) -> Bool {
        byte == 0x7B || byte == 0x7D || byte == 0x5B || byte == 0x5D || byte == 0x22 || byte == 0x2C || byte == 0x3A
    }

    static func positions(in text: [UInt8], where predicate: (UInt8) -> Bool) -> [Int] {
        text.withUnsafeBufferPointer { buffer in
            var found: [Int] = []
            var i = 0
            while i < buffer.count {
                if predicate(buffer[i]) { found.append(i) }
                i += 1
            }
            return found
        }
    }

    /// A maximal run of bytes matching `predicate`, chosen at random.
    static func randomRun(in text: [UInt8], random: inout SplitMix64, where predicate: (UInt8) -> Bool) -> Range<Int>? {
        let runs: [Range<Int>] = text.withUnsafeBufferPointer { buffer in
            var runs: [Range<Int>] = []
            var i = 0
            while i < buffer.count {
                if predicate(buffer[i]) {
                    let start = i
                    while i < buffer.count && predicate(buffer[i]) { i += 1 }
                    runs.append(start..<i)
                } else {
                    i += 1
                }
            }
            return runs
        }
        return runs.isEmpty ? nil : runs[random.below(runs.count)]
    }
}

/// A small seeded generator (SplitMix64), so the corruptions are the same on every run and platform.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int {
        Int(next() % UInt64(n))
    }
}
