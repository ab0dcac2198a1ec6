import AcervoRules
import AcervoStore
import Foundation

/// An action a build would run, and why.
public struct PlannedAction: Sendable, Codable, Equatable {
    public var item: String
    public var rule: String
    public var processor: String
    public var reasons: [RunReason]
    /// The expected figure of `estimate` (kept for scripts that read it); `nil` when nothing is known to go by.
    public private(set) var estimatedCostUSD: Double?
    /// The range, and what it is reckoned from: the action's inputs, the last run's inputs, or the lesson's
    /// source (before anything ran).
    public var estimate: CostEstimate? {
        didSet { estimatedCostUSD = estimate?.expectedUSD }
    }

    init(item: String, rule: String, processor: String, reasons: [RunReason], estimate: CostEstimate?) {
        self.item = item
        self.rule = rule
        self.processor = processor
        self.reasons = reasons
        self.estimate = estimate
        estimatedCostUSD = estimate?.expectedUSD
    }
}

/// Per-rule totals of a plan.
public struct RulePlan: Sendable, Codable, Equatable {
    public var rule: String
    public var toRun: Int
    public var hits: Int
    public var notApplicable: Int
    public var estimatedCostUSD: Double
    public var estimatedLowUSD: Double
    public var estimatedHighUSD: Double
}

/// `acervo plan`: what a build would do, without running or paying for anything.
public struct BuildPlan: Sendable, Codable, Equatable {
    public var items: Int
    public var actions: [PlannedAction]
    public var rules: [RulePlan]
    public var hits: Int
    public var estimatedCostUSD: Double
    public var estimatedLowUSD: Double
    public var estimatedHighUSD: Double
    /// Actions whose cost nothing known could estimate (a paid rule after a rule that has never run, with a
    /// source that says nothing of it).
    public var unestimated: Int
    /// Per processor, how the estimates of recent builds compared with what was recorded.
    public var accuracy: [EstimateAccuracy]
}

/// Gathers planned actions from the concurrent item evaluations.
actor PlanCollector {
    private(set) var actions: [PlannedAction] = []
    private(set) var hits: [String: Int] = [:]
    /// The first error that makes the plan impossible.
    private(set) var problem: (any Error)?

    func add(_ action: PlannedAction) { actions.append(action) }
    func hit(rule: String) { hits[rule, default: 0] += 1 }
    func fail(_ error: any Error) { if problem == nil { problem = error } }
}

extension Evaluator {
    /// A dry run: every action that would run with its reasons and estimated cost, and totals per rule.
    /// Detection still runs (it stores new source files, through the stat cache); no processor runs.
    /// A paid rule that cannot be priced (no price in prices.yaml) makes the plan fail, naming the rule and
    /// the processor: a plan that shows $0 for it would be a lie.
    public func plan(options: BuildOptions = BuildOptions()) async throws -> BuildPlan {
        let session = try await prepare(runID: "plan", options: options, dry: true)
        let collector = PlanCollector()
        let outcomes = await withTaskGroup(of: [String: ActionState].self) { group in
            for item in session.items { group.addTask { await evaluate(item, session: session, mode: .plan(collector)) } }
            var all: [[String: ActionState]] = []
            for await states in group { all.append(states) }
            return all
        }
        if let problem = await collector.problem { throw problem }
        let accuracy = try await store.estimateAccuracy(recentRuns: 10)
        let actions = calibrated(await collector.actions, by: accuracy).sorted { ($0.item, $0.rule) < ($1.item, $1.rule) }
        let hits = await collector.hits
        let rules = pipeline.rules.map { rule in
            let planned = actions.filter { $0.rule == rule.name }
            return RulePlan(
                rule: rule.name, toRun: planned.count, hits: hits[rule.name] ?? 0,
                notApplicable: outcomes.filter { $0[rule.name] == .notApplicable }.count,
                estimatedCostUSD: planned.reduce(0) { $0 + ($1.estimate?.expectedUSD ?? 0) },
                estimatedLowUSD: planned.reduce(0) { $0 + ($1.estimate?.lowUSD ?? 0) },
                estimatedHighUSD: planned.reduce(0) { $0 + ($1.estimate?.highUSD ?? 0) })
        }
        return BuildPlan(items: session.items.count, actions: actions, rules: rules, hits: hits.values.reduce(0, +),
                         estimatedCostUSD: rules.reduce(0) { $0 + $1.estimatedCostUSD },
                         estimatedLowUSD: rules.reduce(0) { $0 + $1.estimatedLowUSD },
                         estimatedHighUSD: rules.reduce(0) { $0 + $1.estimatedHighUSD },
                         unestimated: actions.filter { $0.estimate == nil }.count,
                         accuracy: accuracy)
    }

