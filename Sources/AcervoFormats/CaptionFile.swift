import Foundation

/// A caption file read as a transcript: its cues in order, what it was (format, encoding), and every block
/// that could not be read — skipped with its line number, never dropped silently.
public struct CaptionFile: Sendable, Equatable {
    public enum Format: String, Sendable {
        case webVTT = "WebVTT"
        case subRip = "SubRip"
        case sbv = "SBV"
    }

    public struct Cue: Sendable, Equatable {
        public var startSeconds: Double
        public var endSeconds: Double
        /// The cue's text lines, tags removed and character references decoded.
        public var lines: [String]
        /// The first voice (`<v Speaker>`), when the cue names one.
        public var speaker: String?
        /// The line of the file the cue's timing is on.
        public var line: Int
    }

    public var format: Format
    public var encoding: DecodedText.Encoding
    public var cues: [Cue]
    /// `line N: …` for each block that was skipped.
    public var warnings: [String]

    /// The transcript's segments: a cue's lines joined by spaces; with rolling auto-captions (each line shown
    /// again in the next cue as it scrolls up), each line once, at the start of the cue that first showed it.
    public var segments: [Transcript.Segment] {
        var segments: [Transcript.Segment] = []
        let rolling = isRolling
        var previous: [String] = []
        for cue in cues {
            var lines = cue.lines
            if rolling {
                let repeated = Self.overlap(previous, lines)
                previous = lines
                lines.removeFirst(repeated)
                if lines.isEmpty {
                    // Only what was on screen already: the cue extends the segment that showed it.
                    if let last = segments.indices.last { segments[last].endSeconds = max(segments[last].endSeconds, cue.endSeconds) }
                    continue
                }
            }
            // Each line is already trimmed and not empty.
            let text = lines.joined(separator: " ")
            guard !text.isEmpty else { continue }
            segments.append(Transcript.Segment(startSeconds: cue.startSeconds, endSeconds: cue.endSeconds, text: text, speaker: cue.speaker))
        }
        return segments
    }

    /// Rolling captions: at least a third of the cues begin with the line the cue before ended with. Ordinary
    /// captions that happen to repeat a line ("Sí.") are left alone.
    static let maximumRolledLines = 8

    public var isRolling: Bool {
        guard cues.count >= 3 else { return false }
        var rolled = 0
        for (previous, cue) in zip(cues, cues.dropFirst()) where !previous.lines.isEmpty && Self.overlap(previous.lines, cue.lines) > 0 {
            rolled += 1
        }
        return rolled * 3 >= cues.count - 1
    }

    /// How many leading lines of `next` repeat the trailing lines of `previous` — at most `maximumRolledLines`:
    /// rolling captions keep two or three lines on screen, and a cap keeps a cue of a million lines linear.
    static func overlap(_ previous: [String], _ next: [String]) -> Int {
        var length = min(previous.count, next.count, maximumRolledLines)
        while length > 0 {
            if previous.suffix(length).elementsEqual(next.prefix(length)) { return length }
            length -= 1
        }
        return 0
    }
}

/// Why a caption file cannot be read as one, with where and what to do.
public struct CaptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}

/// Reads WebVTT (by the W3C parsing algorithm), SubRip and YouTube's SBV as tools actually write them.
public enum CaptionParser {
    /// At most this many skipped blocks are listed one by one; the rest are counted.
    public static let listedWarnings = 20

    public static func parse(_ bytes: [UInt8]) throws(CaptionError) -> CaptionFile {
        let decoded: DecodedText
        do { decoded = try DecodedText.decode(bytes) } catch {
            throw CaptionError(description: error.description)
        }
        let lines = Self.lines(decoded.text)
        var reader: CaptionReader
        switch Self.format(of: lines) {
        case .webVTT?: reader = CaptionReader(format: .webVTT, lines: lines)
        case .sbv?: reader = CaptionReader(format: .sbv, lines: lines)
        case .subRip?: reader = CaptionReader(format: .subRip, lines: lines)
        case nil:
            throw CaptionError(description: "the captions hold no cues: no line is a WebVTT/SubRip timing (`00:00:01.000 --> 00:00:04.000`) "
                + "or an SBV one (`0:00:01.000,0:00:04.000`); is this a caption file?")
        }
        reader.read()
        guard !reader.cues.isEmpty, reader.skipped.count <= reader.cues.count else {
            let sample = reader.skipped.prefix(3).joined(separator: "; ")
            if reader.cues.isEmpty {
                throw CaptionError(description: "no caption block can be read (\(reader.skipped.count) skipped): \(sample)")
            }
            throw CaptionError(description: "most of the caption blocks cannot be read (\(reader.skipped.count) skipped, \(reader.cues.count) read): \(sample)")
        }
        var warnings = Array(reader.skipped.prefix(listedWarnings))
        if reader.skipped.count > listedWarnings { warnings.append("… and \(reader.skipped.count - listedWarnings) more blocks skipped") }
        return CaptionFile(format: reader.format, encoding: decoded.encoding, cues: reader.cues, warnings: warnings)
    }

