import AcervoApp
import AcervoEngine
import AcervoStore
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Detect items, run what changed, snapshot the knowledge base (and sync it when the sink is OpenAI).",
        discussion: """
            Exit codes: 0 success, 1 finished with failed actions (or a sync that failed), 2 usage or configuration \
            error, 3 budget reached, 4 store locked by another build, 5 interrupted (the next build does the rest).
            Ctrl-C or SIGTERM: no new action starts; running ones finish and are committed, or are ended and recorded \
            as interrupted once --stop-grace has passed; a second signal ends them at once.
            """)

    @OptionGroup var options: StoreOptions

    @Option(name: .long, help: "Read the course from this folder instead of the one pipeline.yaml names.")
    var source: String?

    @Option(name: .long, help: "Processor runs at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Stop starting paid actions that would take the run past this many dollars.")
    var budget: Double?

    @Option(name: .long, help: "Recompute this rule even where a result exists (repeatable).")
    var refresh: [String] = []

    @Option(name: .long, help: "After Ctrl-C or SIGTERM, seconds the running actions may take to finish before they are ended.")
    var stopGrace: Double = StopFlag.defaultGraceSeconds

    @Flag(name: .long, help: "Wait for a running build instead of exiting with code 4.")
    var wait = false

    @Flag(name: .long, help: "Print nothing but errors (for cron).")
    var quiet = false

    @Flag(name: .long, help: "Do not sync the snapshot to the OpenAI vector store even when the sink is `openai`.")
    var noSync = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if let budget, !(budget >= 0) { throw ValidationError("--budget must be a number of dollars, 0 or more") }
        guard stopGrace >= 0, stopGrace.isFinite else { throw ValidationError("--stop-grace must be a number of seconds, 0 or more") }
    }

    func run() async throws {
        let reporter: any BuildReporter
        var mediaBytes: @Sendable (Int64) -> Void = { _ in }
        if quiet || options.json {
            reporter = SilentReporter()
        } else if isatty(2) == 1 {
            let terminal = TerminalProgress()
            mediaBytes = { terminal.fetched(bytes: $0) }
            reporter = terminal
        } else {
            reporter = PlainProgress()
        }
        let workspace = options.workspace(quiet: quiet, mediaBytes: mediaBytes)
        let stop = StopFlag(graceSeconds: stopGrace)
        let request = BuildRequest(jobs: jobs, budgetUSD: budget, refresh: refresh, wait: wait, sync: !noSync, sourceOverride: source,
                                   retry: RetryPolicy(), stopGraceSeconds: stopGrace)
        let outcome = try await perform { () async throws -> BuildOutcome in
            let task = Task { try await workspace.build(request, reporter: reporter, stop: stop) }
            let watcher = SignalWatcher(onFirst: {
                stop.raise()
                printError("acervo: stopping — no new action starts; running ones have \(formatSeconds(stopGrace)) to finish (again to end them now)")
            }, onSecond: { task.cancel() })
            defer { watcher.cancel() }
            return try await task.value
        }
        if options.json {
            printJSON(outcome)
        } else if !quiet || outcome.exitStatus != .success {
            await printSummary(outcome, workspace: workspace)
        }
        if outcome.exitStatus != .success { throw ExitCode(outcome.exitStatus) }
    }

    /// Warnings listed after a build; the rest are counted.
    private static let listedWarnings = 20

    private func printSummary(_ outcome: BuildOutcome, workspace: Workspace) async {
        let summary = outcome.summary
        let total = summary.executed + summary.hits + summary.failed + summary.skipped
        print("run \(summary.run): \(total) actions — executed \(summary.executed), hits \(summary.hits), "
            + "failed \(summary.failed), skipped \(summary.skipped) — \(formatUSD(summary.costUSD)) — "
            + String(format: "%.1f s", summary.durationSeconds))
        for problem in summary.problems { print("  failed \(problem.line)") }
        for warning in summary.warnings.prefix(Self.listedWarnings) {
            print(warning.item.isEmpty ? "  warning: \(warning.message)" : "  warning \(warning.item) \(warning.rule): \(warning.message)")
        }
        if summary.warnings.count > Self.listedWarnings {
            print("  … and \(summary.warnings.count - Self.listedWarnings) more warnings (`acervo build --json` lists them all; `acervo why ITEM` shows an item's)")
        }
        if summary.budgetReached { print("  budget reached: paid actions past it were not started (exit 3)") }
        if summary.interrupted {
            print("  interrupted: \(summary.interruptedActions) \(summary.interruptedActions == 1 ? "action" : "actions") did not run; the next build runs "
                  + (summary.interruptedActions == 1 ? "it" : "them") + " (exit 5)")
        }
        if let snapshot = summary.snapshot {
            print("knowledge base: \(snapshot) (kb/latest) in \(options.store)/")
            print("  list it:   acervo kb show")
            if let title = try? await workspace.knowledgeBase({ try await $0.manifest(snapshot) }).entries.first?.title {
                print("  search it: acervo search \"\(title)\"")
            }
        }
        if let sync = outcome.sync { printSyncReport(sync) }
        if let failure = outcome.syncError { print("sync failed: \(failure)") }
    }
}

/// SIGINT / SIGTERM handling: the first raises the stop flag, the second cancels running actions.
final class SignalWatcher: @unchecked Sendable {
    // `count` is touched only on `queue`.
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

    @Option(name: .long, help: "Read the course from this folder instead of the one pipeline.yaml names.")
    var source: String?

