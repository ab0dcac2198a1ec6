@testable import AcervoFormats
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoProcessors

/// The caption files in `Captions/`, each beside a `.expected` file: one `start<TAB>text` line per transcript
/// segment (`[Speaker] text` when a voice is named), and optionally `N warnings` (exactly that many; none
/// when absent), `warning: <start of the message>` in order, `format: …`, `encoding: …` (utf-8 when absent),
/// or `error: <part of the message>` for a file that must be refused.
enum CaptionCorpus {
    static let directory = repositoryRoot + "/Tests/AcervoProcessorsTests/Captions"

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasSuffix(".expected") }.sorted()
    }

    struct Expectation {
        var segments: [String] = []
        var warningCount = 0
        var warnings: [String] = []
        var format: String?
        var encoding = "utf-8"
        var error: String?
    }

    static func expectation(for file: String) throws -> Expectation {
        let path = directory + "/" + (file as NSString).deletingPathExtension + ".expected"
        var expectation = Expectation()
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("error: ") {
                expectation.error = String(line.dropFirst(7))
            } else if line.hasPrefix("warning: ") {
                expectation.warnings.append(String(line.dropFirst(9)))
            } else if line.hasPrefix("format: ") {
                expectation.format = String(line.dropFirst(8))
            } else if line.hasPrefix("encoding: ") {
                expectation.encoding = String(line.dropFirst(10))
            } else if let count = line.split(separator: " ").first.flatMap({ Int($0) }), line.hasSuffix("warnings") || line.hasSuffix("warning") {
                expectation.warningCount = count
            } else {
                expectation.segments.append(String(line))
            }
        }
        return expectation
    }

    /// A segment as the `.expected` files write it.
    static func render(_ segment: Transcript.Segment) -> String {
        String(format: "%.3f", segment.startSeconds) + "\t" + (segment.speaker.map { "[\($0)] " } ?? "") + segment.text
    }
}

extension CaptionParser {
    /// Parses text given as a string, for tests.
    static func parse(_ text: String) throws(CaptionError) -> CaptionFile { try parse(Array(text.utf8)) }
}

@Suite struct CaptionCorpusTests {
    @Test func `the corpus has at least 30 caption files, each with its expectation`() throws {
        let files = CaptionCorpus.files
        #expect(files.count >= 30)
        for file in files {
            #expect(FileManager.default.fileExists(atPath: CaptionCorpus.directory + "/" + (file as NSString).deletingPathExtension + ".expected"), "\(file)")
        }
        let extensions = Set(files.map { ($0 as NSString).pathExtension })
        #expect(extensions == ["vtt", "srt", "sbv"])
    }

    @Test(arguments: CaptionCorpus.files)
    func `each caption file reads as expected`(file: String) throws {
        let expected = try CaptionCorpus.expectation(for: file)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: CaptionCorpus.directory + "/" + file)))
        let parsed: CaptionFile
        do {
            parsed = try CaptionParser.parse(bytes)
        } catch {
            #expect(expected.error != nil, "\(file): unexpected error \(error)")
            if let message = expected.error { #expect(error.description.contains(message), "\(file): \(error)") }
            return
        }
        #expect(expected.error == nil, "\(file): expected an error containing \(expected.error ?? "")")
        #expect(parsed.segments.map(CaptionCorpus.render) == expected.segments, "\(file)")
        #expect(parsed.warnings.count == expected.warningCount, "\(file): \(parsed.warnings)")
        for (warning, prefix) in zip(parsed.warnings, expected.warnings) {
            #expect(warning.hasPrefix(prefix), "\(file): \(warning)")
        }
        let formatByExtension = ["vtt": "WebVTT", "srt": "SubRip", "sbv": "SBV"][(file as NSString).pathExtension]
        #expect(parsed.format.rawValue == (expected.format ?? formatByExtension), "\(file)")
        #expect(parsed.encoding.rawValue == expected.encoding, "\(file)")
    }
}

