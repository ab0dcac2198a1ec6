import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `acervo-bench engine`: a synthetic catalog (items × a chain of rules) with an instant processor. Prints the
/// cold build's engine overhead per action, the no-op build time, peak RSS, and the no-op time against
/// `ninja`'s no-op on a generated build.ninja of the same shape, measured in the same run.
struct EngineBenchmark {
    let workDirectory: String
    let items: Int
    let rules: Int
    /// Extra no-op builds after the measured one, to make them dominate a profile (`perf record`).
    var extraNoopBuilds = 0
    /// Skip the ninja reference (for profiling).
    var skipNinja = false
    /// Keep the catalog and its store after the run, and reuse them if present: the cold build is skipped, so
    /// the no-op build can be profiled again and again.
    var reuse = false

    func run() async throws {
        let root = workDirectory + "/engine-\(items)x\(rules)"
        if reuse, FileManager.default.fileExists(atPath: root + "/store") {
            return try await noopOnly(root: root)
        }
        try? shell("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/rules", withIntermediateDirectories: true)
        for item in 0..<items {
            try Data("source \(item)\n".utf8).write(to: URL(fileURLWithPath: root + "/src/\(item).txt"))
        }
        try rulesYAML().write(toFile: root + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        try await Task.sleep(nanoseconds: 300_000_000)  // past the stat cache's racy window

        let store = try await Store.open(at: root + "/store")
        let pipeline = try RulesLoader(catalog: [InstantProcessor.descriptor], sourceArtifacts: Item.artifactNames).load(directory: root + "/rules")
        let evaluator = Evaluator(store: store, pipeline: pipeline, source: FileSource(directory: root + "/src", count: items),
                                  processors: [InstantProcessor()])
        // One job, so that wall time minus the processors' own time is exactly the engine's and the store's.
        let cold = try await measure { try await build(evaluator, BuildOptions(jobs: 1)) }
        let processorSeconds = try await store.journal.events(run: cold.value.run).reduce(0) { $0 + $1.durationSeconds }
        let options = BuildOptions(jobs: 2)
        // Best of three, as for ninja: the first no-op after a cold build also stores its hit list, which the
        // nights after it share; both figures are printed.
        var noops: [Double] = []
        for _ in 0..<3 {
            let noop = try await measure { try await build(evaluator, options) }
            guard noop.value.executed == 0 else { throw BenchmarkError.usage("the no-op build executed \(noop.value.executed) actions") }
            noops.append(noop.seconds)
        }
        let noop = (first: noops[0], best: noops.min()!)
        let actions = Double(items * rules)
        for _ in 0..<extraNoopBuilds { _ = try await build(evaluator, options) }
        if skipNinja {
            print(String(format: "cold %.2f s (processors %.2f s), no-op %.2f s (first %.2f s)", cold.seconds, processorSeconds, noop.best, noop.first))
            return
        }

        try ninjaFile(root: root).write(toFile: root + "/build.ninja", atomically: true, encoding: .utf8)
        let ninjaCold = try timed { try shell("cd '\(root)' && ninja -j 2 > /dev/null") }
        let ninjaNoop = try best { try shell("cd '\(root)' && ninja -n > /dev/null") }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)

        let overhead = (cold.seconds - processorSeconds) / actions * 1000
        print("catalog: \(items) items × \(rules) rules = \(Int(actions)) actions, instant processor")
        print(String(format: "cold build:   %7.2f s  (--jobs 1; %.3f ms per action, of which the processor's own %.3f ms)",
                     cold.seconds, cold.seconds / actions * 1000, processorSeconds / actions * 1000))
        print(String(format: "no-op build:  %7.2f s  (--jobs 2, best of 3; the first after the cold build: %.2f s)", noop.best, noop.first))
        print(String(format: "ninja cold:   %7.2f s  (spawns a process per edge)", ninjaCold))
        print(String(format: "ninja no-op:  %7.2f s  (best of 3)", ninjaNoop))
        print(String(format: "no-op vs ninja no-op: %.2fx (target <= 2)", noop.best / ninjaNoop))
        print(String(format: "engine overhead per action (cold, commit included): %.3f ms (target < 1)", overhead))
        print(String(format: "peak RSS: %.0f MiB (target < 300)", Double(usage.ru_maxrss) / 1024))
        if !reuse { try? shell("chmod -R u+w '\(root)'; rm -rf '\(root)'") }
    }

