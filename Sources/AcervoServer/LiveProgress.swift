import AcervoEngine
import AcervoStore
import Foundation
import Logging
import Synchronization

/// What a running build has decided so far, for the dashboard and `GET /api/status` — and, as it happens,
/// the actions counted by rule and resolution for `/metrics`.
public final class LiveProgress: BuildReporter {
    public struct Snapshot: Sendable, Encodable {
        public var run: String?
        public var items = 0
        public var rules: [String] = []
        /// Actions decided so far, out of `items × rules`.
        public var decided = 0
        public var executed = 0
        public var hits = 0
        public var failed = 0
        public var skipped = 0
        /// The last failures, newest last (at most ten).
        public var recentFailures: [String] = []

        public var total: Int { items * rules.count }

        enum CodingKeys: String, CodingKey {
            case run, items, rules, decided, executed, hits, failed, skipped, total, recentFailures
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(run, forKey: .run)
            try container.encode(items, forKey: .items)
            try container.encode(rules, forKey: .rules)
            try container.encode(decided, forKey: .decided)
            try container.encode(total, forKey: .total)
            try container.encode(executed, forKey: .executed)
            try container.encode(hits, forKey: .hits)
            try container.encode(failed, forKey: .failed)
            try container.encode(skipped, forKey: .skipped)
            try container.encode(recentFailures, forKey: .recentFailures)
        }
    }

    private let state = Mutex(Snapshot())
    private let onStart: @Sendable (_ run: String) -> Void
    private let onDecision: @Sendable (_ rule: String, _ decision: Decision) -> Void

    /// `onStart` learns the run's id, `onDecision` sees every decided action (the metrics count them).
    public init(onStart: @escaping @Sendable (_ run: String) -> Void = { _ in },
                onDecision: @escaping @Sendable (_ rule: String, _ decision: Decision) -> Void = { _, _ in }) {
        self.onStart = onStart
        self.onDecision = onDecision
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func started(runID: String, rules: [String], items: Int) {
        state.withLock { state in
            state.run = runID
            state.rules = rules
            state.items = items
        }
        onStart(runID)
    }

    public func finished(item: String, rule: String, decision: Decision, reason: DecisionReason, error: String?) {
        state.withLock { state in
            state.decided += 1
            switch decision {
            case .executed: state.executed += 1
            case .hit: state.hits += 1
            case .failed:
                state.failed += 1
                state.recentFailures.append("\(item) \(rule): \(error ?? reason.description)")
                if state.recentFailures.count > 10 { state.recentFailures.removeFirst() }
            case .skipped: state.skipped += 1
            }
        }
        onDecision(rule, decision)
    }
}

/// The run a build is on, for log lines written outside it (a provider's retry): `run=ID` on each.
public final class CurrentRun: Sendable {
    private let id = Mutex<String?>(nil)
    public init() {}
    func set(_ run: String?) { id.withLock { $0 = run } }
    public var metadata: Logger.Metadata? { id.withLock { $0 }.map { ["run": .string($0)] } }
}
