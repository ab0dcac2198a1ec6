/// A cue's text as a reader sees it: markup removed, character references decoded, the speaker kept as data.
///
/// WebVTT (the W3C cue text rules): every `<…>` is a tag — timestamps (`<00:00:01.000>`), classes (`<c.x>`),
/// `<b> <i> <u> <lang> <ruby>`, voices (`<v Ana>`, whose name is kept) — and `<rt>` holds a ruby annotation,
/// not text. SubRip and SBV as exported: `<i> <b> <u> <font …>` tags and `{\an8}`-style positioning codes
/// removed, a `<` that starts no tag left as text. Character references (`&amp;`, `&eacute;`, `&#233;`,
/// `&#xE9;`) are decoded in all three.
struct CueText: Equatable {
    var lines: [String]
    var speaker: String?

    static func parse(_ lines: [Substring], format: CaptionFile.Format) -> CueText {
        var parsed = CueText(lines: [], speaker: nil)
        var inAnnotation = false
        for line in lines {
            // Most lines hold no markup and no reference (and are no annotation): they are their own text.
            let plain = !inAnnotation && !line.utf8.contains { $0 == 0x3C || $0 == 0x26 || $0 == 0x7B }
            let text = plain ? line.trimmingSpaces() : parsed.read(Array(line.utf8), format: format, inAnnotation: &inAnnotation).trimmingSpaces()
            if !text.isEmpty { parsed.lines.append(text) }
        }
        return parsed
    }

    private mutating func read(_ bytes: [UInt8], format: CaptionFile.Format, inAnnotation: inout Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        // Past the last `>` or `}` no tag or code can close: knowing where they are keeps a line of a thousand
        // unclosed `<a` or `{\` linear instead of searching to the end of the line from each one.
        let lastClose = bytes.lastIndex(of: 0x3E) ?? -1
        let lastBrace = bytes.lastIndex(of: 0x7D) ?? -1
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x3C, let end = tagEnd(bytes, from: index, format: format, lastClose: lastClose) {  // <
                readTag(bytes[(index + 1)..<end], inAnnotation: &inAnnotation)
                index = end + 1
            } else if byte == 0x7B, format != .webVTT, index < lastBrace, bytes[index + 1] == 0x5C,  // {\ …}
                      let end = bytes[index...].firstIndex(of: 0x7D) {
                index = end + 1
            } else if byte == 0x26, let (scalar, length) = Self.reference(bytes, at: index) {  // &
                if !inAnnotation { out += Array(String(scalar).utf8) }
                index += length
            } else {
                if !inAnnotation { out.append(byte) }
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Where the tag opening at `start` ends (the index of its `>`, or the line's end), or nil when this `<`
    /// is text: in WebVTT a tag runs to the next `>` or the end of the line; elsewhere only a letter or `/`
    /// right after `<`, and a `>` to close it, make a tag.
    private func tagEnd(_ bytes: [UInt8], from start: Int, format: CaptionFile.Format, lastClose: Int) -> Int? {
        guard start < lastClose else { return format == .webVTT ? bytes.count : nil }
        if format != .webVTT {
            let next = bytes[start + 1]
            guard next == 0x2F || (0x41...0x5A).contains(next) || (0x61...0x7A).contains(next) else { return nil }
        }
        return bytes[(start + 1)...].firstIndex(of: 0x3E)
    }

    /// A tag's inside (between `<` and `>`): the voice's name is kept; `<rt>` opens an annotation to leave out.
    /// Read as bytes: most tags are timestamps and classes, and none of them needs a string.
    private mutating func readTag(_ inside: ArraySlice<UInt8>, inAnnotation: inout Bool) {
        let nameEnd = inside.firstIndex { $0 == 0x20 || $0 == 0x09 || $0 == 0x2E } ?? inside.endIndex
        let name = inside[inside.startIndex..<nameEnd]
        func named(_ expected: String) -> Bool {
            name.count == expected.utf8.count && zip(name, expected.utf8).allSatisfy { $0 | 0x20 == $1 }
        }
        if named("rt") {
            inAnnotation = true
        } else if name.first == 0x2F, named("/rt") {
            inAnnotation = false
        } else if speaker == nil, named("v"), let space = inside.firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) {
            let voice = String(decoding: inside[space...], as: UTF8.self).trimmingSpaces()
            if !voice.isEmpty { speaker = voice }
        }
    }

    /// A character reference at `index`: the scalar and how many bytes it takes, or nil when `&` is text.
    static func reference(_ bytes: [UInt8], at index: Int) -> (Unicode.Scalar, Int)? {
        var end = index + 1
        while end < bytes.count, end - index <= 32, bytes[end] != 0x3B, bytes[end] != 0x26, bytes[end] != 0x20 { end += 1 }
        guard end < bytes.count, bytes[end] == 0x3B, end > index + 1 else { return nil }
        let body = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
        let length = end - index + 1
        if body.hasPrefix("#") {
            let hex = body.dropFirst().first == "x" || body.dropFirst().first == "X"
            let digits = body.dropFirst(hex ? 2 : 1)
            guard !digits.isEmpty, digits.count <= 8, let value = UInt32(digits, radix: hex ? 16 : 10),
                  value != 0, let scalar = Unicode.Scalar(value) else { return nil }
            return (scalar, length)
        }
        guard let value = named[body], let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    /// HTML's named references that caption files use: the markup ones, every Latin-1 letter and sign (the
    /// accents of Spanish and Portuguese), and typography.
    static let named: [String: UInt32] = {
        var table: [String: UInt32] = [
            "amp": 0x26, "lt": 0x3C, "gt": 0x3E, "quot": 0x22, "apos": 0x27, "lrm": 0x200E, "rlm": 0x200F,
            "hellip": 0x2026, "ndash": 0x2013, "mdash": 0x2014, "lsquo": 0x2018, "rsquo": 0x2019, "sbquo": 0x201A,
            "ldquo": 0x201C, "rdquo": 0x201D, "bdquo": 0x201E, "bull": 0x2022, "euro": 0x20AC, "trade": 0x2122,
            "OElig": 0x152, "oelig": 0x153, "Scaron": 0x160, "scaron": 0x161, "Yuml": 0x178, "fnof": 0x192, "circ": 0x2C6,
            "tilde": 0x2DC, "ensp": 0x2002, "emsp": 0x2003, "thinsp": 0x2009, "zwnj": 0x200C, "zwj": 0x200D,
            "dagger": 0x2020, "Dagger": 0x2021, "permil": 0x2030, "lsaquo": 0x2039, "rsaquo": 0x203A, "prime": 0x2032,
            "Prime": 0x2033, "larr": 0x2190, "rarr": 0x2192, "minus": 0x2212,
        ]
        // U+00A0 … U+00FF in order.
        let latin1 = """
            nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute \
            micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig \
            Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash \
            Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc \
            euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml \
            yacute thorn yuml
            """
        for (offset, name) in latin1.split(separator: " ").enumerated() { table[String(name)] = 0xA0 + UInt32(offset) }
        return table
    }()
}