    private func noopOnly(root: String) async throws {
        let store = try await Store.open(at: root + "/store")
        let pipeline = try RulesLoader(catalog: [InstantProcessor.descriptor], sourceArtifacts: Item.artifactNames).load(directory: root + "/rules")
        let evaluator = Evaluator(store: store, pipeline: pipeline, source: FileSource(directory: root + "/src", count: items),
                                  processors: [InstantProcessor()])
        for _ in 0...extraNoopBuilds {
            let noop = try await measure { try await build(evaluator, BuildOptions(jobs: 2)) }
            guard noop.value.executed == 0 else { throw BenchmarkError.usage("the no-op build executed \(noop.value.executed) actions") }
            var line = String(format: "no-op build: %.2f s", noop.seconds)
            if !skipNinja {
                let ninja = try best { try shell("cd '\(root)' && ninja -n > /dev/null") }
                line += String(format: "; ninja no-op %.2f s; %.2fx (target <= 2)", ninja, noop.seconds / ninja)
            }
            print(line)
        }
    }

    /// A build as `acervo build` records it: a run started, the build, the run finished.
    private func build(_ evaluator: Evaluator, _ options: BuildOptions) async throws -> BuildSummary {
        let run = try await evaluator.store.startRun(command: .build)
        let summary = try await evaluator.build(run: run, options: options)
        try await evaluator.store.finishRun(run.id, status: summary.status, summary: nil, at: Date())
        return summary
    }

    private func rulesYAML() -> String {
        var yaml = "rules:\n  r1: { processor: bench.instant@1, input: video }\n"
        for rule in 2...rules { yaml += "  r\(rule): { processor: bench.instant@1, input: r\(rule - 1) }\n" }
        return yaml + "sink: { kind: local, document: r\(rules) }\n"
    }

    /// The same graph for ninja: one edge per (item, rule), each reading the previous output.
    private func ninjaFile(root: String) -> String {
        var text = "rule instant\n  command = cp $in $out\n"
        for item in 0..<items {
            var previous = "src/\(item).txt"
            for rule in 1...rules {
                let output = "out/\(item)/r\(rule)"
                text += "build \(output): instant \(previous)\n"
                previous = output
            }
        }
        return text
    }

    private func measure(_ body: () async throws -> BuildSummary) async throws -> (seconds: Double, value: BuildSummary) {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try await body()
        return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, value)
    }

    private func timed(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private func best(_ body: () throws -> Void) throws -> Double {
        try (0..<3).map { _ in try timed(body) }.min()!
    }
}

/// Items whose one artifact is a small file each, read through the stat cache like a real local course.
struct FileSource: Source {
    let directory: String
    let count: Int

    func items(store: Store) async throws -> [Item] {
        var items: [Item] = []
        for index in 0..<count {
            items.append(Item(id: "item-\(index)", metadata: [:], artifacts: ["video": try await store.ingest(fileAt: directory + "/\(index).txt").digest]))
        }
        return items
    }
}

/// Copies its input: the cheapest processor that still writes a blob, so the engine's own cost shows.
struct InstantProcessor: Processor {
    static let descriptor = ProcessorDescriptor(id: "bench.instant", version: "1.0", inputs: [InputSlot("in")])
    var descriptor: ProcessorDescriptor { Self.descriptor }

    func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let input = try await action.store.blobs.bytes(of: action.inputs["in"]!)
        return ProcessorOutput(output: try await action.store.put(bytes: input + [UInt8(truncatingIfNeeded: input.count)]).digest)
    }
}
