import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
import Synchronization
@testable import AcervoEngine

/// A processor whose output is a pure function of what it is given, counting every run per item.
final class CountingProcessor: Processor {
    let descriptor: ProcessorDescriptor
    let costUSD: Double
    private let transform: @Sendable (ActionInput, [String: [UInt8]], [String: [UInt8]]) -> [UInt8]
    private let state = Mutex<(runs: [String], failures: [String: [ProcessorFailure]], running: Int, maxRunning: Int)>(([], [:], 0, 0))
    private let delayNanoseconds: UInt64

    init(_ id: String, version: String = "1.0", inputs: [InputSlot], params: [ParamSpec] = [], costUSD: Double = 0,
         delayNanoseconds: UInt64 = 0,
         transform: (@Sendable (ActionInput, [String: [UInt8]], [String: [UInt8]]) -> [UInt8])? = nil) {
        descriptor = ProcessorDescriptor(id: id, version: version, inputs: inputs, params: params, isPaid: costUSD > 0)
        self.costUSD = costUSD
        self.delayNanoseconds = delayNanoseconds
        self.transform = transform ?? { action, inputs, files in
            var out = Array("\(id)(\(JSONValue.object(action.params).canonical))".utf8)
            for (name, bytes) in inputs.sorted(by: { $0.key < $1.key }) { out += Array(" \(name)=".utf8) + bytes }
            for (name, bytes) in files.sorted(by: { $0.key < $1.key }) { out += Array(" \(name)=".utf8) + bytes }
            return out
        }
    }

    /// Items this processor ran for, in order.
    var runs: [String] { state.withLock { $0.runs } }
    var maxRunning: Int { state.withLock { $0.maxRunning } }

    /// The next runs for `item` throw these, one each, before it succeeds again.
    func fail(item: String, with failures: ProcessorFailure...) {
        state.withLock { $0.failures[item, default: []] += failures }
    }

    func estimateCostUSD(_ action: ActionInput) async throws -> Double { costUSD }

    func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let failure: ProcessorFailure? = state.withLock { state in
            state.runs.append(action.itemID)
            state.running += 1
            state.maxRunning = max(state.maxRunning, state.running)
            guard var queue = state.failures[action.itemID], !queue.isEmpty else { return nil }
            let next = queue.removeFirst()
            state.failures[action.itemID] = queue
            return next
        }
        defer { state.withLock { $0.running -= 1 } }
        if delayNanoseconds > 0 { try await Task.sleep(nanoseconds: delayNanoseconds) }
        if let failure { throw failure }
        var inputs: [String: [UInt8]] = [:]
        for (name, digest) in action.inputs { inputs[name] = try action.store.blobs.bytes(of: digest) }
        var files: [String: [UInt8]] = [:]
        for (name, digest) in action.files { files[name] = try action.store.blobs.bytes(of: digest) }
        let output = try action.store.put(bytes: transform(action, inputs, files))
        return ProcessorOutput(output: output.digest, costUSD: costUSD, usage: ["calls": 1], provider: costUSD > 0 ? "test" : nil)
    }
}

/// A lesson as a test writes it: metadata and artifact bytes.
struct Lesson: Sendable {
    var id: String
    var title: String
    var files: [String: [UInt8]]
}

/// A source over lessons held in memory.
struct MemorySource: Source {
    var lessons: [Lesson]

    func items(store: Store) async throws -> [Item] {
        try lessons.map { lesson in
            var artifacts: [String: Digest] = [:]
            for (name, bytes) in lesson.files { artifacts[name] = try store.put(bytes: bytes, kind: .media).digest }
            return Item(id: lesson.id, metadata: ["title": .string(lesson.title), "course": .string("Curso")], artifacts: artifacts)
        }
    }
}

/// A store, a rules folder and a catalog of counting processors: the engine's test bench.
final class Workbench: @unchecked Sendable {
    let folder: String
    let store: Store
    var lessons: [Lesson]
    var audio = CountingProcessor("test.audio", inputs: [InputSlot("video")], params: [ParamSpec("gain", .number)]) { _, inputs, _ in
        // Ignores `gain`: a parameter change that re-runs this rule yields identical bytes (early cutoff).
        Array("audio of ".utf8) + (inputs["video"] ?? [])
    }
    var transcribe = CountingProcessor("test.transcribe", inputs: [InputSlot("audio", required: false), InputSlot("captions", required: false)])
    var summarize = CountingProcessor("test.summarize", inputs: [InputSlot("transcript")], params: [ParamSpec("style", .string)], costUSD: 0.10)
    var document = CountingProcessor("test.document", inputs: [InputSlot("meta"), InputSlot("transcript"), InputSlot("summary")])

    static let defaultRules = """
        rules:
          audio: { processor: test.audio@1, input: video, params: { gain: 1 } }
          transcript: { processor: test.transcribe@1, inputs: { audio: audio, captions: captions } }
          summary: { processor: test.summarize@1, input: transcript, files: [prompts/summary.md], params: { style: short } }
          document: { processor: test.document@1, inputs: { meta: metadata, transcript: transcript, summary: summary } }
        sink: { kind: local, document: document }
        """

    init(rules: String = Workbench.defaultRules) throws {
        folder = NSTemporaryDirectory() + "acervo-engine-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder + "/rules/prompts", withIntermediateDirectories: true)
        store = try Store.open(at: folder + "/store")
        lessons = [
            Lesson(id: "m1/a", title: "Intro", files: ["video": Array("video A".utf8)]),
            Lesson(id: "m1/b", title: "Variables", files: ["video": Array("video B".utf8), "captions": Array("WEBVTT B".utf8)]),
            Lesson(id: "m2/c", title: "Loops", files: ["video": Array("video C".utf8)]),
        ]
        try writeRules(rules)
        try writePrompt("Summarise in Spanish.")
    }

    deinit { removeTree(folder) }

    func writeRules(_ yaml: String) throws {
        try yaml.write(toFile: folder + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
    }

    func writePrompt(_ text: String) throws {
        try text.write(toFile: folder + "/rules/prompts/summary.md", atomically: true, encoding: .utf8)
    }

    var processors: [any Processor] { [audio, transcribe, summarize, document] }

    func evaluator() throws -> Evaluator {
        let pipeline = try RulesLoader(catalog: processors.map(\.descriptor), sourceArtifacts: Item.artifactNames)
            .load(directory: folder + "/rules")
        return Evaluator(store: store, pipeline: pipeline, source: MemorySource(lessons: lessons), processors: processors)
    }

    @discardableResult
    func build(_ options: BuildOptions = BuildOptions(jobs: 4), stop: StopFlag = StopFlag()) async throws -> BuildSummary {
        try await evaluator().build(options: options, stop: stop)
    }

    /// Total runs across all processors since the bench was made.
    var totalRuns: Int { processors.compactMap { $0 as? CountingProcessor }.reduce(0) { $0 + $1.runs.count } }

    func events(_ summary: BuildSummary) throws -> [Event] { try store.events(run: summary.run) }

    /// (item, rule) pairs executed in a run.
    func executed(_ summary: BuildSummary) throws -> Set<String> {
        Set(try events(summary).filter { $0.decision == .executed }.map { "\($0.itemID):\($0.rule)" })
    }
}
