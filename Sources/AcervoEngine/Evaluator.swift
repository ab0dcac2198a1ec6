import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// The make-style evaluator: for every item, every rule in dependency order — compute the key, reuse the
/// result on a hit, run the processor on a miss, commit the moment it ends — then a snapshot of the documents.
///
/// It knows nothing of Google or OpenAI: processors and the source are handed in, and the run it records
/// into is started and finished by its caller.
public struct Evaluator: Sendable {
    public let store: Store
    public let pipeline: Pipeline
    public let source: any Source
    let processors: [ProcessorReference: any Processor]
    let waves: [[RuleSpec]]

    public init(store: Store, pipeline: Pipeline, source: any Source, processors: [any Processor]) {
        self.store = store
        self.pipeline = pipeline
        self.waves = Self.waves(of: pipeline)
        self.source = source
        self.processors = Dictionary(processors.map { ($0.descriptor.reference, $0) }, uniquingKeysWith: { $1 })
    }

    /// Runs a build into `run` (started by the caller, which also finishes it). Throws only when the build
    /// cannot start or cannot snapshot (rules, source, store); action failures are recorded, counted in the
    /// summary, and never stop the other items.
    public func build(run: Run, options: BuildOptions = BuildOptions(), reporter: any BuildReporter = SilentReporter(),
                      stop: StopFlag = StopFlag()) async throws -> BuildSummary {
        let session = try await prepare(runID: run.id, options: options)
        reporter.started(runID: run.id, rules: pipeline.rules.map(\.name), items: session.items.count)
        // Once the stop flag is raised no action starts; the ones running get the flag's grace to commit, and
        // are then cancelled (recorded as interrupted). The snapshot below is written either way.
        let outcomes = try await stop.bounding { await withTaskGroup(of: ItemOutcome.self) { group in
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
        } }
        try await session.flush()
        reporter.allDecided()
        var summary = session.summary()
        summary.interrupted = stop.isRaised
        let snapshot = try await snapshot(outcomes, session: session)
        summary.snapshot = snapshot.digest.description
        if let note = snapshot.note { summary.warnings.append(ActionWarning(item: "", rule: "", message: note)) }
        summary.warnings += session.sourceNotes.map { ActionWarning(item: "", rule: "detect", message: $0) }
        summary.durationSeconds = Date().timeIntervalSince(run.startedAt)
        return summary
    }

    /// Detect (list items, store their artifacts), digest the rule files, and load the cache index. Every paid
    /// rule must be priced first.
    func prepare(runID: String, options: BuildOptions, dry: Bool = false) async throws -> BuildSession {
        for rule in pipeline.rules where rule.processor.isPaid {
            do { try processors[rule.processor.reference]?.checkPrices(params: rule.params) } catch {
                throw PricingError(rule: rule.name, processor: rule.processor.reference, problem: "\(error)")
            }
        }
        // The cache index and the traces (one read each, tens of thousands of rows) load while the source
        // lists its items.
        async let index = store.actionCache.outputIndex(named: "out")
        async let traceKeys = store.journal.traceKeys()
        let detection = dry ? try await source.survey(store: store) : try await source.detect(store: store)
        var items = detection.items
        var seen = Set<String>()
        for index in items.indices {
            guard seen.insert(items[index].id).inserted else { throw EngineError.duplicateItem(items[index].id) }
            if let problem = items[index].idProblem, items[index].detectionError == nil {
                items[index].artifacts = [:]
                items[index].detectionError = problem + "; it cannot name a file or a URL safely"
            }
            items[index].metadata = Item.flattened(items[index].metadata)
            let metadata = Array(JSONValue.object(items[index].metadata).canonical.utf8)
            items[index].artifacts["metadata"] = try await store.put(bytes: metadata).digest
        }
        var files: [String: Digest] = [:]
        for file in Set(pipeline.rules.flatMap(\.files)) {
            files[file] = try await store.ingest(fileAt: pipeline.directory + "/" + file, kind: .derived).digest
        }

        return BuildSession(
            runID: runID, rules: pipeline.rules, items: items.sorted { $0.id < $1.id }, fileDigests: files, index: try await index,
            traceKeys: try await traceKeys, store: store, options: options,
            budget: BudgetLedger(limitUSD: options.budgetUSD ?? pipeline.budgetUSD),
            ruleLimits: Dictionary(uniqueKeysWithValues: pipeline.rules.compactMap { rule in rule.concurrency.map { (rule.name, AsyncSemaphore($0)) } }),
            sourceNotes: detection.notes)
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
                session.note(item: item.id, rule: "detect", key: nil, decision: .failed, reason: .unreadableItem, error: problem, reporter: reporter)
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
            session.note(item: item.id, rule: rule.name, key: nil, decision: .skipped, reason: .notApplicable(reason), reporter: reporter)
            return .notApplicable
        case (.blocked, .plan):
            return .skipped
        case (.notApplicable, .plan):
            return .notApplicable
        case (.pending(let upstream), .plan(let collector)):
            var reasons: [RunReason] = [.upstreamRuns(rule: upstream)]
            if item.unfetched[upstream] != nil {
                // A file the build will fetch: new to this lesson, or changed since its last run.
                let previous = try? await session.previousComponents(item: item.id, rule: rule.name)
                let slot = rule.inputs.first { $0.value.contains(upstream) }?.key ?? upstream
                reasons = [previous.map { .inputChanged(name: slot, old: $0.inputs[slot], new: nil) } ?? .newItem]
            }
            await collector.add(planned(rule, item: item, session: session, reasons: reasons, inputs: nil,
                                        upstream: pendingUpstream(rule, item: item, states: states), collector: collector))
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
        case blocked(DecisionReason)
        /// The item lacks a required input (a lesson without captions): not a failure, nothing to do.
        case notApplicable(NotApplicableReason)
        /// An upstream rule has not produced its output yet (plans only): the first such rule.
        case pending(String)
    }

