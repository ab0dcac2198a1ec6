import AcervoRules
import AcervoStore
import Foundation
import Testing
@testable import AcervoEngine

@Suite struct PlanTests {
    @Test func `a plan on a fresh store lists every action as new, with estimated cost, and runs nothing`() async throws {
        let bench = try Workbench()
        let plan = try await bench.evaluator().plan()
        #expect(plan.actions.count == 12 && plan.hits == 0)
        #expect(bench.totalRuns == 0)
        #expect(plan.actions.first { $0.item == "m1/a" && $0.rule == "audio" }?.reasons == [.newItem])
        #expect(plan.actions.first { $0.item == "m1/a" && $0.rule == "transcript" }?.reasons.map(\.description)
            == ["after `audio` runs (cut off if its output is unchanged)"])
        let summary = try #require(plan.rules.first { $0.rule == "summary" })
        #expect(summary.toRun == 3)
        #expect(plan.actions.filter { $0.rule == "summary" }.allSatisfy { $0.estimatedCostUSD == nil })
    }

    @Test func `a plan after a change says exactly what changed and what it would cost`() async throws {
        let bench = try Workbench()
        try await bench.build()
        try bench.writeRules(Workbench.defaultRules.replacingOccurrences(of: "style: short", with: "style: long"))
        bench.lessons[2].files["video"] = Array("video C v2".utf8)

        let plan = try await bench.evaluator().plan()

        let summaryA = try #require(plan.actions.first { $0.item == "m1/a" && $0.rule == "summary" })
        #expect(summaryA.reasons.map(\.description) == [#"param `style` changed ("short" → "long")"#])
        #expect(summaryA.estimatedCostUSD == 0.10)
        let audioC = try #require(plan.actions.first { $0.item == "m2/c" && $0.rule == "audio" })
        #expect(audioC.reasons.count == 1 && audioC.reasons[0].description.hasPrefix("input `video` changed (sha256:"))
        let summaryC = try #require(plan.actions.first { $0.item == "m2/c" && $0.rule == "summary" })
        #expect(summaryC.estimatedCostUSD == 0.10, "estimated from the last run's inputs")
        #expect(abs(plan.estimatedCostUSD - 0.30) < 1e-9)
        #expect(plan.rules.first { $0.rule == "audio" }?.hits == 2)
        #expect(bench.totalRuns == 12, "planning ran nothing")
    }

    @Test func `a plan after a complete build has nothing to run`() async throws {
        let bench = try Workbench()
        try await bench.build()
        let plan = try await bench.evaluator().plan()
        #expect(plan.actions.isEmpty && plan.hits == 12 && plan.estimatedCostUSD == 0)
    }

    @Test func `why explains the last decision for each rule of an item`() async throws {
        let bench = try Workbench()
        try await bench.build()
        bench.lessons[0].title = "Nuevo título"
        try await bench.build()

        let explanations = try await bench.store.explain(item: "m1/a")

        #expect(explanations.map(\.rule) == ["audio", "document", "summary", "transcript"])
        #expect(explanations.first { $0.rule == "audio" }?.decision == .hit)
        let document = try #require(explanations.first { $0.rule == "document" })
        #expect(document.decision == .executed)
        #expect(document.reason.description.hasPrefix("input `meta` changed (sha256:"))
        #expect(try await bench.store.explain(item: "m1/a", rule: "summary").map(\.rule) == ["summary"])
    }

    @Test func `trace gives each rule's key, processor, inputs, outputs, cost and run`() async throws {
        let bench = try Workbench()
        let summary = try await bench.build()

        let steps = try await bench.store.provenance(item: "m1/b")

        #expect(steps.map(\.rule) == ["audio", "document", "summary", "transcript"])
        let summaryStep = try #require(steps.first { $0.rule == "summary" })
        #expect(summaryStep.processor == "test.summarize@1.0")
        #expect(summaryStep.costUSD == 0.10 && summaryStep.run == summary.run)
        #expect(summaryStep.files.keys.sorted() == ["prompts/summary.md"])
        #expect(summaryStep.params == #"{"style":"short"}"#)
        let transcript = try #require(steps.first { $0.rule == "transcript" })
        #expect(transcript.inputs.keys.sorted() == ["audio", "captions"])
        #expect(summaryStep.inputs["transcript"] == transcript.outputs["out"])
    }
}
