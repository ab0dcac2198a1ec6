import AcervoStore
import Foundation

/// A credential. Its description is a placeholder, so interpolating one into a message or a log line cannot
/// leak it; only request building reads `value`.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "[redacted]" }
    public var debugDescription: String { "[redacted]" }
}

/// Where connectors find their secrets and endpoints: the process environment, where `NAME_FILE` may point
/// at a file holding `NAME`'s value (the way container secrets are mounted).
public struct ConnectorEnvironment: Sendable {
    public var variables: [String: String]

    public init(_ variables: [String: String] = ProcessInfo.processInfo.environment) {
        self.variables = variables
    }

    /// The value of `name` or of the file `name_FILE` names, trimmed; nil when neither is set.
    public func secret(_ name: String) throws(ConnectorError) -> Secret? {
        if let value = variables[name], !value.isEmpty { return Secret(value) }
        guard let path = variables[name + "_FILE"], !path.isEmpty else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConnectorError(.configuration, provider: name, request: "", message: "\(name)_FILE names `\(path)`, which cannot be read")
        }
        return Secret(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Every variable a connector reads a secret from: what is scrubbed from pages, logs and notifications
    /// whatever a message quotes. One list, here, beside the code that reads them.
    public static let secretNames = [
        "HOTMART_CLIENT_ID", "HOTMART_CLIENT_SECRET", "HOTMART_BASIC", "GEMINI_API_KEY", "OPENAI_API_KEY", "SLACK_WEBHOOK_URL", "ACERVO_SMTP_URL",
        "VIMEO_TOKEN", "PANDA_API_KEY",
    ]

    /// The values of `names` (and of every connector secret) that are set; one that cannot be read is an error,
    /// never silently left unscrubbed.
    public func secretValues(_ names: [String] = []) throws(ConnectorError) -> [Secret] {
        var values: [Secret] = []
        for name in names + Self.secretNames { if let secret = try secret(name) { values.append(secret) } }
        return values
    }

    /// A secret that must be present, with the fix in the error.
    public func requiredSecret(_ name: String, for provider: String) throws(ConnectorError) -> Secret {
        guard let secret = try secret(name) else {
            throw ConnectorError(.configuration, provider: provider, request: "",
                                 message: "set \(name) (or \(name)_FILE, a file holding it) in the environment")
        }
        return secret
    }

    /// A base URL: the override variable if set, else the provider's public endpoint; no trailing slash.
    public func baseURL(_ name: String, default fallback: String) -> String {
        var url = variables[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

extension ConnectorEnvironment {
    /// Retries of provider calls: `ACERVO_RETRY_ATTEMPTS` (default 5) tries, backoff from
    /// `ACERVO_RETRY_BASE_SECONDS` (default 1) doubling up to two minutes, with jitter.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(maxAttempts: variables["ACERVO_RETRY_ATTEMPTS"].flatMap(Int.init).map { max(1, $0) } ?? 5,
                    baseDelaySeconds: variables["ACERVO_RETRY_BASE_SECONDS"].flatMap(Double.init).map { max(0, $0) } ?? 1,
                    maxDelaySeconds: 120)
    }
}

/// Removes every secret's value from a text that came from outside (an error body that echoes a key).
public func redact(_ text: String, secrets: [Secret]) -> String {
    secrets.reduce(text) { text, secret in
        secret.value.count < 4 ? text : text.replacingOccurrences(of: secret.value, with: "[redacted]")
    }
}