    /// Input digests for a rule, or why it cannot run for this item.
    func resolveInputs(_ rule: RuleSpec, item: Item, states: [String: ActionState]) -> Resolution {
        var waitingFor: String?
        for reference in rule.unless {
            switch states[reference] {
            case .done?: return .notApplicable(.stepsAsideFor(reference))
            case .pending?: waitingFor = waitingFor ?? reference
            case nil where item.artifacts[reference] != nil || item.unfetched[reference] != nil: return .notApplicable(.stepsAsideFor(reference))
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
                    case .failed: return .blocked(.dependencyFailed(rule: reference))
                    case .skipped: return .blocked(.dependencySkipped(rule: reference))
                    case .pending:
                        waitingFor = waitingFor ?? reference
                        continue slots
                    }
                } else if let digest = item.artifacts[reference] {
                    inputs[slot.name] = digest
                    continue slots
                } else if item.unfetched[reference] != nil {
                    // Plans only: the source has not fetched it; the build would.
                    waitingFor = waitingFor ?? reference
                    continue slots
                }
            }
            if slot.isRequired {
                return .notApplicable(alternatives.count == 1 && states[alternatives[0]] != nil
                                      ? .upstreamNotApplicable(alternatives[0]) : .missingInput(alternatives))
            }
        }
        return waitingFor.map(Resolution.pending) ?? .ready(inputs)
    }

    /// Hit, run, or refuse one action.
    private func decide(_ rule: RuleSpec, item: Item, components: KeyComponents, key: ActionKey, session: BuildSession,
                        reporter: any BuildReporter, stop: StopFlag) async -> ActionState {
        // Built only when written: the trace changes only when the key does, so a no-op build writes none.
        let trace = { Trace(itemID: item.id, rule: rule.name, key: key, components: components.json, runID: session.runID) }
        let traceIsCurrent = session.traceKeys[item.id]?[rule.name] == key
        if !session.options.refresh.contains(rule.name), let output = await session.cachedOutput(key) {
            if traceIsCurrent {
                session.noteHit(item: item.id, rule: rule.name, key: key, reporter: reporter)
            } else {
                session.note(item: item.id, rule: rule.name, key: key, decision: .hit, reason: .cached, hitKey: key, trace: trace(), reporter: reporter)
            }
            return .done(output)
        }
        if stop.isRaised {
            session.note(item: item.id, rule: rule.name, key: key, decision: .skipped, reason: .interrupted, reporter: reporter)
            return .skipped
        }
        let reason: DecisionReason
        do {
            reason = .changed(try await reasons(rule, item: item, components: components, session: session))
        } catch {
            session.note(item: item.id, rule: rule.name, key: key, decision: .failed, reason: .changed([]), error: "\(error)", reporter: reporter)
            return .failed
        }
        guard let processor = processors[rule.processor.reference] else {
            session.note(item: item.id, rule: rule.name, key: key, decision: .failed, reason: reason,
                         error: "no implementation of \(rule.processor.reference) is registered", reporter: reporter)
            return .failed
        }
        let input = ActionInput(itemID: item.id, rule: rule.name, inputs: components.inputs, params: rule.params, files: components.files, store: store)
        let committedTrace = trace()
        let outcome = await session.inFlight.run(key: key, item: item.id) {
            try await execute(processor, input: input, rule: rule, key: key, reason: reason, trace: committedTrace, session: session, stop: stop)
        }
        switch outcome {
        case .success(let (result, sharedFrom)):
            if let sharedFrom {
                session.note(item: item.id, rule: rule.name, key: key, decision: .hit, reason: .sharedInRun(item: sharedFrom), hitKey: key,
                             trace: committedTrace, reporter: reporter)
            } else {
                reporter.finished(item: item.id, rule: rule.name, decision: .executed, reason: reason, error: nil)
            }
            return .done(result)
        case .failure(let error as BudgetRefusal):
            session.note(item: item.id, rule: rule.name, key: key, decision: .skipped,
                         reason: .budgetReached(estimateUSD: error.estimateUSD, limitUSD: error.limitUSD), reporter: reporter)
            return .skipped
        case .failure(let error) where stop.isRaised:
            // Ended by the stop (cancelled past the grace, a tool killed by a signal) or not started because of
            // it: interrupted, so the next build runs it — never a failure. An action that had started says how
            // it ended; what its paid pieces cost is still recorded.
            let underlying = (error as? PaidFailure)?.underlying ?? error
            let ended: String? = switch underlying {
            case is ActionInterrupted: nil
            case is CancellationError: "ended when the stop's grace (\(String(format: "%g", stop.graceSeconds)) s) ran out"
            default: "ended by the stop: " + ActionFailureText.describe(underlying, rule: rule, item: item)
            }
            session.note(item: item.id, rule: rule.name, key: key, decision: .skipped, reason: .interrupted, error: ended,
                         costUSD: (error as? PaidFailure)?.paidUSD ?? 0, reporter: reporter)
            return .skipped
        case .failure(let error):
            // A failure that had paid for some of its pieces records what they cost.
            session.note(item: item.id, rule: rule.name, key: key, decision: .failed, reason: reason,
                         error: ActionFailureText.describe(error, rule: rule, item: item),
                         costUSD: (error as? PaidFailure)?.paidUSD ?? 0, reporter: reporter)
            return .failed
        }
    }

    /// Why an action runs: a refresh, or every difference from the components recorded last time.
    func reasons(_ rule: RuleSpec, item: Item, components: KeyComponents, session: BuildSession) async throws(StoreError) -> [RunReason] {
        if session.options.refresh.contains(rule.name) { return [.refreshRequested] }
        return RunReason.explain(previous: try await session.previousComponents(item: item.id, rule: rule.name), current: components,
                                 itemIsKnown: session.traceKeys[item.id] != nil)
    }

    /// Runs a processor under the budget, the concurrency limits and the retry policy, then commits.
    private func execute(_ processor: any Processor, input: ActionInput, rule: RuleSpec, key: ActionKey, reason: DecisionReason,
                         trace: Trace, session: BuildSession, stop: StopFlag) async throws -> Digest {
        let estimate = processor.descriptor.isPaid ? try await processor.estimate(input) : .free
        let limitUSD = session.options.budgetUSD ?? pipeline.budgetUSD ?? 0
        let clock = ContinuousClock()
        let ledger = PieceLedger()
        // Timed inside the job slot: waiting for a slot is not the action's duration. The budget is asked in
        // the slot too, so an action that waited knows what the ones before it really cost.
        let (output, paidBefore, elapsed) = try await session.limited(rule: rule.name) {
            // The stop may have come while this action waited for its slot.
            guard !stop.isRaised else { throw ActionInterrupted() }
            // The high end is reserved: a run never starts an action that could take it past the budget. Free
            // actions are never refused (a run past its budget still writes the documents of what it paid for).
            guard !processor.descriptor.isPaid || session.budget.reserve(estimate.highUSD) else {
                throw BudgetRefusal(estimateUSD: estimate.highUSD, limitUSD: limitUSD)
            }
            let start = clock.now
            do {
                let (output, paidBefore) = try await PieceLedger.$current.withValue(ledger) {
                    // What the pieces of failed attempts cost is not in the successful attempt's own cost.
                    try await withRetries(session.options.retry, stop: stop) {
                        let paidBefore = ledger.paidUSD
                        return (try await processor.run(input), paidBefore)
                    }
                }
                session.budget.settle(estimate: estimate.highUSD, actual: output.costUSD + paidBefore)
                return (output, paidBefore, start.duration(to: clock.now))
            } catch {
                // A failure still spent what its paid pieces cost.
                session.budget.settle(estimate: estimate.highUSD, actual: ledger.paidUSD)
                if ledger.paidUSD > 0 { throw PaidFailure(underlying: error, paidUSD: ledger.paidUSD) }
                throw error
            }
        }
        let actualCost = output.costUSD + paidBefore
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let result = ActionResult(
            key: key, processor: rule.processor.id, processorVersion: rule.processor.version, outputs: ["out": output.output],
            provider: output.provider, model: output.model, usage: output.usage, costUSD: actualCost,
            durationSeconds: seconds, runID: session.runID, toolVersion: Store.toolVersion, warnings: output.warnings, metadata: output.metadata)
        let event = Event(runID: session.runID, itemID: input.itemID, rule: rule.name, key: key, decision: .executed,
                          reason: reason, durationSeconds: seconds, costUSD: actualCost,
                          estimate: processor.descriptor.isPaid ? EventEstimate(expectedUSD: estimate.expectedUSD, highUSD: estimate.highUSD) : nil)
        try await store.commit(result, event: event, trace: trace)
        session.countExecuted(costUSD: actualCost, warnings: output.warnings.map { ActionWarning(item: input.itemID, rule: rule.name, message: $0) })
        return output.output
    }

    /// What the snapshot needs of an item's evaluation: its document and its attributes rule.
    struct ItemOutcome: Sendable {
        var item: Item
        var document: ActionState?
        var attributes: ActionState?
    }

    private func itemOutcome(_ item: Item, _ states: [String: ActionState]) -> ItemOutcome {
        ItemOutcome(item: item, document: states[pipeline.documentRule], attributes: pipeline.sink.attributesRule.flatMap { states[$0] })
    }

    /// The manifest of this build's documents; an item whose document failed tonight keeps its previous one.
    /// A previous snapshot that cannot be read is an error: reading it as "none" would silently drop every
    /// lesson that failed tonight from the knowledge base.
    private func snapshot(_ outcomes: [ItemOutcome], session: BuildSession) async throws -> (digest: Digest, note: String?) {
        // Read only when an item needs its previous document: decoding a large manifest is a noticeable part
        // of a no-op build.
        var previousEntries: [String: SnapshotEntry] = [:]
        var note: String?
        if !outcomes.allSatisfy({ if case .done = $0.document { true } else { false } }),
           let previous = try await SnapshotManifest.previous(in: store) {
            previousEntries = Dictionary(previous.manifest.entries.map { ($0.itemID, $0) }, uniquingKeysWith: { $1 })
            note = previous.note
        }
        var entries: [SnapshotEntry] = []
        for outcome in outcomes {
            let item = outcome.item
            if case .done(let document) = outcome.document {
                var attributes: [String: String] = [:]
                if case .done(let digest) = outcome.attributes {
                    let extra = try await store.decode(JSONValue.self, digest, what: "attributes of `\(item.id)`")
                    for (name, value) in extra.object ?? [:] { attributes[name] = value.string ?? value.canonical }
                }
                // The item's own metadata wins: a level written by hand overrides a classifier's guess.
                attributes.merge(item.attributes) { _, metadata in metadata }
                entries.append(SnapshotEntry(itemID: item.id, title: item.title, document: document, attributes: attributes))
            } else if var kept = previousEntries[item.id] {
                kept.kept = true
                entries.append(kept)
            }
        }
        return (try await SnapshotManifest(entries: entries).save(in: store, runID: session.runID), note)
    }
}