/// One test per rule of the W3C WebVTT parsing algorithm (https://www.w3.org/TR/webvtt1/#file-parsing and
/// the cue text parsing rules) that decides what text a cue holds.
@Suite struct WebVTTRuleTests {
    func texts(_ text: String) throws -> [String] { try CaptionParser.parse(text).segments.map(\.text) }

    @Test func `the signature is WEBVTT alone or followed by a space or tab, after an optional BOM`() throws {
        #expect(try CaptionParser.parse("\u{FEFF}WEBVTT\n\n00:01.000 --> 00:02.000\nA\n").format == .webVTT)
        #expect(try CaptionParser.parse("WEBVTT\tcabecera\n\n00:01.000 --> 00:02.000\nA\n").format == .webVTT)
        // `WEBVTTX` is not the signature: the file is not WebVTT (it is read the lenient SubRip way).
        #expect(try CaptionParser.parse("WEBVTTX\n\n00:01.000 --> 00:02.000\nA\n").format == .subRip)
    }

    @Test func `header lines up to the first blank line are not cues`() throws {
        #expect(try texts("WEBVTT\nKind: captions\nLanguage: es\n\n00:01.000 --> 00:02.000\nA\n") == ["A"])
    }

    @Test func `NOTE, STYLE and REGION blocks are not text and not warnings`() throws {
        let file = try CaptionParser.parse("""
            WEBVTT

            NOTE una nota
            de dos líneas

            STYLE
            ::cue { color: red }

            REGION
            id:r1

            NOTE

            00:01.000 --> 00:02.000
            A
            """)
        #expect(file.segments.map(\.text) == ["A"])
        #expect(file.warnings.isEmpty)
    }

    @Test func `a line before the timing line is the cue identifier, not text`() throws {
        #expect(try texts("WEBVTT\n\nintro 1\n00:01.000 --> 00:02.000\nA\n\n2\n00:02.000 --> 00:03.000\nB\n") == ["A", "B"])
    }

    @Test func `cue settings after the end time are never text`() throws {
        let segments = try CaptionParser.parse("WEBVTT\n\n00:01.000 --> 00:02.000 align:start position:0% line:90%\nA\n").segments
        #expect(segments.map(\.text) == ["A"])
        #expect(segments[0].endSeconds == 2)
    }

    @Test func `a line containing --> ends the cue text and starts the next cue`() throws {
        let segments = try CaptionParser.parse("WEBVTT\n\n00:01.000 --> 00:02.000\nA\n00:02.000 --> 00:03.000\nB\n").segments
        #expect(segments.map(\.text) == ["A", "B"])
        #expect(segments.map(\.startSeconds) == [1, 2])
    }

    @Test func `a blank line ends the cue text`() throws {
        let file = try CaptionParser.parse("WEBVTT\n\n00:01.000 --> 00:02.000\nA\n\nperdido\n\n00:02.000 --> 00:03.000\nB\n")
        #expect(file.segments.map(\.text) == ["A", "B"])
        #expect(file.warnings == [#"line 6: a block without a timing line was skipped ("perdido")"#])
    }

    @Test func `timestamps: hours optional, minutes and seconds two digits up to 59, three digits of milliseconds after a full stop`() throws {
        #expect(try CaptionParser.parse("WEBVTT\n\n01:02.003 --> 123:04:05.600\nA\n").segments.map(\.endSeconds) == [123 * 3600 + 4 * 60 + 5.6])
        for bad in ["00:60.000", "00:00:60.000", "00:00.00", "00:00.0000", "00:00,000", "0:0.000", "00:00"] {
            let file = try CaptionParser.parse("WEBVTT\n\n00:00.000 --> 00:01.000\nA\n\n\(bad) --> 00:09.000\nB\n")
            #expect(file.segments.map(\.text) == ["A"], "\(bad)")
            #expect(file.warnings.count == 1 && file.warnings[0].hasPrefix("line 6: cannot read the timestamps"), "\(bad)")
        }
    }

