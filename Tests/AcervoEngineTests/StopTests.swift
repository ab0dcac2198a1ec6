import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
import Synchronization
import Testing
@testable import AcervoEngine

/// A processor that takes `seconds` (or until cancelled), recording whether it finished or was ended.
final class SlowProcessor: Processor {
    let descriptor: ProcessorDescriptor
    let seconds: Double
    private let state = Mutex<(started: Int, finished: Int, cancelled: Int)>((0, 0, 0))

    init(_ id: String, inputs: [InputSlot], seconds: Double) {
        descriptor = ProcessorDescriptor(id: id, version: "1.0", inputs: inputs)
        self.seconds = seconds
    }

    var counts: (started: Int, finished: Int, cancelled: Int) { state.withLock { $0 } }

    func run(_ action: ActionInput) async throws -> ProcessorOutput {
        state.withLock { $0.started += 1 }
        do {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        } catch {
            state.withLock { $0.cancelled += 1 }
            throw error
        }
        state.withLock { $0.finished += 1 }
        return ProcessorOutput(output: try await action.store.put(bytes: Array("slow \(action.itemID)".utf8)).digest)
    }
}

/// The one stop path every build takes (CLI, schedule, API): a raised stop flag starts nothing new; running
/// actions get the grace to commit, then are ended and recorded as interrupted — never as failed.
@Suite struct StopTests {
    static let rules = """
        rules:
          audio: { processor: test.slow@1, input: video }
          document: { processor: test.document@1, inputs: { meta: metadata, transcript: audio, summary: audio } }
        sink: { kind: local, document: document }
        """

    @Test func `a stop lets running actions commit within the grace`() async throws {
        let bench = try Workbench(rules: Self.rules)
        let slow = SlowProcessor("test.slow", inputs: [InputSlot("video")], seconds: 0.4)
        let stop = StopFlag(graceSeconds: 30)
        Task {
            while slow.counts.started == 0 { try await Task.sleep(for: .milliseconds(5)) }
            stop.raise()
        }

        let summary = try await bench.build(BuildOptions(jobs: 1), stop: stop, processors: [slow, bench.document])

        #expect(slow.counts.started == 1 && slow.counts.finished == 1 && slow.counts.cancelled == 0)
        #expect(summary.executed == 1, "the action that was running committed")
        #expect(summary.failed == 0 && summary.interrupted && summary.status == .interrupted)
        #expect(summary.interruptedActions == 3, "the other lessons' audio and the first one's document did not start")
        let events = try await bench.events(summary)
        #expect(events.filter { $0.reason == .interrupted }.map { "\($0.itemID) \($0.rule)" }.sorted() == ["m1/a document", "m1/b audio", "m2/c audio"])
        #expect(!events.contains { $0.decision == .failed })
    }

    @Test func `past the grace a running action is ended and recorded as interrupted, and the next build runs it`() async throws {
        let bench = try Workbench(rules: Self.rules)
        bench.lessons = [bench.lessons[0]]
        let slow = SlowProcessor("test.slow", inputs: [InputSlot("video")], seconds: 600)
        let stop = StopFlag(graceSeconds: 0.2)
        Task {
            while slow.counts.started == 0 { try await Task.sleep(for: .milliseconds(5)) }
            stop.raise()
        }

        let summary = try await bench.build(BuildOptions(jobs: 1), stop: stop, processors: [slow, bench.document])

        #expect(slow.counts.cancelled == 1, "the ten-minute action was ended")
        #expect(summary.failed == 0 && summary.executed == 0 && summary.interruptedActions == 1)
        #expect(summary.status == .interrupted && summary.problems.isEmpty)
        let audio = try #require(try await bench.events(summary).first { $0.rule == "audio" })
        #expect(audio.decision == .skipped && audio.reason == .interrupted && audio.error == "ended when the stop's grace (0.2 s) ran out")

        let quick = SlowProcessor("test.slow", inputs: [InputSlot("video")], seconds: 0)
        let next = try await bench.build(BuildOptions(jobs: 1), processors: [quick, bench.document])
        #expect(next.status == .ok && quick.counts.finished == 1 && next.executed == 2)
    }

    @Test func `a lesson's failures read as one line per cause with the rules they stopped`() {
        let failures = [
            FailureSummary(item: "m/a", rule: "media", error: "the video `a.mp4` cannot be read"),
            FailureSummary(item: "m/a", rule: "audio", error: "the video `a.mp4` cannot be read"),
            FailureSummary(item: "m/a", rule: "frames", error: "the video `a.mp4` cannot be read"),
            FailureSummary(item: "m/a", rule: "captions", error: "the captions `a.vtt` hold no text in their cues"),
            FailureSummary(item: "m/b", rule: "detect", error: "`lesson.yaml` is not a text file"),
        ]
        let blocked = [
            LessonProblem.Blocked(item: "m/a", rule: "ocr", upstream: "frames"),
            LessonProblem.Blocked(item: "m/a", rule: "class", upstream: "ocr"),
            LessonProblem.Blocked(item: "m/a", rule: "document", upstream: "media"),
        ]
        let lines = LessonProblem.group(failures: failures, blocked: blocked).map(\.line)
        #expect(lines == [
            "m/a: the video `a.mp4` cannot be read — failed: audio, frames, media; not run: class, document, ocr",
            "m/a: the captions `a.vtt` hold no text in their cues — failed: captions",
            "m/b: `lesson.yaml` is not a text file",
        ])
    }
}
