import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// The make-style evaluator: for every item, every rule in dependency order — compute the key, reuse the
/// result on a hit, run the processor on a miss, commit the moment it ends — then a snapshot of the documents.
///
/// It knows nothing of Google or OpenAI: processors and the source are handed in.
public struct Evaluator: Sendable {
    public let store: Store
    public let pipeline: Pipeline
    public let source: any Source
    let processors: [String: any Processor]
    let waves: [[RuleSpec]]

    public init(store: Store, pipeline: Pipeline, source: any Source, processors: [any Processor]) {
        self.store = store
        self.pipeline = pipeline
        self.waves = Self.waves(of: pipeline)
        self.source = source
        self.processors = Dictionary(processors.map { ("\($0.descriptor.id)@\($0.descriptor.major)", $0) }, uniquingKeysWith: { $1 })
    }

    /// Runs a build. Throws only when the build cannot start (rules, source, store); action failures are
    /// recorded, counted in the summary, and never stop the other items.
    public func build(options: BuildOptions = BuildOptions(), reporter: any BuildReporter = SilentReporter(),
                      stop: StopFlag = StopFlag()) async throws -> BuildSummary {
        let started = Date()
        let run = try store.runLog.start(command: options.command, toolVersion: Store.toolVersion, at: started)
        do {
            let session = try await prepare(runID: run.id, options: options)
            reporter.started(runID: run.id, rules: pipeline.rules.map(\.name), items: session.items.count)
            let outcomes = await withTaskGroup(of: ItemOutcome.self) { group in
                // A window of items in flight, not all of them: enough to keep every job busy while others
                // wait on hits, without holding ten thousand tasks' state at once.
                var pending = session.items.makeIterator()
                let window = max(64, options.jobs * 16)
                for _ in 0..<window {
                    guard let item = pending.next() else { break }
                    group.addTask { itemOutcome(item, await evaluate(item, session: session, mode: .build(reporter, stop))) }
                }
                var collected: [ItemOutcome] = []
                for await outcome in group {
                    collected.append(outcome)
                    if let item = pending.next() {
                        group.addTask { itemOutcome(item, await evaluate(item, session: session, mode: .build(reporter, stop))) }
                    }
                }
                return collected
            }
            try session.flush()
            reporter.allDecided()
            var summary = session.summary()
            summary.interrupted = stop.isRaised
            summary.snapshot = try snapshot(outcomes, session: session).description
            summary.durationSeconds = Date().timeIntervalSince(started)
            try store.runLog.finish(run.id, status: Self.status(summary), summary: String(decoding: try JSONEncoder.canonical.encode(summary), as: UTF8.self))
            return summary
        } catch {
            try? store.runLog.finish(run.id, status: "error", summary: "{\"error\":\(JSONValue.string("\(error)").canonical)}")
            throw error
        }
    }

    private static func status(_ summary: BuildSummary) -> String {
        if summary.budgetReached { return "budget" }
        if summary.interrupted { return "interrupted" }
        return summary.failed > 0 ? "failed" : "ok"
    }

    /// Detect (list items, store their artifacts), digest the rule files, and load the cache index.
    func prepare(runID: String, options: BuildOptions) async throws -> BuildSession {
        // The cache index and the traces (one query each, tens of thousands of rows) load on threads of
        // their own while the source lists its items.
        async let index = offPool { [store] in try store.actionCache.outputIndex(named: "out") }
        async let traceKeys = offPool { [store] in try store.runLog.traceKeys() }
        var items = try await source.items(store: store)
        var seen = Set<String>()
        for index in items.indices {
            guard seen.insert(items[index].id).inserted else { throw EngineError.duplicateItem(items[index].id) }
            let metadata = Array(JSONValue.object(items[index].metadata).canonical.utf8)
            items[index].artifacts["metadata"] = try store.put(bytes: metadata).digest
        }
        var files: [String: Digest] = [:]
        for file in Set(pipeline.rules.flatMap(\.files)) {
            files[file] = try store.ingest(fileAt: pipeline.directory + "/" + file, kind: .derived).digest
        }

        return BuildSession(
            runID: runID, rules: pipeline.rules, items: items.sorted { $0.id < $1.id }, fileDigests: files, index: try await index,
            traceKeys: try await traceKeys, store: store, options: options,
            budget: BudgetLedger(limitUSD: options.budgetUSD ?? pipeline.budgetUSD),
            ruleLimits: Dictionary(uniqueKeysWithValues: pipeline.rules.compactMap { rule in rule.concurrency.map { (rule.name, AsyncSemaphore($0)) } }))
    }

