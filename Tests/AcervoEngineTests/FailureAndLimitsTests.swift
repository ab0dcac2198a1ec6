import AcervoRules
import AcervoStore
import Foundation
import Synchronization
import Testing
@testable import AcervoEngine

@Suite struct FailureAndLimitsTests {
    @Test func `a failed action skips its dependents, the other items finish, and the old document is kept`() async throws {
        let bench = try Workbench()
        let first = try await bench.build()
        let before = try await bench.manifest(first)
        bench.lessons[1].files["video"] = Array("video B v2".utf8)
        bench.transcribe.fail(item: "m1/b", with: ProcessorFailure("speech service said: invalid audio"))

        let summary = try await bench.build()

        #expect(summary.failed == 1 && summary.skipped == 2)
        #expect(summary.status == .failed)
        #expect(summary.failures == [FailureSummary(item: "m1/b", rule: "transcript", error: "speech service said: invalid audio")])
        let events = try await bench.events(summary).filter { $0.itemID == "m1/b" }
        #expect(events.first { $0.rule == "summary" }?.reason == .dependencyFailed(rule: "transcript"))
        #expect(events.first { $0.rule == "document" }?.reason.description == "dependency `transcript` failed")
        let after = try await bench.manifest(summary)
        let kept = try #require(after.entries.first { $0.itemID == "m1/b" })
        #expect(kept.kept && kept.document == before.entries.first { $0.itemID == "m1/b" }?.document)
        #expect(after.entries.count == 3)
    }

