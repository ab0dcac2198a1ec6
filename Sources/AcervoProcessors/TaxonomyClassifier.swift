import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation
import Yams

/// The taxonomy file (`rules/taxonomy.yaml`): for each dimension (school, topic, level), labels and the
/// keywords that point to them.
struct Taxonomy: Decodable {
    struct Label: Decodable {
        var keywords: [String]
    }
    var school: [String: Label]
    var topic: [String: Label]
    var level: [String: Label]

    static let dimensions = ["school", "topic", "level"]

    func labels(_ dimension: String) -> [String: Label] {
        switch dimension {
        case "school": return school
        case "topic": return topic
        default: return level
        }
    }
}

/// `taxonomy.classify@1`: school / topic / level by keyword evidence in the transcript, on-screen text and materials, with a
/// score in 0…1 (the winning label's share of all matches). Output: a flat JSON object, usable as vector-store
/// attributes. It reads no metadata on purpose, so a title edit does not re-run it; a value set in
/// `lesson.yaml` overrides its label later, in the document and the snapshot.
public struct TaxonomyClassifier: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "taxonomy.classify", version: "1.0",
        inputs: [InputSlot("transcript", required: false), InputSlot("ocr", required: false), InputSlot("materials", required: false)],
        params: [ParamSpec("taxonomy", .string)])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let file = action.params["taxonomy"]?.string ?? "taxonomy.yaml"
        guard let taxonomyDigest = action.files[file] else {
            throw ProcessorFailure("taxonomy.classify needs `\(file)` in the rule's `files`")
        }
        let taxonomyText = String(decoding: try await action.store.blobs.bytes(of: taxonomyDigest), as: UTF8.self)
        let taxonomy: Taxonomy
        do { taxonomy = try YAMLDocument.decode(Taxonomy.self, from: taxonomyText, file: "rules/\(file)") } catch {
            throw ProcessorFailure("not a valid taxonomy: \(error)")
        }
        var evidence: [String] = []
        if let digest = action.inputs["transcript"] { evidence.append(try Transcript.decode(try await action.store.blobs.bytes(of: digest)).text) }
        if let digest = action.inputs["ocr"] { evidence.append(ScreenText(decoding: try await action.store.blobs.bytes(of: digest)).text) }
        if let digest = action.inputs["materials"] {
            evidence += try MaterialsText.decode(try await action.store.blobs.bytes(of: digest)).documents.map(\.text)
        }
        let words = Self.words(evidence.joined(separator: " "))

        var result: [String: JSONValue] = [:]
        for dimension in Taxonomy.dimensions {
            var counts: [String: Int] = [:]
            for (label, spec) in taxonomy.labels(dimension) {
                counts[label] = spec.keywords.reduce(0) { $0 + Self.occurrences(of: Self.words($1), in: words) }
            }
            let total = counts.values.reduce(0, +)
            let best = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }
            if let best, best.value > 0 {
                result[dimension] = .string(best.key)
                result[dimension + "_score"] = .number((Double(best.value) / Double(total) * 100).rounded() / 100)
            } else {
                result[dimension] = .string("unclassified")
                result[dimension + "_score"] = .number(0)
            }
        }
        return ProcessorOutput(output: try await action.store.put(bytes: Array(JSONValue.object(result).canonical.utf8)).digest)
    }

    /// Lowercased words without accents, so `Introdução` matches the keyword `introducao`.
    static func words(_ text: String) -> [String] {
        text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
            .split { !$0.isLetter && !$0.isNumber }.map(String.init)
    }

    /// How often a keyword (one or more words) occurs as whole words.
    static func occurrences(of keyword: [String], in words: [String]) -> Int {
        guard !keyword.isEmpty, words.count >= keyword.count else { return 0 }
        return (0...(words.count - keyword.count)).filter { Array(words[$0..<($0 + keyword.count)]) == keyword }.count
    }
}
