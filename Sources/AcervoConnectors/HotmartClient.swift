import AcervoStore
import Foundation

/// Hotmart's OAuth client-credentials token: `POST /security/oauth/token?grant_type=client_credentials&…` with
/// `Authorization: Basic …`; cached until a minute before it expires, refreshed on a 401.
final class HotmartToken: Sendable {
    let clientID: Secret
    let clientSecret: Secret
    let basic: Secret
    let authURL: String
    let api: APIClient
    private let cache = AccessTokenCache()

    init(environment: ConnectorEnvironment, session: HTTPSession, retry: RetryPolicy, log: @escaping @Sendable (String) -> Void) throws(ConnectorError) {
        clientID = try environment.requiredSecret("HOTMART_CLIENT_ID", for: "Hotmart")
        clientSecret = try environment.requiredSecret("HOTMART_CLIENT_SECRET", for: "Hotmart")
        basic = try environment.secret("HOTMART_BASIC")
            ?? Secret(Data("\(clientID.value):\(clientSecret.value)".utf8).base64EncodedString())
        authURL = environment.baseURL("ACERVO_HOTMART_AUTH_URL", default: "https://api-sec-vlc.hotmart.com")
        api = APIClient(provider: "Hotmart OAuth", session: session, retry: retry, secrets: [clientSecret, basic], log: log)
    }

    func token(refresh: Bool) async throws(ConnectorError) -> Secret {
        try await cache.token(refresh: refresh) { () async throws(ConnectorError) -> AccessTokenResponse in
            let query = "grant_type=client_credentials&client_id=\(formEncode(clientID.value))&client_secret=\(formEncode(clientSecret.value))"
            do throws(ConnectorError) {
                return try await api.json(APIRequest(.POST, "\(authURL)/security/oauth/token?\(query)",
                                                     headers: [("Authorization", "Basic \(basic.value)")]))
            } catch {
                guard error.kind == .rejected else { throw error }
                throw ConnectorError(.authentication, provider: "Hotmart", request: error.request, status: error.status, message: error.message)
            }
        }
    }
}

/// The members area ("Club") API: modules and their pages, paginated with `max_results` and `page_token`,
/// rate limits obeyed. Paths are configurable (Hotmart has published more than one version).
public struct HotmartClient: Sendable {
    public let api: APIClient
    public let baseURL: String

    public init(context: ConnectorContext) throws(ConnectorError) {
        let token = try HotmartToken(environment: context.environment, session: context.httpSession, retry: context.retry, log: context.log)
        api = APIClient(provider: "Hotmart", session: context.httpSession, retry: context.retry,
                        secrets: [token.clientSecret, token.basic], log: context.log,
                        authorize: { refresh throws(ConnectorError) in [("Authorization", "Bearer \(try await token.token(refresh: refresh).value)")] })
        baseURL = context.environment.baseURL("ACERVO_HOTMART_API_URL", default: "https://developers.hotmart.com")
    }

    public struct Module: Decodable, Sendable {
        public var moduleID: String
        public var name: String
        public var sequence: Int?
        public var isExtra: Bool?
        /// How many pages the module says it has: a page list that comes back empty beside it is an error.
        public var totalPages: Int?
        enum CodingKeys: String, CodingKey {
            case moduleID = "module_id"
            case name, sequence
            case isExtra = "is_extra"
            case totalPages = "total_pages"
        }
    }

    public struct Page: Codable, Sendable {
        public var pageID: String
        public var name: String
        public var type: String?
        public var sequence: Int?
        /// Whether the page holds a video (Hotmart says so, but not where it is).
        public var hasMedia: Bool?

        public init(pageID: String, name: String, type: String? = nil, sequence: Int? = nil, hasMedia: Bool? = nil) {
            self.pageID = pageID
            self.name = name
            self.type = type
            self.sequence = sequence
            self.hasMedia = hasMedia
        }

        enum CodingKeys: String, CodingKey {
            case pageID = "page_id"
            case name, type, sequence
            case hasMedia = "has_media"
        }
    }

    struct Listing<Element: Decodable>: Decodable {
        struct Info: Decodable {
            var nextPageToken: String?
            enum CodingKeys: String, CodingKey { case nextPageToken = "next_page_token" }
        }
        var items: [Element]
        var pageInfo: Info?
        enum CodingKeys: String, CodingKey {
            case items
            case pageInfo = "page_info"
        }
    }

    /// The club's modules, in Hotmart's order.
    public func modules(subdomain: String, path: String) async throws(ConnectorError) -> [Module] {
        try await all(Self.url(baseURL + path, subdomain: subdomain), as: Module.self)
    }

    /// A module's pages (lessons); `pathTemplate` holds `{module_id}`.
    public func pages(subdomain: String, module: String, pathTemplate: String) async throws(ConnectorError) -> [Page] {
        let path = pathTemplate.replacingOccurrences(of: "{module_id}", with: pathSegmentEncode(module))
        return try await all(Self.url(baseURL + path, subdomain: subdomain), as: Page.self)
    }

    /// The path with the club's subdomain in its query, after any query it has (`v2`'s `?product_id=…`).
    static func url(_ path: String, subdomain: String) -> String {
        path + (path.contains("?") ? "&" : "?") + "subdomain=" + formEncode(subdomain)
    }

    /// Every element of a `page_token`-paginated list.
    private func all<Element: Decodable & Sendable>(_ url: String, as: Element.Type) async throws(ConnectorError) -> [Element] {
        var elements: [Element] = []
        var token: String?
        var seen = Set<String>()
        repeat {
            var page = url + (url.contains("?") ? "&" : "?") + "max_results=50"
            if let token { page += "&page_token=" + formEncode(token) }
            let response = try await api.json(APIRequest(.GET, page), as: Listing<Element>.self)
            elements += response.items
            token = response.pageInfo?.nextPageToken.flatMap { $0.isEmpty || !seen.insert($0).inserted ? nil : $0 }
        } while token != nil
        return elements
    }
}
