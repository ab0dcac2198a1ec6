import AcervoRules
import AcervoStore
import Foundation
import Testing
@testable import AcervoEngine

/// What re-runs after each kind of change, counted on the processors themselves.
@Suite struct IncrementalBuildTests {
    @Test func `a cold build runs every action and a second build executes nothing`() async throws {
        let bench = try Workbench()
        let first = try await bench.build()
        #expect(first.executed == 12 && first.hits == 0 && first.failed == 0)
        #expect(abs(first.costUSD - 0.30) < 1e-9)
        let runsAfterFirst = bench.totalRuns

        let second = try await bench.build()

        #expect(second.executed == 0 && second.hits == 12)
        #expect(bench.totalRuns == runsAfterFirst)
        #expect(second.costUSD == 0)
        #expect(second.snapshot == first.snapshot)
        #expect(second.status == .ok)
    }

    @Test func `a changed source file re-runs only that item's chain`() async throws {
        let bench = try Workbench()
        try await bench.build()
        bench.lessons[1].files["video"] = Array("video B, re-edited".utf8)

        let summary = try await bench.build()

        #expect(try await bench.executed(summary) == ["m1/b:audio", "m1/b:transcript", "m1/b:summary", "m1/b:document"])
        let reasons = try await bench.events(summary).filter { $0.rule == "audio" && $0.decision == .executed }.map(\.reason.description)
        #expect(reasons.count == 1 && reasons[0].hasPrefix("input `video` changed (sha256:"))
    }

    @Test func `a changed parameter re-runs that rule and its dependents`() async throws {
        let bench = try Workbench()
        try await bench.build()
        try bench.writeRules(Workbench.defaultRules.replacingOccurrences(of: "style: short", with: "style: long"))

        let summary = try await bench.build()

        #expect(try await bench.executed(summary) == Set(["m1/a", "m1/b", "m2/c"].flatMap { ["\($0):summary", "\($0):document"] }))
        let reason = try await bench.events(summary).first { $0.rule == "summary" && $0.decision == .executed }?.reason
        #expect(reason == .changed([.paramChanged(name: "style", old: #""short""#, new: #""long""#)]))
        #expect(reason?.description == #"param `style` changed ("short" → "long")"#)
    }

    @Test func `an action that re-runs to identical bytes does not re-run its dependents`() async throws {
        let bench = try Workbench()
        try await bench.build()
        try bench.writeRules(Workbench.defaultRules.replacingOccurrences(of: "gain: 1", with: "gain: 2"))

        let summary = try await bench.build()

        #expect(try await bench.executed(summary) == ["m1/a:audio", "m1/b:audio", "m2/c:audio"])
        #expect(summary.hits == 9)
    }

    @Test func `a processor version bump re-runs that rule, with the versions in the reason`() async throws {
        let bench = try Workbench()
        try await bench.build()
        bench.transcribe = CountingProcessor("test.transcribe", version: "1.1",
                                             inputs: [InputSlot("audio", required: false), InputSlot("captions", required: false)])

        let summary = try await bench.build()

        let transcriptRuns = try await bench.events(summary).filter { $0.rule == "transcript" && $0.decision == .executed }
        #expect(transcriptRuns.count == 3)
        #expect(transcriptRuns.allSatisfy { $0.reason.description == "processor version 1.0 → 1.1" })
    }

    @Test func `an edited prompt file re-runs the rules that use it`() async throws {
        let bench = try Workbench()
        try await bench.build()
        try bench.writePrompt("Summarise in Portuguese.")

        let summary = try await bench.build()

        #expect(try await bench.executed(summary) == Set(["m1/a", "m1/b", "m2/c"].flatMap { ["\($0):summary", "\($0):document"] }))
        let reason = try #require(try await bench.events(summary).first { $0.rule == "summary" && $0.decision == .executed }?.reason.description)
        #expect(reason.hasPrefix("file `prompts/summary.md` changed (sha256:"))
    }

    @Test func `a title edit re-runs only the rules that take metadata`() async throws {
        let bench = try Workbench()
        try await bench.build()
        bench.lessons[0].title = "Introducción"

        let summary = try await bench.build()

        #expect(try await bench.executed(summary) == ["m1/a:document"])
        let manifest = try await bench.manifest(summary)
        #expect(manifest.entries.first { $0.itemID == "m1/a" }?.title == "Introducción")
    }

    @Test func `a renamed rule re-runs nothing`() async throws {
        let bench = try Workbench()
        try await bench.build()
        try bench.writeRules(Workbench.defaultRules
            .replacingOccurrences(of: "  summary: {", with: "  abstract: {")
            .replacingOccurrences(of: "summary: summary", with: "summary: abstract"))

        let summary = try await bench.build()

        #expect(summary.executed == 0 && summary.hits == 12)
    }

    @Test func `the same content in two items runs once`() async throws {
        let bench = try Workbench()
        bench.lessons[2].files["video"] = bench.lessons[0].files["video"]

        let summary = try await bench.build()

        #expect(bench.audio.runs.count == 2)
        #expect(bench.transcribe.runs.count == 2)
        #expect(bench.summarize.runs.count == 2)
        #expect(bench.document.runs.count == 3, "documents differ: each has its own metadata")
        #expect(summary.executed + summary.hits == 12)
        #expect(abs(summary.costUSD - 0.20) < 1e-9)
    }

