import Foundation
import Subprocess

/// Runs a local program (pdftotext, ffmpeg, tesseract) with a timeout, keeping its stderr for the error.
public enum ExternalTool {
    public struct Output: Sendable {
        public var standardOutput: [UInt8]
        public var standardError: String
    }

    /// Why a program did not give its output: it refused the input (a non-zero exit — the same input will be
    /// refused again), it ran out of time, or it could not be started at all. `said` is what the program wrote
    /// on stderr, cut to its last lines, with the store's paths taken out: people read it.
    public struct Failure: Error, CustomStringConvertible {
        public enum Kind: Sendable { case exited, timedOut, notRunnable }
        public var kind: Kind
        public var tool: String
        public var said: String
        public var description: String
    }

    /// Runs `name` found on PATH. Cancelling the caller kills the program, and so does this process dying
    /// (`ChildProcessThread`).
    public static func run(_ name: String, _ arguments: [String], timeoutSeconds: Double, outputLimit: Int = 64 << 20,
                    environment: [String: String] = [:]) async throws -> Output {
        try await withThrowingTaskGroup(of: Output?.self) { group in
            group.addTask(executorPreference: ChildProcessThread.shared) {
                try await runToCompletion(name, arguments, outputLimit: outputLimit, environment: environment)
            }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let output = first else {
                throw Failure(kind: .timedOut, tool: name, said: "", description: "`\(name)` did not finish within \(String(format: "%g", timeoutSeconds)) s and was stopped")
            }
            return output
        }
    }

    /// The program's path on PATH, or nil when it is not installed.
    public static func locate(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func runToCompletion(_ name: String, _ arguments: [String], outputLimit: Int, environment: [String: String]) async throws -> Output {
        guard let program = locate(name) else {
            throw Failure(kind: .notRunnable, tool: name, said: "", description: "`\(name)` is not installed (run scripts/setup)")
        }
        do {
            let command = ChildProcessThread.command(name: name, program: program, arguments)
            // A process group of its own: a signal to Acervo's group (Ctrl-C, `kill -TERM -PGID`, a service
            // manager) reaches Acervo, which stops its tools itself — the tools never see it and fail half-way.
            var options = PlatformOptions()
            options.processGroupID = 0
            var variables: [Environment.Key: String?] = [:]
            for (key, value) in environment { variables[Environment.Key(stringLiteral: key)] = value }
            let result = try await Subprocess.run(
                .name(command.name), arguments: Arguments(command.arguments), environment: .inherit.updating(variables), platformOptions: options,
                output: .bytes(limit: outputLimit), error: .string(limit: 256 * 1024))
            let said = Self.said(result.standardError, arguments: arguments)
            switch result.terminationStatus {
            case .exited(0):
                return Output(standardOutput: result.standardOutput, standardError: result.standardError)
            case .exited(let code):
                throw Failure(kind: .exited, tool: name, said: said,
                              description: "`\(name)` stopped with exit status \(code)" + (said.isEmpty ? "" : ": \(said)"))
            case .signaled(let signal):
                throw Failure(kind: .exited, tool: name, said: said, description: "`\(name)` was killed by signal \(signal)" + (said.isEmpty ? "" : ": \(said)"))
            }
        } catch let failure as Failure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Failure(kind: .notRunnable, tool: name, said: "", description: "`\(name)` could not be started: \(error) (is it installed? run scripts/setup)")
        }
    }

    /// What a tool wrote on stderr, for a person: paths of the store's objects and scratch folders left out
    /// (a line `/…/objects/sha256/0f/4d87…: Invalid data found` says only `Invalid data found`), repeated lines
    /// once, the last three lines, at most 300 characters.
    public static func said(_ standardError: String, arguments: [String]) -> String {
        let paths = arguments.filter { $0.hasPrefix("/") }.sorted { $0.count > $1.count }
        var lines: [String] = []
        for raw in standardError.split(whereSeparator: \.isNewline) {
            var line = String(raw)
            for path in paths where line.contains(path) {
                line = line.replacingOccurrences(of: path + ": ", with: "").replacingOccurrences(of: path, with: "the input")
            }
            line = line.trimmingCharacters(in: .whitespaces)
            if !line.isEmpty, !lines.contains(line) { lines.append(line) }
        }
        let text = lines.suffix(3).joined(separator: "; ")
        return text.count > 300 ? "…" + text.suffix(299) : text
    }
}