import Foundation
import Yams

/// `rules/prices.yaml`: dollars per unit, per provider and model. Prices are configuration, never code, and
/// never part of an action key (a new price must not re-run anything).
public struct PriceTable: Sendable, Equatable {
    /// provider → unit (`per_minute`, `per_million_input_tokens`, …) → model (or `default`) → dollars.
    public var prices: [String: [String: [String: Double]]]

    public init(_ prices: [String: [String: [String: Double]]] = [:]) {
        self.prices = prices
    }

    /// The price of one `unit` for `model`, falling back to the provider's `default`; nil when unpriced.
    public func price(_ provider: String, _ unit: String, model: String?) -> Double? {
        guard let table = prices[provider]?[unit] else { return nil }
        return model.flatMap { table[$0] } ?? table["default"]
    }

    /// Like `price`, but an unpriced paid call is a configuration error: a cost of zero would hide spending.
    public func required(_ provider: String, _ unit: String, model: String?) throws(ConnectorError) -> Double {
        guard let price = price(provider, unit, model: model) else {
            throw ConnectorError(.configuration, provider: provider, request: "",
                                 message: "rules/prices.yaml has no `\(provider): { \(unit): { \(model ?? "default"): … } }`; add the provider's price")
        }
        return price
    }

    /// Reads `prices.yaml` from the rules folder; a missing file is an empty table.
    public static func load(rulesDirectory: String) throws(ConnectorError) -> PriceTable {
        let path = rulesDirectory + "/prices.yaml"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return PriceTable() }
        let problem = { (message: String) in ConnectorError(.configuration, provider: "prices.yaml", request: "", message: "\(path): \(message)") }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw problem("not valid YAML: \(error)") }
        guard let providers = root as? [String: Any] else {
            if root == nil { return PriceTable() }
            throw problem("expected `provider: { unit: { model: dollars } }`")
        }
        var prices: [String: [String: [String: Double]]] = [:]
        for (provider, units) in providers {
            guard let units = units as? [String: Any] else { throw problem("`\(provider)` must map units to models and prices") }
            for (unit, models) in units {
                guard let models = models as? [String: Any] else { throw problem("`\(provider).\(unit)` must map models to prices") }
                for (model, value) in models {
                    guard let number = (value as? Double) ?? (value as? Int).map(Double.init), number >= 0 else {
                        throw problem("`\(provider).\(unit).\(model)` must be a number of dollars")
                    }
                    prices[provider, default: [:]][unit, default: [:]][model] = number
                }
            }
        }
        return PriceTable(prices)
    }
}