    @Option(name: .long, help: "Plan as if this rule were refreshed (repeatable).")
    var refresh: [String] = []

    func run() async throws {
        let plan = try await perform {
            try await options.workspace(quiet: true).plan(refresh: refresh, sourceOverride: source)
        }
        if options.json { printJSON(plan); return }
        for action in plan.actions {
            let cost = action.estimate.map { $0 == .free ? "" : "  " + formatRange($0.lowUSD, $0.expectedUSD, $0.highUSD) } ?? "  $?"
            print("\(action.item)  \(action.rule)  [\(action.processor)]\(cost)")
            for reason in action.reasons { print("    \(reason)") }
            if let estimate = action.estimate, estimate != .free { print("    cost: \(estimate.basis)") }
        }
        print("\(plan.actions.count) actions to run, \(plan.hits) cached, estimated "
              + "\(formatRange(plan.estimatedLowUSD, plan.estimatedCostUSD, plan.estimatedHighUSD)) over \(plan.items) items"
              + (plan.unestimated > 0 ? " (\(plan.unestimated) paid actions could not be estimated)" : ""))
        for rule in plan.rules {
            print("  \(rule.rule.padding(toLength: 14, withPad: " ", startingAt: 0)) run \(rule.toRun)  cached \(rule.hits)  "
                + "n/a \(rule.notApplicable)  \(formatRange(rule.estimatedLowUSD, rule.estimatedCostUSD, rule.estimatedHighUSD))")
        }
        if !plan.accuracy.isEmpty {
            print("estimates of the last builds against what was recorded:")
            for row in plan.accuracy {
                let ratio = row.ratio.map { String(format: "%+.0f %%", ($0 - 1) * 100) } ?? "n/a"
                print("  \(row.processor.padding(toLength: 18, withPad: " ", startingAt: 0)) \(row.actions) actions  estimated "
                      + "\(formatUSD(row.estimatedUSD))  recorded \(formatUSD(row.recordedUSD))  \(ratio)"
                      + (row.overHigh > 0 ? "  (\(row.overHigh) above the high end)" : ""))
            }
        }
    }

    /// `$0.12 ($0.08–$0.30)`, or one figure when the range is a point.
    func formatRange(_ low: Double, _ expected: Double, _ high: Double) -> String {
        abs(high - low) < 5e-7 ? formatUSD(expected) : "\(formatUSD(expected)) (\(formatUSD(low))–\(formatUSD(high)))"
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
        let explanations = try await perform { try await options.workspace().why(item: item, rule: rule) }
        if options.json { printJSON(explanations); return }
        guard !explanations.isEmpty else {
            printError("acervo: no decisions recorded for `\(item)`\(rule.map { " rule `\($0)`" } ?? ""); see `acervo kb show` for item ids")
            throw ExitCode(.usage)
        }
        for explanation in explanations {
            print("\(explanation.rule): \(explanation.decision.rawValue) — \(explanation.reason)"
                + (explanation.error.map { " — error: \($0)" } ?? "") + "  (run \(explanation.run))")
            for warning in explanation.warnings { print("    warning: \(warning)") }
        }
    }
}

struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trace", abstract: "Show how an item's document was made.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The item id.")
    var item: String

    func run() async throws {
        let steps = try await perform { try await options.workspace().trace(item: item) }
        if options.json { printJSON(steps); return }
        guard !steps.isEmpty else {
            printError("acervo: nothing recorded for `\(item)`; see `acervo kb show` for item ids")
            throw ExitCode(.usage)
        }
        for step in steps {
            print("\(step.rule)  \(step.processor)  key \(step.key.hex.prefix(16))  \(step.costUSD.map(formatUSD) ?? "-")  run \(step.run ?? "-")")
            for (name, digest) in step.inputs.sorted(by: { $0.key < $1.key }) { print("    in   \(name) = \(digest)") }
            for (name, digest) in step.files.sorted(by: { $0.key < $1.key }) { print("    file \(name) = \(digest)") }
            if step.params != "{}" { print("    params \(step.params)") }
            for (name, digest) in step.outputs.sorted(by: { $0.key < $1.key }) { print("    out  \(name) = \(digest)") }
            for (name, value) in (step.metadata ?? [:]).sorted(by: { $0.key < $1.key }) { print("    meta \(name) = \(value)") }
            for warning in step.warnings ?? [] { print("    warning \(warning)") }
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

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let runs = try await perform { try await options.workspace().runs(limit: limit) }
            if options.json { printJSON(runs); return }
            for run in runs { print("\(run.id)  \(run.command)  \(run.status.rawValue)  \(formatDate(run.startedAt))") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Every decision of a run: duration, cost, error.")
        @OptionGroup var options: StoreOptions
        @Argument(help: "The run id.") var run: String

        func run() async throws {
            guard let report = try await perform({ try await options.workspace().run(run) }) else {
                printError("acervo: no run `\(run)`; list them with `acervo runs`")
                throw ExitCode(.usage)
            }
            if options.json { printJSON(report); return }
            print("\(report.run.id)  \(report.run.command)  \(report.run.status.rawValue)")
            for event in report.events {
                print("  \(event.decision.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(event.itemID) \(event.rule)  "
                    + "\(String(format: "%.2fs", event.durationSeconds))  \(formatUSD(event.costUSD))  \(event.reason)"
                    + (event.error.map { "  error: \($0)" } ?? ""))
            }
        }
    }
}
