import AcervoRules
import AcervoStore
import Foundation

/// Everything an action's key is computed from — and nothing else. See docs/action-key.md.
///
/// Never part of a key: the item id, the rule name, paths, timestamps, host names, the environment. So the
/// same video in two lessons is processed once, and renaming a rule or moving the store costs nothing.
public struct KeyComponents: Sendable, Equatable, Codable {
    public var processor: String
    public var version: String
    /// The canonical JSON of the parameters written in the rule.
    public var params: String
    /// Slot → digest of that input's own bytes (not a transitive hash: that is what gives early cutoff).
    public var inputs: [String: Digest]
    /// Rules-folder-relative path → digest of the file (prompts, taxonomy).
    public var files: [String: Digest]

    public init(processor: String, version: String, params: [String: JSONValue], inputs: [String: Digest], files: [String: Digest]) {
        self.init(processor: processor, version: version, canonicalParams: JSONValue.object(params).canonical, inputs: inputs, files: files)
    }

    init(processor: String, version: String, canonicalParams: String, inputs: [String: Digest], files: [String: Digest]) {
        self.processor = processor
        self.version = version
        self.params = canonicalParams
        self.inputs = inputs
        self.files = files
    }

    /// The versioned, length-prefixed encoding that is hashed into the key.
    public var canonicalBytes: [UInt8] {
        var bytes = Self.head(processor: processor, version: version, params: params)
        Self.append(pairs: inputs, to: &bytes)
        Self.append(pairs: files, to: &bytes)
        return bytes
    }

    public var key: ActionKey { ActionKey(Digest.of(canonicalBytes)) }

    /// The fields before the inputs: format, processor, version, params.
    static func head(processor: String, version: String, params: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for text in [KeyComponents.formatVersion, processor, version, params] { append(field: text, to: &bytes) }
        return bytes
    }

    static func append(field text: String, to bytes: inout [UInt8]) {
        append(count: text.utf8.count, to: &bytes)
        bytes += text.utf8
    }

    static func append(count value: Int, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: UInt64(value).bigEndian) { bytes += $0 }
    }

    /// A name → digest map: its size, then the pairs in byte order of the names.
    static func append(pairs map: [String: Digest], to bytes: inout [UInt8]) {
        append(count: map.count, to: &bytes)
        let sorted = map.count < 2 ? Array(map) : map.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (name, digest) in sorted {
            append(field: name, to: &bytes)
            append(field: digest.description, to: &bytes)
        }
    }

    /// The first field of every key's encoding. Bumping it would change every key and make every user pay
    /// again: don't.
    public static let formatVersion = "acervo-action-v1"

    /// Compact JSON for the trace table. Keys are made of strings, digests and finite parameters (the rules
    /// refuse others), so it cannot fail; if it ever did, the trace would say so rather than the build trap.
    var json: String {
        (try? JSONEncoder.canonicalText(self, what: "an action's key components")) ?? #"{"error":"the key components could not be written as JSON"}"#
    }

    static func decode(_ json: String) -> KeyComponents? {
        try? JSONDecoder().decode(KeyComponents.self, from: Data(json.utf8))
    }
}

/// The parts of a rule's keys that every item shares (processor, version, params, files), encoded once per
/// build: a no-op build computes tens of thousands of keys, and only their inputs differ.
struct RuleKeyTemplate: Sendable {
    let processor: String
    let version: String
    let params: String
    let files: [String: Digest]
    private let head: [UInt8]
    private let tail: [UInt8]

    init(rule: RuleSpec, fileDigests: [String: Digest]) {
        processor = rule.processor.id
        version = rule.processor.version
        params = JSONValue.object(rule.params).canonical
        files = fileDigests.filter { rule.files.contains($0.key) }
        head = KeyComponents.head(processor: processor, version: version, params: params)
        var tail: [UInt8] = []
        KeyComponents.append(pairs: files, to: &tail)
        self.tail = tail
    }

    /// The components and key of this rule's action on `inputs` — the same key `KeyComponents.key` computes.
    func action(inputs: [String: Digest]) -> (components: KeyComponents, key: ActionKey) {
        var bytes = head
        bytes.reserveCapacity(head.count + tail.count + inputs.count * 96 + 8)
        KeyComponents.append(pairs: inputs, to: &bytes)
        bytes += tail
        let components = KeyComponents(processor: processor, version: version, canonicalParams: params, inputs: inputs, files: files)
        return (components, ActionKey(Digest.of(bytes)))
    }
}