    /// How `evaluate` treats an action whose inputs are known: run it, or (in a plan) only say why it would.
    enum Mode {
        case build(any BuildReporter, StopFlag)
        case plan(PlanCollector)
    }

    /// Every rule of one item, in dependency order.
    func evaluate(_ item: Item, session: BuildSession, mode: Mode) async -> [String: ActionState] {
        var states: [String: ActionState] = [:]
        if let problem = item.detectionError {
            if case .build(let reporter, _) = mode {
                session.note(item: item.id, rule: "detect", key: nil, decision: .failed, reason: "the source could not read this item",
                             error: problem, reporter: reporter)
            }
            return states
        }
        // Rules in waves: every rule of a wave reads only earlier waves, so a wave's actions run at once
        // (within the job limits) — a lesson's audio, keyframes and captions do not wait for one another.
        for wave in waves {
            if wave.count == 1, let rule = wave.first {  // no group for a lone rule: a no-op build stays cheap
                states[rule.name] = await evaluate(rule, item: item, states: states, session: session, mode: mode)
                continue
            }
            let decided = await withTaskGroup(of: (String, ActionState).self) { group in
                for rule in wave {
                    let known = states
                    group.addTask { (rule.name, await evaluate(rule, item: item, states: known, session: session, mode: mode)) }
                }
                var decided: [(String, ActionState)] = []
                for await result in group { decided.append(result) }
                return decided
            }
            for (rule, state) in decided { states[rule] = state }
        }
        return states
    }

    /// The pipeline's rules grouped by depth: wave 0 reads only source artifacts, wave n reads waves < n.
    static func waves(of pipeline: Pipeline) -> [[RuleSpec]] {
        let names = Set(pipeline.rules.map(\.name))
        var depth: [String: Int] = [:]
        for rule in pipeline.rules {  // already in dependency order
            depth[rule.name] = (rule.upstreamRules(in: names).compactMap { depth[$0] }.max() ?? -1) + 1
        }
        let count = (depth.values.max() ?? -1) + 1
        return (0..<count).map { level in pipeline.rules.filter { depth[$0.name] == level } }
    }

    /// One rule of one item, given the states of the rules before it.
    private func evaluate(_ rule: RuleSpec, item: Item, states: [String: ActionState], session: BuildSession, mode: Mode) async -> ActionState {
        switch (resolveInputs(rule, item: item, states: states), mode) {
        case (.blocked(let reason), .build(let reporter, _)):
            session.note(item: item.id, rule: rule.name, key: nil, decision: .skipped, reason: reason, reporter: reporter)
            return .skipped
        case (.notApplicable(let reason), .build(let reporter, _)):
            session.note(item: item.id, rule: rule.name, key: nil, decision: .skipped, reason: reason, notApplicable: true, reporter: reporter)
            return .notApplicable
        case (.blocked, .plan):
            return .skipped
        case (.notApplicable, .plan):
            return .notApplicable
        case (.pending(let upstream), .plan(let collector)):
            await collector.add(planned(rule, item: item, session: session, reasons: [.upstreamRuns(rule: upstream)], inputs: nil))
            return .pending
        case (.pending, .build):
            return .skipped  // unreachable: a build decides every upstream action before its dependents
        case (.ready(let inputs), _):
            let (components, key) = session.keyTemplates[rule.name]!.action(inputs: inputs)
            switch mode {
            case .build(let reporter, let stop):
                return await decide(rule, item: item, components: components, key: key, session: session, reporter: reporter, stop: stop)
            case .plan(let collector):
                return await planDecision(rule, item: item, components: components, key: key, session: session, collector: collector)
            }
        }
    }

    enum Resolution {
        case ready([String: Digest])
        /// Skipped because a dependency failed or was skipped, with the reason.
        case blocked(String)
        /// The item lacks a required input (a lesson without captions): not a failure, nothing to do.
        case notApplicable(String)
        /// An upstream rule has not produced its output yet (plans only): the first such rule.
        case pending(String)
    }

