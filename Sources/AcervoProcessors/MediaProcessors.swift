import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import AcervoTools
import Foundation

extension MediaInfo {
    /// Runs ffprobe on a blob; a file it cannot read (corrupt, empty, not media) is a clear failure.
    public static func probe(_ path: String) async throws -> MediaInfo {
        let output: ExternalTool.Output
        do {
            output = try await ExternalTool.run(
                "ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", path], timeoutSeconds: 60)
        } catch let failure as ExternalTool.Failure where failure.kind == .exited {
            throw ProcessorFailure("cannot be read: it is corrupt, cut short or not a video", input: "video",
                                   said: failure.said.isEmpty ? nil : "ffprobe: " + failure.said,
                                   fix: "replace it with a copy that plays, then build again")
        }
        struct Probe: Decodable {
            struct Stream: Decodable {
                var codec_type: String?
                var codec_name: String?
                var width: Int?
                var height: Int?
                var sample_rate: String?
                var channels: Int?
            }
            struct Format: Decodable { var duration: String? }
            var streams: [Stream]?
            var format: Format?
        }
        let probe = try JSONDecoder().decode(Probe.self, from: Data(output.standardOutput))
        let video = probe.streams?.first { $0.codec_type == "video" }
        let audio = probe.streams?.first { $0.codec_type == "audio" }
        guard video != nil || audio != nil, let duration = probe.format?.duration.flatMap(Double.init), duration > 0 else {
            throw ProcessorFailure("holds no playable sound or picture", input: "video", fix: "replace it with a copy that plays, then build again")
        }
        return MediaInfo(
            durationSeconds: (duration * 1000).rounded() / 1000, videoCodec: video?.codec_name, width: video?.width, height: video?.height,
            audioCodec: audio?.codec_name, audioSampleRate: audio?.sample_rate.flatMap { Int($0) }, audioChannels: audio?.channels)
    }
}

/// `ffprobe@1`: duration and streams of a lesson's video.
public struct MediaProbe: Processor {
    public let descriptor = ProcessorDescriptor(id: "ffprobe", version: "1.0", inputs: [InputSlot("video")])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let info = try await ProbeMemo.info(of: action.inputs["video"]!, store: action.store)
        return ProcessorOutput(output: try await action.store.put(bytes: info.encoded()).digest)
    }
}

/// `ffmpeg.audio@1`: the soundtrack as FLAC (lossless, about half of WAV), 16 kHz mono by default — what
/// speech-to-text services want. Bit-exact flags keep the output identical across runs (early cutoff).
public struct AudioExtractor: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "ffmpeg.audio", version: "1.0", inputs: [InputSlot("video")],
        params: [ParamSpec("rate", .integer), ParamSpec("channels", .integer), ParamSpec("codec", .string)])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let video = try await action.store.blobs.file(of: action.inputs["video"]!)
        guard (action.params["codec"]?.string ?? "flac") == "flac" else {
            throw ProcessorFailure("ffmpeg.audio@1 writes FLAC only; remove `codec` or set it to flac")
        }
        let info = try await ProbeMemo.info(of: action.inputs["video"]!, store: action.store)
        guard info.hasAudio else {
            throw ProcessorFailure("has no sound, so there is nothing to transcribe", input: "video",
                                   fix: "add captions to the lesson, or replace the video with one that has sound")
        }
        let scratch = try ScratchFolder()
        let output = scratch.path + "/audio.flac"
        _ = try await ExternalTool.run("ffmpeg", [
            "-nostdin", "-v", "error", "-i", video, "-vn", "-map", "0:a:0",
            "-ac", String(action.params["channels"]?.int ?? 1), "-ar", String(action.params["rate"]?.int ?? 16000),
            "-c:a", "flac", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", output,
        ], timeoutSeconds: max(120, info.durationSeconds))
        return ProcessorOutput(output: try await action.store.put(fileAt: output).digest, usage: ["seconds": info.durationSeconds])
    }
}

