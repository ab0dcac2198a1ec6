/// The name of an action's result: the SHA-256 of the action's canonical encoding, which the engine computes
/// (docs/action-key.md). The store treats it as an opaque, validated name — 64 lowercase hex digits — so a
/// key read back from a database or typed by a user is checked once, where it enters.
public struct ActionKey: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The 64 lowercase hex digits.
    public let hex: String

    /// Wraps 64 lowercase hex digits; nil when they are not.
    public init?(hex: String) {
        guard Digest(hex: hex) != nil else { return nil }
        self.hex = hex
    }

    /// The key whose bytes hash to `digest`: how the engine names an action.
    public init(_ digest: Digest) {
        hex = digest.hex
    }

    /// Parses a stored key; anything but 64 lowercase hex digits is an error naming the text.
    public init(parsing text: String) throws(StoreError) {
        guard let key = ActionKey(hex: text) else { throw .invalidArgument("malformed action key '\(text)': expected 64 lowercase hex digits") }
        self = key
    }

    public var description: String { hex }

    public static func < (lhs: ActionKey, rhs: ActionKey) -> Bool { lhs.hex < rhs.hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try ActionKey(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