    @Test func `tabs and spaces around the arrow are allowed`() throws {
        #expect(try texts("WEBVTT\n\n00:01.000\t-->  00:02.000\nA\n") == ["A"])
    }

    @Test func `inline timestamps and class spans are removed`() throws {
        #expect(try texts("WEBVTT\n\n00:00.000 --> 00:03.000\n<00:00:00.500><c>hola</c><00:01.000><c.x.y> mundo</c>\n") == ["hola mundo"])
    }

    @Test func `the voice's name is kept as the segment's speaker, not its text`() throws {
        let segments = try CaptionParser.parse("WEBVTT\n\n00:00.000 --> 00:03.000\n<v.loud Ana María>Hola</v> <v Luis>y adiós\n").segments
        #expect(segments == [.init(startSeconds: 0, endSeconds: 3, text: "Hola y adiós", speaker: "Ana María")])
    }

    @Test func `lang, b, i, u and ruby tags are removed; an rt annotation is not text`() throws {
        #expect(try texts("WEBVTT\n\n00:00.000 --> 00:03.000\n<lang en>the</lang> <b>bold</b> <i>it</i> <u>under</u> <ruby>漢<rt>kan</rt></ruby>字\n")
            == ["the bold it under 漢字"])
    }

    @Test func `a tag runs to the next greater-than sign or the end of the line`() throws {
        #expect(try texts("WEBVTT\n\n00:00.000 --> 00:03.000\nantes <b sin cerrar\ndespués\n") == ["antes después"])
    }

    @Test func `named and numeric character references are decoded; what is no reference stays text`() throws {
        #expect(try texts("WEBVTT\n\n00:00.000 --> 00:03.000\nTom &amp; Jerry &lt;3&nbsp;caf&eacute; &#233;&#xE9; &copy; &nothing; & so\n")
            == ["Tom & Jerry <3\u{A0}café éé © &nothing; & so"])
    }

    @Test(arguments: ["\n", "\r\n", "\r"])
    func `lines end with LF, CRLF or CR`(ending: String) throws {
        let text = ["WEBVTT", "", "00:01.000 --> 00:02.000", "A", "B", "", "00:02.000 --> 00:03.000", "C", ""].joined(separator: ending)
        #expect(try texts(text) == ["A B", "C"])
    }

    @Test func `trimming is Foundation's whitespace trimming, no-break and ideographic spaces included`() {
        var texts = ["", " ", "\t a \t", "\u{A0}hola\u{A0}", "\u{3000}日本\u{2003}", "x", " ñ ", "a\u{A0}b", "\u{200B}z", "\u{180E}y\u{FEFF}"]
        // Every scalar of the Basic Multilingual Plane, at both ends.
        for value in 0..<0x10000 { if let scalar = Unicode.Scalar(value) { texts.append("\(scalar)a\(scalar)") } }
        for text in texts {
            #expect(text.trimmingSpaces() == text.trimmingCharacters(in: .whitespaces), "\(text.unicodeScalars.map(\.value))")
        }
    }

    @Test func `a cue with no text is no segment and no warning`() throws {
        let file = try CaptionParser.parse("WEBVTT\n\n00:00.000 --> 00:01.000\n\n00:01.000 --> 00:02.000\n<c> </c>\n\n00:02.000 --> 00:03.000\nA\n")
        #expect(file.segments.map(\.text) == ["A"])
        #expect(file.warnings.isEmpty)
    }
}