    /// Input digests for a rule, or why it cannot run for this item.
    func resolveInputs(_ rule: RuleSpec, item: Item, states: [String: ActionState]) -> Resolution {
        var waitingFor: String?
        for reference in rule.unless {
            switch states[reference] {
            case .done?: return .notApplicable("not applicable: the item has `\(reference)`")
            case .pending?: waitingFor = waitingFor ?? reference
            case nil where item.artifacts[reference] != nil: return .notApplicable("not applicable: the item has `\(reference)`")
            default: continue  // absent, not applicable, failed or skipped: this rule is the fallback
            }
        }
        var inputs: [String: Digest] = [:]
        slots: for slot in rule.processor.inputs {
            guard let alternatives = rule.inputs[slot.name] else { continue }
            // The first alternative present wins; one still undecided, failed or skipped stops the search
            // (using a later one would make the choice depend on timing or on a failure).
            for reference in alternatives {
                if let upstream = states[reference] {
                    switch upstream {
                    case .done(let digest):
                        inputs[slot.name] = digest
                        continue slots
                    case .notApplicable: continue
                    case .failed: return .blocked("dependency `\(reference)` failed")
                    case .skipped: return .blocked("dependency `\(reference)` was skipped")
                    case .pending:
                        waitingFor = waitingFor ?? reference
                        continue slots
                    }
                } else if let digest = item.artifacts[reference] {
                    inputs[slot.name] = digest
                    continue slots
                }
            }
            if slot.isRequired {
                let names = alternatives.map { "`\($0)`" }.joined(separator: " or ")
                return .notApplicable(alternatives.count == 1 && states[alternatives[0]] != nil
                                      ? "not applicable: `\(alternatives[0])` does not apply to this item"
                                      : "not applicable: the item has no \(names)")
            }
        }
        return waitingFor.map(Resolution.pending) ?? .ready(inputs)
    }

    /// Hit, run, or refuse one action.
    private func decide(_ rule: RuleSpec, item: Item, components: KeyComponents, key: String, session: BuildSession,
                        reporter: any BuildReporter, stop: StopFlag) async -> ActionState {
        // Built only when written: the trace changes only when the key does, so a no-op build writes none.
        let trace = { Trace(itemID: item.id, rule: rule.name, key: key, components: components.json, runID: session.runID) }
        let traceIsCurrent = session.traceKeys[item.id]?[rule.name] == key
        if !session.options.refresh.contains(rule.name), let output = session.cachedOutput(key) {
            if traceIsCurrent {
                session.noteHit(item: item.id, rule: rule.name, key: key, reporter: reporter)
            } else {
                session.note(item: item.id, rule: rule.name, key: key, decision: .hit, reason: "cached", hitKey: key, trace: trace(), reporter: reporter)
            }
            return .done(output)
        }
        if stop.isRaised {
            session.note(item: item.id, rule: rule.name, key: key, decision: .skipped, reason: "interrupted", reporter: reporter)
            return .skipped
        }
        let reasons: [RunReason] = session.options.refresh.contains(rule.name)
            ? [.refreshRequested]
            : RunReason.explain(previous: session.previousComponents(item: item.id, rule: rule.name), current: components,
                                itemIsKnown: session.traceKeys[item.id] != nil)
        let reason = reasons.map(\.description).joined(separator: "; ")
        guard let processor = processors["\(rule.processor.id)@\(rule.processor.major)"] else {
            session.note(item: item.id, rule: rule.name, key: key, decision: .failed, reason: reason,
                         error: "no implementation of \(rule.processor.id)@\(rule.processor.major) is registered", reporter: reporter)
            return .failed
        }
        let input = ActionInput(itemID: item.id, rule: rule.name, inputs: components.inputs, params: rule.params, files: components.files, store: store)
        let committedTrace = trace()
        let outcome = await session.inFlight.run(key: key, item: item.id) {
            try await execute(processor, input: input, rule: rule, key: key, reason: reason, trace: committedTrace, session: session)
        }
        switch outcome {
        case .success(let (result, sharedFrom)):
            if let sharedFrom {
                session.note(item: item.id, rule: rule.name, key: key, decision: .hit,
                             reason: "same action ran for `\(sharedFrom)` in this run", hitKey: key, trace: committedTrace, reporter: reporter)
            } else {
                reporter.finished(item: item.id, rule: rule.name, decision: .executed, reason: reason, error: nil)
            }
            return .done(result)
        case .failure(let error as BudgetRefusal):
            session.note(item: item.id, rule: rule.name, key: key, decision: .skipped, reason: error.description, reporter: reporter)
            return .skipped
        case .failure(let error):
            session.note(item: item.id, rule: rule.name, key: key, decision: .failed, reason: reason, error: "\(error)", reporter: reporter)
            return .failed
        }
    }

