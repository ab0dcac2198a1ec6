import AcervoStore
import Foundation
import Synchronization

/// What provider clients share in one process: the environment (keys, base URLs), one HTTP session (and one
/// for downloads), a Google token source, the retry policy, and where retries are logged. Clients are made on first use, so a
/// pipeline that never calls a provider never needs its key — and one that does gets a configuration error
/// naming the variable to set, on the action that needed it.
public final class ConnectorContext: Sendable {
    public let environment: ConnectorEnvironment
    public let retry: RetryPolicy
    public let log: @Sendable (String) -> Void
    /// Told of every provider call and retry (the service counts them).
    public let observe: @Sendable (ProviderCall) -> Void
    /// Told of every piece of a lesson's media as it arrives (bytes): the progress line's bytes per second.
    public let mediaBytes: @Sendable (Int64) -> Void
    private let session = Mutex<HTTPSession?>(nil)
    private let downloads = Mutex<HTTPSession?>(nil)
    private let google = Mutex<GoogleTokenSource?>(nil)

    public init(environment: ConnectorEnvironment = ConnectorEnvironment(), retry: RetryPolicy = RetryPolicy(maxAttempts: 5),
                log: @escaping @Sendable (String) -> Void = { _ in }, observe: @escaping @Sendable (ProviderCall) -> Void = { _ in },
                mediaBytes: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.mediaBytes = mediaBytes
        self.environment = environment
        self.retry = retry
        self.log = log
        self.observe = observe
    }

    public var httpSession: HTTPSession {
        session.withLock { session in
            if let session { return session }
            let created = HTTPSession(observe: observe)
            session = created
            return created
        }
    }

    /// For media downloads: a connection silent for a minute is dropped and the download resumed, instead of
    /// waiting as long as an API call may legitimately take.
    public var downloadSession: HTTPSession {
        downloads.withLock { session in
            if let session { return session }
            let created = HTTPSession(readTimeoutSeconds: 60, observe: observe)
            session = created
            return created
        }
    }

    /// Closes the HTTP sessions that were opened.
    public func shutdown() async {
        await session.withLock { $0 }?.shutdown()
        await downloads.withLock { $0 }?.shutdown()
    }

    /// A client for an OpenAI-compatible API (`OPENAI_API_KEY`, `OPENAI_BASE_URL`).
    public func openAI() throws(ConnectorError) -> (api: APIClient, baseURL: String) {
        let client = try vectorStores()
        return (client.api, client.baseURL)
    }

    /// OpenAI's Files and Vector Stores APIs on this context's session.
    public func vectorStores() throws(ConnectorError) -> OpenAIVectorStores {
        try OpenAIVectorStores.fromEnvironment(environment, session: httpSession, retry: retry, log: log)
    }

    /// The service account's token source (`GOOGLE_APPLICATION_CREDENTIALS`), made once.
    public func googleTokens() throws(ConnectorError) -> GoogleTokenSource {
        if let existing = google.withLock({ $0 }) { return existing }
        let source = try GoogleTokenSource(account: try ServiceAccount.fromEnvironment(environment), session: httpSession, retry: retry)
        return google.withLock { current in
            if let current { return current }
            current = source
            return source
        }
    }

    /// A client for a Google API authorized by the service account.
    public func googleAPI(provider: String) throws(ConnectorError) -> APIClient {
        let tokens = try googleTokens()
        return APIClient(provider: provider, session: httpSession, retry: retry, secrets: [tokens.account.privateKey], log: log,
                         authorize: tokens.authorize)
    }
}
