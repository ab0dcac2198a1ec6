import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `acervo-bench serve`: `acervo serve` (the release binary) over a store with a long history — `lessons`
/// lessons × 8 rules built once, then `runs` nightly builds — loaded by wrk on 127.0.0.1. Prints each page's
/// latency percentiles, against `/healthz` (the HTTP stack's own floor) measured in the same run, and the
/// server's memory.
///
/// The history is one real cold build and one real no-op build; the other nights are written as a no-op build
/// writes them (a run, its hit list — the same blob every quiet night —, its snapshot ref, its summary), which
/// takes seconds instead of the quarter of an hour a thousand real no-op builds would.
struct ServeBenchmark {
    let workDirectory: String
    let lessons: Int
    let runs: Int
    let seconds: Int
    let acervoBinary: String
    var reuse = false
    let rules = 8

    func run() async throws {
        let root = workDirectory + "/serve-\(lessons)x\(runs)"
        if !(reuse && FileManager.default.fileExists(atPath: root + "/store")) { try await makeHistory(root: root) }
        let quietRun = try String(contentsOfFile: root + "/quiet-run", encoding: .utf8)

        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: acervoBinary)
        server.arguments = ["serve", "--store", root + "/store", "--rules", root + "/service-rules", "--listen", "127.0.0.1:\(port)",
                            "--log-level", "warning"]
        try server.run()
        defer {
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
        }
        let base = "http://127.0.0.1:\(port)"
        try waitUntilUp(base + "/healthz")
        let rssAtStart = residentKiB(server.processIdentifier)

