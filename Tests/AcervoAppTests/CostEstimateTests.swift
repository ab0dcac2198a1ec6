import AcervoApp
import AcervoEngine
import AcervoFakeServers
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing

/// A course folder → Google Speech-to-Text, Cloud Vision, Gemini analysis and classification, through the
/// `acervo` binary, every provider a fake on 127.0.0.1 that bills what it is sent as the real one documents.
@Suite(.serialized) struct CostEstimateTests {
    final class World: Sendable {
        let directory = TemporaryDirectory("acervo-costs")
        let google: FakeGoogle
        let gemini: FakeGemini
        let credentials: String
        var project: String { directory.path + "/project" }

        /// Lessons of `seconds` each: a still picture (one slide) and a tone.
        init(lessons: [Int], budget: Double? = nil, rules: String? = nil) async throws {
            google = try await FakeGoogle.start()
            gemini = try await FakeGemini.start()
            credentials = try google.writeServiceAccount(into: directory.path)
            let files = FileManager.default
            try files.createDirectory(atPath: project + "/rules/prompts", withIntermediateDirectories: true)
            for file in ["taxonomy.yaml", "prices.yaml", "prompts/analyze.md"] {
                try files.copyItem(atPath: repositoryRoot + "/rules/" + file, toPath: project + "/rules/" + file)
            }
            try files.createDirectory(atPath: project + "/course", withIntermediateDirectories: true)
            try "name: Python desde cero\nschool: tecnologia\nlanguage: es\n".write(toFile: project + "/course/course.yaml", atomically: true, encoding: .utf8)
            for (index, seconds) in lessons.enumerated() {
                let folder = project + String(format: "/course/01-modulo/%02d-aula", index + 1)
                try files.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let arguments = [
                    "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=0x\(String(format: "%06x", 0x203040 * (index + 1))):s=160x120:r=5:d=\(seconds)",
                    "-f", "lavfi", "-i", "sine=frequency=\(300 + index * 70):duration=\(seconds)", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "32k", folder + String(format: "/%02d-aula.mp4", index + 1),
                ]
                // A few seconds of encoding each: off the cooperative pool, like the builds.
                let outcome = try await offPool { try run("/usr/bin/env", arguments) }
                #expect(outcome.status == 0, "ffmpeg is needed (scripts/setup installs it): \(outcome.stderr)")
            }
            try (rules ?? """
                source: { kind: local, path: course }
                \(budget.map { "budget_usd: \($0)" } ?? "")
                rules:
                  audio: { processor: ffmpeg.audio@1, input: video, params: { rate: 16000, channels: 1 } }
                  speech: { processor: google.stt@1, input: audio, params: { languages: [es-ES], model: chirp_2 } }
                  frames: { processor: ffmpeg.keyframes@1, input: video, params: { scene: 0.02, max: 20 } }
                  ocr: { processor: google.vision@1, input: frames, params: { languages: [es] } }
                  analysis:
                    processor: gemini.analyze@1
                    inputs: { video: video, transcript: speech }
                    params: { prompt: prompts/analyze.md }
                    files: [prompts/analyze.md]
                  class: { processor: gemini.classify@1, inputs: { transcript: speech, analysis: analysis }, files: [taxonomy.yaml] }
                  document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: speech, ocr: ocr, class: class, analysis: analysis } }
                sink: { kind: local, document: document, attributes: class }
                """).write(toFile: project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        }

        var environment: [String: String?] {
            ["GOOGLE_APPLICATION_CREDENTIALS": credentials, "ACERVO_SPEECH_URL": google.baseURL, "ACERVO_VISION_URL": google.baseURL,
             "GEMINI_API_KEY": gemini.apiKey, "ACERVO_GEMINI_URL": gemini.baseURL, "ACERVO_GEMINI_POLL_SECONDS": "0.01"]
        }

        func plan() async throws -> BuildPlan {
            let outcome = try await acervoOffPool(["plan", "--json"], in: project, environment: environment)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            return try decodeJSON(BuildPlan.self, outcome.stdout)
        }

        func build(expecting status: Int32 = 0) async throws -> BuildSummary {
            let outcome = try await acervoOffPool(["build", "--json"], in: project, environment: environment)
            #expect(outcome.status == status, "\(outcome.stderr)\n\(outcome.stdout)")
            return try decodeJSON(BuildSummary.self, outcome.stdout)
        }

        func cost(_ extra: [String] = []) async throws -> CostReport {
            let outcome = try await acervoOffPool(["cost", "--json"] + extra, in: project, environment: environment)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            return try decodeJSON(CostReport.self, outcome.stdout)
        }

        func close() async {
            await google.stop()
            await gemini.stop()
        }
    }

