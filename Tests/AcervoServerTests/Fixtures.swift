import AcervoTestSupport
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
@testable import AcervoServer

/// A clock that moves only when a test moves it. `sleep(until:)` suspends until `advance(to:)` passes the
/// deadline; `sleeper()` waits until something sleeps and says until when.
final class ManualClock: WallClock {
    private struct Sleeper {
        var id: Int
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var now: Date
        var sleepers: [Sleeper] = []
        var nextID = 0
    }
    private let state: Mutex<State>

    init(now: Date) { state = Mutex(State(now: now)) }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(until deadline: Date) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if resumeNow {
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Sets the time and wakes whoever slept until it.
    func advance(to date: Date) {
        let woken = state.withLock { state -> [Sleeper] in
            state.now = date
            let due = state.sleepers.filter { $0.deadline <= date }
            state.sleepers.removeAll { $0.deadline <= date }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// The deadline of the first sleeper, once there is one.
    func sleeper() async throws -> Date {
        for _ in 0..<6000 {
            if let deadline = state.withLock({ $0.sleepers.first?.deadline }) { return deadline }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw FixtureError("nothing went to sleep on the clock")
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A project of two tiny lessons whose build takes a moment: metadata → a Markdown document.
struct TinyProject {
    private let folder: TemporaryFolder?
    let root: String
    var rules: String { root + "/rules" }
    var store: String { root + "/store" }

    /// A project already laid out in `rootOverride` (the example copied there).
    init(rootOverride: String) {
        folder = nil
        root = rootOverride
    }

    init(schedule: String? = nil) throws {
        let folder = TemporaryFolder()
        self.folder = folder
        root = folder.path
        let fileManager = FileManager.default
        for lesson in ["01-inicio/01-bienvenida", "01-inicio/02-variables"] {
            try fileManager.createDirectory(atPath: root + "/course/" + lesson, withIntermediateDirectories: true)
        }
        try "name: Curso de prueba\nschool: tecnologia\nlanguage: es\n".write(toFile: root + "/course/course.yaml", atomically: true, encoding: .utf8)
        try fileManager.createDirectory(atPath: rules, withIntermediateDirectories: true)
        try writeRules(schedule: schedule)
    }

    func writeRules(schedule: String?, broken: Bool = false) throws {
        try """
            source: { kind: local, path: course }
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            sink: { kind: local, document: document }
            \(schedule.map { "schedule: \($0)" } ?? "")
            \(broken ? "rulez: {}" : "")
            """.write(toFile: rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
    }
}

/// Log lines kept in memory, to check what the service says (and that it never says a secret).
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "acervo-test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.append("\(event.level) \(event.message) \(fields)")
        }
    }
}

/// A running `AcervoService` on 127.0.0.1 with a free port, stopped by graceful shutdown.
final class RunningService: Sendable {
    let service: AcervoService
    let port: Int
    let task: Task<Void, any Error>
    private let group: ServiceGroupHandle

    var baseURL: String { "http://127.0.0.1:\(port)" }

    static func start(_ project: TinyProject, variables: [String: String] = [:], clock: any WallClock = SystemClock(),
                      logs: LogLines = LogLines(), port: Int = 0) async throws -> RunningService {
        let service = try AcervoService(storePath: project.store, rulesPath: project.rules, variables: variables,
                                        options: .init(host: "127.0.0.1", port: port, request: .init(jobs: 2)), clock: clock, logger: logs.logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let handle = ServiceGroupHandle()
        let task = Task {
            try await service.run(gracefulShutdownSignals: [], onListening: { continuation.yield($0) }, groupReady: { handle.set($0) })
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw FixtureError("the service did not start") }
        return RunningService(service: service, port: port, task: task, group: handle)
    }

    private init(service: AcervoService, port: Int, task: Task<Void, any Error>, group: ServiceGroupHandle) {
        self.service = service
        self.port = port
        self.task = task
        self.group = group
    }

    /// Graceful shutdown, as SIGTERM would do it; waits for the service to end.
    func stop() async throws {
        await group.shutdown()
        try await task.value
    }
}

/// An HTTP answer: status, headers, body.
struct Answer {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(body.utf8)) }
}

/// A client that shows redirects instead of following them; it lives as long as the test process.
let testClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

/// One request to the service.
func request(_ method: HTTPMethod = .GET, _ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> Answer {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(string: body)) }
    let response = try await testClient.execute(request, timeout: .seconds(120))
    let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
    return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
}

func basic(_ token: String, user: String = "equipe") -> (String, String) {
    ("Authorization", "Basic " + Data("\(user):\(token)".utf8).base64EncodedString())
}

func bearer(_ token: String) -> (String, String) { ("Authorization", "Bearer " + token) }

/// The service group of a running service, once it exists.
final class ServiceGroupHandle: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)
    func set(_ group: ServiceGroup) { self.group.withLock { $0 = group } }

    func shutdown() async {
        for _ in 0..<6000 {
            if let group = group.withLock({ $0 }) {
                await group.triggerGracefulShutdown()
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