/// `ffmpeg.keyframes@1`: the first frame and every scene change (slides, cuts) as PNGs, at most `max`,
/// identical frames stored once. Output: a tree of `0001.png`, `0002.png`, … in time order.
public struct KeyframeExtractor: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "ffmpeg.keyframes", version: "1.0", inputs: [InputSlot("video")],
        params: [ParamSpec("scene", .number), ParamSpec("max", .integer)])

    /// At most this many frames when the rule says no `max`.
    public static let defaultMax = 60

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let video = try await action.store.blobs.file(of: action.inputs["video"]!)
        let info = try await ProbeMemo.info(of: action.inputs["video"]!, store: action.store)
        guard info.videoCodec != nil else {
            throw ProcessorFailure("has no picture to take slides from (sound only)", input: "video",
                                   fix: "replace it with the lesson's video, or drop the frames rule for sound-only lessons")
        }
        let scene = action.params["scene"]?.number ?? 0.3
        let maximum = action.params["max"]?.int ?? Self.defaultMax
        let scratch = try ScratchFolder()
        _ = try await ExternalTool.run("ffmpeg", [
            "-nostdin", "-v", "error", "-i", video, "-vf", "select='eq(n\\,0)+gt(scene\\,\(scene))'", "-vsync", "vfr",
            "-frames:v", String(maximum), "-fflags", "+bitexact", "-flags:v", "+bitexact", scratch.path + "/%04d.png",
        ], timeoutSeconds: max(120, info.durationSeconds))
        var seen = Set<Digest>()
        var entries: [TreeEntry] = []
        for name in try scratch.files() where name.hasSuffix(".png") {
            let stored = try await action.store.put(fileAt: scratch.path + "/" + name)
            guard seen.insert(stored.digest).inserted else { continue }
            entries.append(TreeEntry(name: String(format: "%04d.png", entries.count + 1), digest: stored.digest, size: stored.size))
        }
        return ProcessorOutput(output: try await action.store.putTree(entries), usage: ["frames": Double(entries.count)])
    }
}

/// `tesseract@1`: the text on each keyframe, in the rule's languages (`spa`, `por`, `eng`).
///
/// Each frame's text is itself a cached action keyed by the frame's digest, so a slide that appears in many
/// lessons — or again after an unrelated edit — is read once.
public struct TesseractOCR: Processor {
    public let descriptor = ProcessorDescriptor(
        id: "tesseract", version: "1.0", inputs: [InputSlot("frames")], params: [ParamSpec("languages", .stringList)])

    public init() {}

    /// Frames read at once: one tesseract per core, each on one thread (`OMP_THREAD_LIMIT=1`) — separate
    /// processes keep every core busy, where one process's own threads mostly wait on each other.
    static var readers: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let languages = action.params["languages"]?.array?.compactMap(\.string) ?? ["eng"]
        let memo = FrameTextMemo(processor: "tesseract.frame", version: descriptor.version, languages: languages, store: action.store)
        let frames = try await action.store.tree(action.inputs["frames"]!)
        var texts = [String](repeating: "", count: frames.count)
        var read = 0
        // Frames are read `readers` at a time; their texts keep the frames' order.
        try await withThrowingTaskGroup(of: (index: Int, text: String, read: Bool).self) { group in
            var next = frames.indices.makeIterator()
            func start() {
                guard let index = next.next() else { return }
                let frame = frames[index]
                group.addTask {
                    if let text = try await memo.cached(frame.digest) { return (index, text, false) }
                    let output = try await ExternalTool.run(
                        "tesseract", [try await action.store.blobs.file(of: frame.digest), "-", "-l", languages.joined(separator: "+"), "--psm", "3"],
                        timeoutSeconds: 120, environment: ["OMP_THREAD_LIMIT": "1"])
                    let text = ScreenText.tidy(frame: String(decoding: output.standardOutput, as: UTF8.self))
                    try await memo.remember(text, for: frame.digest)
                    return (index, text, true)
                }
            }
            for _ in 0..<Self.readers { start() }
            while let done = try await group.next() {
                texts[done.index] = done.text
                if done.read { read += 1 }
                start()
            }
        }
        let output = try await action.store.put(bytes: ScreenText(frameTexts: texts).encoded())
        return ProcessorOutput(output: output.digest, usage: ["framesRead": Double(read)])
    }
}

