import Foundation

extension Store {
    /// Per processor, the estimates of the paid actions executed in the newest `recentRuns` runs against what
    /// they then recorded. Piece memos and failed actions carry no estimate and are left out.
    public func estimateAccuracy(recentRuns: Int) async throws(StoreError) -> [EstimateAccuracy] {
        let runs = try await journal.runs(limit: recentRuns).map(\.id)
        var rows: [String: EstimateAccuracy] = [:]
        for record in try await journal.spending(runs: runs) where record.decision == .executed {
            guard let estimate = record.estimate else { continue }
            let processor = record.processor ?? record.rule
            rows[processor, default: EstimateAccuracy(processor: processor)].add(record.costUSD, estimate: estimate)
        }
        return rows.values.sorted { $0.processor < $1.processor }
    }
}

/// A processor's estimates next to what its actions recorded.
public struct EstimateAccuracy: Sendable, Codable, Equatable {
    public var processor: String
    public var actions = 0
    public var estimatedUSD = 0.0
    public var recordedUSD = 0.0
    /// Actions that cost more than the high end the budget had reserved for them.
    public var overHigh = 0

    public init(processor: String) { self.processor = processor }

    /// Recorded over estimated: 1.1 means the actions cost 10 % more than expected.
    public var ratio: Double? { estimatedUSD > 0 ? recordedUSD / estimatedUSD : nil }

    mutating func add(_ cost: Double, estimate: EventEstimate) {
        actions += 1
        estimatedUSD += estimate.expectedUSD
        recordedUSD += cost
        if cost > estimate.highUSD + 1e-12 { overHigh += 1 }
    }
}
