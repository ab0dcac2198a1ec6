import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// The shared state of one build: what was loaded before it started, the limits, and the tallies.
final class BuildSession: Sendable {
    let runID: String
    let items: [Item]
    /// item → rule → the key recorded at the last decision.
    let traceKeys: [String: [String: ActionKey]]
    let store: Store
    let options: BuildOptions
    let budget: BudgetLedger
    let inFlight = InFlightActions()
    /// key → the result's `out` digest (the engine's actions have that one output).
    private let index: [ActionKey: Digest]
    private let globalLimit: AsyncSemaphore
    private let ruleLimits: [String: AsyncSemaphore]
    private let tally: Mutex<BuildSummary>
    private let journal: JournalWriter
    /// Plain hits, written as one list at the end (see `HitList`).
    private let hits = Mutex<[HitList.Entry]>([])
    /// Actions skipped because an upstream one failed or was skipped: listed with the failure that stopped them.
    private let blocked = Mutex<[LessonProblem.Blocked]>([])

    /// Rule → the parts of its keys every item shares.
    let keyTemplates: [String: RuleKeyTemplate]

    /// What the source said of the catalog (pages skipped and why): the build's warnings.
    let sourceNotes: [String]

    init(runID: String, rules: [RuleSpec], items: [Item], fileDigests: [String: Digest], index: [ActionKey: Digest],
         traceKeys: [String: [String: ActionKey]], store: Store, options: BuildOptions, budget: BudgetLedger,
         ruleLimits: [String: AsyncSemaphore], sourceNotes: [String] = []) {
        self.sourceNotes = sourceNotes
        self.runID = runID
        self.items = items
        self.keyTemplates = Dictionary(uniqueKeysWithValues: rules.map { ($0.name, RuleKeyTemplate(rule: $0, fileDigests: fileDigests)) })
        self.index = index
        self.traceKeys = traceKeys
        self.store = store
        self.options = options
        self.budget = budget
        self.globalLimit = AsyncSemaphore(options.jobs)
        self.ruleLimits = ruleLimits
        self.tally = Mutex(BuildSummary(run: runID, items: items.count))
        self.journal = JournalWriter(journal: store.journal)
    }

    /// The output of a cached result, only when it is whole in the store (its blob, and a tree's members).
    func cachedOutput(_ key: ActionKey) async -> Digest? {
        guard let output = index[key], (try? await store.isWhole(output)) == true else { return nil }
        return output
    }

    func previousComponents(item: String, rule: String) async throws(StoreError) -> KeyComponents? {
        guard traceKeys[item]?[rule] != nil, let trace = try await store.journal.trace(item: item, rule: rule) else { return nil }
        return KeyComponents.decode(trace.components)
    }

    /// Runs `body` holding a global job slot and, if the rule has one, a slot of its own limit.
    func limited<T: Sendable>(rule: String, _ body: @Sendable () async throws -> T) async throws -> T {
        if let ruleLimit = ruleLimits[rule] {
            return try await ruleLimit.with { try await self.globalLimit.with(body) }
        }
        return try await globalLimit.with(body)
    }

    /// Counts and records a decision that is not an execution (those commit with their result). A skip
    /// whose reason is "not applicable" is no problem (the item lacks an optional kind of input): it is
    /// counted apart from skips caused by failures, budget or interruption.
    /// A failure that had paid for some of its pieces records what they cost.
    func note(item: String, rule: String, key: ActionKey?, decision: Decision, reason: DecisionReason, error: String? = nil,
              costUSD: Double = 0, hitKey: ActionKey? = nil, trace: Trace? = nil, reporter: any BuildReporter) {
        tally.withLock { summary in
            summary.costUSD += costUSD
            switch decision {
            case .hit: summary.hits += 1
            case .executed: summary.executed += 1
            case .failed:
                summary.failed += 1
                summary.failures.append(FailureSummary(item: item, rule: rule, error: error ?? reason.description))
            case .skipped:
                if reason.isNotApplicable { summary.notApplicable += 1 } else { summary.skipped += 1 }
                if reason == .interrupted { summary.interruptedActions += 1 }
            }
        }
        if let upstream = reason.blockingRule { blocked.withLock { $0.append(LessonProblem.Blocked(item: item, rule: rule, upstream: upstream)) } }
        let event = Event(runID: runID, itemID: item, rule: rule, key: key, decision: decision, reason: reason, costUSD: costUSD, error: error)
        journal.append(DecisionRecord(event: event, hitKey: hitKey, trace: trace))
        reporter.finished(item: item, rule: rule, decision: decision, reason: reason, error: error)
    }

