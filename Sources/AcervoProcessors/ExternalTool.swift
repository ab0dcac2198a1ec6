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

    /// Runs `name` found on PATH. Cancelling the caller kills the program.
    static func run(_ name: String, _ arguments: [String], timeoutSeconds: Double, outputLimit: Int = 64 << 20) async throws -> Output {
        try await withThrowingTaskGroup(of: Output?.self) { group in
            group.addTask { try await runToCompletion(name, arguments, outputLimit: outputLimit) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let output = first else {
                throw Failure(kind: .timedOut, description: "`\(name)` did not finish within \(Int(timeoutSeconds)) s and was stopped")
            }
            return output
        }
    }

    private static func runToCompletion(_ name: String, _ arguments: [String], outputLimit: Int) async throws -> Output {
        let command = ([name] + arguments).joined(separator: " ")
        do {
            let result = try await Subprocess.run(
                .name(name), arguments: Arguments(arguments), output: .bytes(limit: outputLimit), error: .string(limit: 256 * 1024))
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
