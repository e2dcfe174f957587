import Foundation

/// The contents of a SentencePiece `tokenizer.model` (protobuf `sentencepiece.ModelProto`), with the proto2 defaults
/// of `sentencepiece_model.proto` for absent fields. Loading validates the vocabulary the way sentencepiece's
/// `ModelInterface::InitializePieces` does, so a model that sentencepiece would refuse is refused here too.
public struct SentencePieceModel: Sendable, Equatable {
    /// sentencepiece's `ModelProto.SentencePiece.Type`.
    public enum PieceType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// One vocabulary entry.
    public struct Piece: Sendable, Equatable {
        /// The piece's text, kept as the exact bytes of the file (compare `piece.utf8`, never `piece` itself:
        /// String equality would equate LLaMA-2's U+03AF and U+1F77 pieces).
        public var piece: String
        public var score: Float
        public var type: PieceType

        public init(piece: String, score: Float, type: PieceType = .normal) {
            self.piece = piece
            self.score = score
            self.type = type
        }

        /// Byte-wise, as sentencepiece compares pieces.
        public static func == (a: Piece, b: Piece) -> Bool {
            a.piece.utf8.elementsEqual(b.piece.utf8) && a.score == b.score && a.type == b.type
        }
    }

    /// sentencepiece's `TrainerSpec.ModelType`.
    public enum ModelType: Int32, Sendable {
        case unigram = 1, bpe = 2, word = 3, char = 4
    }

    /// The TrainerSpec fields that matter at encode/decode time (the rest only drive training).
    public struct TrainerSpec: Sendable, Equatable {
        public var modelType: ModelType = .unigram
        public var vocabSize: Int32 = 8000
        public var byteFallback = false
        /// Training-time only: the trainer never builds pieces that span several digits, so encoding needs no step
        /// of its own for it (sentencepiece's encoder ignores the flag as well).
        public var splitDigits = false
        public var splitByWhitespace = true
        public var treatWhitespaceAsSuffix = false
        public var allowWhitespaceOnlyPieces = false
        public var unkId: Int32 = 0
        public var bosId: Int32 = 1
        public var eosId: Int32 = 2
        public var padId: Int32 = -1
        public var unkPiece = "<unk>"
        public var bosPiece = "<s>"
        public var eosPiece = "</s>"
        public var padPiece = "<pad>"
        /// What decode prints for an unknown id (default " ⁇ ").
        public var unkSurface = " \u{2047} "
        public var controlSymbols: [String] = []
        public var userDefinedSymbols: [String] = []

        public init() {}
    }

    /// The model's normalisation settings (`NormalizerSpec`).
    public struct NormalizerSpec: Sendable, Equatable {
        public var name = ""
        /// Compiled normalization rules (e.g. nmt_nfkc). Empty means identity, the only mode implemented here.
        public var precompiledCharsmap: [UInt8] = []
        public var addDummyPrefix = true
        public var removeExtraWhitespaces = true
        public var escapeWhitespaces = true
        public var normalizationRuleTSV = ""

        public init() {}
    }

    public var pieces: [Piece]
    public var trainerSpec: TrainerSpec
    public var normalizerSpec: NormalizerSpec
    /// Present only when the file has one (field 5); decode would apply it.
    public var denormalizerSpec: NormalizerSpec?

