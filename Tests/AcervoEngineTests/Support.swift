import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
import Synchronization
import Testing
@testable import AcervoEngine

/// Holds runs until `width` of them are in flight at once (or the last one expected has arrived), then lets
/// them all go: a processor passing through it shows the engine's concurrency at its peak, decided by the
/// engine's own limits and never by how long anything sleeps. An engine that never lets `width` runs meet
/// leaves them waiting: the test's time limit turns that into a failure.
actor Gate {
    let width: Int
    let expected: Int
    private var inside = 0
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// The most runs ever in flight at once.
    private(set) var peak = 0

    init(width: Int, expected: Int) {
        self.width = width
        self.expected = expected
    }

    func enter() async {
        inside += 1
        arrived += 1
        peak = max(peak, inside)
        if inside >= width || arrived == expected {
            waiting.forEach { $0.resume() }
            waiting.removeAll()
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
    }

    func leave() { inside -= 1 }
}

/// A processor whose output is a pure function of what it is given, counting every run per item.
final class CountingProcessor: Processor {
    let descriptor: ProcessorDescriptor
    let costUSD: Double
    private let transform: @Sendable (ActionInput, [String: [UInt8]], [String: [UInt8]]) -> [UInt8]
    private let state = Mutex<(runs: [String], failures: [String: [ProcessorFailure]])>(([], [:]))
    private let gate: Gate?
    /// For a paid processor: the price it lacks, as prices.yaml would say (nil: priced).
    private let missingPrice: RulesError?

    init(_ id: String, version: String = "1.0", inputs: [InputSlot], params: [ParamSpec] = [], costUSD: Double = 0, gate: Gate? = nil,
         missingPrice: RulesError? = nil,
         transform: (@Sendable (ActionInput, [String: [UInt8]], [String: [UInt8]]) -> [UInt8])? = nil) {
        descriptor = ProcessorDescriptor(id: id, version: version, inputs: inputs, params: params, isPaid: costUSD > 0)
        self.costUSD = costUSD
        self.gate = gate
        self.missingPrice = missingPrice
        self.transform = transform ?? { action, inputs, files in
            var out = Array("\(id)(\(JSONValue.object(action.params).canonical))".utf8)
            for (name, bytes) in inputs.sorted(by: { $0.key < $1.key }) { out += Array(" \(name)=".utf8) + bytes }
            for (name, bytes) in files.sorted(by: { $0.key < $1.key }) { out += Array(" \(name)=".utf8) + bytes }
            return out
        }
    }

    /// Items this processor ran for, in order.
    var runs: [String] { state.withLock { $0.runs } }

    /// The next runs for `item` throw these, one each, before it succeeds again.
    func fail(item: String, with failures: ProcessorFailure...) {
        state.withLock { $0.failures[item, default: []] += failures }
    }

    func estimate(_ action: ActionInput) async throws -> CostEstimate {
        if let missingPrice { throw missingPrice }
        return CostEstimate(exactly: costUSD, basis: "a fixed price")
    }

    func checkPrices(params: [String: JSONValue]) throws {
        if let missingPrice { throw missingPrice }
    }

    func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let failure: ProcessorFailure? = state.withLock { state in
            state.runs.append(action.itemID)
            guard var queue = state.failures[action.itemID], !queue.isEmpty else { return nil }
            let next = queue.removeFirst()
            state.failures[action.itemID] = queue
            return next
        }
        if let gate { await gate.enter() }
        let outcome: Result<ProcessorOutput, any Error>
        do { outcome = .success(try await produce(action, failing: failure)) } catch { outcome = .failure(error) }
        if let gate { await gate.leave() }
        return try outcome.get()
    }

    private func produce(_ action: ActionInput, failing failure: ProcessorFailure?) async throws -> ProcessorOutput {
        if let failure { throw failure }
        var inputs: [String: [UInt8]] = [:]
        for (name, digest) in action.inputs { inputs[name] = try await action.store.blobs.bytes(of: digest) }
        var files: [String: [UInt8]] = [:]
        for (name, digest) in action.files { files[name] = try await action.store.blobs.bytes(of: digest) }
        let output = try await action.store.put(bytes: transform(action, inputs, files))
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
        var items: [Item] = []
        for lesson in lessons {
            var artifacts: [String: Digest] = [:]
            for (name, bytes) in lesson.files { artifacts[name] = try await store.put(bytes: bytes, kind: .media).digest }
            items.append(Item(id: lesson.id, metadata: ["title": .string(lesson.title), "course": .string("Curso")], artifacts: artifacts))
        }
        return items
    }
}

/// A store (in memory: the engine sees only the store's ports), a rules folder and a catalog of counting
/// processors: the engine's test bench.
final class Workbench: @unchecked Sendable {
    let folder = TemporaryFolder()
    let store = Store.inMemory()
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
        try FileManager.default.createDirectory(atPath: folder.path + "/rules/prompts", withIntermediateDirectories: true)
        lessons = [
            Lesson(id: "m1/a", title: "Intro", files: ["video": Array("video A".utf8)]),
            Lesson(id: "m1/b", title: "Variables", files: ["video": Array("video B".utf8), "captions": Array("WEBVTT B".utf8)]),
            Lesson(id: "m2/c", title: "Loops", files: ["video": Array("video C".utf8)]),
        ]
        try writeRules(rules)
        try writePrompt("Summarise in Spanish.")
    }

    var rulesFolder: String { folder.path + "/rules" }

    func writeRules(_ yaml: String) throws {
        try yaml.write(toFile: rulesFolder + "/pipeline.yaml", atomically: true, encoding: .utf8)
    }

    func writePrompt(_ text: String) throws {
        try text.write(toFile: rulesFolder + "/prompts/summary.md", atomically: true, encoding: .utf8)
    }

    var processors: [any Processor] { [audio, transcribe, summarize, document] }

    func evaluator(_ processors: [any Processor]? = nil) throws -> Evaluator {
        let processors = processors ?? self.processors
        let pipeline = try RulesLoader(catalog: processors.map(\.descriptor), sourceArtifacts: Item.artifactNames).load(directory: rulesFolder)
        return Evaluator(store: store, pipeline: pipeline, source: MemorySource(lessons: lessons), processors: processors)
    }

    /// A build as the application runs one: a run started, the build, the run finished with its status.
    @discardableResult
    func build(_ options: BuildOptions = BuildOptions(jobs: 4), stop: StopFlag = StopFlag(), processors: [any Processor]? = nil) async throws -> BuildSummary {
        let evaluator = try evaluator(processors)
        let run = try await store.startRun(command: .build)
        let summary = try await evaluator.build(run: run, options: options, stop: stop)
        try await store.journal.finishRun(run.id, status: summary.status, summary: nil, at: Date())
        return summary
    }

    /// Total runs across all processors since the bench was made.
    var totalRuns: Int { processors.compactMap { $0 as? CountingProcessor }.reduce(0) { $0 + $1.runs.count } }

    func events(_ summary: BuildSummary) async throws -> [Event] { try await store.events(run: summary.run) }

    /// (item, rule) pairs executed in a run.
    func executed(_ summary: BuildSummary) async throws -> Set<String> {
        Set(try await events(summary).filter { $0.decision == .executed }.map { "\($0.itemID):\($0.rule)" })
    }

    func manifest(_ summary: BuildSummary) async throws -> SnapshotManifest {
        try await SnapshotManifest.load(try Digest(parsing: try #require(summary.snapshot)), from: store)
    }
}
