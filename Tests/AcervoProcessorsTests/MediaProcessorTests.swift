import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
import AcervoTools
@testable import AcervoProcessors

@Suite struct MediaProcessorTests {
    /// The example's first lesson: narrated, two slides.
    let video = repositoryRoot + "/examples/course/01-fundamentos/01-introduccion/01-introduccion.mp4"

    @Test func `ffprobe reports duration and both streams`() async throws {
        let info = try await MediaInfo.probe(video)
        #expect(info.durationSeconds > 3 && info.durationSeconds < 20)
        #expect(info.videoCodec == "h264" && info.width == 640 && info.height == 360)
        #expect(info.audioCodec == "aac" && info.hasAudio)
    }

    @Test func `audio comes out as 16 kHz mono FLAC, the same bytes every time`() async throws {
        let scratch = try await Scratch()
        let input = try await scratch.store.put(fileAt: video).digest
        let action = scratch.action(inputs: ["video": input], params: ["rate": .number(16000), "channels": .number(1)])
        let first = try await AudioExtractor().run(action)
        let second = try await AudioExtractor().run(action)
        #expect(first.output == second.output, "bit-exact output keeps early cutoff working")
        let info = try await MediaInfo.probe(try await scratch.store.blobs.file(of: first.output))
        #expect(info.audioCodec == "flac" && info.audioSampleRate == 16000 && info.audioChannels == 1 && info.videoCodec == nil)
    }

    @Test func `keyframes catch each slide once, and OCR reads them`() async throws {
        let scratch = try await Scratch()
        let input = try await scratch.store.put(fileAt: video).digest
        let frames = try await KeyframeExtractor().run(scratch.action(inputs: ["video": input], params: ["scene": .number(0.02), "max": .number(10)]))
        let tree = try await scratch.store.tree(frames.output)
        #expect(tree.map(\.name) == ["0001.png", "0002.png"])
        let ocr = try await TesseractOCR().run(scratch.action(inputs: ["frames": frames.output], params: ["languages": .array([.string("spa")])]))
        let text = try await scratch.text(ocr.output)
        #expect(text.contains("Python desde cero"))
        #expect(text.contains("print(\"Hola, mundo"), "the code on the slide")
        #expect(ocr.usage["framesRead"] == 2)
    }

    @Test func `a slide repeated in another lesson is read once`() async throws {
        let scratch = try await Scratch()
        let input = try await scratch.store.put(fileAt: video).digest
        let frames = try await KeyframeExtractor().run(scratch.action(inputs: ["video": input], params: ["scene": .number(0.02)]))
        let entries = try await scratch.store.tree(frames.output)
        let otherLesson = try await scratch.store.putTree([TreeEntry(name: "0001.png", digest: entries[1].digest, size: entries[1].size)])

        let first = try await TesseractOCR().run(scratch.action(inputs: ["frames": frames.output], params: [:]))
        let second = try await TesseractOCR().run(scratch.action(inputs: ["frames": otherLesson], params: [:]))

        #expect(first.usage["framesRead"] == 2)
        #expect(second.usage["framesRead"] == 0, "the frame's text came from the per-frame cache")
        #expect(try await scratch.text(second.output).contains("Hola, mundo"))
    }

    @Test func `a video without sound fails audio extraction with a clear reason`() async throws {
        let scratch = try await Scratch()
        let silent = scratch.path + "/mudo.mp4"
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ffmpeg.arguments = ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=160x90:d=1", "-an", silent]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        let input = try await scratch.store.put(fileAt: silent).digest
        do {
            _ = try await AudioExtractor().run(scratch.action(inputs: ["video": input]))
            Issue.record("expected a failure")
        } catch let failure as ProcessorFailure {
            #expect(failure.description.hasPrefix("the video has no sound, so there is nothing to transcribe"), "\(failure.description)")
            #expect(failure.input == "video")
        }
    }
}

@Suite struct ExternalToolTests {
    @Test func `a tool that hangs is stopped at its timeout and does not outlive it`() async throws {
        let marker = "\(Int.random(in: 1_000_000...9_999_999))"
        do {
            _ = try await ExternalTool.run("sleep", ["3\(marker)"], timeoutSeconds: 0.3)
            Issue.record("sleep returned")
        } catch let failure as ExternalTool.Failure {
            #expect(failure.kind == .timedOut)
            #expect(failure.description == "`sleep` did not finish within 0.3 s and was stopped")
        }
        // Cancelling the run kills the program: no `sleep 3…` of ours is left.
        var left = true
        for _ in 0..<100 where left {
            left = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).contains { entry in
                guard Int32(entry) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
                return String(decoding: cmdline, as: UTF8.self).contains(marker)
            }
            if left { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        #expect(!left)
    }

    @Test func `a tool that is not installed says so`() async {
        do {
            _ = try await ExternalTool.run("acervo-no-such-tool", [], timeoutSeconds: 5)
            Issue.record("it ran")
        } catch let failure as ExternalTool.Failure {
            #expect(failure.kind == .notRunnable && failure.description.contains("is not installed (run scripts/setup)"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
