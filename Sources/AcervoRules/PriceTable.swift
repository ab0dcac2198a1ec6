import Foundation
import Yams

/// `rules/prices.yaml`: dollars per unit, per provider and model. Prices are configuration, never code, and
/// never part of an action key (a new price must not re-run anything).
///
///     google.stt:
///       per_minute: { chirp_2: 0.016, default: 0.016 }
public struct PriceTable: Sendable, Equatable {
    /// Where and when a provider's prices were read: a price nobody can trace back cannot be checked.
    public struct Provenance: Sendable, Equatable, Codable {
        /// The provider's pricing page.
        public var source: String
        /// When it was read (`2026-11`).
        public var taken: String

        public init(source: String, taken: String) {
            self.source = source
            self.taken = taken
        }
    }

    /// provider → unit (`per_minute`, `per_million_input_tokens`, …) → model (or `default`) → dollars.
    public var prices: [String: [String: [String: Double]]]
    /// provider → where and when its prices were read (`source:` and `taken:` in the file).
    public var provenance: [String: Provenance]

    public static let fileName = "prices.yaml"

    public init(_ prices: [String: [String: [String: Double]]] = [:], provenance: [String: Provenance] = [:]) {
        self.prices = prices
        self.provenance = provenance
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

    /// Reads `prices.yaml` from the rules folder; a missing file is an empty table (a pipeline with no paid
    /// rule needs none). A file that is there but cannot be read is an error: read as "no prices", every paid
    /// rule would fail for want of one, far from the cause. Mistakes name the line.
    public static func load(rulesDirectory: String) throws(RulesError) -> PriceTable {
        let path = rulesDirectory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return PriceTable() }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw RulesError("\(path) cannot be read as UTF-8 text: \(error.localizedDescription)", at: nil,
                             fix: "check its permissions and encoding, or remove it if no rule is paid")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(RulesError) -> PriceTable {
        let context = Context(file: file)
        guard let root = try YAMLDocument.compose(text, file: file) else { return PriceTable() }
        var prices: [String: [String: [String: Double]]] = [:]
        var provenance: [String: Provenance] = [:]
        for (provider, units) in try context.mapping(root, "the prices (provider: { unit: { model: dollars } })") {
            var source: String?, taken: String?
            for (unit, models) in try context.mapping(units, "`\(provider.name)` (unit: { model: dollars })") {
                if unit.name == "source" || unit.name == "taken" {
                    guard let text = try context.json(models).string, !text.isEmpty else {
                        throw RulesError("`\(provider.name).\(unit.name)` must be text", at: context.location(models),
                                         fix: unit.name == "source" ? "the provider's pricing page, e.g. source: https://cloud.google.com/vision/pricing"
                                                                    : "when it was read, e.g. taken: 2026-11")
                    }
                    if unit.name == "source" { source = text } else { taken = text }
                    continue
                }
                for (model, value) in try context.mapping(models, "`\(provider.name).\(unit.name)` (model: dollars)") {
                    guard let number = try context.json(value).number, number >= 0, number.isFinite else {
                        throw RulesError("`\(provider.name).\(unit.name).\(model.name)` must be a number of dollars", at: context.location(value),
                                         fix: "e.g. \(model.name): 0.016")
                    }
                    prices[provider.name, default: [:]][unit.name, default: [:]][model.name] = number
                }
            }
            guard let source, let taken else {
                throw RulesError("`\(provider.name)` does not say where and when its prices were read", at: context.location(provider.node),
                                 fix: "add `source: <the provider's pricing page>` and `taken: <YYYY-MM>` under `\(provider.name)`")
            }
            provenance[provider.name] = Provenance(source: source, taken: taken)
        }
        return PriceTable(prices, provenance: provenance)
    }
}
