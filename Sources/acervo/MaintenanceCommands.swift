import AcervoApp
import AcervoStore
import ArgumentParser
import Foundation

struct FsckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Re-hash every object; check every result's outputs and every ref exist.",
        discussion: "Exits 0 when the store is clean, 1 when problems remain.")

    @OptionGroup var options: StoreOptions

    @Flag(name: .long, help: "Move corrupt objects to quarantine/, drop the results that needed them or an incomplete tree, and remove incomplete trees nothing needs.")
    var repair = false

    func run() async throws {
        let report = try await perform { try await options.workspace().fsck(repair: repair) }
        if options.json {
            printJSON(report)
        } else {
            if let recovery = report.recovery {
                print("rebuilt the database (\(recovery.problem))" + (recovery.damagedCopy.map { "; the damaged file is kept at \($0)" } ?? ""))
                let rows = recovery.salvagedRows.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                print("  salvaged rows: " + (rows.isEmpty ? "none" : rows.joined(separator: ", ")))
                if !recovery.incompleteTables.isEmpty { print("  rows lost from: \(recovery.incompleteTables.joined(separator: ", "))") }
                print("  re-found in the objects: \(recovery.resultsFromLogs) results (run logs), \(recovery.snapshotsFound) snapshots, "
                    + "\(recovery.treesFound) trees, \(recovery.hitListsFound) hit lists")
                print("  what is still missing is recomputed by the next build: `acervo plan` shows it")
            }
            if let problem = report.database {
                print("database damaged: \(problem)")
                print("  the objects are safe; run `acervo fsck --repair` to salvage the database and rebuild the rest from the objects")
            }
            print("checked \(report.checkedObjects) objects (\(formatBytes(report.checkedBytes)))")
            if let writer = report.writerRunning {
                print("a writer held the store meanwhile (\(writer)): checked the state as of the start; what it commits later is checked next time")
            }
            for object in report.corrupt {
                print("corrupt: \(object.digest) has the bytes of \(object.actual) (\(object.path))"
                    + (object.quarantinedTo.map { "; moved to \($0)" } ?? ""))
            }
            for missing in report.missingOutputs {
                print("missing blob: \(missing.digest), output '\(missing.output)' of \(missing.processor) result \(missing.key.hex.prefix(12))")
            }
            for ref in report.danglingRefs { print("dangling ref: \(ref.name) → \(ref.digest) (blob missing)") }
            for child in report.missingChildren {
                print("missing tree member: \(child.child) of \(child.parent)" + (child.stillNeeded ? " (a snapshot or pin needs it)" : ""))
            }
            for stray in report.strays { print("stray file in objects/: \(stray)") }
            if !report.droppedResults.isEmpty {
                print("dropped \(report.droppedResults.count) results; the next build recomputes exactly those")
            }
            if !report.removedTrees.isEmpty {
                print("removed \(report.removedTrees.count) incomplete trees nothing needed (left by an interrupted gc)")
            }
            print(report.isClean ? "store is clean" : (repair && !report.unrepairable ? "repaired" : "store has problems"))
        }
        if !report.isClean && (!repair || report.unrepairable) { throw ExitCode(.failedActions) }
    }
}

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Free blobs no kept root reaches (dry run unless --apply).",
        discussion: """
            Roots: refs (snapshots kept by --keep-snapshots), pins, results created or reused within \
            --keep-results, and raw media unless --drop-media-older-than says otherwise.
            """)

    @OptionGroup var options: StoreOptions

    @Flag(name: .long, help: "Delete; without it gc only reports what it would free.")
    var apply = false

    @Option(name: .long, help: "Keep the newest N snapshots.")
    var keepSnapshots: Int?

    @Option(name: .long, help: "Keep results created or reused within this span (e.g. 90d).")
    var keepResults = "90d"

    @Option(name: .long, help: "Free raw media blobs older than this span (e.g. 30d); derived outputs stay.")
    var dropMediaOlderThan: String?

    @Option(name: .long, help: "Never free objects written within this span (e.g. 1h).")
    var grace = "1h"

    @Flag(name: .long, help: "Wait for a running build instead of exiting with code 4.")
    var wait = false

    func validate() throws {
        if let keepSnapshots, keepSnapshots < 0 { throw ValidationError("--keep-snapshots must be 0 or more") }
        for (flag, span) in [("--keep-results", keepResults), ("--grace", grace), ("--drop-media-older-than", dropMediaOlderThan ?? "0s")] {
            do { _ = try parseTimeSpan(span) } catch { throw ValidationError("\(flag): \(error)") }
        }
    }

    func run() async throws {
        let policy = GCPolicy(
            keepSnapshots: keepSnapshots, keepResultsYoungerThanSeconds: try parseTimeSpan(keepResults),
            dropMediaOlderThanSeconds: try dropMediaOlderThan.map(parseTimeSpan), graceSeconds: try parseTimeSpan(grace))
        let report = try await perform {
            try await options.workspace().collectGarbage(policy: policy, apply: apply, wait: wait)
        }
        if options.json { printJSON(report); return }
        let verb = apply ? "freed" : "would free"
        print("\(verb) \(report.freedObjects) objects (\(formatBytes(report.freedBytes))), "
            + "of which \(report.freedMediaObjects) raw media (\(formatBytes(report.freedMediaBytes))); kept \(report.keptObjects)")
        print("\(apply ? "dropped" : "would drop") \(report.droppedResults) results and \(report.droppedSnapshots.count) snapshots")
        if !apply && report.freedObjects > 0 { print("run again with --apply to delete") }
    }
}

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Inspect the action cache.",
        subcommands: [Stats.self, List.self, Show.self])

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stats", abstract: "Entries, bytes, hits and dollars saved, per processor.")
        @OptionGroup var options: StoreOptions

        func run() async throws {
            let statistics = try await perform { try await options.workspace().cacheStatistics() }
            if options.json { printJSON(statistics); return }
            let header = "processor".padding(toLength: 24, withPad: " ", startingAt: 0)
            print("\(header) entries      bytes     hits      spent      saved")
            for row in statistics.processors + [statistics.total] {
                let name = row.processor.padding(toLength: 24, withPad: " ", startingAt: 0)
                print(name + pad(row.entries, 8) + pad(formatBytes(row.bytes), 11) + pad(row.hits, 9)
                    + pad(formatUSD(row.spentUSD), 11) + pad(formatUSD(row.savedUSD), 11))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List action results, newest first.")
        @OptionGroup var options: StoreOptions
        @Option(name: .long, help: "Only this processor's results.")
        var processor: String?

        func run() async throws {
            let results = try await perform { try await options.workspace().cacheResults(processor: processor) }
            if options.json { printJSON(results); return }
            for result in results {
                print("\(result.key.hex.prefix(16))  \(result.processor)@\(result.processorVersion)  "
                    + "\(result.outputs.count) outputs  \(formatUSD(result.costUSD))  \(result.hitCount) hits")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one result (a unique key prefix works).")
        @OptionGroup var options: StoreOptions
        @Argument(help: "The action key or a unique prefix.")
        var key: String

        func run() async throws {
            let (result, missing) = try await perform { try await options.workspace().cacheResult(keyPrefix: key) }
            if options.json { printJSON(result); return }
            print("key        \(result.key)")
            print("processor  \(result.processor)@\(result.processorVersion)")
            if let provider = result.provider { print("provider   \(provider)\(result.model.map { " / \($0)" } ?? "")") }
            print("cost       \(formatUSD(result.costUSD))   duration \(String(format: "%.2f", result.durationSeconds)) s")
            print("created    \(result.createdAt)   run \(result.runID ?? "-")   tool \(result.toolVersion)")
            print("hits       \(result.hitCount)\(result.lastHitAt.map { ", last \($0)" } ?? "")")
            for (name, digest) in result.outputs.sorted(by: { $0.key < $1.key }) {
                let state = missing.contains(name) ? "  (missing: served as a miss)" : ""
                print("output     \(name) = \(digest)\(state)")
            }
            for (name, value) in result.usage.sorted(by: { $0.key < $1.key }) { print("usage      \(name) = \(value)") }
        }
    }
}

private func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
    let text = value.description
    return String(repeating: " ", count: max(1, width - text.count)) + text
}