    /// Lines split on LF, CRLF or CR (the WebVTT algorithm's normalisation, applied to every format).
    static func lines(_ text: String) -> [Substring] {
        var text = text
        text.makeContiguousUTF8()
        let utf8 = text.utf8
        // Offsets found in the raw bytes; a native string's UTF-8 view turns them into indices in constant time.
        var breaks: [(start: Int, end: Int)] = []
        utf8.withContiguousStorageIfAvailable { bytes in
            var start = 0
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                guard byte == 0x0A || byte == 0x0D else {
                    index += 1
                    continue
                }
                breaks.append((start, index))
                index += 1
                if byte == 0x0D, index < bytes.count, bytes[index] == 0x0A { index += 1 }
                start = index
            }
            breaks.append((start, bytes.count))
        }
        return breaks.map { text[utf8.index(utf8.startIndex, offsetBy: $0.start)..<utf8.index(utf8.startIndex, offsetBy: $0.end)] }
    }

    /// WebVTT when it says so on its first line; SBV when its first timing is SBV's; SubRip when a line has `-->`.
    static func format(of lines: [Substring]) -> CaptionFile.Format? {
        if let first = lines.first, first.hasPrefix("WEBVTT") {
            let rest = first.dropFirst(6)
            if rest.isEmpty || rest.first == " " || rest.first == "\t" { return .webVTT }
        }
        for line in lines {
            if line.hasArrow { return .subRip }
            if SBVTiming.parse(line) != nil { return .sbv }
        }
        return nil
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs — exactly Foundation's `.whitespaces`: tab,
    /// Unicode's space separators (so a no-break space too) and the zero-width space, so transcripts keep
    /// the bytes `captions@1` gave them — without Foundation's round trip through UTF-16, which took half of
    /// the parsing time.
    func trimmingSpaces() -> String {
        // Nearly every line starts and ends with a letter or a punctuation mark: nothing to trim.
        if let first = utf8.first, let last = utf8.last, first > 0x20, first < 0x80, last > 0x20, last < 0x80 { return String(self) }
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar == " " || scalar == "\t" || scalar == "\u{200B}" || (scalar.value >= 0x80 && scalar.properties.generalCategory == .spaceSeparator)
        }
        guard let first = unicodeScalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = unicodeScalars.lastIndex(where: { !isSpace($0) })!
        return String(Substring(unicodeScalars[first...last]))
    }
}

extension String {
    func trimmingSpaces() -> String { self[...].trimmingSpaces() }
}

extension Substring {
    /// Whether the line contains `-->`, the mark of a timing line.
    var hasArrow: Bool {
        utf8.withContiguousStorageIfAvailable(Self.hasArrow) ?? Self.hasArrow(Array(utf8))
    }

    private static func hasArrow<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
        var dashes = 0
        for byte in bytes {
            if byte == 0x2D {
                dashes += 1
            } else {
                if byte == 0x3E && dashes >= 2 { return true }
                dashes = 0
            }
        }
        return false
    }
}

/// Walks the lines of one caption file, collecting cues and the blocks it had to skip.
struct CaptionReader {
    let format: CaptionFile.Format
    let lines: [Substring]
    var index = 0
    var cues: [CaptionFile.Cue] = []
    var skipped: [String] = []

    init(format: CaptionFile.Format, lines: [Substring]) {
        self.format = format
        self.lines = lines
    }

    mutating func read() {
        switch format {
        case .webVTT: readWebVTT()
        case .subRip: readSubRip()
        case .sbv: readSBV()
        }
    }

    private var atEnd: Bool { index >= lines.count }

    private mutating func skipBlankLines() {
        while !atEnd && isBlank(lines[index]) { index += 1 }
    }

