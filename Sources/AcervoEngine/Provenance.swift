import AcervoStore
import Foundation

/// The last decision for one rule of an item: `acervo why`.
public struct RuleExplanation: Sendable, Codable, Equatable {
    public var rule: String
    public var decision: Decision
    public var reason: DecisionReason
    public var error: String?
    public var run: String
    public var at: Date
    public var key: ActionKey?
    /// What the result this decision produced or reused had to leave out.
    public var warnings: [String] = []
}

/// One rule's part in an item's document: `acervo trace`.
public struct ProvenanceStep: Sendable, Codable, Equatable {
    public var rule: String
    public var key: ActionKey
    public var processor: String
    public var inputs: [String: Digest]
    public var files: [String: Digest]
    public var params: String
    public var outputs: [String: Digest]
    public var costUSD: Double?
    public var provider: String?
    public var model: String?
    public var createdAt: Date?
    /// The run that produced the result (not the last one that reused it).
    public var run: String?
    public var hits: Int?
    public var warnings: [String]?
    /// Facts about the input the processor reported (`encoding: windows-1252`).
    public var metadata: [String: String]?
}

extension Store {
    /// The newest decision for each rule of `item`, optionally only `rule`.
    public func explain(item: String, rule: String? = nil) async throws(StoreError) -> [RuleExplanation] {
        var latest: [String: RuleExplanation] = [:]
        let events = (try await journal.events(item: item) + (try await latestListedHits(item: item))).sorted { $0.at > $1.at }
        for event in events where rule == nil || event.rule == rule {
            guard latest[event.rule] == nil else { continue }
            latest[event.rule] = RuleExplanation(rule: event.rule, decision: event.decision, reason: event.reason, error: event.error,
                                                 run: event.runID, at: event.at, key: event.key)
        }
        var explanations = latest.values.sorted { $0.rule < $1.rule }
        for index in explanations.indices {
            guard let key = explanations[index].key else { continue }
            explanations[index].warnings = try await actionCache.result(forKey: key)?.warnings ?? []
        }
        return explanations
    }

    /// How an item's document came to be: for each rule, the key, processor, inputs, outputs, cost and run.
    public func provenance(item: String) async throws(StoreError) -> [ProvenanceStep] {
        let traces = try await journal.traces(item: item)
        let listedHits = try await listedHits(of: Set(traces.map(\.key)))
        var steps: [ProvenanceStep] = []
        for trace in traces {
            let components = KeyComponents.decode(trace.components)
            let result = try await actionCache.result(forKey: trace.key)
            steps.append(ProvenanceStep(
                rule: trace.rule, key: trace.key,
                processor: components.map { "\($0.processor)@\($0.version)" } ?? result.map { "\($0.processor)@\($0.processorVersion)" } ?? "?",
                inputs: components?.inputs ?? [:], files: components?.files ?? [:], params: components?.params ?? "{}",
                outputs: result?.outputs ?? [:], costUSD: result?.costUSD, provider: result?.provider, model: result?.model,
                createdAt: result?.createdAt, run: result?.runID,
                hits: result.map { $0.hitCount + (listedHits[$0.key]?.count ?? 0) },
                warnings: result.flatMap { $0.warnings.isEmpty ? nil : $0.warnings }, metadata: result.flatMap { $0.metadata.isEmpty ? nil : $0.metadata }))
        }
        return steps
    }
}
