import AcervoEngine
import Foundation
import Subprocess

/// Runs a local program (pdftotext, ffmpeg, tesseract) with a timeout, keeping its stderr for the error.
enum ExternalTool {
    struct Output: Sendable {
        var standardOutput: [UInt8]
        var standardError: String
    }

    /// Why a program did not give its output: it refused the input (a non-zero exit — the same input will be
    /// refused again), it ran out of time, or it could not be started at all.
    struct Failure: Error, CustomStringConvertible {
        enum Kind { case exited, timedOut, notRunnable }
        var kind: Kind
        var description: String
    }

    /// Runs `name` found on PATH. Cancelling the caller kills the program, and so does this process dying
    /// (`ChildProcessThread`).
    static func run(_ name: String, _ arguments: [String], timeoutSeconds: Double, outputLimit: Int = 64 << 20) async throws -> Output {
        try await withThrowingTaskGroup(of: Output?.self) { group in
            group.addTask(executorPreference: ChildProcessThread.shared) { try await runToCompletion(name, arguments, outputLimit: outputLimit) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let output = first else {
                throw Failure(kind: .timedOut, description: "`\(name)` did not finish within \(String(format: "%g", timeoutSeconds)) s and was stopped")
            }
            return output
        }
    }

    /// The program's path on PATH, or nil when it is not installed.
    static func locate(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func runToCompletion(_ name: String, _ arguments: [String], outputLimit: Int) async throws -> Output {
        let command = ([name] + arguments).joined(separator: " ")
        guard let program = locate(name) else {
            throw Failure(kind: .notRunnable, description: "cannot run `\(command)`: `\(name)` is not installed (run scripts/setup)")
        }
        do {
            let command = ChildProcessThread.command(name: name, program: program, arguments)
            let result = try await Subprocess.run(
                .name(command.name), arguments: Arguments(command.arguments), output: .bytes(limit: outputLimit), error: .string(limit: 256 * 1024))
            guard case .exited(0) = result.terminationStatus else {
                throw Failure(kind: .exited, description: "`\(command)` failed (\(result.terminationStatus)): \(result.standardError.suffix(2000))")
            }
            return Output(standardOutput: result.standardOutput, standardError: result.standardError)
        } catch let failure as Failure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Failure(kind: .notRunnable, description: "cannot run `\(command)`: \(error) (is `\(name)` installed? run scripts/setup)")
        }
    }
}
