import Foundation

/// What a spawned command did.
public struct Outcome: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs a program to completion and captures its output.
@discardableResult
public func run(_ executable: String, _ arguments: [String], in directory: String? = nil,
                environment: [String: String?] = [:]) throws -> Outcome {
    let process = Process()
    if !environment.isEmpty {
        var merged = ProcessInfo.processInfo.environment
        for (name, value) in environment { merged[name] = value }
        process.environment = merged
    }
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes are drained at once: reading one to its end first would deadlock a child that fills the
    // other's buffer (64 KiB) and waits for it to be read.
    let errData = Drain(err.fileHandleForReading)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData.wait(), as: UTF8.self))
}

/// Reads a pipe to its end on a thread of its own.
public final class Drain: @unchecked Sendable {
    // `data` is written once by the reading thread before `done` is signalled, and read only after.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    public init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    /// Everything the pipe delivered, once the writer closed it.
    public func wait() -> Data {
        done.wait()
        return data
    }
}

/// An executable SwiftPM built next to the test bundle (test targets that run one depend on its target).
public func builtProduct(_ name: String) -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // On Linux the test runner is `<build>/AcervoPackageTests.xctest`; elsewhere it is inside a bundle.
    while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent(name).path) && directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent(name).path
}

/// The `acervo` binary.
public let acervoBinary = builtProduct("acervo")

/// The crash-test writer (`Sources/acervo-torture`).
public let tortureBinary = builtProduct("acervo-torture")

/// Runs the `acervo` binary off the cooperative pool (`offPool`): what an async test awaits, so that a long
/// build never holds one of the pool's few threads while other suites wait for them.
@discardableResult
public func acervoOffPool(_ arguments: [String], in directory: String? = nil, environment: [String: String?] = [:]) async throws -> Outcome {
    try await offPool { try acervo(arguments, in: directory, environment: environment) }
}

/// Runs the `acervo` binary.
@discardableResult
public func acervo(_ arguments: [String], in directory: String? = nil, environment: [String: String?] = [:]) throws -> Outcome {
    try run(acervoBinary, arguments, in: directory, environment: environment)
}

/// Decodes what `acervo … --json` printed (dates are ISO 8601).
public func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(type, from: Data(text.utf8))
}

/// SplitMix64: a seeded generator, so random test schedules (kill moments, fuzzed inputs) and the torture
/// tool's writes replay exactly from their seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh folder under the system temp dir; deinit deletes it, read-only objects included.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "acervo-test") {
        path = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { removeTree(path) }
}

/// Deletes a folder the store wrote into: its objects are read-only, so write bits come back first.
public func removeTree(_ path: String) {
    _ = try? run("/bin/chmod", ["-R", "u+w", path])
    try? FileManager.default.removeItem(atPath: path)
}

/// The repository root, found from this file's path (for the example course and the default rules).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url.path
}()

/// Copies the repository's `rules/` and `examples/course/` into `directory`, a project folder whose edits
/// touch nothing committed.
public func copyExampleProject(into directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory + "/examples", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: repositoryRoot + "/rules", toPath: directory + "/rules")
    try FileManager.default.copyItem(atPath: repositoryRoot + "/examples/course", toPath: directory + "/examples/course")
}

/// Runs a test's blocking work (child processes, waits, sleeps) on a thread of its own: Swift's cooperative
/// pool has as many threads as cores (two in CI), and a test blocking them for a minute starves the tests that
/// need them to make progress.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result(catching: body)) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Another process holding a store's writer lock (`acervo-torture write`), from the moment it is made until
/// `stop()`: what a build running elsewhere looks like to the store.
public final class StoreLockHolder: @unchecked Sendable {
    private let process = Process()
    public var pid: Int32 { process.processIdentifier }

    public init(store: String) throws {
        process.executableURL = URL(fileURLWithPath: tortureBinary)
        process.arguments = ["write", store, "1"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        _ = output.fileHandleForReading.availableData  // its first line: it holds the lock
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Live processes (not zombies) whose command line mentions `text`: the tools a build started read blobs
/// from its store, so their command lines name it.
public func processes(mentioning text: String) -> [Int32] {
    var found: [Int32] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), pid != getpid(),
              let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !cmdline.isEmpty,
              let status = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              !status.split(separator: " ").dropFirst(2).starts(with: ["Z"]) else { continue }
        if String(decoding: cmdline.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text) { found.append(pid) }
    }
    return found
}