    @Test func `every decision of a run is recorded`() async throws {
        let bench = try Workbench()
        let first = try await bench.build()
        let second = try await bench.build()
        #expect(try await bench.events(first).count == 12)
        #expect(try await bench.events(second).count == 12)
        #expect(try await bench.events(second).allSatisfy { $0.decision == .hit && $0.reason.description == "cached" })
        #expect(try await bench.store.cacheStatistics().total.hits == 12)
    }

    @Test func `a refreshed rule runs again even on a hit`() async throws {
        let bench = try Workbench()
        try await bench.build()
        let summary = try await bench.build(BuildOptions(jobs: 2, refresh: ["summary"]))
        #expect(try await bench.executed(summary) == ["m1/a:summary", "m1/b:summary", "m2/c:summary"])
        #expect(try await bench.events(summary).filter { $0.decision == .executed }.allSatisfy { $0.reason.description == "refresh requested" })
    }
}

/// Plain hits are kept as one content-addressed list per run, yet every decision stays readable.
@Suite struct HitListTests {
    @Test func `a no-op build lists its hits in one blob that identical nights share`() async throws {
        let bench = try Workbench()
        let cold = try await bench.build()
        let first = try await bench.build()
        let second = try await bench.build()
        // Every decision of the no-op runs is still on record, as a hit with its key.
        let events = try await bench.events(second)
        #expect(events.count == 12 && events.allSatisfy { $0.decision == .hit && $0.key != nil })
        #expect(try await bench.store.journal.events(run: second.run).isEmpty, "no event row per plain hit")
        let firstList = try #require(try await bench.store.refs.ref("hits/\(first.run)"))
        let secondList = try #require(try await bench.store.refs.ref("hits/\(second.run)"))
        #expect(firstList.digest == secondList.digest)
        #expect(try await bench.store.refs.ref("hits/\(cold.run)") == nil)
        // Hits count in the cache statistics and in `why`.
        let stats = try await bench.store.cacheStatistics()
        #expect(stats.total.hits == 24)
        #expect(abs(stats.total.savedUSD - 2 * 0.30) < 1e-9)
        let why = try await bench.store.explain(item: "m1/a")
        #expect(why.count == 4 && why.allSatisfy { $0.decision == .hit && $0.run == second.run })
    }

    @Test func `gc keeps the hit lists (their refs are roots); fsck checks them`() async throws {
        let bench = try Workbench()
        try await bench.build()
        let noop = try await bench.build()
        let list = try #require(try await bench.store.refs.ref("hits/\(noop.run)"))
        _ = try await bench.store.collectGarbage(policy: GCPolicy(graceSeconds: 0), apply: true)
        #expect(await bench.store.blobs.contains(list.digest))
        #expect(try await bench.store.fsck(repair: false).isClean)
        let after = try await bench.build()
        #expect(after.executed == 0)
    }
}

/// Free inputs first: a rule can prefer one upstream over another, and a paid rule can step aside.
@Suite struct AlternativeInputTests {
    @Test func `a paid transcription runs only for lessons without captions, and documents take whichever transcript exists`() async throws {
        let bench = try Workbench()
        let fromCaptions = CountingProcessor("test.captions", inputs: [InputSlot("captions")])
        let speech = CountingProcessor("test.stt", inputs: [InputSlot("audio")], costUSD: 0.05)
        let document = CountingProcessor("test.doc", inputs: [InputSlot("transcript")])
        try bench.writeRules("""
            rules:
              audio: { processor: test.audio@1, input: video }
              captions_text: { processor: test.captions@1, input: captions }
              speech: { processor: test.stt@1, input: audio, unless: captions }
              document: { processor: test.doc@1, input: [captions_text, speech] }
            sink: { kind: local, document: document }
            """)
        let processors: [any Processor] = [bench.audio, fromCaptions, speech, document]
        let summary = try await bench.build(BuildOptions(jobs: 2), processors: processors)
        // m1/b has captions: transcribed for free; m1/a and m2/c pay for speech.
        #expect(Set(speech.runs) == ["m1/a", "m2/c"])
        #expect(fromCaptions.runs == ["m1/b"])
        #expect(Set(document.runs) == ["m1/a", "m1/b", "m2/c"])
        #expect(abs(summary.costUSD - 0.10) < 1e-9)
        #expect(summary.failed == 0 && summary.skipped == 0)
        let skipped = try await bench.events(summary).first { $0.itemID == "m1/b" && $0.rule == "speech" }
        #expect(skipped?.reason.description == "not applicable: the item has `captions`")

        // Captions added to a lesson later: its document switches to them, and speech is not paid again.
        bench.lessons[0].files["captions"] = Array("WEBVTT A".utf8)
        let after = try await bench.build(BuildOptions(jobs: 2), processors: processors)
        #expect(Set(speech.runs) == ["m1/a", "m2/c"])
        #expect(fromCaptions.runs == ["m1/b", "m1/a"])
        #expect(after.costUSD == 0)
    }
}
