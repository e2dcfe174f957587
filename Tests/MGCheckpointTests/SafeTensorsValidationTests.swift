import Foundation
import XCTest
@testable import MGCheckpoint

/// One test per validation rule of the reference reader (huggingface/safetensors `read_metadata` / `validate`),
/// each on bytes built here. The reference's own negative tests are included under their names.
final class SafeTensorsValidationTests: XCTestCase {
    /// The reference's standard example: one I32 [2, 2] tensor of zeros.
    let example = #"{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#
    let zeros16 = [UInt8](repeating: 0, count: 16)

    /// A header with one U8 tensor whose entry is `entry` (the JSON object text), and its data.
    func oneTensor(_ entry: String, data: [UInt8] = [7]) -> [UInt8] {
        safetensorsBytes(#"{"t":"# + entry + "}", data: data)
    }

    func jsonError(_ bytes: [UInt8], contains fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let error = parseError(bytes, file: file, line: line) else { return }
        guard case let .invalidHeaderJSON(path, _, reason) = error else {
            return XCTFail("expected invalidHeaderJSON, got \(error)", file: file, line: line)
        }
        XCTAssertEqual(path, "test.safetensors", file: file, line: line)
        XCTAssertTrue(reason.contains(fragment), "'\(reason)' does not mention '\(fragment)'", file: file, line: line)
    }

    // MARK: - Accepted files

    func testDeserialization() throws {
        let file = try SafeTensorsFile(bytes: safetensorsBytes(example, data: zeros16))
        XCTAssertEqual(file.keys, ["test"])
        XCTAssertEqual(file.metadata, [:])
        let info = try file.info(for: "test")
        XCTAssertEqual(info.dtype, .I32)
        XCTAssertEqual(info.shape, [2, 2])
        XCTAssertEqual(info.dataOffsets, 0..<16)
        XCTAssertEqual(info.fileRange, (8 + example.utf8.count)..<(24 + example.utf8.count))
        let t = try file.tensor("test")
        XCTAssertEqual(t.dtype, .int32)
        XCTAssertEqual(t.shape, [2, 2])
        XCTAssertEqual(t.toInt64Array(), [0, 0, 0, 0])
    }

    func testEmptyHeaderAndWhitespacePadding() throws {
        // The reference accepts JSON whitespace before and after the object (writers pad the header).
        XCTAssertEqual(try SafeTensorsFile(bytes: safetensorsBytes("{}")).count, 0)
        XCTAssertEqual(try SafeTensorsFile(bytes: safetensorsBytes("{}\r \t\n")).count, 0)
        XCTAssertEqual(try SafeTensorsFile(bytes: safetensorsBytes("\t\n{}\r ")).count, 0)
        XCTAssertEqual(
            try SafeTensorsFile(bytes: safetensorsBytes(" " + example + "   ", data: zeros16)).keys, ["test"])
    }

    func testEmptyShapeIsAScalar() throws {
        let file = try SafeTensorsFile(
            bytes: oneTensor(
                #"{"dtype":"I32","shape":[],"data_offsets":[0,4]}"#,
                data: [1, 0, 0, 0]))
        let t = try file.tensor("t")
        XCTAssertEqual(t.shape, [])
        XCTAssertEqual(t.toInt64Array(), [1])
    }

    func testZeroSizedTensors() throws {
        // Zero-size tensors may share an offset with each other and with the next tensor.
        let header =
            #"{"a":{"dtype":"I32","shape":[2,0],"data_offsets":[0,0]},"#
            + #""b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"#
            + #""c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header, data: [9]))
        XCTAssertEqual(file.keys, ["a", "b", "c"])
        XCTAssertEqual(try file.tensor("a").shape, [2, 0])
        XCTAssertEqual(try file.tensor("a").count, 0)
        XCTAssertEqual(try file.tensor("c").toInt64Array(), [9])
    }

    func testUnknownFieldsAreIgnoredAndNullMetadataIsAbsent() throws {
        let header =
            #"{"__metadata__":null,"t":{"extra":[1,{"x":null}],"dtype":"U8","shape":[1],"data_offsets":[0,1],"#
            + #""more":-1.5e3}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header, data: [7]))
        XCTAssertEqual(file.metadata, [:])
        XCTAssertEqual(try file.tensor("t").toInt64Array(), [7])
    }

    func testMetadataAndEscapedKeys() throws {
        let header =
            #"{"__metadata__":{"format":"pt","q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00":"v\u0000"},"#
            + #""k\u00e9y":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header, data: [7]))
        XCTAssertEqual(file.metadata, ["format": "pt", "q\"\\/\u{8}\u{c}\n\r\té😀": "v\u{0}"])
        XCTAssertEqual(file.keys, ["kéy"])
    }

    func testUnsupportedDTypesParseButDoNotLoad() throws {
        let header =
            #"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F4","shape":[2],"data_offsets":[8,9]},"#
            + #""c":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[9,10]},"#
            + #""d":{"dtype":"U8","shape":[1],"data_offsets":[10,11]}}"#
        let file = try SafeTensorsFile(
            bytes: safetensorsBytes(header, data: [UInt8](repeating: 1, count: 11)),
            name: "test.safetensors")
        XCTAssertEqual(try file.info(for: "a").dtype, .F64)
        XCTAssertEqual(try file.info(for: "b").byteCount, 1)
        XCTAssertEqual(try file.tensor("d").toInt64Array(), [1])
        let error = expectCheckpointError { try file.tensor("a") }
        XCTAssertEqual(error, .unsupportedDType(path: "test.safetensors", key: "a", dtype: "F64", format: .safetensors))
        XCTAssertTrue(error?.description.contains("unsupported dtype F64") ?? false)
        XCTAssertEqual(
            expectCheckpointError { try file.loadAll() },
            .unsupportedDType(path: "test.safetensors", key: "a", dtype: "F64", format: .safetensors))
        for dtype in SafeTensorsDType.allCases {
            XCTAssertEqual(dtype.tensorDType?.rawValue ?? dtype.rawValue, dtype.rawValue)
        }
    }

    func testTensorNotFound() throws {
        let file = try SafeTensorsFile(bytes: safetensorsBytes(example, data: zeros16), name: "x.safetensors")
        XCTAssertEqual(
            expectCheckpointError { try file.tensor("nope") },
            .tensorNotFound(path: "x.safetensors", key: "nope"))
        XCTAssertFalse(file.contains("nope"))
    }

    // MARK: - HeaderTooSmall, HeaderTooLarge, InvalidHeaderLength

    func testHeaderTooSmall() {
        for count in 0..<8 {
            XCTAssertEqual(
                parseError([UInt8](repeating: 0, count: count)),
                .headerTooSmall(path: "test.safetensors", fileSize: count))
        }
    }

    func testHeaderTooLarge() {
        // The reference's case: the high bytes of the length set.
        var bytes = safetensorsBytes(example, data: zeros16)
        bytes[5] = 0xFF; bytes[6] = 0xFF; bytes[7] = 0xFF
        guard case .headerTooLarge = parseError(bytes) else { return XCTFail() }
        for n: UInt64 in [100_000_001, UInt64.max, 1 << 63] {
            XCTAssertEqual(
                parseError(withUnsafeBytes(of: n.littleEndian) { Array($0) } + [0x7B, 0x7D]),
                .headerTooLarge(path: "test.safetensors", headerLength: n))
        }
        // Exactly the limit is not "too large" — it is longer than this file.
        let atLimit: UInt64 = 100_000_000
        XCTAssertEqual(
            parseError(withUnsafeBytes(of: atLimit.littleEndian) { Array($0) } + [0x7B, 0x7D]),
            .invalidHeaderLength(path: "test.safetensors", headerLength: atLimit, fileSize: 10))
    }

    func testInvalidHeaderLength() {
        // The reference's case: a length of 60 and nothing after it.
        XCTAssertEqual(
            parseError([0x3C, 0, 0, 0, 0, 0, 0, 0]),
            .invalidHeaderLength(path: "test.safetensors", headerLength: 60, fileSize: 8))
        var bytes = safetensorsBytes("{}")
        bytes[0] = 3
        XCTAssertEqual(parseError(bytes), .invalidHeaderLength(path: "test.safetensors", headerLength: 3, fileSize: 10))
    }

    // MARK: - InvalidHeader (UTF-8)

    func testInvalidHeaderUTF8() {
        XCTAssertEqual(
            parseError([1, 0, 0, 0, 0, 0, 0, 0, 0xFF]), .invalidHeaderUTF8(path: "test.safetensors", offset: 0))
        let cases: [([UInt8], Int)] = [
            ([0x7B, 0x22, 0xC0, 0x80, 0x22], 2),  // overlong NUL
            ([0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22], 2),  // UTF-16 surrogate
            ([0x7B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 2),  // above U+10FFFF
            ([0x7B, 0x22, 0xE2, 0x82], 2),  // truncated sequence
            ([0x7B, 0x22, 0x80, 0x22], 2),  // lone continuation byte
            ([0x7B, 0x22, 0xC3, 0xA9, 0xF8, 0x22], 4)  // valid é, then an invalid lead byte
        ]
        for (header, offset) in cases {
            XCTAssertEqual(
                parseError(safetensorsBytes(header)), .invalidHeaderUTF8(path: "test.safetensors", offset: offset))
        }
    }

    // MARK: - InvalidHeaderDeserialization: JSON syntax

    func testInvalidHeaderNotJSON() {
        // The reference's case: a header that is just "{".
        jsonError([1, 0, 0, 0, 0, 0, 0, 0, 0x7B], contains: "string key")
        jsonError(safetensorsBytes(""), contains: "must be an object")
        jsonError(safetensorsBytes("   "), contains: "must be an object")
        jsonError(safetensorsBytes("{} x"), contains: "trailing")
        jsonError(safetensorsBytes("{}{}"), contains: "trailing")
        jsonError(safetensorsBytes("\u{FEFF}{}"), contains: "must be an object")  // a BOM is not whitespace
        jsonError(safetensorsBytes("{}\u{0}"), contains: "trailing")  // NUL padding is not whitespace
        jsonError(safetensorsBytes("{'t':1}"), contains: "string key")
        jsonError(safetensorsBytes(#"{"t" 1}"#), contains: "':'")
        jsonError(
            safetensorsBytes(#"{"__metadata__":{}"#), contains: "expected ',' or '}' in the header, found end of input")
        jsonError(safetensorsBytes(#"{"t":{"dtype":"U8",}}"#), contains: "string key")
        jsonError(
            safetensorsBytes(#"{"t":{"dtype":"U8"}"#.replacingOccurrences(of: "\"U8\"", with: "\"U8")),
            contains: "unterminated string")
    }

    func testTopLevelMustBeAnObject() {
        for header in ["[]", "1", "\"x\"", "null", "true"] {
            jsonError(safetensorsBytes(header), contains: "the header must be an object")
        }
    }

    func testStringRules() {
        // Raw control characters, bad escapes and unpaired surrogates, as serde_json refuses them.
        jsonError(safetensorsBytes("{\"a\u{1}\":{}}"), contains: "control character")
        jsonError(safetensorsBytes("{\"a\tb\":{}}"), contains: "control character")
        jsonError(safetensorsBytes(#"{"\x":{}}"#), contains: "invalid escape")
        jsonError(safetensorsBytes(#"{"\u12":{}}"#), contains: "hex digit")
        jsonError(safetensorsBytes(#"{"\ud800":{}}"#), contains: "unpaired surrogate")
        jsonError(safetensorsBytes(#"{"\ud800\u0041":{}}"#), contains: "unpaired surrogate")
        jsonError(safetensorsBytes(#"{"\udc00":{}}"#), contains: "unpaired surrogate")
        jsonError(safetensorsBytes(#"{"a\"#), contains: "unterminated string")
    }

    func testNumberRules() {
        // usize fields take plain non-negative integers that fit in 64 bits; "-0", "1.0", "1e0" are floats to serde.
        for bad in ["-1", "-0", "1.0", "1e0", "1E+0", "01", "18446744073709551616", "+1", ".5", "0x1", "\"1\"", "null"]
        {
            guard let error = parseError(oneTensor(#"{"dtype":"U8","shape":["# + bad + #"],"data_offsets":[0,1]}"#))
            else { continue }
            guard case .invalidHeaderJSON = error else { XCTFail("\(bad): \(error)"); continue }
        }
        jsonError(oneTensor(#"{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}"#), contains: "non-negative integer")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}"#), contains: "found 1.5")
        jsonError(
            oneTensor(#"{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}"#),
            contains: "does not fit in 64 bits")
        // Ignored fields still need valid numbers.
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1.}"#), contains: "invalid number")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":-}"#), contains: "invalid number")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1e}"#), contains: "invalid number")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":tru}"#), contains: "invalid literal")
    }

    func testNestingLimit() throws {
        // serde_json's recursion limit: 127 open containers in all (header + tensor + 125 here) pass, 128 fail.
        func nested(_ depth: Int) -> [UInt8] {
            oneTensor(
                #"{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"#
                    + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}")
        }
        XCTAssertNoThrow(try SafeTensorsFile(bytes: nested(125)))
        jsonError(nested(126), contains: "nesting")
        jsonError(nested(100_000), contains: "nesting")  // deep input costs no stack
    }

    // MARK: - InvalidHeaderDeserialization: structure

    func testTensorEntryStructure() {
        jsonError(oneTensor("1"), contains: "tensor 't' must be an object")
        jsonError(oneTensor(#"{"shape":[1],"data_offsets":[0,1]}"#), contains: "missing field 'dtype'")
        jsonError(oneTensor(#"{"dtype":"U8","data_offsets":[0,1]}"#), contains: "missing field 'shape'")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1]}"#), contains: "missing field 'data_offsets'")
        jsonError(oneTensor(#"{"dtype":8,"shape":[1],"data_offsets":[0,1]}"#), contains: "dtype must be a string")
        jsonError(oneTensor(#"{"dtype":"U8","shape":1,"data_offsets":[0,1]}"#), contains: "shape must be an array")
        jsonError(
            oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":{}}"#), contains: "data_offsets must be an array")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}"#), contains: "exactly 2 elements")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[1]}"#), contains: "exactly 2 elements")
        jsonError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[]}"#), contains: "exactly 2 elements")
    }

    func testUnknownDType() {
        for name in ["F128", "f32", "", "float32", "U8 "] {
            jsonError(
                oneTensor(#"{"dtype":""# + name + #"","shape":[1],"data_offsets":[0,1]}"#),
                contains: "unknown dtype '\(name)'")
        }
    }

    func testMetadataMustMapStringsToStrings() {
        let tensor = #""t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        jsonError(
            safetensorsBytes(#"{"__metadata__":{"x":1},"# + tensor + "}", data: [7]),
            contains: "__metadata__ value 'x' must be a string")
        jsonError(
            safetensorsBytes(#"{"__metadata__":{"x":null},"# + tensor + "}", data: [7]), contains: "must be a string")
        jsonError(
            safetensorsBytes(#"{"__metadata__":["x"],"# + tensor + "}", data: [7]),
            contains: "__metadata__ must be an object")
        jsonError(
            safetensorsBytes(#"{"__metadata__":"x","# + tensor + "}", data: [7]),
            contains: "__metadata__ must be an object")
    }

    func testDuplicateKeys() {
        let entry = #"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        // The reference (serde) keeps the last of two identical tensors silently; we refuse.
        jsonError(
            safetensorsBytes(#"{"t":"# + entry + #","t":"# + entry + "}", data: [7]), contains: "duplicate key 't'")
        jsonError(
            oneTensor(#"{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}"#),
            contains: "duplicate key 'dtype'")
        jsonError(
            safetensorsBytes(#"{"__metadata__":{},"__metadata__":{},"t":"# + entry + "}", data: [7]),
            contains: "duplicate key '__metadata__'")
        jsonError(
            safetensorsBytes(#"{"__metadata__":{"a":"1","a":"2"},"t":"# + entry + "}", data: [7]),
            contains: "duplicate key 'a'")
        // Escapes are decoded before comparing.
        jsonError(
            safetensorsBytes(#"{"t":"# + entry + #","\u0074":"# + entry + "}", data: [7]),
            contains: "duplicate key 't'")
    }

    // MARK: - InvalidOffset

    func testJSONAttackSameOffsets() {
        // The reference's test_json_attack: ten tensors all claiming bytes [0, 16).
        let entries = (0..<10).map { #""weight_\#($0)":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"# }
        guard
            case let .invalidOffset(_, key, offsets, expected) = parseError(
                safetensorsBytes("{" + entries.joined(separator: ",") + "}", data: zeros16))
        else { return XCTFail() }
        XCTAssertEqual(key, "weight_1")  // ties are broken by key; weight_0 takes the bytes
        XCTAssertEqual(offsets, [0, 16])
        XCTAssertEqual(expected, 16)
    }

    func testGapOverlapAndReversedOffsets() {
        // A gap before the first tensor.
        XCTAssertEqual(
            parseError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[1,2]}"#, data: [0, 7])),
            .invalidOffset(path: "test.safetensors", key: "t", dataOffsets: [1, 2], expectedBegin: 0))
        // A gap between tensors.
        let gap =
            #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#
        XCTAssertEqual(
            parseError(safetensorsBytes(gap, data: [1, 2, 3])),
            .invalidOffset(path: "test.safetensors", key: "b", dataOffsets: [2, 3], expectedBegin: 1))
        // Overlap.
        let overlap =
            #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#
        XCTAssertEqual(
            parseError(safetensorsBytes(overlap, data: [1, 2, 3])),
            .invalidOffset(path: "test.safetensors", key: "b", dataOffsets: [1, 3], expectedBegin: 2))
        // End before begin.
        let reversed =
            #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}"#
        let error = parseError(safetensorsBytes(reversed, data: [1]))
        XCTAssertEqual(error, .invalidOffset(path: "test.safetensors", key: "b", dataOffsets: [1, 0], expectedBegin: 1))
        XCTAssertEqual(error?.description, "test.safetensors: tensor 'b': data_offsets [1, 0] end before they begin")
        // Huge offsets never trap.
        XCTAssertEqual(
            parseError(oneTensor(#"{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}"#)),
            .invalidOffset(path: "test.safetensors", key: "t", dataOffsets: [UInt64.max, 0], expectedBegin: 0))
    }

    // MARK: - ValidationOverflow, MisalignedSlice, TensorInvalidInfo

    func testValidationOverflow() {
        // The reference's two cases, then products that overflow only part-way and bit counts that overflow.
        let shapes: [(String, String)] = [
            ("[2,18446744073709551614]", "I32"), ("[2,9223372036854775807]", "I32"),
            ("[4611686018427387904,4]", "U8"), ("[2305843009213693952]", "F32"),
            // > Int.max: the reference would accept it (product 0); a Swift shape cannot hold it.
            ("[9223372036854775808,0]", "U8")
        ]
        for (shape, dtype) in shapes {
            let bytes = oneTensor(
                #"{"dtype":""# + dtype + #"","shape":"# + shape + #","data_offsets":[0,16]}"#,
                data: zeros16)
            guard case let .validationOverflow(_, key, _, name) = parseError(bytes) else { XCTFail(shape); continue }
            XCTAssertEqual(key, "t")
            XCTAssertEqual(name, dtype)
        }
        // Up to Int.max a zero dimension keeps the count representable: accepted, as by the reference.
        XCTAssertNoThrow(
            try SafeTensorsFile(
                bytes: oneTensor(#"{"dtype":"U8","shape":[0,9223372036854775807],"data_offsets":[0,0]}"#, data: [])))
    }

    func testMisalignedSubByteDType() {
        XCTAssertEqual(
            parseError(oneTensor(#"{"dtype":"F4","shape":[3],"data_offsets":[0,1]}"#, data: [0])),
            .misalignedSlice(path: "test.safetensors", key: "t", shape: [3], dtype: "F4"))
        XCTAssertNoThrow(
            try SafeTensorsFile(
                bytes: oneTensor(
                    #"{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}"#,
                    data: [0, 0, 0])))
    }

    func testTensorInvalidInfo() {
        // The reference's case: I32 [2, 2] claiming 4 bytes.
        XCTAssertEqual(
            parseError(safetensorsBytes(#"{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0, 4]}}"#)),
            .tensorInvalidInfo(
                path: "test.safetensors", key: "test", dataOffsets: [0, 4], shape: [2, 2],
                dtype: "I32", expectedBytes: 16))
        let bytes = safetensorsBytes(
            #"{"a.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}}"#,
            data: [UInt8](repeating: 0, count: 12))
        let error = expectCheckpointError { try SafeTensorsFile(bytes: bytes, name: "model.safetensors") }
        XCTAssertEqual(
            error?.description,
            "model.safetensors: tensor 'a.weight': data_offsets [0, 12] do not match shape [2, 3] × F32 = 24 bytes")
    }

    // MARK: - MetadataIncompleteBuffer

    func testMetadataIncompleteBuffer() {
        // The reference's cases: trailing "polyglot" bytes, and two bytes missing.
        let polyglot = safetensorsBytes(example, data: zeros16 + Array("extra_bogus_data_for_polyglot_file".utf8))
        let trailing = parseError(polyglot)
        XCTAssertEqual(trailing, .metadataIncompleteBuffer(path: "test.safetensors", dataEnd: 16, dataLength: 50))
        XCTAssertTrue(trailing?.description.contains("34 trailing bytes") ?? false)
        let missing = parseError(safetensorsBytes(example, data: [UInt8](repeating: 0, count: 14)))
        XCTAssertEqual(missing, .metadataIncompleteBuffer(path: "test.safetensors", dataEnd: 16, dataLength: 14))
        XCTAssertTrue(missing?.description.contains("2 bytes missing") ?? false)
        // An empty header with data after it, and one trailing byte.
        XCTAssertEqual(
            parseError(safetensorsBytes("{}", data: [0])),
            .metadataIncompleteBuffer(path: "test.safetensors", dataEnd: 0, dataLength: 1))
        XCTAssertEqual(
            parseError(safetensorsBytes(example, data: zeros16 + [0])),
            .metadataIncompleteBuffer(path: "test.safetensors", dataEnd: 16, dataLength: 17))
    }

    // MARK: - Errors come in the reference's order

    func testErrorPrecedence() {
        // Structure errors anywhere beat offset errors; offset errors are reported in offset order.
        let header =
            #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[5,6]},"b":{"dtype":"X","shape":[1],"data_offsets":[0,1]}}"#
        guard case .invalidHeaderJSON = parseError(safetensorsBytes(header, data: [0])) else { return XCTFail() }
        let twoBad =
            #"{"z":{"dtype":"U8","shape":[3],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[5,6]}}"#
        guard case let .tensorInvalidInfo(_, key, _, _, _, _) = parseError(safetensorsBytes(twoBad, data: [0])) else {
            return XCTFail()
        }
        XCTAssertEqual(key, "z")
        // Per-tensor errors beat the whole-buffer check.
        let short = #"{"t":{"dtype":"U8","shape":[3],"data_offsets":[0,2]}}"#
        guard case .tensorInvalidInfo = parseError(safetensorsBytes(short, data: [])) else { return XCTFail() }
    }

    // MARK: - Zero-copy and copies

    func testAlignedTensorsBorrowMisalignedOnesAreCopied() throws {
        // Header of 64 bytes keeps the data section 8-byte aligned; "a" (U8 × 1) pushes "b" (F32) to offset 1.
        var header =
            #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}"#
        header += String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        let values: [Float] = [1.5, -2]
        let data: [UInt8] = [42] + values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header, data: data))
        let a = try file.tensor("a")
        let b = try file.tensor("b")
        XCTAssertTrue(file.holds(a))
        XCTAssertFalse(file.holds(b))  // misaligned for F32: copied
        XCTAssertEqual(b.toArray(), values)
        XCTAssertEqual(a.toInt64Array(), [42])
        XCTAssertFalse(file.holds(try file.tensor("a", copy: true)))
    }

    func testBorrowedTensorsKeepTheMappingAlive() throws {
        let folder = try makeTemporaryFolder(self)
        let url = folder.appendingPathComponent("one.safetensors")
        try SafeTensorsWriter.write(["w": Tensor([1, 2, 3, 4], shape: [2, 2])], to: url)
        // The file object goes out of scope here; only the tensor's storage still refers to it.
        let w: Tensor = try {
            let file = try SafeTensorsFile(url: url)
            let w = try file.tensor("w")
            XCTAssertTrue(file.holds(w))
            return w
        }()
        XCTAssertEqual(w.toArray(), [1, 2, 3, 4])  // would fault if the mapping had been unmapped
    }

    // MARK: - File-system errors

    func testFileErrors() throws {
        let folder = try makeTemporaryFolder(self)
        let missing = folder.appendingPathComponent("missing.safetensors").path
        XCTAssertEqual(
            expectCheckpointError { try SafeTensorsFile(path: missing) },
            .io(path: missing, operation: "open", errno: ENOENT))
        XCTAssertEqual(
            expectCheckpointError { try SafeTensorsFile(path: folder.path) }, .notARegularFile(path: folder.path))
        let tiny = folder.appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        XCTAssertEqual(
            expectCheckpointError { try SafeTensorsFile(url: tiny) }, .headerTooSmall(path: tiny.path, fileSize: 3))
        let empty = folder.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        XCTAssertEqual(
            expectCheckpointError { try SafeTensorsFile(url: empty) }, .headerTooSmall(path: empty.path, fileSize: 0))
        // A mapped file is validated exactly like bytes in memory.
        let bad = folder.appendingPathComponent("bad.safetensors")
        try Data(safetensorsBytes(example, data: zeros16 + [1])).write(to: bad)
        XCTAssertEqual(
            expectCheckpointError { try SafeTensorsFile(url: bad) },
            .metadataIncompleteBuffer(path: bad.path, dataEnd: 16, dataLength: 17))
    }
}
