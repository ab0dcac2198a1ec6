import AcervoRules
import AcervoStore
import Foundation

/// How a build runs.
public struct BuildOptions: Sendable {
    /// Processor runs at once, across all rules (per-rule `concurrency` limits further).
    public var jobs: Int
    /// Overrides `budget_usd` from the rules when set.
    public var budgetUSD: Double?
    /// Rules to recompute even on a cache hit (for nondeterministic processors the user wants redone).
    public var refresh: Set<String>
    public var retry: RetryPolicy

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, budgetUSD: Double? = nil, refresh: Set<String> = [],
                retry: RetryPolicy = RetryPolicy()) {
        self.jobs = jobs
        self.budgetUSD = budgetUSD
        self.refresh = refresh
        self.retry = retry
    }
}

/// One failed action, for the end-of-build summary.
public struct FailureSummary: Sendable, Codable, Equatable {
    public var item: String
    public var rule: String
    public var error: String

    public init(item: String, rule: String, error: String) {
        self.item = item
        self.rule = rule
        self.error = error
    }
}

/// A warning of an action that ran (a caption block it had to skip), for the end-of-build summary.
public struct ActionWarning: Sendable, Codable, Equatable {
    public var item: String
    public var rule: String
    public var message: String

    public init(item: String, rule: String, message: String) {
        self.item = item
        self.rule = rule
        self.message = message
    }
}

/// What a build did. `acervo build --json` prints this as its last line.
public struct BuildSummary: Sendable, Codable, Equatable {
    public var run: String
    public var items: Int
    public var executed = 0
    public var hits = 0
    public var failed = 0
    /// Skipped because a dependency failed, the budget was reached, or the build was interrupted.
    public var skipped = 0
    /// Actions whose required inputs an item does not have (a lesson without captions, say).
    public var notApplicable = 0
    public var costUSD = 0.0
    public var snapshot: String?
    public var budgetReached = false
    public var interrupted = false
    public var durationSeconds = 0.0
    public var failures: [FailureSummary] = []
    /// What the actions that ran this time had to leave out.
    public var warnings: [ActionWarning] = []

    public init(run: String, items: Int) {
        self.run = run
        self.items = items
    }

    /// How the run ended, as the journal records it.
    public var status: RunStatus {
        if budgetReached { return .budget }
        if interrupted { return .interrupted }
        return failed > 0 ? .failed : .ok
    }
}

/// Receives progress as the build goes; the CLI draws it, tests ignore it.
public protocol BuildReporter: Sendable {
    func started(runID: String, rules: [String], items: Int)
    func finished(item: String, rule: String, decision: Decision, reason: DecisionReason, error: String?)
    /// Every action is decided; the snapshot comes next.
    func allDecided()
}

extension BuildReporter {
    public func allDecided() {}
}

public struct SilentReporter: BuildReporter {
    public init() {}
    public func started(runID: String, rules: [String], items: Int) {}
    public func finished(item: String, rule: String, decision: Decision, reason: DecisionReason, error: String?) {}
}

/// The state of one (item, rule) within a run.
enum ActionState: Sendable, Equatable {
    case done(Digest)
    case failed
    case skipped
    case notApplicable
    /// Plan only: it would run, so its output is not known yet.
    case pending
}
