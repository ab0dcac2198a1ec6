import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// `document.markdown@1`: the document a support assistant searches — front matter with the attributes,
/// then the analysis (summary, concepts, diagrams, code, key moments) when there is one, the transcript
/// (with times), on-screen text and materials.
public struct MarkdownDocument: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "document.markdown", version: "1.0",
        inputs: [
            InputSlot("meta"), InputSlot("media", required: false), InputSlot("transcript", required: false), InputSlot("ocr", required: false),
            InputSlot("materials", required: false), InputSlot("class", required: false), InputSlot("analysis", required: false),
        ])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let store = action.store
        let meta = try JSONDecoder().decode(JSONValue.self, from: Data(try await store.blobs.bytes(of: action.inputs["meta"]!))).object ?? [:]
        var attributes: [String: String] = ["item_id": action.itemID]
        if let digest = action.inputs["class"],
           let classes = try JSONDecoder().decode(JSONValue.self, from: Data(try await store.blobs.bytes(of: digest))).object {
            for (name, value) in classes where !name.hasSuffix("_score") { attributes[name] = value.string ?? value.canonical }
        }
        if let digest = action.inputs["media"] {
            let info = try MediaInfo.decode(try await store.blobs.bytes(of: digest))
            attributes["duration"] = Self.clock(info.durationSeconds)
        }
        // Metadata comes last: a level or topic written in lesson.yaml overrides the classifier's.
        for (name, value) in meta {
            if let text = value.string { attributes[name] = text } else if value.number != nil { attributes[name] = value.canonical }
        }
        let title = attributes["title"] ?? action.itemID
        var out = "---\n"
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) { out += "\(name): \(Self.yamlQuoted(value))\n" }
        out += "---\n\n# \(title)\n"
        // An analysis is optional: documents of pipelines without one are byte for byte what they were.
        if let digest = action.inputs["analysis"] { out += Self.markdown(try Analysis.decode(try await store.blobs.bytes(of: digest))) }
        if let digest = action.inputs["transcript"] {
            let transcript = try Transcript.decode(try await store.blobs.bytes(of: digest))
            out += "\n## Transcript\n\n"
            for segment in transcript.segments { out += "[\(Self.clock(segment.startSeconds))] \(segment.text)\n" }
        }
        if let digest = action.inputs["ocr"] {
            let text = ScreenText(decoding: try await store.blobs.bytes(of: digest)).text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { out += "\n## On-screen text\n\n\(text)\n" }
        }
        if let digest = action.inputs["materials"] {
            let materials = try MaterialsText.decode(try await store.blobs.bytes(of: digest))
            if !materials.documents.isEmpty {
                out += "\n## Materials\n"
                for document in materials.documents { out += "\n### \(document.name)\n\n\(document.text)\n" }
            }
        }
        return ProcessorOutput(output: try await store.put(bytes: Array(out.utf8)).digest)
    }

    /// The sections a document gets from an analysis: summary, concepts, diagrams, code on screen, key moments.
    static func markdown(_ analysis: Analysis) -> String {
        var out = "\n## Summary\n\n\(analysis.summary)\n"
        if !analysis.concepts.isEmpty { out += "\n## Key concepts\n\n" + analysis.concepts.map { "- \($0)\n" }.joined() }
        if !analysis.diagrams.isEmpty { out += "\n## Diagrams\n\n" + analysis.diagrams.map { "- \($0)\n" }.joined() }
        if !analysis.code.isEmpty { out += "\n## Code on screen\n" + analysis.code.map { "\n```\($0.language)\n\($0.code)\n```\n" }.joined() }
        if !analysis.keyMoments.isEmpty {
            out += "\n## Key moments\n\n" + analysis.keyMoments.map { "- [\(clock($0.seconds))] \($0.description)\n" }.joined()
        }
        return out
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds)
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%02d:%02d", total / 60, total % 60)
    }

    /// A YAML double-quoted scalar: safe for titles with colons, quotes or accents.
    static func yamlQuoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
