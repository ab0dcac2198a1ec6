import Foundation
import Yams

/// `rules/prices.yaml`: dollars per unit, per provider and model. Prices are configuration, never code, and
/// never part of an action key (a new price must not re-run anything).
///
///     google.stt:
///       per_minute: { chirp_2: 0.016, default: 0.016 }
public struct PriceTable: Sendable, Equatable {
    /// provider → unit (`per_minute`, `per_million_input_tokens`, …) → model (or `default`) → dollars.
    public var prices: [String: [String: [String: Double]]]

    public static let fileName = "prices.yaml"

    public init(_ prices: [String: [String: [String: Double]]] = [:]) {
        self.prices = prices
    }

    /// The price of one `unit` for `model`, falling back to the provider's `default`; nil when unpriced.
    public func price(_ provider: String, _ unit: String, model: String?) -> Double? {
        guard let table = prices[provider]?[unit] else { return nil }
        return model.flatMap { table[$0] } ?? table["default"]
    }

    /// Like `price`, but an unpriced paid call is an error in the rules: a cost of zero would hide spending.
    public func required(_ provider: String, _ unit: String, model: String?) throws(RulesError) -> Double {
        guard let price = price(provider, unit, model: model) else {
            throw RulesError("\(Self.fileName) has no price for \(provider) \(unit.replacingOccurrences(of: "_", with: " "))"
                             + (model.map { " of `\($0)`" } ?? ""), at: nil,
                             fix: "add `\(provider): { \(unit): { \(model ?? "default"): DOLLARS } }` to rules/\(Self.fileName) with the provider's price")
        }
        return price
    }

    /// Reads `prices.yaml` from the rules folder; a missing file is an empty table. Mistakes name the line.
    public static func load(rulesDirectory: String) throws(RulesError) -> PriceTable {
        let path = rulesDirectory + "/" + fileName
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return PriceTable() }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(RulesError) -> PriceTable {
        let context = Context(file: file)
        guard let root = try YAMLDocument.compose(text, file: file) else { return PriceTable() }
        var prices: [String: [String: [String: Double]]] = [:]
        for (provider, units) in try context.mapping(root, "the prices (provider: { unit: { model: dollars } })") {
            for (unit, models) in try context.mapping(units, "`\(provider.name)` (unit: { model: dollars })") {
                for (model, value) in try context.mapping(models, "`\(provider.name).\(unit.name)` (model: dollars)") {
                    guard let number = try context.json(value).number, number >= 0, number.isFinite else {
                        throw RulesError("`\(provider.name).\(unit.name).\(model.name)` must be a number of dollars", at: context.location(value),
                                         fix: "e.g. \(model.name): 0.016")
                    }
                    prices[provider.name, default: [:]][unit.name, default: [:]][model.name] = number
                }
            }
        }
        return PriceTable(prices)
    }
}
