import AcervoApp
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing

/// Two hundred scheduled nights in one service process: every build recorded, memory flat.
@Suite struct SoakTests {
    @Test func `200 scheduled builds in one serve process: all recorded, resident memory grows less than 10 percent`() async throws {
        let directory = TemporaryFolder()
        try copyExampleProject(into: directory.path)
        // The service as `acervo serve` runs it, in a process of its own (`acervo-soak`), on a clock that jumps to
        // each night: its memory is its own, not the test runner's.
        let outcome = try await offPool {
            try run(builtProduct("acervo-soak"), [directory.path + "/store", directory.path + "/rules", "200"], in: directory.path)
        }
        #expect(outcome.status == 0, "\(outcome.stderr)")
        var figures: [String: Int] = [:]
        for line in outcome.stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            for index in stride(from: 0, to: words.count - 1, by: 2) { figures[String(words[index])] = Int(words[index + 1]) }
        }
        #expect(figures["builds"] == 200 && figures["failed"] == 0, "\(outcome.stdout)")
        let warm = try #require(figures["rss-warm-kib"]), end = try #require(figures["rss-end-kib"])
        #expect(warm > 0 && Double(end) < Double(warm) * 1.10, "resident memory went from \(warm) KiB to \(end) KiB")

        let runs = try await Workspace(storePath: directory.path + "/store", rulesPath: directory.path + "/rules").runs(limit: 1000)
        let builds = runs.filter { $0.command == .build }
        #expect(builds.count == 200)
        #expect(builds.allSatisfy { $0.status == .ok && $0.endedAt != nil })
    }
}
