import Foundation

/// One member of a tree blob: a directory of outputs such as a lesson's keyframes.
public struct TreeEntry: Sendable, Codable, Equatable {
    public var name: String
    public var digest: Digest
    public var size: Int64

    public init(name: String, digest: Digest, size: Int64) {
        self.name = name
        self.digest = digest
        self.size = size
    }
}

extension Store {
    /// Stores a tree as canonical JSON (entries sorted by name, sorted keys, no whitespace) so the same set of
    /// members always has the same digest, and records its children so gc and fsck can follow it.
    @discardableResult
    public func putTree(_ entries: [TreeEntry]) async throws(StoreError) -> Digest {
        let sorted = entries.sorted { $0.name < $1.name }
        let outcome = try await putChecked(bytes: try JSONEncoder.canonicalBytes(sorted, what: "a tree"))
        try await link(parent: outcome.digest, children: sorted.map(\.digest))
        return outcome.digest
    }

    /// A tree's members; a blob that is not a tree is an error naming it.
    public func tree(_ digest: Digest) async throws(StoreError) -> [TreeEntry] {
        try await decode([TreeEntry].self, digest, what: "tree")
    }


    /// A stored JSON blob decoded as `T`; bytes that do not decode are an error naming the blob and what it
    /// should have been, never a raw decoding error.
    public func decode<T: Decodable>(_ type: T.Type, _ digest: Digest, what: String) async throws(StoreError) -> T {
        let bytes = try await blobs.bytes(of: digest)
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw .unreadable(digest, what: what, reason: Self.explain(error))
        }
    }

    static func explain(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted?: return "not valid JSON"
        case .keyNotFound(let key, _)?: return "the field `\(key.stringValue)` is missing"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "unexpected value at `\(context.codingPath.map(\.stringValue).joined(separator: "."))`"
        default: return "\(error)"
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, no whitespace: the same value always encodes to the same bytes. Every stored JSON blob
    /// (trees, manifests, transcripts) uses it, so equal values are equal blobs and early cutoff works.
    ///
    /// A number that is not finite (a provider's NaN, an infinite duration) is written as a string
    /// (`"NaN"`, `"Infinity"`) instead of making the encoder throw: encoding a value never fails, so never traps;
    /// reading such a value back as a number fails, and is reported where it is read. Finite numbers are
    /// written exactly as before (action keys and stored blobs are unchanged by this).
    public static var canonical: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    /// `value`'s canonical bytes; a value that cannot be encoded is a `StoreError` naming `what`, never a trap.
    public static func canonicalBytes(_ value: some Encodable, what: String) throws(StoreError) -> [UInt8] {
        do { return Array(try canonical.encode(value)) } catch {
            throw StoreError.invalidArgument("\(what) cannot be written as JSON: \(error)")
        }
    }

    /// `value`'s canonical JSON as text.
    public static func canonicalText(_ value: some Encodable, what: String) throws(StoreError) -> String {
        String(decoding: try canonicalBytes(value, what: what), as: UTF8.self)
    }
}
