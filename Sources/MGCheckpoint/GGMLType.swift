/// A ggml tensor type as GGUF files record it (`enum ggml_type`): its id, name, and block layout. The table holds
/// the types llama.cpp writes to GGUF files, so a file with any of them parses and its layout is checked; only the
/// `readable` ones load into a `Tensor`.
public struct GGMLType: Sendable, Equatable {
    public let id: UInt32
    /// ggml's name for it (`q4_K`, `f16`, …), upper-cased as llama.cpp prints types (Q4_K, F16).
    public let name: String
    /// Values per block (1 for the plain types).
    public let blockSize: Int
    /// Bytes per block.
    public let blockBytes: Int

    /// The `Tensor` dtype that holds this type as stored, when there is one.
    public var dtype: DType? {
        switch id {
        case 0: return .float32
        case 1: return .float16
        case 30: return .bfloat16
        case 6: return .q5_0
        case 8: return .q8_0
        case 12: return .q4_K
        case 14: return .q6_K
        case 26: return .int32
        case 27: return .int64
        default: return nil
        }
    }

    /// The type of a `Tensor` dtype that GGUF can store (nil for U8, BOOL).
    public init?(_ dtype: DType) {
        let id: UInt32
        switch dtype {
        case .float32: id = 0
        case .float16: id = 1
        case .bfloat16: id = 30
        case .q5_0: id = 6
        case .q8_0: id = 8
        case .q4_K: id = 12
        case .q6_K: id = 14
        case .int32: id = 26
        case .int64: id = 27
        case .uint8, .bool: return nil
        }
        guard let known = GGMLType(id: id) else { return nil }
        self = known
    }

    /// The known type with ggml id `id`.
    public init?(id: UInt32) {
        guard let known = GGMLType.all.first(where: { $0.id == id }) else { return nil }
        self = known
    }

    private init(_ id: UInt32, _ name: String, _ blockSize: Int, _ blockBytes: Int) {
        (self.id, self.name, self.blockSize, self.blockBytes) = (id, name, blockSize, blockBytes)
    }

    /// Bytes of `count` values (nil when `count` is not whole blocks).
    public func byteCount(for count: Int) -> Int? {
        guard count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// Every type GGUF files hold, as ggml defines their blocks.
    public static let all: [GGMLType] = [
        .init(0, "F32", 1, 4), .init(1, "F16", 1, 2), .init(2, "Q4_0", 32, 18), .init(3, "Q4_1", 32, 20),
        .init(6, "Q5_0", 32, 22), .init(7, "Q5_1", 32, 24), .init(8, "Q8_0", 32, 34), .init(9, "Q8_1", 32, 36),
        .init(10, "Q2_K", 256, 84), .init(11, "Q3_K", 256, 110), .init(12, "Q4_K", 256, 144),
        .init(13, "Q5_K", 256, 176), .init(14, "Q6_K", 256, 210), .init(15, "Q8_K", 256, 292),
        .init(16, "IQ2_XXS", 256, 66), .init(17, "IQ2_XS", 256, 74), .init(18, "IQ3_XXS", 256, 98),
        .init(19, "IQ1_S", 256, 50), .init(20, "IQ4_NL", 32, 18), .init(21, "IQ3_S", 256, 110),
        .init(22, "IQ2_S", 256, 82), .init(23, "IQ4_XS", 256, 136), .init(24, "I8", 1, 1), .init(25, "I16", 1, 2),
        .init(26, "I32", 1, 4), .init(27, "I64", 1, 8), .init(28, "F64", 1, 8), .init(29, "IQ1_M", 256, 56),
        .init(30, "BF16", 1, 2), .init(34, "TQ1_0", 256, 54), .init(35, "TQ2_0", 256, 66),
        .init(39, "MXFP4", 32, 17)
    ]

    // The types a quantizer chooses between, by name.
    public static let f32 = GGMLType(0, "F32", 1, 4)
    public static let f16 = GGMLType(1, "F16", 1, 2)
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 22)
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34)
    public static let q4_K = GGMLType(12, "Q4_K", 256, 144)
    public static let q5_K = GGMLType(13, "Q5_K", 256, 176)
    public static let q6_K = GGMLType(14, "Q6_K", 256, 210)

    /// The types that load into a `Tensor`.
    public static var readable: [GGMLType] { all.filter { $0.dtype != nil } }
}
