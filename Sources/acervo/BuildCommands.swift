import AcervoConnectors
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoStore
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Detect items, run what changed, snapshot the knowledge base.",
        discussion: """
            Exit codes: 0 success, 1 finished with failed actions (or interrupted), 2 usage or configuration \
            error, 3 budget reached, 4 store locked by another build.
            Ctrl-C or SIGTERM: no new action starts, running ones finish and are committed; a second one cancels them.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var pipelineOptions: PipelineOptions

    @Option(name: .long, help: "Processor runs at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Stop starting paid actions that would take the run past this many dollars.")
    var budget: Double?

    @Option(name: .long, help: "Recompute this rule even where a result exists (repeatable).")
    var refresh: [String] = []

    @Flag(name: .long, help: "Wait for a running build instead of exiting with code 4.")
    var wait = false

    @Flag(name: .long, help: "Print nothing but errors (for cron).")
    var quiet = false

    @Flag(name: .long, help: "Do not sync the snapshot to the OpenAI vector store even when the sink is `openai`.")
    var noSync = false

    func run() async throws {
        var syncSettings: OpenAISinkSettings?
        var store: Store?
        let summary = try await reportingSetupErrors { () async throws -> BuildSummary in
            guard jobs >= 1 else { throw StoreError.invalidArgument("--jobs must be at least 1") }
            let pipeline = try pipelineOptions.load()
            for rule in refresh where pipeline.rule(named: rule) == nil {
                throw StoreError.invalidArgument("--refresh \(rule): no such rule (rules: \(pipeline.rules.map(\.name).joined(separator: ", ")))")
            }
            syncSettings = noSync ? nil : try OpenAISinkSettings(sink: pipeline.sink)
            let opened = try options.open()
            store = opened
            let lock = try StoreLock.acquire(storeRoot: opened.root, purpose: "acervo build", wait: wait)
            defer { _ = lock }
            let reporter: any BuildReporter
            if quiet || options.json {
                reporter = SilentReporter()
            } else if isatty(2) == 1 {
                reporter = TerminalProgress()
            } else {
                reporter = PlainProgress()
            }
            let stop = StopFlag()
            let buildOptions = BuildOptions(jobs: jobs, budgetUSD: budget, refresh: Set(refresh), command: "build")
            return try await pipelineOptions.withEvaluator(store: opened, pipeline: pipeline, quiet: quiet || options.json) { evaluator in
                let task = Task { try await evaluator.build(options: buildOptions, reporter: reporter, stop: stop) }
                let watcher = SignalWatcher(onFirst: {
                    stop.raise()
                    printError("acervo: stopping — no new actions start; running ones finish (again to cancel them)")
                }, onSecond: { task.cancel() })
                defer { watcher.cancel() }
                return try await task.value
            }
        }
        var syncReport: SyncReport?
        if let syncSettings, let store, let snapshot = summary.snapshot, !summary.interrupted {
            syncReport = try await reportingSetupErrors {
                let lock = try StoreLock.acquire(storeRoot: store.root, purpose: "acervo build (sync)", wait: wait)
                defer { _ = lock }
                return try await syncSnapshot(store: store, snapshot: try Digest(parsing: snapshot), settings: syncSettings,
                                              vectorStore: nil, command: "build sync", quiet: quiet || options.json)
            }
        }
        if options.json {
            printJSON(BuildOutput(summary: summary, sync: syncReport))
        } else if !quiet || summary.exitCode != 0 || syncReport?.isComplete == false {
            printSummary(summary)
            if let syncReport { printSyncReport(syncReport) }
        }
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
        if syncReport?.isComplete == false { throw ExitCode(Exit.failedActions) }
    }

    private func printSummary(_ summary: BuildSummary) {
        let total = summary.executed + summary.hits + summary.failed + summary.skipped
        print("run \(summary.run): \(total) actions — executed \(summary.executed), hits \(summary.hits), "
            + "failed \(summary.failed), skipped \(summary.skipped) — \(formatUSD(summary.costUSD)) — "
            + String(format: "%.1f s", summary.durationSeconds))
        for failure in summary.failures { print("  failed \(failure.item) \(failure.rule): \(failure.error)") }
        if summary.budgetReached { print("  budget reached: paid actions past it were not started (exit 3)") }
        if summary.interrupted { print("  interrupted: actions not started are recorded as skipped") }
        if let snapshot = summary.snapshot {
            print("knowledge base: \(snapshot) (kb/latest) in \(options.store)/")
            print("  list it:   acervo kb show")
            if let title = try? KnowledgeBase(store: Store.open(at: options.store)).manifest(snapshot).entries.first?.title {
                print("  search it: acervo search \"\(title)\"")
            }
        }
    }
}

/// SIGINT / SIGTERM handling: the first raises the stop flag, the second cancels running actions.
final class SignalWatcher: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "acervo.signals")
    private var count = 0

    init(onFirst: @escaping @Sendable () -> Void, onSecond: @escaping @Sendable () -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [unowned self] in
                count += 1
                if count == 1 { onFirst() } else { onSecond() }
            }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        sources.forEach { $0.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Say what a build would run, why, and what it would cost — without running it.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var pipelineOptions: PipelineOptions

    @Option(name: .long, help: "Plan as if this rule were refreshed (repeatable).")
    var refresh: [String] = []

    func run() async throws {
        let plan = try await reportingSetupErrors {
            let pipeline = try pipelineOptions.load()
            let store = try options.open()
            return try await pipelineOptions.withEvaluator(store: store, pipeline: pipeline, quiet: true) { evaluator in
                try await evaluator.plan(options: BuildOptions(refresh: Set(refresh)))
            }
        }
        if options.json { printJSON(plan); return }
        for action in plan.actions {
            let cost = action.estimatedCostUSD.map(formatUSD) ?? "$?"
            print("\(action.item)  \(action.rule)  [\(action.processor)]  \(cost)")
            for reason in action.reasons { print("    \(reason)") }
        }
        print("\(plan.actions.count) actions to run, \(plan.hits) cached, estimated \(formatUSD(plan.estimatedCostUSD)) over \(plan.items) items")
        for rule in plan.rules {
            print("  \(rule.rule.padding(toLength: 14, withPad: " ", startingAt: 0)) run \(rule.toRun)  cached \(rule.hits)  "
                + "n/a \(rule.notApplicable)  \(formatUSD(rule.estimatedCostUSD))")
        }
    }
}

struct WhyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "why", abstract: "Explain the last decision for each rule of an item.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The item id (e.g. 01-fundamentos/02-variables).")
    var item: String

    @Argument(help: "Only this rule.")
    var rule: String?

    func run() async throws {
        let explanations = try await reportingErrors { try options.open().explain(item: item, rule: rule) }
        if options.json { printJSON(explanations); return }
        guard !explanations.isEmpty else {
            printError("acervo: no decisions recorded for `\(item)`\(rule.map { " rule `\($0)`" } ?? ""); see `acervo kb show` for item ids")
            throw ExitCode(Exit.usage)
        }
        for explanation in explanations {
            print("\(explanation.rule): \(explanation.decision.rawValue) — \(explanation.reason)"
                + (explanation.error.map { " — error: \($0)" } ?? "") + "  (run \(explanation.run))")
        }
    }
}

struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trace", abstract: "Show how an item's document was made.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The item id.")
    var item: String

    func run() async throws {
        let steps = try await reportingErrors { try options.open().provenance(item: item) }
        if options.json { printJSON(steps); return }
        guard !steps.isEmpty else {
            printError("acervo: nothing recorded for `\(item)`; see `acervo kb show` for item ids")
            throw ExitCode(Exit.usage)
        }
        for step in steps {
            print("\(step.rule)  \(step.processor)  key \(step.key.prefix(16))  \(step.costUSD.map(formatUSD) ?? "-")  run \(step.run ?? "-")")
            for (name, digest) in step.inputs.sorted(by: { $0.key < $1.key }) { print("    in   \(name) = \(digest)") }
            for (name, digest) in step.files.sorted(by: { $0.key < $1.key }) { print("    file \(name) = \(digest)") }
            if step.params != "{}" { print("    params \(step.params)") }
            for (name, digest) in step.outputs.sorted(by: { $0.key < $1.key }) { print("    out  \(name) = \(digest)") }
        }
    }
}

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List runs, or show every decision of one.", subcommands: [List.self, Show.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List recent runs.")
        @OptionGroup var options: StoreOptions
        @Option(name: .long, help: "How many.") var limit = 20

        func run() async throws {
            let runs = try await reportingErrors { try options.open().runLog.runs(limit: limit) }
            if options.json { printJSON(runs); return }
            for run in runs {
                print("\(run.id)  \(run.command)  \(run.status)  \(ISO8601DateFormatter().string(from: run.startedAt))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Every decision of a run: duration, cost, error.")
        @OptionGroup var options: StoreOptions
        @Argument(help: "The run id.") var run: String

        func run() async throws {
            let (found, events) = try await reportingErrors { () throws -> (Run?, [Event]) in
                let store = try options.open()
                return (try store.runLog.run(run), try store.events(run: run))
            }
            guard let found else {
                printError("acervo: no run `\(run)`; list them with `acervo runs`")
                throw ExitCode(Exit.usage)
            }
            if options.json {
                struct Report: Encodable { var run: Run; var events: [Event] }
                printJSON(Report(run: found, events: events))
                return
            }
            print("\(found.id)  \(found.command)  \(found.status)")
            for event in events {
                print("  \(event.decision.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(event.itemID) \(event.rule)  "
                    + "\(String(format: "%.2fs", event.durationSeconds))  \(formatUSD(event.costUSD))  \(event.reason)"
                    + (event.error.map { "  error: \($0)" } ?? ""))
            }
        }
    }
}
