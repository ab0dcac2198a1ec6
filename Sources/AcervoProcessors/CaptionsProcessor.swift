import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// `captions@1`: a lesson's existing WebVTT or SubRip captions as a transcript — the zero-cost choice.
public struct CaptionsProcessor: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "captions", version: "1.0", inputs: [InputSlot("captions")], params: [ParamSpec("language", .string)])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let bytes = try await action.store.blobs.bytes(of: action.inputs["captions"]!)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ProcessorFailure("captions are not UTF-8 text; convert them with `iconv -t UTF-8`")
        }
        let segments = try CaptionParser.parse(text)
        let transcript = Transcript(language: action.params["language"]?.string ?? "und", source: "captions", segments: segments)
        return ProcessorOutput(output: try await action.store.put(bytes: transcript.encoded()).digest)
    }
}

/// WebVTT and SubRip cues → segments. A broken timestamp is an error naming its line, never a silent skip.
enum CaptionParser {
    static func parse(_ text: String) throws -> [Transcript.Segment] {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var segments: [Transcript.Segment] = []
        var index = 0
        while index < lines.count {
            let line = lines[index].trimmingCharacters(in: .whitespaces)
            guard line.contains("-->") else {
                index += 1
                continue
            }
            let parts = line.components(separatedBy: "-->")
            let endField = parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            guard let start = seconds(parts[0].trimmingCharacters(in: .whitespaces)), let end = seconds(endField) else {
                throw ProcessorFailure("captions line \(index + 1): cannot read the timestamps in '\(line)'; expected 00:01:02.500 --> 00:01:05.000")
            }
            guard end >= start else {
                throw ProcessorFailure("captions line \(index + 1): the cue ends (\(endField)) before it starts")
            }
            var textLines: [String] = []
            index += 1
            while index < lines.count, !lines[index].trimmingCharacters(in: .whitespaces).isEmpty {
                textLines.append(stripTags(lines[index]))
                index += 1
            }
            let cue = textLines.joined(separator: " ").trimmingCharacters(in: .whitespaces)
            if !cue.isEmpty { segments.append(.init(startSeconds: start, endSeconds: end, text: cue)) }
        }
        guard !segments.isEmpty else {
            throw ProcessorFailure("the captions hold no cues (no line with `-->`); is this a WebVTT or SubRip file?")
        }
        return segments
    }

    /// `hh:mm:ss.mmm`, `mm:ss.mmm`, or SubRip's comma form.
    static func seconds(_ text: String) -> Double? {
        let fields = text.replacingOccurrences(of: ",", with: ".").split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(fields.count) else { return nil }
        var total = 0.0
        for (position, field) in fields.enumerated() {
            let isLast = position == fields.count - 1
            guard !field.isEmpty, field.allSatisfy({ $0.isNumber || (isLast && $0 == ".") }), let value = Double(field) else { return nil }
            if !isLast && value != value.rounded() { return nil }
            if position > 0 && value >= 60 { return nil }
            total = total * 60 + value
        }
        return total
    }

    /// Drops WebVTT voice and style tags (`<v Ana>`, `<i>`, `<00:00:01.000>`).
    private static func stripTags(_ line: String) -> String {
        var out = ""
        var inTag = false
        for character in line {
            if character == "<" { inTag = true } else if character == ">" { inTag = false } else if !inTag { out.append(character) }
        }
        return out.trimmingCharacters(in: .whitespaces)
    }
}