    /// The estimate is within a quarter of what is then recorded, and its range holds it.
    static func expectClose(_ plan: BuildPlan, _ build: BuildSummary, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(plan.unestimated == 0, sourceLocation: sourceLocation)
        #expect(build.costUSD > 0 && abs(plan.estimatedCostUSD - build.costUSD) <= 0.25 * build.costUSD,
                "estimated \(plan.estimatedCostUSD), recorded \(build.costUSD)", sourceLocation: sourceLocation)
        #expect(plan.estimatedLowUSD <= build.costUSD && build.costUSD <= plan.estimatedHighUSD,
                "\(plan.estimatedLowUSD)–\(plan.estimatedHighUSD) against \(build.costUSD)", sourceLocation: sourceLocation)
    }

    @Test func `plan on a fresh store estimates the first build from the videos, and an edit from what exists`() async throws {
        let world = try await World(lessons: [180, 240, 300, 420])
        let fresh = try await world.plan()
        let speech = try #require(fresh.actions.first { $0.rule == "speech" && $0.item.hasSuffix("01-aula") }?.estimate)
        #expect(speech.basis == "180 s of video in 4 pieces at $0.0160/min")
        let analysis = try #require(fresh.actions.first { $0.rule == "analysis" && $0.item.hasSuffix("01-aula") }?.estimate)
        #expect(analysis.basis.hasPrefix("180 s of video and its transcript → "), "\(analysis.basis)")
        #expect(fresh.accuracy.isEmpty, "no build yet to compare with")
        let first = try await world.build()
        #expect(first.failed == 0 && first.executed == 4 * 7)
        Self.expectClose(fresh, first)

        // `acervo cost`: every dollar of the build, by processor, lesson and course; nothing left to run.
        let afterFirst = try await world.cost()
        #expect(abs(afterFirst.spentUSD - first.costUSD) < 1e-9 && afterFirst.savedUSD == 0)
        #expect(Set(afterFirst.processors.map(\.processor)) == ["google.stt", "google.vision", "gemini.analyze", "gemini.classify"])
        #expect(afterFirst.processors.allSatisfy { $0.paidActions == 4 && $0.failedUSD == 0 })
        #expect(afterFirst.lessons.count == 4 && afterFirst.nights.count == 1 && afterFirst.runs.count == 1)
        #expect(afterFirst.courses.map(\.course) == ["Python desde cero"] && afterFirst.courses.first?.lessons == 4)
        // The estimates the actions started with, from their own inputs: closer than the plan's, from the source.
        let started = try #require(afterFirst.runs.first?.estimatedUSD)
        #expect(abs(started - first.costUSD) <= abs(fresh.estimatedCostUSD - first.costUSD), "\(started) against \(first.costUSD)")
        let catalog = try #require(afterFirst.projection)
        #expect(catalog.lessons == 4 && catalog.pendingActions == 0 && abs(catalog.projectedUSD - first.costUSD) < 1e-9)
        let firstAnalyses = try #require(afterFirst.processors.first { $0.processor == "gemini.analyze" }).spentUSD
        // The cache's "spent" counts each paid piece once: in its action, not again in its memo.
        let stats = try await acervoOffPool(["cache", "stats", "--json"], in: world.project)
        let cache = try decodeJSON(CacheStatistics.self, stats.stdout)
        #expect(abs(cache.total.spentUSD - first.costUSD) < 1e-9, "\(cache.total.spentUSD) against \(first.costUSD)")
        #expect(cache.processors.contains { $0.processor == "google.stt.piece" }, "the pieces are on record")

        // Nothing changed: nothing to pay, and the plan says how its estimates fared, per processor.
        let unchanged = try await world.plan()
        #expect(unchanged.actions.isEmpty && unchanged.estimatedCostUSD == 0)
        let accuracy = Dictionary(uniqueKeysWithValues: unchanged.accuracy.map { ($0.processor, $0) })
        #expect(Set(accuracy.keys) == ["google.stt", "google.vision", "gemini.analyze", "gemini.classify"])
        #expect(accuracy.values.allSatisfy { $0.actions == 4 && $0.overHigh == 0 })
        #expect(abs((accuracy["google.stt"]?.ratio ?? 0) - 1) < 1e-9, "Speech-to-Text bills what was sent, rounded up per piece")

        // An edited prompt: the analyses run again (their inputs exist), and the classifications after them
        // (last night's analyses stand in for tonight's).
        try String(contentsOfFile: world.project + "/rules/prompts/analyze.md", encoding: .utf8).appending("\nSé breve.\n")
            .write(toFile: world.project + "/rules/prompts/analyze.md", atomically: true, encoding: .utf8)
        let edited = try await world.plan()
        #expect(Set(edited.actions.map(\.rule)) == ["analysis", "class", "document"])
        #expect(edited.actions.filter { $0.rule == "class" }.allSatisfy { $0.estimate?.basis.contains("(as its last run's inputs)") == true })
        // The analyses answered shorter than assumed: from now on they are estimated by what was recorded.
        let factor = try #require(accuracy["gemini.analyze"]?.ratio)
        #expect(factor < 1 && edited.actions.filter { $0.rule == "analysis" }.allSatisfy {
            $0.estimate?.basis.hasSuffix(String(format: "; × %.2f, as recent builds recorded against their estimates", factor)) == true
        })
        let second = try await world.build()
        #expect(second.failed == 0)
        Self.expectClose(edited, second)
        // The analyses are new; the rest of the first build's results were reused (the classifications too:
        // the analyses came out the same, and the build cut off there).
        let afterEdit = try await world.cost()
        #expect(abs(afterEdit.spentUSD - (first.costUSD + second.costUSD)) < 1e-9)
        #expect(abs(afterEdit.savedUSD - (first.costUSD - firstAnalyses)) < 1e-9, "\(afterEdit.savedUSD)")
        #expect(abs((afterEdit.projection?.projectedUSD ?? 0) - (first.costUSD - firstAnalyses + second.costUSD)) < 1e-9)
        #expect(afterEdit.processors.first { $0.processor == "gemini.analyze" }?.paidActions == 8)
        #expect(world.google.violations.isEmpty && world.gemini.violations.isEmpty)
        await world.close()
    }

    @Test func `the thinking tokens count against the budget: a run they push over starts nothing more`() async throws {
        let world = try await World(lessons: [60, 60, 60], budget: 0.3, rules: """
            source: { kind: local, path: course }
            budget_usd: 0.3
            rules:
              analysis:
                processor: gemini.analyze@1
                inputs: { video: video }
                params: { prompt: prompts/analyze.md }
                files: [prompts/analyze.md]
                concurrency: 1
              document: { processor: document.markdown@1, inputs: { meta: metadata, analysis: analysis } }
            sink: { kind: local, document: document }
            """)
        // A model that thinks long: 200,000 thinking tokens an answer, $0.50 at the output price.
        world.gemini.setThoughtsTokens(200_000)
        let plan = try await world.plan()
        #expect(plan.estimatedHighUSD < 0.3, "each analysis alone fits the budget, as estimated")
        let build = try await world.build(expecting: 3)
        // One analysis, and its lesson's document (a free action is never refused by the budget); the other two
        // analyses refused, and their documents skipped after them.
        #expect(build.budgetReached && build.executed == 2 && build.skipped == 4, "\(build)")
        #expect(world.gemini.calls["POST :generateContent"] == 1, "the second analysis was never sent")
        #expect(build.costUSD > 0.5, "the thinking is billed at the output price: \(build.costUSD)")
        await world.close()
    }
}