@Suite struct CaptionPracticeTests {
    @Test func `SubRip: missing and wrong sequence numbers, dot or comma, one to three digits of milliseconds`() throws {
        let file = try CaptionParser.parse("7\n00:00:01,5 --> 00:00:02.25\nA\n\n00:00:03.000 --> 00:00:04,000\nB\n\n1\n00:05,000 --> 00:06,000\nC\n")
        #expect(file.format == .subRip)
        #expect(file.segments.map(\.startSeconds) == [1.5, 3, 5])
        #expect(file.segments.map(\.endSeconds) == [2.25, 4, 6])
        #expect(file.segments.map(\.text) == ["A", "B", "C"])
    }

    @Test func `SubRip: a number that is the cue's text is kept`() throws {
        #expect(try CaptionParser.parse("1\n00:00:01,000 --> 00:00:02,000\n42\n\n2\n00:00:02,000 --> 00:00:03,000\nB\n").segments.map(\.text) == ["42", "B"])
    }

    @Test func `SubRip: font tags and positioning codes are removed, a lone less-than sign stays`() throws {
        #expect(try CaptionParser.parse("1\n00:00:01,000 --> 00:00:02,000\n{\\an8}<font color=\"#fff\">x</font> < y\n").segments.map(\.text) == ["x < y"])
    }

    @Test func `SBV: hours of one digit, comma between start and end`() throws {
        let file = try CaptionParser.parse("0:00:01.000,0:00:02.500\nHola\nmundo\n\n1:00:00.000,1:00:01.000\nAdiós\n")
        #expect(file.format == .sbv)
        #expect(file.segments == [.init(startSeconds: 1, endSeconds: 2.5, text: "Hola mundo"), .init(startSeconds: 3600, endSeconds: 3601, text: "Adiós")])
    }

    @Test func `a file where most blocks fail is an error, not a short transcript`() {
        #expect(throws: CaptionError.self) {
            try CaptionParser.parse("00:00:01,000 --> 00:00:02,000\nA\n\nxx --> yy\nB\n\nzz --> ww\nC\n")
        }
    }

    @Test func `more skipped blocks than are listed are counted in one last warning`() throws {
        var text = ""
        for second in 0..<60 { text += "00:00:\(String(format: "%02d", second)),000 --> 00:00:\(String(format: "%02d", second)),500\nok\n\n" }
        for _ in 0..<25 { text += "sin tiempo\n\n" }
        let file = try CaptionParser.parse(text)
        #expect(file.warnings.count == CaptionParser.listedWarnings + 1)
        #expect(file.warnings.last == "… and 5 more blocks skipped")
    }
}

@Suite struct RollingCaptionTests {
    @Test func `rolling auto-captions keep each line once, at the start of the cue that first showed it`() throws {
        let file = try CaptionParser.parse("""
            WEBVTT

            00:00:00.000 --> 00:00:02.000
            uno dos

            00:00:02.000 --> 00:00:04.000
            uno dos
            tres cuatro

            00:00:04.000 --> 00:00:06.000
            tres cuatro
            cinco seis

            00:00:06.000 --> 00:00:08.000
            cinco seis
            """)
        #expect(file.isRolling)
        #expect(file.segments == [
            .init(startSeconds: 0, endSeconds: 2, text: "uno dos"),
            .init(startSeconds: 2, endSeconds: 4, text: "tres cuatro"),
            .init(startSeconds: 4, endSeconds: 8, text: "cinco seis"),
        ])
    }

    @Test func `ordinary captions that repeat a line now and then are left alone`() throws {
        let file = try CaptionParser.parse("""
            WEBVTT

            00:00.000 --> 00:01.000
            Sí.

            00:01.000 --> 00:02.000
            Sí.

            00:02.000 --> 00:03.000
            ¿Seguro?

            00:03.000 --> 00:04.000
            Claro.

            00:04.000 --> 00:05.000
            Vamos.

            00:05.000 --> 00:06.000
            Bien.
            """)
        #expect(!file.isRolling)
        #expect(file.segments.map(\.text) == ["Sí.", "Sí.", "¿Seguro?", "Claro.", "Vamos.", "Bien."])
    }
}

