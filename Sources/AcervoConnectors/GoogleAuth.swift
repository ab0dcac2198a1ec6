import AcervoStore
import AcervoRules
import Crypto
import Foundation
import _CryptoExtras

/// A Google service account's key file (`GOOGLE_APPLICATION_CREDENTIALS`), the fields a token needs.
public struct ServiceAccount: Sendable, Decodable {
    public var clientEmail: String
    public var privateKey: Secret
    public var tokenURI: String
    public var projectID: String?

    enum CodingKeys: String, CodingKey {
        case clientEmail = "client_email"
        case privateKey = "private_key"
        case tokenURI = "token_uri"
        case projectID = "project_id"
    }

    public init(clientEmail: String, privateKey: Secret, tokenURI: String, projectID: String? = nil) {
        self.clientEmail = clientEmail
        self.privateKey = privateKey
        self.tokenURI = tokenURI
        self.projectID = projectID
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clientEmail = try container.decode(String.self, forKey: .clientEmail)
        privateKey = Secret(try container.decode(String.self, forKey: .privateKey))
        tokenURI = try container.decodeIfPresent(String.self, forKey: .tokenURI) ?? "https://oauth2.googleapis.com/token"
        projectID = try container.decodeIfPresent(String.self, forKey: .projectID)
    }

    /// Reads the key file named by `GOOGLE_APPLICATION_CREDENTIALS`; `ACERVO_GOOGLE_TOKEN_URL` overrides its
    /// token endpoint.
    public static func fromEnvironment(_ environment: ConnectorEnvironment) throws(ConnectorError) -> ServiceAccount {
        guard let path = environment.variables["GOOGLE_APPLICATION_CREDENTIALS"], !path.isEmpty else {
            throw ConnectorError(.configuration, provider: "Google", request: "",
                                 message: "set GOOGLE_APPLICATION_CREDENTIALS to a service account's JSON key file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConnectorError(.configuration, provider: "Google", request: "", message: "GOOGLE_APPLICATION_CREDENTIALS names `\(path)`, which cannot be read")
        }
        var account: ServiceAccount
        do { account = try JSONDecoder().decode(ServiceAccount.self, from: data) } catch {
            throw ConnectorError(.configuration, provider: "Google", request: "",
                                 message: "`\(path)` is not a service account key (client_email and private_key are needed): \(error)")
        }
        if let override = environment.variables["ACERVO_GOOGLE_TOKEN_URL"], !override.isEmpty { account.tokenURI = override }
        return account
    }
}

/// OAuth access tokens for a service account: a JWT signed RS256 with its key (claims `iss`, `scope`, `aud` =
/// the token URI, `iat`, `exp` one hour later) exchanged at the token endpoint; cached until a minute before it
/// expires, and refreshed when a provider answers 401.
public final class GoogleTokenSource: Sendable {
    public static let cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

    let account: ServiceAccount
    let scope: String
    private let api: APIClient
    private let signingKey: _RSA.Signing.PrivateKey
    private let cache = AccessTokenCache()

    public init(account: ServiceAccount, session: HTTPSession, scope: String = GoogleTokenSource.cloudPlatformScope,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 5)) throws(ConnectorError) {
        self.account = account
        self.scope = scope
        do {
            signingKey = try _RSA.Signing.PrivateKey(pemRepresentation: account.privateKey.value)
        } catch {
            throw ConnectorError(.configuration, provider: "Google", request: "",
                                 message: "the service account's private_key is not an RSA key in PEM form")
        }
        api = APIClient(provider: "Google OAuth", session: session, retry: retry, secrets: [account.privateKey])
    }

    /// The JWT assertion for `now`.
    func assertion(now: Date = Date()) throws(ConnectorError) -> String {
        let issued = Int(now.timeIntervalSince1970)
        let header = #"{"alg":"RS256","typ":"JWT"}"#
        let claims: JSONValue = .object([
            "iss": .string(account.clientEmail), "scope": .string(scope), "aud": .string(account.tokenURI),
            "iat": .number(Double(issued)), "exp": .number(Double(issued + 3600)),
        ])
        let signingInput = Self.base64URL(Array(header.utf8)) + "." + Self.base64URL(Array(claims.canonical.utf8))
        do {
            let signature = try signingKey.signature(for: Array(signingInput.utf8), padding: .insecurePKCS1v1_5)
            return signingInput + "." + Self.base64URL(Array(signature.rawRepresentation))
        } catch {
            throw ConnectorError(.authentication, provider: "Google", request: "", message: "signing the token request failed: \(error)")
        }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A valid access token; `refresh` forces a new one (after a 401).
    public func token(refresh: Bool = false) async throws(ConnectorError) -> Secret {
        try await cache.token(refresh: refresh) { () async throws(ConnectorError) -> AccessTokenResponse in
            let form = "grant_type=" + formEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + (try assertion())
            let request = APIRequest(.POST, account.tokenURI, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                     body: Array(form.utf8))
            do throws(ConnectorError) {
                return try await api.json(request)
            } catch {
                guard error.kind == .rejected || error.kind == .authentication else { throw error }
                throw ConnectorError(.authentication, provider: "Google OAuth", request: request.label, status: error.status,
                                     message: "\(error.message) — check the service account key and that it is enabled")
            }
        }
    }

    /// An `authorize` function for `APIClient`.
    public var authorize: @Sendable (Bool) async throws(ConnectorError) -> [(name: String, value: String)] {
        { [self] refresh throws(ConnectorError) in [("Authorization", "Bearer \(try await token(refresh: refresh).value)")] }
    }
}
