import AcervoFormats
import AcervoRules
import AcervoTestSupport
import Foundation

/// The readers of untrusted input, as fuzz targets: each takes any bytes, must not crash or hang, and checks
/// what it returns against what it was given. A broken promise is a crash (`preconditionFailure`), which is
/// what a fuzzer looks for.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Caption files: WebVTT, SubRip, SBV, in any encoding.
    case captions
    /// The YAML files Acervo reads: `pipeline.yaml`, `prices.yaml`, `course.yaml` / `lesson.yaml`, the taxonomy.
    case yaml

    public func run(_ bytes: [UInt8]) {
        switch self {
        case .captions: Self.captions(bytes)
        case .yaml: Self.yaml(bytes)
        }
    }

    /// Every character out comes from the input (a character reference decodes to one character; UTF-16 and
    /// Windows-1252 take up to 3 bytes of UTF-8 per byte in), timings are ordered, warnings are bounded.
    static func captions(_ bytes: [UInt8]) {
        guard let file = try? CaptionParser.parse(bytes) else { return }
        let segments = file.segments
        let output = segments.reduce(0) { $0 + $1.text.utf8.count + 1 + ($1.speaker?.utf8.count ?? 0) }
        precondition(output <= bytes.count * 3 + segments.count, "captions: \(output) bytes of text out of \(bytes.count) in")
        precondition(file.warnings.count <= CaptionParser.listedWarnings + 1, "captions: \(file.warnings.count) warnings listed")
        precondition(segments.allSatisfy { $0.startSeconds.isFinite && $0.endSeconds >= $0.startSeconds }, "captions: a segment ends before it starts")
    }

    /// A catalog shaped like the real one (the real processors live in a module the fuzzer does not build).
    static let catalog = [
        ProcessorDescriptor(id: "ffmpeg.audio", version: "1.0", inputs: [InputSlot("video")],
                            params: [ParamSpec("rate", .integer), ParamSpec("channels", .integer), ParamSpec("codec", .string)]),
        ProcessorDescriptor(id: "captions", version: "2.0", inputs: [InputSlot("captions")], params: [ParamSpec("language", .string)]),
        ProcessorDescriptor(id: "tesseract", version: "1.0", inputs: [InputSlot("frames")], params: [ParamSpec("languages", .stringList)]),
        ProcessorDescriptor(id: "gemini.analyze", version: "1.0", inputs: [InputSlot("transcript")],
                            params: [ParamSpec("model", .string), ParamSpec("temperature", .number)], isPaid: true),
        ProcessorDescriptor(id: "document.markdown", version: "1.0", inputs: [InputSlot("meta"), InputSlot("transcript", required: false)]),
    ]

    struct Course: Decodable {
        var name: String
        var school: String?
        var language: String?
    }

    struct Taxonomy: Decodable {
        var school: [String: [String: [String]]]?
        var topic: [String: [String: [String]]]?
        var level: [String: [String: [String]]]?
    }

    /// Every YAML reader either reads the text or refuses it with a located, short message.
    static func yaml(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let readers = RulesLoader(catalog: catalog, sourceArtifacts: ["video", "captions", "materials", "metadata"])
        refusal { () throws(RulesError) in _ = try readers.parse(text, file: "rules/pipeline.yaml", directory: "/nonexistent-acervo-fuzz") }
        refusal { () throws(RulesError) in _ = try PriceTable.parse(text, file: "rules/prices.yaml") }
        refusal { () throws(RulesError) in _ = try YAMLDocument.decode(Course.self, from: text, file: "course.yaml") }
        refusal { () throws(RulesError) in _ = try YAMLDocument.decode(Taxonomy.self, from: text, file: "rules/taxonomy.yaml") }
    }

    /// A reader's refusal must be a message a person can read in one go.
    private static func refusal(_ read: () throws(RulesError) -> Void) {
        do { try read() } catch {
            precondition(error.description.count <= 2_000, "yaml: a \(error.description.count)-character message: \(error.description.prefix(300))…")
        }
    }
}

/// Seeded mutations of a corpus, for a number of rounds or a number of seconds: the fuzzer of the tests and of
/// builds without libFuzzer. A failing round names its seed and replays exactly.
public struct CorpusFuzzer {
    public var target: FuzzTarget
    public var corpus: [[UInt8]]
    public var seed: UInt64

    /// Pieces of the formats' syntax to splice in.
    static let pieces: [[UInt8]] = [
        "-->", "WEBVTT", "\n", "\r", "\r\n", "<v ", "<", ">", "&", "&#x", ";", "00:00:00.000", "0:00:00.000,", ",", ".", ":", "NOTE",
        "{\\", "}", "\u{FEFF}", "99999999999:", "&a ", "*a", "[", "]", "{", ": ", "- ", "!!str ", "? ", "|", ">-", "#", "\"", "'", "\t",
    ].map { Array($0.utf8) }

    public init(target: FuzzTarget, corpus: [[UInt8]], seed: UInt64) {
        self.target = target
        self.corpus = corpus
        self.seed = seed
    }

    /// Runs every corpus file, then mutations until `rounds` inputs or `seconds` have passed; returns how many ran.
    @discardableResult
    public func run(rounds: Int = .max, seconds: Double = .infinity) -> Int {
        for bytes in corpus { target.run(bytes) }
        var generator = SeededGenerator(seed: seed)
        let deadline = Date().addingTimeInterval(seconds)
        var count = corpus.count
        while count < rounds && (seconds.isInfinite || Date() < deadline) {
            target.run(mutation(&generator, round: count))
            count += 1
        }
        return count
    }

    func mutation(_ generator: inout SeededGenerator, round: Int) -> [UInt8] {
        if round % 10 == 9 || corpus.isEmpty {
            return (0..<Int.random(in: 0...400, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        var bytes = corpus.randomElement(using: &generator)!
        for _ in 0..<Int.random(in: 1...8, using: &generator) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: bytes.insert(contentsOf: Self.pieces.randomElement(using: &generator)!, at: position)
            case 1: if !bytes.isEmpty { bytes.remove(at: position) }
            case 2: if !bytes.isEmpty { bytes[position] = UInt8.random(in: 0...255, using: &generator) }
            case 3:
                // A slice of the input repeated: long lines, deep nesting, many blocks.
                let slice = bytes[position..<min(bytes.count, position + Int.random(in: 1...64, using: &generator))]
                bytes.insert(contentsOf: Array(repeating: slice, count: Int.random(in: 2...200, using: &generator)).joined(), at: position)
            default: bytes = Array(bytes.prefix(position))
            }
        }
        return bytes
    }
}
