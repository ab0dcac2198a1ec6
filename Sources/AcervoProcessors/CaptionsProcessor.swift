import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// `captions@2`: a lesson's existing captions as a transcript — the zero-cost choice. WebVTT by the W3C
/// parsing algorithm, SubRip and YouTube's SBV as tools write them, in UTF-8, UTF-16 or Windows-1252; rolling
/// auto-captions kept once per line. A block it cannot read is skipped and reported as a warning with its
/// line; a file it cannot read at all, or mostly not, fails the action saying where and what to do.
///
/// Version 2 (from 1): the output of captions version 1 read well is unchanged, byte for byte, so documents
/// downstream are cut off early; see docs/captions.md.
public struct CaptionsProcessor: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "captions", version: "2.0", inputs: [InputSlot("captions")], params: [ParamSpec("language", .string)])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let reading = try Self.read(try await action.store.blobs.bytes(of: action.inputs["captions"]!), language: action.params["language"]?.string ?? "und")
        return ProcessorOutput(output: try await action.store.put(bytes: reading.transcript.encoded()).digest,
                               usage: ["cues": Double(reading.cues)], warnings: reading.warnings, metadata: reading.metadata)
    }

    /// What a caption file gives: the transcript, how many cues it had, the blocks skipped, its format and encoding.
    public struct Reading: Sendable {
        public var transcript: Transcript
        public var cues: Int
        public var warnings: [String]
        public var metadata: [String: String]
    }

    /// The processor's work without the store: a caption file's bytes read into a transcript.
    public static func read(_ bytes: [UInt8], language: String) throws(ProcessorFailure) -> Reading {
        let file: CaptionFile
        do { file = try CaptionParser.parse(bytes) } catch {
            throw ProcessorFailure("cannot be read: \(error.description)", input: "captions", fix: "fix the file, or re-export it as UTF-8 WebVTT or SubRip")
        }
        let transcript = Transcript(language: language, source: "captions", segments: file.segments)
        guard !transcript.segments.isEmpty else {
            throw ProcessorFailure("hold no text in their cues", input: "captions", fix: "re-export the captions with their text, or remove the file")
        }
        return Reading(transcript: transcript, cues: file.cues.count, warnings: file.warnings,
                       metadata: ["format": file.format.rawValue, "encoding": file.encoding.rawValue])
    }
}