        let pages: [(name: String, path: String, target: Double?)] = [
            ("/healthz (reference)", "/healthz", nil),
            ("overview", "/", 50),
            ("a run (\(lessons * rules) hits)", "/runs/\(quietRun)", 50),
            ("/metrics", "/metrics", 20),
            ("runs", "/runs", 50),
            ("a lesson", "/lesson?item=item-\(lessons / 2)", 50),
            ("snapshots", "/snapshots", 50),
        ]
        print("store: \(lessons) lessons × \(rules) rules, \(runs) builds on record; wrk -t2 -c4 -d\(seconds)s per page on 127.0.0.1")
        print("page                          p50 ms    p99 ms   req/s   p99 ÷ healthz p99   target p99")
        var reference = 0.0
        for page in pages {
            _ = try wrk(base + page.path, seconds: 1)  // warm: the first request of a page fills its memos
            let result = try wrk(base + page.path, seconds: seconds)
            if page.target == nil { reference = result.p99 }
            print(String(format: "%-28@ %7.2f  %8.2f  %6.0f   %10.1fx          %@", page.name.padding(toLength: 28, withPad: " ", startingAt: 0),
                         result.p50, result.p99, result.requestsPerSecond, reference > 0 ? result.p99 / reference : 1,
                         page.target.map { String(format: "< %.0f ms %@", $0, result.p99 < $0 ? "ok" : "MISSED") } ?? "-"))
        }
        let rss = residentKiB(server.processIdentifier)
        print(String(format: "server RSS: %.0f MiB after start, %.0f MiB after the load (peak %.0f MiB)",
                     Double(rssAtStart.current) / 1024, Double(rss.current) / 1024, Double(rss.peak) / 1024))
    }

    /// One cold build and one no-op build for real, then the other nights as a no-op build records them.
    private func makeHistory(root: String) async throws {
        try? shell("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
        for folder in ["/src", "/rules", "/service-rules"] {
            try FileManager.default.createDirectory(atPath: root + folder, withIntermediateDirectories: true)
        }
        for item in 0..<lessons { try Data("lesson \(item)\n".utf8).write(to: URL(fileURLWithPath: root + "/src/\(item).txt")) }
        var yaml = "rules:\n  r1: { processor: bench.instant@1, input: video }\n"
        for rule in 2...rules { yaml += "  r\(rule): { processor: bench.instant@1, input: r\(rule - 1) }\n" }
        try (yaml + "sink: { kind: local, document: r\(rules) }\n").write(toFile: root + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        // What the service reads of its rules (readiness, schedule): a valid pipeline of the real processors.
        try """
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """.write(toFile: root + "/service-rules/pipeline.yaml", atomically: true, encoding: .utf8)
        try await Task.sleep(nanoseconds: 300_000_000)

        let store = try await Store.open(at: root + "/store")
        let pipeline = try RulesLoader(catalog: [InstantProcessor.descriptor], sourceArtifacts: Item.artifactNames).load(directory: root + "/rules")
        let evaluator = Evaluator(store: store, pipeline: pipeline, source: FileSource(directory: root + "/src", count: lessons),
                                  processors: [InstantProcessor()])
        let started = Date()
        _ = try await build(evaluator)
        let quiet = try await build(evaluator)
        guard quiet.summary.executed == 0, let snapshot = quiet.summary.snapshot,
              let hits = try await store.hitListDigest(run: quiet.summary.run) else { throw BenchmarkError.usage("the no-op build was not quiet") }
        let digest = try Digest(parsing: snapshot)
        let summaryJSON = String(decoding: try JSONEncoder.canonical.encode(quiet.summary), as: UTF8.self)
        for _ in 2..<runs {
            let run = try await store.startRun(command: .build)
            try await store.journal.setHitList(hits, run: run.id, at: Date())
            try await store.refs.setRefs([(Ref.snapshotPrefix + run.id, digest), (SnapshotManifest.latestRef, digest)], at: Date())
            try await store.finishRun(run.id, status: .ok, summary: summaryJSON.replacingOccurrences(of: quiet.summary.run, with: run.id), at: Date())
        }
        try quiet.summary.run.write(toFile: root + "/quiet-run", atomically: true, encoding: .utf8)
        print(String(format: "history made in %.0f s", Date().timeIntervalSince(started)))
    }

    private func build(_ evaluator: Evaluator) async throws -> (summary: BuildSummary, run: Run) {
        let run = try await evaluator.store.startRun(command: .build)
        let summary = try await evaluator.build(run: run, options: BuildOptions(jobs: 2))
        try await evaluator.store.finishRun(run.id, status: summary.status, summary: String(decoding: try JSONEncoder.canonical.encode(summary), as: UTF8.self),
                                            at: Date())
        return (summary, run)
    }

    struct Latency {
        var p50: Double
        var p99: Double
        var requestsPerSecond: Double
    }

    /// wrk's latency distribution for one URL, in milliseconds.
    private func wrk(_ url: String, seconds: Int) throws -> Latency {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = ["-t2", "-c4", "-d\(seconds)s", "--latency", url]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchmarkError.commandFailed("wrk \(url) (install it: scripts/setup)", process.terminationStatus) }
        if text.contains("Non-2xx") { throw BenchmarkError.usage("\(url) answered errors under load:\n\(text)") }
        func milliseconds(_ percentile: String) -> Double {
            guard let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(percentile) }),
                  let value = line.split(separator: " ").last else { return .nan }
            let number = Double(value.filter { $0.isNumber || $0 == "." }) ?? .nan
            if value.hasSuffix("us") { return number / 1000 }
            if value.hasSuffix("ms") { return number }
            return number * 1000
        }
        let rate = text.split(separator: "\n").first { $0.hasPrefix("Requests/sec:") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? .nan
        return Latency(p50: milliseconds("50%"), p99: milliseconds("99%"), requestsPerSecond: rate)
    }

    private func waitUntilUp(_ url: String) throws {
        for _ in 0..<600 {
            if (try? shell("curl -fs -o /dev/null '\(url)' 2>/dev/null")) != nil { return }
            usleep(100_000)
        }
        throw BenchmarkError.usage("acervo serve did not answer on \(url)")
    }

    private func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The process's resident and peak resident memory, from /proc.
    private func residentKiB(_ pid: Int32) -> (current: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { Int($0.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") } ?? 0
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }
}