    /// Counts and records a hit on a result whose trace is already current: the common case of a rebuild,
    /// listed instead of journalled.
    func noteHit(item: String, rule: String, key: ActionKey, reporter: any BuildReporter) {
        tally.withLock { $0.hits += 1 }
        hits.withLock { $0.append(HitList.Entry(itemID: item, rule: rule, key: key)) }
        reporter.finished(item: item, rule: rule, decision: .hit, reason: .cached, error: nil)
    }

    func countExecuted(costUSD: Double, warnings: [ActionWarning]) {
        tally.withLock { summary in
            summary.executed += 1
            summary.costUSD += costUSD
            summary.warnings += warnings
        }
    }

    /// Writes the decisions still buffered, waits for every batch, and stores the hit list; reports the first
    /// write that failed.
    func flush() async throws(StoreError) {
        try await journal.finish()
        try await store.recordHits(HitList(hits.withLock { $0 }), run: runID)
    }

    func summary() -> BuildSummary {
        var summary = tally.withLock { $0 }
        summary.budgetReached = budget.wasReached
        summary.failures.sort { ($0.item, $0.rule) < ($1.item, $1.rule) }
        summary.problems = LessonProblem.group(failures: summary.failures, blocked: blocked.withLock { $0 })
        summary.warnings.sort { ($0.item, $0.rule) < ($1.item, $1.rule) }
        return summary
    }
}

/// Decisions buffered and written in batches by one task of their own, in order, so a build's bookkeeping
/// (one event per action that is not a plain hit) overlaps with evaluating the next actions instead of
/// stalling them.
final class JournalWriter: Sendable {
    /// Decisions buffered before one write records them.
    static let batchSize = 2_000
    private let pending = Mutex<[DecisionRecord]>([])
    private let batches: AsyncStream<[DecisionRecord]>.Continuation
    private let writer: Task<StoreError?, Never>

    init(journal: any RunJournal) {
        let (stream, continuation) = AsyncStream<[DecisionRecord]>.makeStream()
        batches = continuation
        writer = Task {
            var failure: StoreError?
            for await batch in stream where failure == nil {
                do throws(StoreError) { try await journal.record(batch) } catch { failure = error }
            }
            return failure
        }
    }

    /// A session that is never flushed (a plan) still ends its writer.
    deinit { batches.finish() }

    func append(_ record: DecisionRecord) {
        let full: [DecisionRecord] = pending.withLock { pending in
            pending.append(record)
            guard pending.count >= Self.batchSize else { return [] }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if !full.isEmpty { batches.yield(full) }
    }

    /// Writes what is buffered and waits for every batch; throws the first write's failure.
    func finish() async throws(StoreError) {
        let rest = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        if !rest.isEmpty { batches.yield(rest) }
        batches.finish()
        if let failure = await writer.value { throw failure }
    }
}

/// Actions of this build, by key: when two items need the same action (the same video in two lessons), the
/// second waits for the first instead of paying again. Finished actions keep only their output digest.
actor InFlightActions {
    private var running: [ActionKey: (item: String, task: Task<Digest, any Error>)] = [:]
    private var finished: [ActionKey: (item: String, output: Digest)] = [:]

    /// The output, and the item whose action produced it when that was another item's.
    func run(key: ActionKey, item: String, _ body: @escaping @Sendable () async throws -> Digest) async -> Result<(Digest, String?), any Error> {
        if let done = finished[key] { return .success((done.output, done.item)) }
        if let existing = running[key] {
            do { return .success((try await existing.task.value, existing.item)) } catch { return .failure(error) }
        }
        let task = Task { try await body() }
        running[key] = (item, task)
        // The build's cancellation (a stop past its grace) reaches the action.
        let result = await withTaskCancellationHandler { await task.result } onCancel: { task.cancel() }
        running[key] = nil
        switch result {
        case .success(let output):
            finished[key] = (item, output)
            return .success((output, nil))
        case .failure(let error):
            return .failure(error)
        }
    }
}