/// The text of single frames as cached actions of their own, keyed by the frame's digest, the reader and
/// its languages: a slide that appears in many lessons is read (and, with a paid reader, paid) once.
public struct FrameTextMemo: Sendable {
    public let processor: String
    public let version: String
    public let languages: [String]
    public let store: Store
    private let memo: PaidPieceMemo

    public init(processor: String, version: String, languages: [String], store: Store) {
        self.processor = processor
        self.version = version
        self.languages = languages
        self.store = store
        memo = PaidPieceMemo(processor: processor, version: version, params: ["languages": .array(languages.map(JSONValue.string))],
                             input: "frame", store: store)
    }

    /// Whether the frame was read before, without counting a hit (for estimates).
    public func wasRead(_ frame: Digest) async throws -> Bool { try await memo.contains(frame) }

    /// The frame's text if it was read before (counted as a hit).
    public func cached(_ frame: Digest) async throws -> String? {
        try await memo.answer(for: frame).map { String(decoding: $0, as: UTF8.self) }
    }

    public func remember(_ text: String, for frame: Digest, costUSD: Double = 0, provider: String? = nil) async throws {
        try await memo.remember(Array(text.utf8), for: frame, costUSD: costUSD, provider: provider)
    }
}

/// A provider's answer to one paid piece of an action — a frame read, a piece of audio transcribed — kept under
/// a key of its own (the piece's digest and the request's parameters), so what was paid for is never paid again:
/// not when another lesson shows the same slide, not when a later piece of the same action fails.
public struct PaidPieceMemo: Sendable {
    public let processor: String
    public let version: String
    public let params: [String: JSONValue]
    /// The name the piece has in the key (`frame`, `audio`).
    public let input: String
    public let store: Store

    public init(processor: String, version: String, params: [String: JSONValue], input: String, store: Store) {
        self.processor = processor
        self.version = version
        self.params = params
        self.input = input
        self.store = store
    }

    func key(_ piece: Digest) -> ActionKey {
        KeyComponents(processor: processor, version: version, params: params, inputs: [input: piece], files: [:]).key
    }

    /// Whether the piece was answered before, without counting a hit.
    public func contains(_ piece: Digest) async throws -> Bool {
        try await store.lookup(key(piece)) != nil
    }

    /// The answer stored for the piece, without counting a hit, or nil.
    public func stored(for piece: Digest) async throws -> [UInt8]? {
        guard let cached = try await store.lookup(key(piece)), let digest = cached.outputs["out"] else { return nil }
        return try await store.blobs.bytes(of: digest)
    }

    /// The answer stored for the piece (counted as a hit), or nil.
    public func answer(for piece: Digest) async throws -> [UInt8]? {
        guard let bytes = try await stored(for: piece) else { return nil }
        try await store.actionCache.recordHit(key(piece), at: Date())
        return bytes
    }

    /// The provider's answer for a piece: the one kept from before (counted as a hit), else `ask`'s, kept at
    /// once with what it cost — its billed units (seconds, images) × `pricePerUnit`. `paidUnits` is nil for an
    /// answer kept from before: nothing was paid for it now.
    func answer<Answer: Codable>(for piece: Digest, pricePerUnit: Double, provider: String, model: String,
                                 billedUnits: (Answer) -> Double, ask: () async throws -> Answer) async throws -> (answer: Answer, paidUnits: Double?) {
        if let bytes = try await answer(for: piece), let kept = try? JSONDecoder().decode(Answer.self, from: Data(bytes)) { return (kept, nil) }
        let fresh = try await ask()
        let units = billedUnits(fresh)
        try await remember(Array(try JSONEncoder.canonical.encode(fresh)), for: piece, costUSD: units * pricePerUnit, provider: provider, model: model)
        return (fresh, units)
    }

    /// Keeps the answer with what it cost, as soon as it arrives.
    public func remember(_ answer: [UInt8], for piece: Digest, costUSD: Double = 0, provider: String? = nil, model: String? = nil) async throws {
        let stored = try await store.put(bytes: answer)
        PieceLedger.current?.add(costUSD)
        try await store.commit(ActionResult(
            key: key(piece), processor: processor, processorVersion: version, outputs: ["out": stored.digest], provider: provider, model: model,
            costUSD: costUSD, toolVersion: Store.toolVersion))
    }
}