@Suite struct DecodedTextTests {
    @Test func `UTF-8 with and without BOM, UTF-16 both ways, and Windows-1252 are read`() throws {
        let text = "Ação “aspas” €"
        #expect(try DecodedText.decode(Array(text.utf8)) == DecodedText(text: text, encoding: .utf8))
        #expect(try DecodedText.decode([0xEF, 0xBB, 0xBF] + Array(text.utf8)) == DecodedText(text: text, encoding: .utf8WithBOM))
        let little = Array(text.data(using: .utf16LittleEndian)!), big = Array(text.data(using: .utf16BigEndian)!)
        #expect(try DecodedText.decode([0xFF, 0xFE] + little) == DecodedText(text: text, encoding: .utf16LittleEndian))
        #expect(try DecodedText.decode([0xFE, 0xFF] + big) == DecodedText(text: text, encoding: .utf16BigEndian))
        // Windows-1252: Latin-1 letters and, in 0x80–0x9F, typographic quotes and the euro sign.
        let windows: [UInt8] = [0x41, 0xE7, 0xE3, 0x6F, 0x20, 0x93, 0x61, 0x73, 0x70, 0x61, 0x73, 0x94, 0x20, 0x80]
        #expect(try DecodedText.decode(windows) == DecodedText(text: text, encoding: .windows1252))
    }

    @Test func `bytes that are none of them are an error with the line, never mojibake`() {
        let cases: [([UInt8], String)] = [
            (Array("a\nb\n".utf8) + [0x00, 0x01], "line 3: byte 5 is NUL: this is not a text file"),
            (Array("a\n".utf8) + [0x81], "line 2: byte 0x81 is neither UTF-8 nor Windows-1252 text"),
            (Array("a\n".utf8) + [0x07], "line 2: control character U+0007: this is not a text file"),
            ([0xEF, 0xBB, 0xBF] + Array("a\nb".utf8) + [0xE9], "line 2: byte 7 is not UTF-8 although the file says it is"),
            (Array("é\n".utf8) + [0xE9], "line 2: byte 4 is not UTF-8, but line 1 is: the file mixes UTF-8 and another encoding"),
            ([0xFF, 0xFE, 0x41], "line 1: an odd number of bytes cannot be UTF-16"),
            ([0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00], "line 1: a broken UTF-16 surrogate pair"),
        ]
        for (bytes, message) in cases {
            do {
                let decoded = try DecodedText.decode(bytes)
                Issue.record("expected \(message), read \(decoded)")
            } catch {
                #expect(error.description.hasPrefix(message), "\(error)")
            }
        }
    }
}

/// Inputs that would make a careless parser slow (the fuzz target, `acervo-fuzz captions`, and `FuzzTests`
/// cover the rest).
@Suite struct CaptionFuzzTests {
    /// Shapes that make a careless parser quadratic: one long line of unclosed tags, codes or references,
    /// a cue of many lines, many cues. Each is 200 000 bytes or more; the test finishing is the point.
    @Test(arguments: ["<a", "< ", "{\\", "&", "&#", "-->", "-", "\n", "x\n"])
    func `long degenerate inputs are read in linear time`(unit: String) throws {
        let body = String(repeating: unit, count: 200_000 / unit.utf8.count)
        for text in ["WEBVTT\n\n00:00.000 --> 00:01.000\n" + body, "1\n00:00:00,000 --> 00:00:01,000\n" + body] {
            guard let file = try? CaptionParser.parse(text) else { continue }
            #expect(file.segments.reduce(0) { $0 + $1.text.utf8.count } <= text.utf8.count)
        }
        var cues = "WEBVTT\n"
        for index in 0..<20_000 { cues += "\n00:00.000 --> 00:01.000\nrepetida \(index % 2)\nrepetida \((index + 1) % 2)\n" }
        #expect(try CaptionParser.parse(cues).cues.count == 20_000)
    }
}
