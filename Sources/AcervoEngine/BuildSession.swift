import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// The shared state of one build: what was loaded before it started, the limits, and the tallies.
final class BuildSession: Sendable {
    let runID: String
    let items: [Item]
    /// item → rule → the key recorded at the last decision.
    let traceKeys: [String: [String: String]]
    let store: Store
    let options: BuildOptions
    let budget: BudgetLedger
    let inFlight = InFlightActions()
    /// key → the result's `out` digest (the engine's actions have that one output).
    private let index: [String: Digest]
    private let globalLimit: AsyncSemaphore
    private let ruleLimits: [String: AsyncSemaphore]
    private let tally: Mutex<BuildSummary>
    private let journal = Mutex<[DecisionRecord]>([])
    /// Plain hits, written as one list at the end (see `HitList`).
    private let hits = Mutex<[HitList.Entry]>([])
    /// Decisions buffered before one transaction writes them.
    static let journalBatch = 2_000

    /// Rule → the parts of its keys every item shares.
    let keyTemplates: [String: RuleKeyTemplate]

    init(runID: String, rules: [RuleSpec], items: [Item], fileDigests: [String: Digest], index: [String: Digest],
         traceKeys: [String: [String: String]], store: Store, options: BuildOptions, budget: BudgetLedger,
         ruleLimits: [String: AsyncSemaphore]) {
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
    }

    /// The output of a cached result, only when its blob is still in the store.
    func cachedOutput(_ key: String) -> Digest? {
        guard let output = index[key], store.blobs.contains(output) else { return nil }
        return output
    }

    func previousComponents(item: String, rule: String) -> KeyComponents? {
        guard traceKeys[item]?[rule] != nil, let trace = try? store.runLog.trace(item: item, rule: rule) else { return nil }
        return KeyComponents.decode(trace.components)
    }

    /// Runs `body` holding a global job slot and, if the rule has one, a slot of its own limit.
    func limited<T: Sendable>(rule: String, _ body: @Sendable () async throws -> T) async throws -> T {
        if let ruleLimit = ruleLimits[rule] {
            return try await ruleLimit.with { try await self.globalLimit.with(body) }
        }
        return try await globalLimit.with(body)
    }

    /// Counts and records a decision that is not an execution (those commit with their result).
    /// `notApplicable` marks a skip that is no problem (the item lacks an optional kind of input): it is
    /// counted apart from skips caused by failures, budget or interruption.
    func note(item: String, rule: String, key: String?, decision: Decision, reason: String, error: String? = nil,
              hitKey: String? = nil, trace: Trace? = nil, notApplicable: Bool = false, reporter: any BuildReporter) {
        tally.withLock { summary in
            switch decision {
            case .hit: summary.hits += 1
            case .executed: summary.executed += 1
            case .failed:
                summary.failed += 1
                summary.failures.append(FailureSummary(item: item, rule: rule, error: error ?? reason))
            case .skipped:
                if notApplicable { summary.notApplicable += 1 } else { summary.skipped += 1 }
            }
        }
        let event = Event(runID: runID, itemID: item, rule: rule, key: key, decision: decision, reason: reason, error: error)
        let batch: [DecisionRecord] = journal.withLock { pending in
            pending.append(DecisionRecord(event: event, hitKey: hitKey, trace: trace))
            guard pending.count >= Self.journalBatch else { return [] }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if !batch.isEmpty { write(batch) }
        reporter.finished(item: item, rule: rule, decision: decision, reason: reason, error: error)
    }

    /// Counts and records a hit on a result whose trace is already current: the common case of a rebuild,
    /// listed instead of journalled.
    func noteHit(item: String, rule: String, key: String, reporter: any BuildReporter) {
        tally.withLock { $0.hits += 1 }
        hits.withLock { $0.append(HitList.Entry(itemID: item, rule: rule, key: key)) }
        reporter.finished(item: item, rule: rule, decision: .hit, reason: "cached", error: nil)
    }

    func countExecuted(costUSD: Double) {
        tally.withLock { summary in
            summary.executed += 1
            summary.costUSD += costUSD
        }
    }

    /// Full batches are written on a serial queue of their own, so a build's bookkeeping (one event per
    /// action that is not a plain hit) overlaps with evaluating the next actions instead of stalling them, and the
    /// blocking SQLite calls stay off the cooperative thread pool.
    private let journalQueue = DispatchQueue(label: "acervo.journal")
    private let journalError = Mutex<StoreError?>(nil)

    private func write(_ batch: [DecisionRecord]) {
        journalQueue.async { [self] in
            do throws(StoreError) {
                try store.record(batch)
            } catch {
                journalError.withLock { if $0 == nil { $0 = error } }
            }
        }
    }

    /// Writes the decisions still buffered and waits for every batch; reports the first write that failed.
    func flush() throws {
        let pending = journal.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        write(pending)
        let hits = self.hits.withLock { $0 }
        journalQueue.sync {}
        if let error = journalError.withLock({ $0 }) { throw error }
        try store.recordHits(HitList(hits), run: runID)
    }

    func summary() -> BuildSummary {
        var summary = tally.withLock { $0 }
        summary.budgetReached = budget.wasReached
        summary.failures.sort { ($0.item, $0.rule) < ($1.item, $1.rule) }
        return summary
    }
}

/// Actions of this build, by key: when two items need the same action (the same video in two lessons), the
/// second waits for the first instead of paying again. Finished actions keep only their output digest.
actor InFlightActions {
    private var running: [String: (item: String, task: Task<Digest, any Error>)] = [:]
    private var finished: [String: (item: String, output: Digest)] = [:]

    /// The output, and the item whose action produced it when that was another item's.
    func run(key: String, item: String, _ body: @escaping @Sendable () async throws -> Digest) async -> Result<(Digest, String?), any Error> {
        if let done = finished[key] { return .success((done.output, done.item)) }
        if let existing = running[key] {
            do { return .success((try await existing.task.value, existing.item)) } catch { return .failure(error) }
        }
        let task = Task { try await body() }
        running[key] = (item, task)
        let result = await task.result
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
