import AcervoEngine
import Foundation
import Subprocess

/// Runs a local program (pdftotext, ffmpeg, tesseract) with a timeout, keeping its stderr for the error.
enum ExternalTool {
    struct Output: Sendable {
        var standardOutput: [UInt8]
        var standardError: String
    }

    /// Runs `name` found on PATH. A non-zero exit, a timeout or a missing program is a `ProcessorFailure` that
    /// names the program and carries the end of its stderr. Cancelling the caller kills the program.
    static func run(_ name: String, _ arguments: [String], timeoutSeconds: Double, outputLimit: Int = 64 << 20) async throws -> Output {
        try await withThrowingTaskGroup(of: Output?.self) { group in
            group.addTask { try await runToCompletion(name, arguments, outputLimit: outputLimit) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let output = first else {
                throw ProcessorFailure("`\(name)` did not finish within \(Int(timeoutSeconds)) s and was stopped")
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
                throw ProcessorFailure("`\(command)` failed (\(result.terminationStatus)): \(result.standardError.suffix(2000))")
            }
            return Output(standardOutput: result.standardOutput, standardError: result.standardError)
        } catch let failure as ProcessorFailure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProcessorFailure("cannot run `\(command)`: \(error) (is `\(name)` installed? run scripts/setup)")
        }
    }
}