    public init(
        pieces: [Piece], trainerSpec: TrainerSpec, normalizerSpec: NormalizerSpec,
        denormalizerSpec: NormalizerSpec? = nil, fileName: String = "tokenizer.model"
    ) throws {
        self.pieces = pieces
        self.trainerSpec = trainerSpec
        self.normalizerSpec = normalizerSpec
        self.denormalizerSpec = denormalizerSpec
        try validate(fileName: fileName)
    }

    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(file: url.path, reason: error.localizedDescription)
        }
        try self.init(serializedBytes: [UInt8](data), fileName: url.path)
    }

    /// Parses a serialized ModelProto. `fileName` only labels errors.
    public init(serializedBytes bytes: [UInt8], fileName: String = "tokenizer.model") throws {
        var pieces: [Piece] = []
        var trainer = TrainerSpec()
        var normalizer = NormalizerSpec()
        var denormalizer: NormalizerSpec?
        var context = "ModelProto"
        do {
            var reader = ProtobufReader(bytes: bytes)
            while let (number, wireType) = try reader.nextField() {
                switch (number, wireType) {
                case (1, .lengthDelimited):
                    context = "ModelProto.pieces[\(pieces.count)]"
                    var sub = ProtobufReader(bytes: bytes, range: try reader.readLengthDelimited())
                    pieces.append(try Self.parsePiece(&sub, fileName: fileName, context: context))
                case (2, .lengthDelimited):
                    // Repeated occurrences of a singular message merge, as in protobuf.
                    context = "ModelProto.trainer_spec"
                    var sub = ProtobufReader(bytes: bytes, range: try reader.readLengthDelimited())
                    try Self.parseTrainerSpec(&sub, into: &trainer, fileName: fileName)
                case (3, .lengthDelimited):
                    context = "ModelProto.normalizer_spec"
                    var sub = ProtobufReader(bytes: bytes, range: try reader.readLengthDelimited())
                    try Self.parseNormalizerSpec(&sub, into: &normalizer)
                case (5, .lengthDelimited):
                    context = "ModelProto.denormalizer_spec"
                    var sub = ProtobufReader(bytes: bytes, range: try reader.readLengthDelimited())
                    var spec = denormalizer ?? NormalizerSpec()
                    try Self.parseNormalizerSpec(&sub, into: &spec)
                    denormalizer = spec
                default:
                    context = "ModelProto field \(number)"
                    try reader.skipField(wireType, number: number)
                }
                context = "ModelProto"
            }
        } catch let error as ProtobufError {
            throw TokenizerError.malformedProtobuf(file: fileName, reason: "\(context): \(error)")
        }
        try self.init(
            pieces: pieces, trainerSpec: trainer, normalizerSpec: normalizer,
            denormalizerSpec: denormalizer, fileName: fileName)
    }

    private static func parsePiece(_ reader: inout ProtobufReader, fileName: String, context: String) throws -> Piece {
        var piece = Piece(piece: "", score: 0, type: .normal)
        while let (number, wireType) = try reader.nextField() {
            switch (number, wireType) {
            case (1, .lengthDelimited): piece.piece = try reader.readString()
            case (2, .fixed32): piece.score = try reader.readFloat()
            case (3, .varint):
                let raw = try reader.readInt32()
                guard let type = PieceType(rawValue: raw) else {
                    throw TokenizerError.invalidModel(
                        file: fileName, reason: "\(context).type: unknown piece type \(raw)")
                }
                piece.type = type
            default: try reader.skipField(wireType, number: number)
            }
        }
        return piece
    }

    private static func parseTrainerSpec(
        _ reader: inout ProtobufReader, into spec: inout TrainerSpec,
        fileName: String
    ) throws {
        while let (number, wireType) = try reader.nextField() {
            switch (number, wireType) {
            case (3, .varint):
                let raw = try reader.readInt32()
                guard let type = ModelType(rawValue: raw) else {
                    throw TokenizerError.invalidModel(
                        file: fileName,
                        reason: "trainer_spec.model_type: unknown model type \(raw)")
                }
                spec.modelType = type
            case (4, .varint): spec.vocabSize = try reader.readInt32()
            case (35, .varint): spec.byteFallback = try reader.readBool()
            case (25, .varint): spec.splitDigits = try reader.readBool()
            case (22, .varint): spec.splitByWhitespace = try reader.readBool()
            case (24, .varint): spec.treatWhitespaceAsSuffix = try reader.readBool()
            case (26, .varint): spec.allowWhitespaceOnlyPieces = try reader.readBool()
            case (40, .varint): spec.unkId = try reader.readInt32()
            case (41, .varint): spec.bosId = try reader.readInt32()
            case (42, .varint): spec.eosId = try reader.readInt32()
            case (43, .varint): spec.padId = try reader.readInt32()
            case (44, .lengthDelimited): spec.unkSurface = try reader.readString()
            case (45, .lengthDelimited): spec.unkPiece = try reader.readString()
            case (46, .lengthDelimited): spec.bosPiece = try reader.readString()
            case (47, .lengthDelimited): spec.eosPiece = try reader.readString()
            case (48, .lengthDelimited): spec.padPiece = try reader.readString()
            case (30, .lengthDelimited): spec.controlSymbols.append(try reader.readString())
            case (31, .lengthDelimited): spec.userDefinedSymbols.append(try reader.readString())
            default: try reader.skipField(wireType, number: number)
            }
        }
    }

    private static func parseNormalizerSpec(_ reader: inout ProtobufReader, into spec: inout NormalizerSpec) throws {
        while let (number, wireType) = try reader.nextField() {
            switch (number, wireType) {
            case (1, .lengthDelimited): spec.name = try reader.readString()
            case (2, .lengthDelimited): spec.precompiledCharsmap = try reader.readBytes()
            case (3, .varint): spec.addDummyPrefix = try reader.readBool()
            case (4, .varint): spec.removeExtraWhitespaces = try reader.readBool()
            case (5, .varint): spec.escapeWhitespaces = try reader.readBool()
            case (6, .lengthDelimited): spec.normalizationRuleTSV = try reader.readString()
            default: try reader.skipField(wireType, number: number)
            }
        }
    }

    /// The checks of sentencepiece's `InitializePieces`: non-empty unique pieces (normal/user-defined/unused share
    /// one namespace, control/unknown/byte another), exactly one unknown piece, byte pieces only with byte_fallback
    /// and then all 256 of them. Uniqueness is by bytes, as sentencepiece's `absl::flat_hash_map<string_view, int>`:
    /// LLaMA-2's vocabulary holds canonically equivalent pieces (U+03AF "ί" at 30207, U+1F77 "ί" at 30873) that a
    /// `Set<String>` would take for duplicates.
    private func validate(fileName: String) throws {
        if pieces.isEmpty { throw TokenizerError.invalidModel(file: fileName, reason: "no pieces") }
        var normal = ByteKeyedTable<Bool>(), reserved = ByteKeyedTable<Bool>()
        var unkCount = 0
        var bytesFound = [Bool](repeating: false, count: 256)
        for (i, piece) in pieces.enumerated() {
            if piece.piece.isEmpty {
                throw TokenizerError.invalidModel(file: fileName, reason: "piece \(i) is empty")
            }
            let isNormal = piece.type == .normal || piece.type == .userDefined || piece.type == .unused
            let inserted = isNormal ? normal.insertNew(piece.piece) : reserved.insertNew(piece.piece)
            if !inserted {
                throw TokenizerError.invalidModel(
                    file: fileName, reason: "piece \(i) \"\(piece.piece)\" is already defined")
            }
            switch piece.type {
            case .unknown:
                unkCount += 1
                if unkCount > 1 { throw TokenizerError.invalidModel(file: fileName, reason: "unk is already defined") }
            case .byte:
                guard trainerSpec.byteFallback else {
                    throw TokenizerError.invalidModel(
                        file: fileName, reason: "byte piece \(piece.piece) is found although byte_fallback is false")
                }
                guard let byte = Self.byteValue(ofPiece: piece.piece) else {
                    throw TokenizerError.invalidModel(file: fileName, reason: "byte piece \(piece.piece) is invalid")
                }
                bytesFound[Int(byte)] = true
            default: break
            }
        }
        if unkCount == 0 { throw TokenizerError.invalidModel(file: fileName, reason: "unk is not defined") }
        if trainerSpec.byteFallback && bytesFound.contains(false) {
            throw TokenizerError.invalidModel(
                file: fileName, reason: "there are not 256 byte pieces although byte_fallback is true")
        }
    }

    /// "<0x41>" → 0x41 (exactly sentencepiece's spelling: two upper-case hex digits).
    static func byteValue(ofPiece piece: String) -> UInt8? {
        let u = Array(piece.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
            u[5] == UInt8(ascii: ">"), let hi = upperHexDigit(u[3]), let lo = upperHexDigit(u[4])
        else { return nil }
        return hi << 4 | lo
    }

    static func bytePiece(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(
            decoding: [
                UInt8(ascii: "<"), UInt8(ascii: "0"), UInt8(ascii: "x"),
                digits[Int(byte >> 4)], digits[Int(byte & 15)], UInt8(ascii: ">")
            ], as: UTF8.self)
    }

    private static func upperHexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