    /// Estimates corrected by what recent builds recorded against theirs, per processor (at least three actions,
    /// a factor between ¼ and 4): a model that answers shorter than assumed is estimated lower from then on. The
    /// estimates kept with events stay uncorrected, so the factor measures the estimator, not itself.
    func calibrated(_ actions: [PlannedAction], by accuracy: [EstimateAccuracy]) -> [PlannedAction] {
        var factors: [String: Double] = [:]
        for row in accuracy where row.actions >= 3 {
            guard let ratio = row.ratio, ratio.isFinite, ratio > 0, abs(ratio - 1) >= 0.005 else { continue }
            factors[row.processor] = min(4, max(0.25, ratio))
        }
        guard !factors.isEmpty else { return actions }
        let processorOf = Dictionary(uniqueKeysWithValues: pipeline.rules.map { ($0.name, $0.processor.id) })
        return actions.map { action in
            guard let estimate = action.estimate, estimate != .free, let id = processorOf[action.rule], let factor = factors[id] else { return action }
            var corrected = action
            let expected = estimate.expectedUSD * factor
            corrected.estimate = CostEstimate(lowUSD: min(estimate.lowUSD, expected), expectedUSD: expected, highUSD: max(estimate.highUSD, expected),
                                              basis: estimate.basis + String(format: "; × %.2f, as recent builds recorded against their estimates", factor))
            return corrected
        }
    }

    func planDecision(_ rule: RuleSpec, item: Item, components: KeyComponents, key: ActionKey, session: BuildSession,
                      collector: PlanCollector) async -> ActionState {
        if !session.options.refresh.contains(rule.name), let output = await session.cachedOutput(key) {
            await collector.hit(rule: rule.name)
            return .done(output)
        }
        do {
            let reasons = try await reasons(rule, item: item, components: components, session: session)
            await collector.add(planned(rule, item: item, session: session, reasons: reasons, inputs: components.inputs, upstream: [:],
                                        collector: collector))
        } catch {
            await collector.fail(error)
        }
        return .pending
    }

    /// A planned action with its estimate, from the best that is known: its own inputs; else the inputs of its
    /// last run (an edit upstream: last night's analysis stands in for tonight's); else the lesson's source (a
    /// fresh store). An estimate that fails for want of a price is the plan's error; one that fails on its
    /// input (an unreadable video) is unknown (`nil`): the build would fail that action, not the plan.
    func planned(_ rule: RuleSpec, item: Item, session: BuildSession, reasons: [RunReason], inputs: [String: Digest]?,
                 upstream: [String: RuleSpec], collector: PlanCollector) async -> PlannedAction {
        var estimate: CostEstimate? = .free
        if rule.processor.isPaid, let processor = processors[rule.processor.reference] {
            estimate = nil
            let files = session.keyTemplates[rule.name]?.files ?? [:]
            do {
                var candidates: [(inputs: [String: Digest], note: String?)] = []
                if let inputs { candidates.append((inputs, nil)) } else if let previous = try await session.previousComponents(item: item.id, rule: rule.name)?.inputs {
                    candidates.append((previous, "as its last run's inputs"))
                }
                for candidate in candidates where estimate == nil {
                    do {
                        let input = ActionInput(itemID: item.id, rule: rule.name, inputs: candidate.inputs, params: rule.params, files: files, store: store)
                        estimate = try await processor.estimate(input)
                        if let note = candidate.note { estimate?.basis += " (\(note))" }
                    } catch let error as RulesError {
                        throw error
                    } catch {
                        continue  // last run's inputs may have been collected: the source still speaks
                    }
                }
                if estimate == nil, inputs == nil {
                    estimate = try await processor.estimate(fromSource: SourceFacts(
                        itemID: item.id, rule: rule.name, params: rule.params, files: files, artifacts: item.artifacts,
                        upstream: upstream, unfetched: item.unfetched, store: store))
                }
            } catch let error as RulesError {
                await collector.fail(PricingError(rule: rule.name, processor: rule.processor.reference, problem: "\(error)"))
                estimate = nil
            } catch {
                estimate = nil
            }
        }
        return PlannedAction(item: item.id, rule: rule.name, processor: rule.processor.versioned, reasons: reasons, estimate: estimate)
    }

    /// For each input slot of `rule` still waiting on another rule, that rule: what a source estimate needs to
    /// know of the inputs that do not exist yet.
    func pendingUpstream(_ rule: RuleSpec, item: Item, states: [String: ActionState]) -> [String: RuleSpec] {
        var upstream: [String: RuleSpec] = [:]
        for slot in rule.processor.inputs {
            for reference in rule.inputs[slot.name] ?? [] {
                guard let state = states[reference] else {
                    if item.artifacts[reference] != nil { break } else { continue }
                }
                if state == .pending, let spec = pipeline.rules.first(where: { $0.name == reference }) { upstream[slot.name] = spec }
                if state != .notApplicable { break }
            }
        }
        return upstream
    }
}
