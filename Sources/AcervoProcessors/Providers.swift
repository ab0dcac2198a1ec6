import AcervoConnectors
import AcervoRules

/// What cloud processors are given: the provider clients' shared context (keys, endpoints, HTTP sessions) and
/// the prices their calls are billed at.
public struct Providers: Sendable {
    public let connectors: ConnectorContext
    public let prices: PriceTable

    public init(connectors: ConnectorContext, prices: PriceTable) {
        self.connectors = connectors
        self.prices = prices
    }
}
