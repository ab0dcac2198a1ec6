import Crypto
import Foundation

/// The address of a blob: `sha256:` followed by 64 lowercase hex digits of the SHA-256 of its bytes.
///
/// Parsing is strict (no upper case, no missing prefix) so that one blob has exactly one spelling: digests are
/// compared as strings in the database and in action keys.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The 64 lowercase hex digits.
    public let hex: String

    public static let prefix = "sha256:"

    /// Parses `sha256:<64 hex>`; anything else is a `StoreError.malformedDigest`.
    public init(parsing text: String) throws(StoreError) {
        guard text.hasPrefix(Self.prefix) else { throw .malformedDigest(text) }
        let hex = String(text.dropFirst(Self.prefix.count))
        guard Self.isValidHex(hex) else { throw .malformedDigest(text) }
        self.hex = hex
    }

    /// Wraps 64 lowercase hex digits; `nil` when they are not.
    public init?(hex: String) {
        guard Self.isValidHex(hex) else { return nil }
        self.hex = hex
    }

    init(_ digest: SHA256.Digest) {
        self.hex = digest.hexString
    }

    /// The digest of bytes already in memory.
    public static func of<Bytes: DataProtocol>(_ bytes: Bytes) -> Digest {
        Digest(SHA256.hash(data: bytes))
    }

    public var description: String { Self.prefix + hex }

    /// `ab/cdef…`: the object's path below `objects/sha256/`, fanned out on the first byte so no directory
    /// holds more than 1/256 of the store.
    var fanOutPath: String {
        "\(hex.prefix(2))/\(hex.dropFirst(2))"
    }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.hex < rhs.hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Digest(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func isValidHex(_ hex: String) -> Bool {
        hex.utf8.count == 64 && hex.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex, two digits a byte.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
