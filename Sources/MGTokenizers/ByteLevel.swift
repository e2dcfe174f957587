/// GPT-2's byte-to-unicode map (`bytes_to_unicode`), used by the ByteLevel pre-tokenizer and decoder: printable
/// bytes ('!'…'~', '¡'…'¬', '®'…'ÿ') stand for themselves, the other 68 bytes map to U+0100 onwards in byte order,
/// so every byte sequence becomes a string of visible characters (space → "Ġ", newline → "Ċ").
enum ByteLevel {
    static let characters: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    private static let bytesOfCharacter: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for b in 0..<256 { map[characters[b]] = UInt8(b) }
        return map
    }()

    @inline(__always)
    static func character(forByte b: UInt8) -> UInt32 { characters[Int(b)] }

    @inline(__always)
    static func byte(forCharacter c: UInt32) -> UInt8? { bytesOfCharacter[c] }

    /// The ByteLevel decoder: each token's characters map back to bytes; a token containing a character outside
    /// the map is kept as its own UTF-8. The bytes of all tokens are then read as UTF-8, invalid sequences → U+FFFD.
    static func decode(_ tokens: [String]) -> String {
        var bytes: [UInt8] = []
        for token in tokens {
            let start = bytes.count
            var mapped = true
            for scalar in token.unicodeScalars {
                guard let b = byte(forCharacter: scalar.value) else { mapped = false; break }
                bytes.append(b)
            }
            if !mapped {
                bytes.removeSubrange(start...)
                bytes.append(contentsOf: token.utf8)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
