import Foundation

/// What went wrong talking to a provider, naming the provider and the request (method and path, never the
/// query, headers or body, which may carry secrets).
public struct ConnectorError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// The provider refused the request (4xx other than 429): retrying would not help.
        case rejected
        /// The credentials were refused or could not be obtained.
        case authentication
        /// 429, 5xx, timeouts or dropped connections, still failing after every retry.
        case unavailable
        /// A 2xx whose body is not what the API documents (malformed JSON, a missing field, an HTML page).
        case badResponse
        /// The provider accepted the work but reports that it failed (a vector-store file ending `failed`).
        case failed
        /// Missing configuration: a key, a URL, a file.
        case configuration
        /// The task was cancelled (Ctrl-C twice, a server shutting down) while the call was under way.
        case cancelled
    }

    public var kind: Kind
    public var provider: String
    /// `POST /v1/vector_stores/vs_1/files`.
    public var request: String
    public var status: Int?
    public var message: String

    public init(_ kind: Kind, provider: String, request: String, status: Int? = nil, message: String) {
        self.kind = kind
        self.provider = provider
        self.request = request
        self.status = status
        self.message = message
    }

    public var description: String {
        let status = self.status.map { " (HTTP \($0))" } ?? ""
        let subject = request.isEmpty ? provider : "\(provider) \(request)"
        switch kind {
        case .rejected: return "\(subject) was rejected\(status): \(message)"
        case .authentication: return "\(subject): authentication failed\(status): \(message)"
        case .unavailable: return "\(subject) kept failing\(status): \(message)"
        case .badResponse: return "\(subject) answered something unexpected\(status): \(message)"
        case .failed: return "\(subject): \(message)"
        case .configuration: return "\(provider): \(message)"
        case .cancelled: return "\(subject): \(message)"
        }
    }
}
