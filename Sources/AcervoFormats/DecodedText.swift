import Foundation

/// Text from bytes that do not say their encoding — caption files and text materials as they are found:
/// UTF-8 with or without a byte-order mark, UTF-16 with one, or Windows-1252, the legacy encoding in which
/// Spanish and Portuguese subtitles are still exported (its printable part is Latin-1). Bytes that are none
/// of these are an error, never text guessed into mojibake.
public struct DecodedText: Sendable, Equatable {
    public enum Encoding: String, Sendable {
        case utf8 = "utf-8"
        case utf8WithBOM = "utf-8 with BOM"
        case utf16LittleEndian = "utf-16le"
        case utf16BigEndian = "utf-16be"
        case windows1252 = "windows-1252"
    }

    /// The text, line breaks as they were.
    public var text: String
    public var encoding: Encoding

    /// Why bytes are not text: where, and what to do.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public static func decode(_ bytes: [UInt8]) throws(Failure) -> DecodedText {
        let decoded: DecodedText
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            guard let text = String(validating: bytes.dropFirst(3), as: UTF8.self) else {
                let survey = surveyUTF8(bytes.dropFirst(3))
                throw Failure(line: survey.invalidLine,
                              reason: "byte \(survey.invalidByte) is not UTF-8 although the file says it is; re-export the file as UTF-8")
            }
            decoded = DecodedText(text: text, encoding: .utf8WithBOM)
        } else if bytes.starts(with: [0xFF, 0xFE]) {
            decoded = DecodedText(text: try utf16(bytes.dropFirst(2), littleEndian: true), encoding: .utf16LittleEndian)
        } else if bytes.starts(with: [0xFE, 0xFF]) {
            decoded = DecodedText(text: try utf16(bytes.dropFirst(2), littleEndian: false), encoding: .utf16BigEndian)
        } else if let nul = bytes.firstIndex(of: 0) {
            // Text in any encoding without a byte-order mark has no NUL; a video or an image has many.
            let line = bytes[..<nul].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
            throw Failure(line: line, reason: "byte \(nul + 1) is NUL: this is not a text file")
        } else if let text = String(validating: bytes, as: UTF8.self) {
            decoded = DecodedText(text: text, encoding: .utf8)
        } else {
            // Not UTF-8: Windows-1252, unless the file also holds UTF-8 accented letters — then it mixes the two
            // (a UTF-8 file edited in a Latin-1 editor) and either reading garbles part of it.
            let survey = surveyUTF8(bytes[...])
            if let utf8Line = survey.firstMultibyteLine {
                throw Failure(line: survey.invalidLine, reason: "byte \(survey.invalidByte) is not UTF-8, but line \(utf8Line) is: "
                    + "the file mixes UTF-8 and another encoding; re-export it as UTF-8")
            }
            decoded = DecodedText(text: try windows1252(bytes), encoding: .windows1252)
        }
        try decoded.checkIsText()
        return decoded
    }

    /// Text has no NULs and no control characters other than tab, line and page breaks: a binary file (a video
    /// named `.srt`) decodes into those whatever the encoding.
    private func checkIsText() throws(Failure) {
        // Control characters are single bytes in UTF-8: the bytes tell, without decoding scalars.
        func isControl(_ byte: UInt8) -> Bool { byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D && byte != 0x0C }
        guard text.utf8.withContiguousStorageIfAvailable({ $0.contains(where: isControl) }) ?? true else { return }
        let bytes = Array(text.utf8)
        guard let bad = bytes.firstIndex(where: isControl) else { return }
        let line = bytes[..<bad].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        throw Failure(line: line, reason: String(format: "control character U+%04X: this is not a text file", Int(bytes[bad])))
    }

    /// Where bytes stop being UTF-8 (the first byte that is not, and its line), and the line of the first
    /// UTF-8 sequence of more than one byte before that — an accented letter in UTF-8.
    private static func surveyUTF8(_ bytes: ArraySlice<UInt8>) -> (invalidByte: Int, invalidLine: Int, firstMultibyteLine: Int?) {
        var index = bytes.startIndex
        var line = 1
        var firstMultibyteLine: Int?
        while index < bytes.endIndex {
            let byte = bytes[index]
            let length: Int
            switch byte {
            case 0x0A: line += 1; length = 1
            case 0..<0x80: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: length = 0
            }
            let complete = length > 0 && index + length <= bytes.endIndex
                && bytes[(index + 1)..<(index + max(1, length))].allSatisfy { $0 & 0xC0 == 0x80 }
            guard complete else { return (index + 1, line, firstMultibyteLine) }
            if length > 1, firstMultibyteLine == nil { firstMultibyteLine = line }
            index += length
        }
        return (index + 1, line, firstMultibyteLine)
    }

    private static func utf16(_ bytes: ArraySlice<UInt8>, littleEndian: Bool) throws(Failure) -> String {
        guard bytes.count % 2 == 0 else { throw Failure(line: 1, reason: "an odd number of bytes cannot be UTF-16; re-export the file as UTF-8") }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let first = UInt16(bytes[index]), second = UInt16(bytes[index + 1])
            units.append(littleEndian ? first | second << 8 : first << 8 | second)
            index += 2
        }
        var text = ""
        var line = 1
        var decoder = UTF16()
        var iterator = units.makeIterator()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\n" { line += 1 }
                text.unicodeScalars.append(scalar)
            case .emptyInput:
                break decoding
            case .error:
                throw Failure(line: line, reason: "a broken UTF-16 surrogate pair; re-export the file as UTF-8")
            }
        }
        return text
    }

    /// Windows-1252: Latin-1 plus typographic characters in 0x80–0x9F. The five bytes it leaves undefined do
    /// not occur in text.
    private static func windows1252(_ bytes: [UInt8]) throws(Failure) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.count + bytes.count / 8)
        var line = 1
        for byte in bytes {
            if byte == 0x0A { line += 1 }
            if byte < 0x80 {
                utf8.append(byte)
                continue
            }
            let value = byte >= 0xA0 ? UInt32(byte) : Self.high[Int(byte - 0x80)]
            guard value != 0, let scalar = Unicode.Scalar(value) else {
                throw Failure(line: line, reason: String(format: "byte 0x%02X is neither UTF-8 nor Windows-1252 text; re-export the file as UTF-8", byte))
            }
            utf8 += UTF8.encode(scalar)!
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Windows-1252's 0x80…0x9F; 0 marks the undefined ones.
    private static let high: [UInt32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
        0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ]
}