    @Test func `a damaged previous snapshot with no whole one to fall back on fails the build instead of dropping tonight's failed lessons`() async throws {
        let bench = try Workbench()
        let first = try await bench.build()
        let memory = try #require(bench.store.blobs as? MemoryBlobStore)
        memory.overwrite(try Digest(parsing: try #require(first.snapshot)), with: Array("{\"entries\": [trunc".utf8))
        bench.lessons[1].files["video"] = Array("video B v2".utf8)
        bench.transcribe.fail(item: "m1/b", with: ProcessorFailure("speech service down"))

        let error = await #expect(throws: StoreError.self) { try await bench.build() }
        #expect(error?.description.hasPrefix("the knowledge base's snapshots are damaged on disk (\(first.snapshot!))") == true, "\(String(describing: error))")
    }

    @Test func `a damaged latest snapshot falls back to the newest whole one, and says so`() async throws {
        let bench = try Workbench()
        let first = try await bench.build()
        bench.lessons[0].title = "Introducción"
        let second = try await bench.build()
        #expect(second.snapshot != first.snapshot)
        let memory = try #require(bench.store.blobs as? MemoryBlobStore)
        let latest = try Digest(parsing: try #require(second.snapshot))
        var damaged = try #require(memory.peek(latest))
        damaged[damaged.count / 2] ^= 0x01
        memory.overwrite(latest, with: damaged)
        bench.lessons[1].files["video"] = Array("video B v2".utf8)
        bench.transcribe.fail(item: "m1/b", with: ProcessorFailure("speech service down"))

        let third = try await bench.build()

        #expect(third.failed == 1)
        #expect(third.warnings.map(\.message) == [
            "the latest snapshot \(second.snapshot!) is damaged on disk; lessons that failed tonight keep their documents from snapshots/\(first.run) (\(first.snapshot!))",
        ])
        let entries = try await bench.manifest(third).entries
        let original = try await bench.manifest(first).entries.first { $0.itemID == "m1/b" }?.document
        let kept = try #require(entries.first { $0.itemID == "m1/b" })
        #expect(kept.kept && kept.document == original)
    }

    @Test func `a damaged snapshot manifest is written again by the next build`() async throws {
        let bench = try Workbench()
        let first = try await bench.build()
        let digest = try Digest(parsing: try #require(first.snapshot))
        let memory = try #require(bench.store.blobs as? MemoryBlobStore)
        var damaged = try #require(memory.peek(digest))
        damaged[0] ^= 0x01
        memory.overwrite(digest, with: damaged)

        let second = try await bench.build()

        #expect(second.snapshot == first.snapshot && second.executed == 0)
        #expect(memory.peek(digest).map { Digest.of($0) } == digest, "whole again")
    }

    @Test func `a paid rule without a price stops the plan and the build before anything runs, naming the rule and its processor`() async throws {
        let bench = try Workbench()
        bench.summarize = CountingProcessor("test.summarize", inputs: [InputSlot("transcript")], params: [ParamSpec("style", .string)], costUSD: 0.10,
                                            missingPrice: RulesError("prices.yaml has no price for test per call", at: nil))
        let expected = PricingError(rule: "summary", processor: ProcessorReference(id: "test.summarize", major: 1),
                                    problem: "prices.yaml has no price for test per call")

        await #expect(throws: expected) { try await bench.evaluator().plan() }
        await #expect(throws: expected) { try await bench.build() }
        #expect(bench.totalRuns == 0)
        #expect(expected.description == "rule `summary` (test.summarize@1) cannot be priced: prices.yaml has no price for test per call")
    }

    @Test func `a retryable failure is retried, honouring Retry-After`() async throws {
        let bench = try Workbench()
        let delays = Mutex<[Double]>([])
        let retry = RetryPolicy(maxAttempts: 3, baseDelaySeconds: 0.5) { delay in delays.withLock { $0.append(delay) } }
        bench.summarize.fail(item: "m1/a", with: ProcessorFailure("429 Too Many Requests", retryable: true, retryAfterSeconds: 7),
                             ProcessorFailure("503 Service Unavailable", retryable: true))

        let summary = try await bench.build(BuildOptions(jobs: 2, retry: retry))

        #expect(summary.failed == 0 && summary.executed == 12)
        #expect(bench.summarize.runs.filter { $0 == "m1/a" }.count == 3)
        let recorded = delays.withLock { $0 }
        #expect(recorded.count == 2 && recorded[0] == 7)
        #expect(recorded[1] >= 0.5 && recorded[1] <= 1.0, "second attempt: exponential backoff with jitter")
    }

    @Test func `a permanent failure is not retried`() async throws {
        let bench = try Workbench()
        let delays = Mutex<[Double]>([])
        let retry = RetryPolicy(maxAttempts: 3) { delay in delays.withLock { $0.append(delay) } }
        bench.summarize.fail(item: "m1/a", with: ProcessorFailure("400 Bad Request"))
        let summary = try await bench.build(BuildOptions(jobs: 2, retry: retry))
        #expect(summary.failed == 1)
        #expect(bench.summarize.runs.filter { $0 == "m1/a" }.count == 1)
        #expect(delays.withLock { $0 }.isEmpty)
    }

    @Test func `the budget stops paid actions before they start and exits 3`() async throws {
        let bench = try Workbench()

        let summary = try await bench.build(BuildOptions(jobs: 1, budgetUSD: 0.25))

        #expect(bench.summarize.runs.count == 2)
        #expect(summary.budgetReached && summary.status == .budget)
        #expect(abs(summary.costUSD - 0.20) < 1e-9)
        let refused = try await bench.events(summary).filter { $0.rule == "summary" && $0.decision == .skipped }
        #expect(refused.count == 1)
        #expect(refused[0].reason == .budgetReached(estimateUSD: 0.10, limitUSD: 0.25))
        #expect(refused[0].reason.description == "budget: up to $0.1000 (its estimate's high end) would take the run past the budget of $0.25")
        #expect(summary.executed == 10)
    }

    /// Pays $0.02 for a piece in each attempt (as `PaidPieceMemo` reports it), then fails as told.
    final class PiecePayer: Processor {
        let descriptor = ProcessorDescriptor(id: "test.summarize", version: "1.0", inputs: [InputSlot("transcript")],
                                             params: [ParamSpec("style", .string)], isPaid: true)
        let attempts = Mutex<[String: Int]>([:])
        /// item → how it fails: "once" a passing failure on the first attempt, "always" a lasting one.
        let failing: [String: String]

        init(failing: [String: String]) { self.failing = failing }

        func estimate(_ action: ActionInput) async throws -> CostEstimate { CostEstimate(exactly: 0.05, basis: "two pieces") }

        func run(_ action: ActionInput) async throws -> ProcessorOutput {
            let attempt = attempts.withLock { $0[action.itemID, default: 0] += 1; return $0[action.itemID]! }
            PieceLedger.current?.add(0.02)
            switch failing[action.itemID] {
            case "once" where attempt == 1: throw ProcessorFailure("503", retryable: true)
            case "always": throw ProcessorFailure("400 Bad Request")
            default: return ProcessorOutput(output: try await action.store.put(bytes: Array("summary \(attempt)".utf8)).digest, costUSD: 0.02)
            }
        }
    }

    @Test func `what paid pieces cost is recorded even when an attempt, or the action, fails`() async throws {
        let bench = try Workbench()
        let payer = PiecePayer(failing: ["m1/a": "once", "m2/c": "always"])
        let retry = RetryPolicy(maxAttempts: 2) { _ in }
        let summary = try await bench.build(BuildOptions(jobs: 1, retry: retry),
                                             processors: [bench.audio, bench.transcribe, payer, bench.document])
        let events = try await bench.events(summary).filter { $0.rule == "summary" }
        let cost = Dictionary(uniqueKeysWithValues: events.map { ($0.itemID, ($0.decision, $0.costUSD)) })
        // m1/a: the failed attempt's piece and the successful one's; m1/b: one; m2/c: both attempts, failed.
        #expect(cost["m1/a"]?.0 == .executed && abs((cost["m1/a"]?.1 ?? 0) - 0.04) < 1e-12)
        #expect(cost["m1/b"]?.0 == .executed && abs((cost["m1/b"]?.1 ?? 0) - 0.02) < 1e-12)
        #expect(cost["m2/c"]?.0 == .failed && abs((cost["m2/c"]?.1 ?? 0) - 0.02) < 1e-12)
        #expect(abs(summary.costUSD - 0.08) < 1e-12, "every dollar paid is in the run's cost")
        let recorded = try await bench.store.lookup(try #require(events.first { $0.itemID == "m1/a" }?.key))
        #expect(abs((recorded?.costUSD ?? 0) - 0.04) < 1e-12)
        #expect(events.first { $0.itemID == "m1/a" }?.estimate == EventEstimate(expectedUSD: 0.05, highUSD: 0.05))
    }

    @Test func `a budget in pipeline.yaml applies when no flag is given`() async throws {
        let bench = try Workbench(rules: "budget_usd: 0.15\n" + Workbench.defaultRules)
        let summary = try await bench.build(BuildOptions(jobs: 1))
        #expect(bench.summarize.runs.count == 1 && summary.status == .budget)
    }

    /// Each rule's runs pass a gate that holds them until the limit's worth are in flight at once: the engine
    /// must reach its limits (a serial engine would leave the gate closed, and the time limit fails the test)
    /// and never go past them.
    @Test(.timeLimit(.minutes(1))) func `per-rule concurrency and the global job limit are reached and respected`() async throws {
        let bench = try Workbench(rules: Workbench.defaultRules.replacingOccurrences(
            of: "input: video, params: { gain: 1 } }", with: "input: video, params: { gain: 1 }, concurrency: 1 }"))
        bench.lessons += (0..<6).map { Lesson(id: "m3/\($0)", title: "Extra \($0)", files: ["video": Array("video extra \($0)".utf8)]) }
        let audioGate = Gate(width: 1, expected: 9)
        let transcribeGate = Gate(width: 2, expected: 9)
        bench.audio = CountingProcessor("test.audio", inputs: [InputSlot("video")], params: [ParamSpec("gain", .number)], gate: audioGate)
        bench.transcribe = CountingProcessor("test.transcribe", inputs: [InputSlot("audio", required: false), InputSlot("captions", required: false)],
                                             gate: transcribeGate)

        let summary = try await bench.build(BuildOptions(jobs: 2))

        #expect(summary.executed == 36)
        #expect(await audioGate.peak == 1, "`audio` has `concurrency: 1`")
        #expect(await transcribeGate.peak == 2, "`--jobs 2`: two at once, never more")
    }

    @Test(.timeLimit(.minutes(1))) func `independent rules of one item run at the same time`() async throws {
        let bench = try Workbench(rules: """
            rules:
              audio: { processor: test.audio@1, input: video, params: { gain: 1 } }
              louder: { processor: test.audio@1, input: video, params: { gain: 2 } }
              document: { processor: test.document@1, inputs: { meta: metadata, transcript: audio, summary: louder } }
            sink: { kind: local, document: document }
            """)
        // Each run waits until both are in flight: run one after the other, they never would.
        let gate = Gate(width: 2, expected: 2)
        bench.audio = CountingProcessor("test.audio", inputs: [InputSlot("video")], params: [ParamSpec("gain", .number)], gate: gate)
        bench.lessons = [bench.lessons[0]]

        let summary = try await bench.build(BuildOptions(jobs: 2))

        #expect(summary.executed == 3)
        #expect(await gate.peak == 2, "`audio` and `louder` read only the video: they overlap")
    }

    @Test func `after a stop request no new action starts and hits are still served`() async throws {
        let bench = try Workbench()
        try await bench.build()
        bench.lessons[0].files["video"] = Array("video A v2".utf8)
        let stop = StopFlag()
        stop.raise()

        let summary = try await bench.build(stop: stop)

        #expect(summary.interrupted && summary.status == .interrupted)
        #expect(summary.executed == 0 && summary.hits == 8)
        let skipped = try await bench.events(summary).filter { $0.decision == .skipped }
        #expect(skipped.first { $0.rule == "audio" }?.reason.description == "interrupted")
        #expect(skipped.map(\.reason.description).sorted() == [
            "dependency `audio` was skipped", "dependency `transcript` was skipped", "dependency `transcript` was skipped", "interrupted",
        ])
    }

    @Test func `an item without a required input is not applicable, not failed`() async throws {
        let bench = try Workbench()
        bench.lessons.append(Lesson(id: "m3/reading", title: "Reading only", files: [:]))

        let summary = try await bench.build()

        #expect(summary.failed == 0 && summary.status == .ok)
        #expect(summary.notApplicable == 1)
        let events = try await bench.events(summary).filter { $0.itemID == "m3/reading" }
        #expect(events.first { $0.rule == "audio" }?.reason.description == "not applicable: the item has no `video`")
        #expect(events.first { $0.rule == "transcript" }?.decision == .executed)
    }

    @Test func `a removed item leaves the next snapshot`() async throws {
        let bench = try Workbench()
        try await bench.build()
        bench.lessons.removeLast()
        let summary = try await bench.build()
        let manifest = try await bench.manifest(summary)
        #expect(manifest.entries.map(\.itemID) == ["m1/a", "m1/b"])
        #expect(summary.executed == 0)
    }
}