    /// Runs a processor under the budget, the concurrency limits and the retry policy, then commits.
    private func execute(_ processor: any Processor, input: ActionInput, rule: RuleSpec, key: String, reason: String,
                         trace: Trace, session: BuildSession) async throws -> Digest {
        let estimate = processor.descriptor.isPaid ? try await processor.estimateCostUSD(input) : 0
        guard session.budget.reserve(estimate) else {
            throw BudgetRefusal(estimateUSD: estimate, limitUSD: session.options.budgetUSD ?? pipeline.budgetUSD ?? 0)
        }
        let clock = ContinuousClock()
        var actualCost = 0.0
        defer { session.budget.settle(estimate: estimate, actual: actualCost) }
        // Timed inside the job slot: waiting for a slot is not the action's duration.
        let (output, elapsed) = try await session.limited(rule: rule.name) {
            let start = clock.now
            let output = try await withRetries(session.options.retry) { try await processor.run(input) }
            return (output, start.duration(to: clock.now))
        }
        actualCost = output.costUSD
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let result = ActionResult(
            key: key, processor: rule.processor.id, processorVersion: rule.processor.version, outputs: ["out": output.output],
            provider: output.provider, model: output.model, usage: output.usage, costUSD: output.costUSD,
            durationSeconds: seconds, runID: session.runID, toolVersion: Store.toolVersion)
        let event = Event(runID: session.runID, itemID: input.itemID, rule: rule.name, key: key, decision: .executed,
                          reason: reason, durationSeconds: seconds, costUSD: output.costUSD)
        try store.commit(result, event: event, trace: trace)
        session.countExecuted(costUSD: output.costUSD)
        return output.output
    }

    /// The manifest of this build's documents; an item whose document failed tonight keeps its previous one.
    /// What the snapshot needs of an item's evaluation: its document and its attributes rule.
    struct ItemOutcome: Sendable {
        var item: Item
        var document: ActionState?
        var attributes: ActionState?
    }

    private func itemOutcome(_ item: Item, _ states: [String: ActionState]) -> ItemOutcome {
        ItemOutcome(item: item, document: states[pipeline.documentRule], attributes: pipeline.sink["attributes"]?.string.flatMap { states[$0] })
    }

    private func snapshot(_ outcomes: [ItemOutcome], session: BuildSession) throws -> Digest {
        // Read only when an item needs its previous document: decoding a large manifest is a noticeable part
        // of a no-op build.
        let previousEntries: [String: SnapshotEntry] = outcomes.allSatisfy({ if case .done = $0.document { true } else { false } })
            ? [:]
            : Dictionary(((try? SnapshotManifest.latest(in: store))??.entries ?? []).map { ($0.itemID, $0) }, uniquingKeysWith: { $1 })
        var entries: [SnapshotEntry] = []
        for outcome in outcomes {
            let item = outcome.item
            if case .done(let document) = outcome.document {
                var attributes: [String: String] = [:]
                if case .done(let digest) = outcome.attributes,
                   let extra = try? JSONDecoder().decode(JSONValue.self, from: Data(store.blobs.bytes(of: digest))).object {
                    for (name, value) in extra { attributes[name] = value.string ?? value.canonical }
                }
                // The item's own metadata wins: a level written by hand overrides a classifier's guess.
                attributes.merge(item.attributes) { _, metadata in metadata }
                entries.append(SnapshotEntry(itemID: item.id, title: item.title, document: document, attributes: attributes))
            } else if var kept = previousEntries[item.id] {
                kept.kept = true
                entries.append(kept)
            }
        }
        return try SnapshotManifest(entries: entries).save(in: store, runID: session.runID)
    }
}

/// Why a paid action was not started.
struct BudgetRefusal: Error, CustomStringConvertible {
    var estimateUSD: Double
    var limitUSD: Double
    var description: String {
        String(format: "budget: estimated $%.4f would exceed the budget of $%.2f", estimateUSD, limitUSD)
    }
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case duplicateItem(String)

    public var description: String {
        switch self {
        case .duplicateItem(let id): return "the source lists item `\(id)` twice; item ids must be unique"
        }
    }
}

/// Retries retryable `ProcessorFailure`s with backoff; anything else ends the action at once.
func withRetries<T: Sendable>(_ policy: RetryPolicy, _ body: @Sendable () async throws -> T) async throws -> T {
    var attempt = 1
    while true {
        do {
            return try await body()
        } catch let failure as ProcessorFailure where failure.isRetryable && attempt < policy.maxAttempts {
            try await policy.sleep(policy.delay(afterAttempt: attempt, retryAfterSeconds: failure.retryAfterSeconds))
            attempt += 1
        }
    }
}