/// Why a paid action was not started.
struct BudgetRefusal: Error {
    var estimateUSD: Double
    var limitUSD: Double
}

/// A paid rule whose actions cannot be priced: nothing runs, nothing is planned at $0.
public struct PricingError: Error, CustomStringConvertible, Equatable {
    public var rule: String
    public var processor: ProcessorReference
    public var problem: String

    public var description: String { "rule `\(rule)` (\(processor)) cannot be priced: \(problem)" }
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case duplicateItem(String)

    public var description: String {
        switch self {
        case .duplicateItem(let id): return "the source lists item `\(id)` twice; item ids must be unique"
        }
    }
}

/// Retries retryable `ProcessorFailure`s with backoff; anything else ends the action at once, and so does a
/// raised stop flag (no new attempt starts once the build is stopping).
func withRetries<T: Sendable>(_ policy: RetryPolicy, stop: StopFlag = StopFlag(), _ body: @Sendable () async throws -> T) async throws -> T {
    var attempt = 1
    while true {
        do {
            return try await body()
        } catch let failure as ProcessorFailure where failure.isRetryable && attempt < policy.maxAttempts && !stop.isRaised {
            try await policy.sleep(policy.delay(afterAttempt: attempt, retryAfterSeconds: failure.retryAfterSeconds))
            guard !stop.isRaised else { throw ActionInterrupted() }
            attempt += 1
        }
    }
}
