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

/// What went wrong with one lesson in a build, for people: one cause (the failure's text, which names the
/// file), the rules that failed of it, and the rules that did not run because of them. The build's summary,
/// the dashboard's run page and notifications all list these, so a corrupt video reads as one line, not as
/// one line per rule it stopped.
public struct LessonProblem: Sendable, Codable, Equatable {
    public var item: String
    public var cause: String
    public var failedRules: [String]
    public var stoppedRules: [String]

    public init(item: String, cause: String, failedRules: [String], stoppedRules: [String]) {
        self.item = item
        self.cause = cause
        self.failedRules = failedRules
        self.stoppedRules = stoppedRules
    }

    /// `01-fundamentos/04-roto: `…/clase.mp4`: the video cannot be read … — failed: media, audio; not run: ocr, document`
    public var line: String {
        var rules = failedRules == ["detect"] ? "" : " — failed: " + failedRules.joined(separator: ", ")
        if !stoppedRules.isEmpty { rules += (rules.isEmpty ? " — " : "; ") + "not run: " + stoppedRules.joined(separator: ", ") }
        return "\(item): \(cause)\(rules)"
    }

    /// An action skipped because an upstream one failed or was skipped.
    public struct Blocked: Sendable, Equatable {
        public var item: String
        public var rule: String
        public var upstream: String
        public init(item: String, rule: String, upstream: String) {
            self.item = item
            self.rule = rule
            self.upstream = upstream
        }
    }

    /// The problems of a recorded run, from its events (the dashboard's run page, a lesson's page).
    public static func group(events: [Event]) -> [LessonProblem] {
        group(failures: events.filter { $0.decision == .failed }.map { FailureSummary(item: $0.itemID, rule: $0.rule, error: $0.error ?? $0.reason.description) },
              blocked: events.compactMap { event in
                  event.reason.blockingRule.map { Blocked(item: event.itemID, rule: event.rule, upstream: $0) }
              })
    }

    /// Failures grouped by lesson and cause (their text), each with the rules its failures stopped — followed
    /// through chains (`ocr` stopped by `frames`, `class` by `ocr`): lessons in order, causes as they came.
    public static func group(failures: [FailureSummary], blocked: [Blocked]) -> [LessonProblem] {
        var problems: [LessonProblem] = []
        var index: [String: [String: Int]] = [:]  // item → cause → position
        var causeOfRule: [String: [String: Int]] = [:]  // item → failed rule → position
        for failure in failures.sorted(by: { ($0.item, $0.rule) < ($1.item, $1.rule) }) {
            if let position = index[failure.item]?[failure.error] {
                problems[position].failedRules.append(failure.rule)
                causeOfRule[failure.item, default: [:]][failure.rule] = position
                continue
            }
            index[failure.item, default: [:]][failure.error] = problems.count
            causeOfRule[failure.item, default: [:]][failure.rule] = problems.count
            problems.append(LessonProblem(item: failure.item, cause: failure.error, failedRules: [failure.rule], stoppedRules: []))
        }
        let upstreamOf = Dictionary(grouping: blocked, by: \.item).mapValues { Dictionary($0.map { ($0.rule, $0.upstream) }, uniquingKeysWith: { a, _ in a }) }
        for action in blocked.sorted(by: { ($0.item, $0.rule) < ($1.item, $1.rule) }) {
            var upstream = action.upstream
            var seen: Set<String> = [action.rule]
            while causeOfRule[action.item]?[upstream] == nil, let next = upstreamOf[action.item]?[upstream], seen.insert(upstream).inserted {
                upstream = next
            }
            if let position = causeOfRule[action.item]?[upstream] { problems[position].stoppedRules.append(action.rule) }
        }
        return problems
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
    /// Actions not started, or ended, because the build was stopped (counted in `skipped`): the next build
    /// runs them.
    public var interruptedActions = 0
    public var durationSeconds = 0.0
    public var failures: [FailureSummary] = []
    /// The failures for people: one per lesson and cause, with the rules they stopped.
    public var problems: [LessonProblem] = []
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

    enum CodingKeys: String, CodingKey {
        case run, items, executed, hits, failed, skipped, notApplicable, costUSD, snapshot, budgetReached, interrupted, interruptedActions,
             durationSeconds, failures, problems, warnings
    }

    /// Summaries stored by earlier versions lack the newer fields: they read as their defaults (a run page
    /// of last year's build still opens).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        run = try container.decode(String.self, forKey: .run)
        items = try container.decodeIfPresent(Int.self, forKey: .items) ?? 0
        executed = try container.decodeIfPresent(Int.self, forKey: .executed) ?? 0
        hits = try container.decodeIfPresent(Int.self, forKey: .hits) ?? 0
        failed = try container.decodeIfPresent(Int.self, forKey: .failed) ?? 0
        skipped = try container.decodeIfPresent(Int.self, forKey: .skipped) ?? 0
        notApplicable = try container.decodeIfPresent(Int.self, forKey: .notApplicable) ?? 0
        costUSD = try container.decodeIfPresent(Double.self, forKey: .costUSD) ?? 0
        snapshot = try container.decodeIfPresent(String.self, forKey: .snapshot)
        budgetReached = try container.decodeIfPresent(Bool.self, forKey: .budgetReached) ?? false
        interrupted = try container.decodeIfPresent(Bool.self, forKey: .interrupted) ?? false
        interruptedActions = try container.decodeIfPresent(Int.self, forKey: .interruptedActions) ?? 0
        durationSeconds = try container.decodeIfPresent(Double.self, forKey: .durationSeconds) ?? 0
        failures = try container.decodeIfPresent([FailureSummary].self, forKey: .failures) ?? []
        warnings = try container.decodeIfPresent([ActionWarning].self, forKey: .warnings) ?? []
        problems = try container.decodeIfPresent([LessonProblem].self, forKey: .problems)
            ?? LessonProblem.group(failures: failures, blocked: [])
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
