import AcervoStore
import Foundation
import Synchronization

/// What an OAuth token endpoint answers (Google's and Hotmart's alike).
struct AccessTokenResponse: Decodable {
    var accessToken: String
    var expiresIn: Double

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case expiresIn = "expires_in"
    }
}

/// An access token cached until a minute before it expires (it must not expire between the check and the
/// request using it). Refreshes happen one at a time, so many actions waiting on an expired token ask for
/// one new token, not many.
final class AccessTokenCache: Sendable {
    private let cached = Mutex<(token: Secret, expires: Date)?>(nil)
    private let refreshing = AsyncSemaphore(1)

    private var current: Secret? {
        cached.withLock { entry in entry.flatMap { $0.expires > Date() ? $0.token : nil } }
    }

    /// The cached token, or a new one from `fetch`; `refresh` (after a 401) always fetches.
    func token(refresh: Bool, fetch: () async throws(ConnectorError) -> AccessTokenResponse) async throws(ConnectorError) -> Secret {
        if !refresh, let current { return current }
        await refreshing.acquire()
        let result: Result<Secret, ConnectorError>
        do throws(ConnectorError) {
            if !refresh, let current {
                result = .success(current)  // another waiter refreshed it meanwhile
            } else {
                let response = try await fetch()
                let token = Secret(response.accessToken)
                cached.withLock { $0 = (token, Date().addingTimeInterval(max(0, response.expiresIn - 60))) }
                result = .success(token)
            }
        } catch {
            result = .failure(error)
        }
        await refreshing.release()
        return try result.get()
    }
}

/// A value for a query string or a form body (`application/x-www-form-urlencoded`).
/// A value for one segment of a URL's path: percent-encoded like a form value, and a segment of dots alone
/// (`.`, `..`) encoded too, so an identifier from a remote catalog can never change which path is asked for.
public func pathSegmentEncode(_ text: String) -> String {
    let encoded = formEncode(text)
    return encoded.allSatisfy { $0 == "." } ? String(repeating: "%2E", count: encoded.count) : encoded
}

public func formEncode(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