    private func isBlank(_ line: Substring) -> Bool {
        line.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    private mutating func skip(line: Int, _ reason: String, text: [Substring]) {
        let sample = text.first.map { " (\"\(String($0.prefix(40)).trimmingSpaces())\")" } ?? ""
        skipped.append("line \(line): \(reason)\(sample)")
    }

    /// A cue from its timing and text lines, or a warning when it ends before it starts.
    private mutating func addCue(start: Double, end: Double, line: Int, text: [Substring]) {
        guard end >= start else {
            skip(line: line, "the cue ends before it starts; the cue was skipped", text: text)
            return
        }
        let parsed = CueText.parse(text, format: format)
        cues.append(CaptionFile.Cue(startSeconds: start, endSeconds: end, lines: parsed.lines, speaker: parsed.speaker, line: line))
    }

    // MARK: WebVTT — https://www.w3.org/TR/webvtt1/#file-parsing

    private mutating func readWebVTT() {
        // The signature line, then the header: everything up to the first blank line (or a timing line, which
        // starts the first cue although a blank line should precede it).
        index = 1
        while !atEnd && !lines[index].isEmpty && !lines[index].hasArrow { index += 1 }
        while true {
            skipBlankLines()
            guard !atEnd else { return }
            readWebVTTBlock()
        }
    }

    /// One block, as the algorithm's "collect a WebVTT block": a line with `-->` is the cue's timing only as
    /// the block's first line, or its second after an identifier; anywhere else it ends the block and starts
    /// the next one — so cues not separated by a blank line are not merged into one.
    private mutating func readWebVTTBlock() {
        let blockLine = index + 1
        var lineCount = 0
        var seenArrow = false
        var timing: (start: Double, end: Double, line: Int)?
        var timingProblem: (line: Int, reason: String)?
        var buffer: [Substring] = []
        while !atEnd {
            let line = lines[index]
            lineCount += 1
            if line.hasArrow {
                guard lineCount == 1 || (lineCount == 2 && !seenArrow) else { break }  // the next block starts here
                seenArrow = true
                switch WebVTTTiming.parse(line) {
                case .success(let parsed): timing = (parsed.start, parsed.end, index + 1)
                case .failure(let problem): timingProblem = (index + 1, problem.reason)
                }
                buffer = []
                index += 1
                continue
            }
            index += 1
            if line.isEmpty { break }
            buffer.append(line)
        }
        if let timing {
            addCue(start: timing.start, end: timing.end, line: timing.line, text: buffer)
        } else if let timingProblem {
            skip(line: timingProblem.line, "\(timingProblem.reason); the cue was skipped", text: buffer)
        } else if let first = buffer.first, !Self.isWebVTTComment(first) {
            skip(line: blockLine, "a block without a timing line was skipped", text: buffer)
        }
    }

    /// `NOTE`, `STYLE` and `REGION` blocks carry no text to read.
    private static func isWebVTTComment(_ line: Substring) -> Bool {
        for keyword in ["NOTE", "STYLE", "REGION"] where line.hasPrefix(keyword) {
            let rest = line.dropFirst(keyword.count)
            if rest.isEmpty || rest.first == " " || rest.first == "\t" { return true }
        }
        return false
    }

    // MARK: SubRip, as written in practice

    /// Blocks of an optional sequence number, a timing line and text — tolerating missing or wrong numbers,
    /// `.` or `,` before the milliseconds, missing blank lines between cues, extra blank lines and trailing spaces.
    private mutating func readSubRip() {
        while true {
            skipBlankLines()
            guard !atEnd else { return }
            let blockLine = index + 1
            if isSequenceNumber(lines[index]), index + 1 < lines.count, lines[index + 1].hasArrow { index += 1 }
            let line = lines[index]
            guard line.hasArrow else {
                let text = collectSubRipText()
                // A sequence number that lost its timing line is not the text to show.
                let shown = text.first.map(isSequenceNumber) == true ? Array(text.dropFirst()) : text
                skip(line: blockLine, "text without a timing line was skipped", text: shown.isEmpty ? text : shown)
                continue
            }
            let timingLine = index + 1
            index += 1
            let text = collectSubRipText()
            guard let timing = SubRipTiming.parse(line) else {
                skip(line: timingLine, "cannot read the timestamps in '\(line.trimmingSpaces())' (expected 00:01:02,500 --> 00:01:05,000); the cue was skipped", text: text)
                continue
            }
            addCue(start: timing.start, end: timing.end, line: timingLine, text: text)
        }
    }

    private func isSequenceNumber(_ line: Substring) -> Bool {
        let trimmed = line.utf8.drop { $0 == 0x20 || $0 == 0x09 }
        return !trimmed.isEmpty && trimmed.allSatisfy { (0x30...0x39).contains($0) || $0 == 0x20 || $0 == 0x09 }
    }

    /// Text lines up to a blank line, a timing line, or a sequence number followed by a timing line.
    private mutating func collectSubRipText() -> [Substring] {
        var text: [Substring] = []
        while !atEnd {
            let line = lines[index]
            if isBlank(line) || line.hasArrow { break }
            if isSequenceNumber(line), index + 1 < lines.count, lines[index + 1].hasArrow { break }
            text.append(line)
            index += 1
        }
        return text
    }

    // MARK: SBV (YouTube)

    private mutating func readSBV() {
        while true {
            skipBlankLines()
            guard !atEnd else { return }
            let timingLine = index + 1
            let line = lines[index]
            index += 1
            var text: [Substring] = []
            while !atEnd, !isBlank(lines[index]), SBVTiming.parse(lines[index]) == nil {
                text.append(lines[index])
                index += 1
            }
            guard let timing = SBVTiming.parse(line) else {
                skip(line: timingLine, "text without a timing line (`0:00:01.000,0:00:04.000`) was skipped", text: [line] + text)
                continue
            }
            addCue(start: timing.start, end: timing.end, line: timingLine, text: text)
        }
    }
}
