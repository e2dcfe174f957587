import Foundation

/// Writes GGUF version 3 files as llama.cpp's `gguf_write_to_file` lays them out: header, metadata in the given
/// order, tensor descriptions, then the data section at the next multiple of `general.alignment`, each tensor padded
/// to it. Tensors are produced one at a time by a closure (a quantizer can stream a 7B model through a few hundred
/// MB), and the file appears atomically (temporary file, fsync, rename).
public enum GGUFWriter {
    /// One tensor to write: its name, PyTorch-order shape, and stored type.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var type: GGMLType

        public init(name: String, shape: [Int], type: GGMLType) {
            self.name = name
            self.shape = shape
            self.type = type
        }
    }

    /// Writes `entries` with `metadata` to `url`; `data(i)` returns entry i's tensor, which must have its shape and
    /// the dtype of its type. Metadata keys must be unique; `general.alignment`, when given, must be a UINT32 power of
    /// two and sets the padding.
    public static func write(
        to url: URL, metadata: [(key: String, value: GGUFValue)], entries: [Entry],
        data: (Int) throws -> Tensor
    ) throws {
        let path = url.path
        var seen = Set<String>()
        for (key, _) in metadata where !seen.insert(key).inserted {
            throw GGUFError.invalidWrite(path: path, reason: "metadata key '\(key)' is given twice")
        }
        var alignment = 32
        if let a = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard case let .uint32(v) = a, v > 0, v & (v - 1) == 0 else {
                throw GGUFError.invalidWrite(path: path, reason: "general.alignment must be a UINT32 power of two")
            }
            alignment = Int(v)
        }
        var header: [UInt8] = Array("GGUF".utf8)
        append(UInt32(3), to: &header)
        append(UInt64(entries.count), to: &header)
        append(UInt64(metadata.count), to: &header)
        for (key, value) in metadata {
            appendString(Array(key.utf8), to: &header)
            append(value.type.rawValue, to: &header)
            try appendValue(value, to: &header, key: key, path: path)
        }
        var names = Set<String>()
        var offset = 0
        var sizes: [Int] = []
        for e in entries {
            guard names.insert(e.name).inserted, e.name.utf8.count < 64 else {
                throw GGUFError.invalidWrite(
                    path: path, reason: "tensor name '\(e.name)' is repeated or longer than 63 bytes")
            }
            let dims = Array(e.shape.reversed())
            guard (1...4).contains(dims.count), let bytes = e.type.byteCount(for: dims.reduce(1, *)),
                dims[0] % e.type.blockSize == 0
            else {
                throw GGUFError.invalidWrite(
                    path: path, reason: "tensor '\(e.name)': shape \(e.shape) cannot be stored as \(e.type.name)")
            }
            appendString(Array(e.name.utf8), to: &header)
            append(UInt32(dims.count), to: &header)
            for d in dims { append(UInt64(d), to: &header) }
            append(e.type.id, to: &header)
            append(UInt64(offset), to: &header)
            sizes.append(bytes)
            offset += (bytes + alignment - 1) / alignment * alignment
        }
        header += [UInt8](repeating: 0, count: (alignment - header.count % alignment) % alignment)
        let padding = [UInt8](repeating: 0, count: alignment)
        try SafeTensorsWriter.atomicWrite(to: url) { fd, tempPath in
            try header.withUnsafeBytes { try SafeTensorsWriter.writeAll(fd, $0, path: tempPath) }
            for (i, e) in entries.enumerated() {
                let t = try data(i)
                guard t.shape == e.shape, t.dtype == e.type.dtype, t.storage.byteCount >= sizes[i] else {
                    throw GGUFError.invalidWrite(
                        path: path,
                        reason: "tensor '\(e.name)': got \(t.dtype.rawValue) \(t.shape) for \(e.type.name) \(e.shape)")
                }
                try SafeTensorsWriter.writeAll(
                    fd, UnsafeRawBufferPointer(start: t.storage.pointer, count: sizes[i]), path: tempPath)
                let pad = (alignment - sizes[i] % alignment) % alignment
                try padding.withUnsafeBytes {
                    try SafeTensorsWriter.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<pad]), path: tempPath)
                }
            }
        }
    }

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        append(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    private static func appendValue(_ value: GGUFValue, to out: inout [UInt8], key: String, path: String) throws {
        switch value {
        case let .uint8(v): append(v, to: &out)
        case let .int8(v): append(v, to: &out)
        case let .uint16(v): append(v, to: &out)
        case let .int16(v): append(v, to: &out)
        case let .uint32(v): append(v, to: &out)
        case let .int32(v): append(v, to: &out)
        case let .uint64(v): append(v, to: &out)
        case let .int64(v): append(v, to: &out)
        case let .float32(v): append(v.bitPattern, to: &out)
        case let .float64(v): append(v.bitPattern, to: &out)
        case let .bool(v): out.append(v ? 1 : 0)
        case let .string(b): appendString(b, to: &out)
        case let .array(type, elements):
            append(type.rawValue, to: &out)
            append(UInt64(elements.count), to: &out)
            for e in elements {
                guard e.type == type else {
                    throw GGUFError.invalidWrite(
                        path: path, reason: "metadata '\(key)': a \(e.type) element in an array of \(type)")
                }
                try appendValue(e, to: &out, key: key, path: path)
            }
        }
    }
}
