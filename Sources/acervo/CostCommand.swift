import AcervoApp
import ArgumentParser
import Foundation

struct CostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "Say what was spent — per run, night, processor, lesson and course — what the cache saved, and what the whole catalog will cost.",
        discussion: """
            Money comes from what each action recorded (the provider's own usage × rules/prices.yaml), and what
            the paid pieces of failed actions cost. The projection runs a plan (detection only, nothing paid)
            and adds its estimate of what is still to run to what the current results cost.
            """)

    @OptionGroup var options: StoreOptions

    @Option(name: .long, help: "Count the newest N runs (default 200).")
    var runs: Int = 200

    @Option(name: .long, help: "List at most N lessons, the costliest first (default 10; the JSON has them all).")
    var lessons: Int = 10

    @Flag(name: .long, help: "Leave out the projection (it reads the source, like `acervo plan`).")
    var noProjection = false

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be 1 or more") }
    }

    func run() async throws {
        let report = try await perform { try await options.workspace(quiet: true).costReport(runs: runs, projection: !noProjection) }
        if options.json { printJSON(report); return }
        print("spent \(formatUSD(report.spentUSD)) over the last \(plural(report.runsCounted, "run")); "
              + "the cache saved \(formatUSD(report.savedUSD)) in \(plural(report.hits, "hit"))")
        if let projection = report.projection {
            print("catalog: \(plural(projection.lessons, "lesson")); built so far \(formatUSD(projection.builtUSD)), "
                  + "still to run \(plural(projection.pendingActions, "paid action")) "
                  + "estimated \(formatUSD(projection.pendingUSD)) (\(formatUSD(projection.pendingLowUSD))–\(formatUSD(projection.pendingHighUSD))) "
                  + "→ projected \(formatUSD(projection.projectedUSD))"
                  + (projection.unestimated > 0 ? "; \(projection.unestimated) actions could not be estimated" : ""))
        } else if let error = report.projectionError {
            print("catalog: no projection (\(error))")
        }
        if let storage = report.storage {
            print("vector store \(storage.vectorStore): \(formatBytes(Int64(storage.bytes)))"
                  + (storage.usdPerDay.map { ", \(formatUSD($0)) a day to keep (\(formatUSD($0 * 30)) a month)" } ?? ", unpriced (openai.vector_store in prices.yaml)"))
        }
        section("nights (\(report.timeZone))", report.nights.prefix(14).map { [$0.night, plural($0.runs, "run"), formatUSD($0.spentUSD)] })
        section("runs", report.runs.prefix(10).map { run in
            [run.run, run.command.rawValue, run.status.rawValue, formatUSD(run.spentUSD),
             run.estimatedUSD > 0 ? "estimated \(formatUSD(run.estimatedUSD))" : "",
             run.failedUSD > 0 ? "\(formatUSD(run.failedUSD)) by failed actions" : ""]
        })
        section("processors", report.processors.map { row in
            [row.processor, "\(row.paidActions) paid", formatUSD(row.spentUSD), row.estimatedUSD > 0 ? "estimated \(formatUSD(row.estimatedUSD))" : "",
             row.failedUSD > 0 ? "\(formatUSD(row.failedUSD)) by failed actions" : ""]
        })
        section("courses", report.courses.map { [$0.course, plural($0.lessons, "lesson"), formatUSD($0.spentUSD)] })
        section("costliest lessons", report.lessons.prefix(lessons).map { [$0.item, "\($0.paidActions) paid", formatUSD($0.spentUSD)] })
        section("prices (rules/prices.yaml)", report.prices.sorted { $0.key < $1.key }.map { [$0.key, "read \($0.value.taken)", $0.value.source] })
    }

    /// `1 run`, `2 runs`.
    func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

    /// A titled table, its columns padded to their widest cell; nothing when it has no rows.
    func section(_ title: String, _ rows: [[String]]) {
        guard !rows.isEmpty else { return }
        print("\(title):")
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
            print("  " + cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}
