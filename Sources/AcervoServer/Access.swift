import Crypto
import Foundation

/// What a caller may do: a viewer reads, an admin also starts builds, syncs and collects garbage.
public enum Role: String, Sendable, Codable, Comparable {
    case viewer, admin

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs == .viewer && rhs == .admin }
}

/// Who may use the service, from secrets given in the environment (`ACERVO_ADMIN_TOKEN`,
/// `ACERVO_VIEWER_TOKEN`, or `…_FILE` naming a file that holds one).
///
/// Tokens are kept only as SHA-256 digests and compared in constant time. A browser sends one as the password
/// of HTTP Basic authentication (any user name), a script as `Authorization: Bearer TOKEN`. Without tokens the
/// service answers anonymous callers as admin — and then it only listens on loopback: `acervo serve` refuses
/// another address until an admin token is set.
public struct AccessPolicy: Sendable {
    private let tokens: [(digest: SHA256Digest, role: Role)]
    /// Signs CSRF tokens; new each time the service starts (forms loaded before a restart must be reloaded).
    private let csrfKey: SymmetricKey

    public static let adminVariable = "ACERVO_ADMIN_TOKEN"
    public static let viewerVariable = "ACERVO_VIEWER_TOKEN"

    public init(adminToken: String?, viewerToken: String?, csrfKey: SymmetricKey = SymmetricKey(size: .bits256)) {
        var tokens: [(SHA256Digest, Role)] = []
        if let adminToken, !adminToken.isEmpty { tokens.append((SHA256.hash(data: Data(adminToken.utf8)), .admin)) }
        if let viewerToken, !viewerToken.isEmpty { tokens.append((SHA256.hash(data: Data(viewerToken.utf8)), .viewer)) }
        self.tokens = tokens
        self.csrfKey = csrfKey
    }

    /// Whether anyone must prove who they are.
    public var requiresCredentials: Bool { !tokens.isEmpty }

    public var hasAdmin: Bool { tokens.contains { $0.role == .admin } }
    public var hasViewer: Bool { tokens.contains { $0.role == .viewer } }

    /// The role an `Authorization` header proves; nil when it proves none. `anonymous` is what a request
    /// without credentials gets: admin when no token is configured, nothing otherwise.
    public func role(authorization: String?) -> Credential? {
        guard requiresCredentials else { return Credential(role: .admin, kind: .anonymous, digest: SHA256.hash(data: Data())) }
        guard let authorization, let token = Self.token(in: authorization) else { return nil }
        let digest = SHA256.hash(data: Data(token.value.utf8))
        // Every configured token is compared, matching or not, so timing tells nothing about which matched.
        var found: Role?
        for entry in tokens where Self.constantTimeEqual(entry.digest, digest) { found = max(found ?? entry.role, entry.role) }
        return found.map { Credential(role: $0, kind: token.kind, digest: digest) }
    }

    /// The CSRF token for forms shown to this credential: an HMAC of its digest, so it cannot be made
    /// without the server's key and is useless with another credential.
    public func csrfToken(for credential: Credential) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(credential.digest), using: csrfKey)
        return Data(mac).map { String(format: "%02x", $0) }.joined()
    }

    public func checkCSRF(_ presented: String?, for credential: Credential) -> Bool {
        guard let presented else { return false }
        let expected = csrfToken(for: credential)
        return presented.utf8.count == expected.utf8.count && Self.constantTimeEqual(presented.utf8, expected.utf8)
    }

    private static func token(in authorization: String) -> (value: String, kind: Credential.Kind)? {
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "bearer":
            return (String(parts[1]).trimmingCharacters(in: .whitespaces), .bearer)
        case "basic":
            guard let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
            return (String(text[text.index(after: colon)...]), .basic)
        default:
            return nil
        }
    }

    /// Byte by byte, all of them, whatever differs first (callers check the lengths).
    private static func constantTimeEqual(_ a: some Sequence<UInt8>, _ b: some Sequence<UInt8>) -> Bool {
        zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// A caller's proven role and how it was proven.
public struct Credential: Sendable {
    public enum Kind: Sendable {
        /// No token is configured (loopback only).
        case anonymous
        /// Sent by the browser on its own with every request: a POST also needs the CSRF token.
        case basic
        /// Sent deliberately by a script: a browser never adds it to a forged request.
        case bearer
    }
    public var role: Role
    public var kind: Kind
    var digest: SHA256Digest

    /// Whether a POST must carry the CSRF token: whenever the browser could have sent the credential itself.
    public var needsCSRF: Bool { kind != .bearer }
}

extension AccessPolicy {
    /// The variables holding the service's own tokens.
    static var variables: [String] { [adminVariable, viewerVariable] }

    /// Whether `host` (of `--listen`) is a loopback address.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
