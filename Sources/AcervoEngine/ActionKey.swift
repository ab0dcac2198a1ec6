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
        self.processor = processor
        self.version = version
        self.params = JSONValue.object(params).canonical
        self.inputs = inputs
        self.files = files
    }

    /// The versioned, length-prefixed encoding that is hashed into the key.
    public var canonicalBytes: [UInt8] {
        var bytes: [UInt8] = []
        func field(_ text: String) {
            let utf8 = Array(text.utf8)
            count(utf8.count)
            bytes += utf8
        }
        func count(_ value: Int) {
            withUnsafeBytes(of: UInt64(value).bigEndian) { bytes += $0 }
        }
        func pairs(_ map: [String: Digest]) {
            count(map.count)
            for (name, digest) in map.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
                field(name)
                field(digest.description)
            }
        }
        field(ActionKey.formatVersion)
        field(processor)
        field(version)
        field(params)
        pairs(inputs)
        pairs(files)
        return bytes
    }

    public var key: ActionKey { ActionKey(hex: Digest.of(canonicalBytes).hex) }

    /// Compact JSON for the trace table.
    var json: String {
        String(decoding: try! JSONEncoder.canonical.encode(self), as: UTF8.self)
    }

    static func decode(_ json: String) -> KeyComponents? {
        try? JSONDecoder().decode(KeyComponents.self, from: Data(json.utf8))
    }
}

/// The SHA-256 of an action's canonical encoding, in hex.
public struct ActionKey: Sendable, Hashable, CustomStringConvertible {
    /// Bumping this would change every key and make every user pay again: don't.
    public static let formatVersion = "acervo-action-v1"
    public let hex: String
    public var description: String { hex }
}
