import AcervoApp
import AcervoStore
import ArgumentParser
import Foundation

/// The `acervo` command: each subcommand parses, calls one `Workspace` use case, prints.
struct Acervo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acervo",
        abstract: "Turns course content into AI assistants' knowledge bases, never paying twice for the same work.",
        discussion: """
            Exit codes: 0 success, 1 finished with failed actions, 2 usage or configuration error, 3 budget \
            reached, 4 store locked by another build, 5 interrupted (a signal stopped it; the next build does the rest).
            """,
        version: Store.toolVersion,
        subcommands: [
            BuildCommand.self, PlanCommand.self, StatusCommand.self, WhyCommand.self, RunsCommand.self, TraceCommand.self,
            KnowledgeBaseCommand.self, SearchCommand.self, AskCommand.self, CacheCommand.self, FsckCommand.self, GCCommand.self,
            PutCommand.self, CatCommand.self, PinCommand.self, ServeCommand.self, CostCommand.self, MediaCommand.self,
        ]
    )
}

/// Options every store command takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store folder (env ACERVO_STORE, default ./store).")
    var store: String = ProcessInfo.processInfo.environment["ACERVO_STORE"] ?? "store"

    @Option(name: .long, help: "The rules folder (env ACERVO_RULES, default ./rules).")
    var rules: String = ProcessInfo.processInfo.environment["ACERVO_RULES"] ?? "rules"

    @Flag(name: .long, help: "Print JSON for scripts.")
    var json = false

    /// The workspace these options name; provider retries and sync steps are logged on stderr unless `quiet`.
    func workspace(quiet: Bool = false, mediaBytes: @escaping @Sendable (Int64) -> Void = { _ in }) -> Workspace {
        let quiet = quiet || json
        return Workspace(storePath: store, rulesPath: rules, log: { line in if !quiet { printError("acervo: \(line)") } }, mediaBytes: mediaBytes)
    }
}

extension ExitCode {
    init(_ status: ExitStatus) { self.init(status.rawValue) }
}

/// Runs a use case: its error (an `AppError`, or classified as one) is printed on stderr and becomes the
/// contract's exit code.
func perform<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let failure = AppError(error)
        printError("acervo: \(failure)")
        throw ExitCode(failure.status)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Prints `value` as JSON for scripts; a value that cannot be encoded is said on stderr and ends the command
/// with status 1, never a trap and never half a document on stdout.
func printJSON<T: Encodable>(_ value: T) {
    do {
        print(String(decoding: try JSONEncoder.report.encode(value), as: UTF8.self))
    } catch {
        printError("acervo: the answer cannot be written as JSON: \(error)")
        Foundation.exit(1)
    }
}

func formatUSD(_ amount: Double) -> String {
    String(format: "$%.4f", amount)
}

/// `30 s`, `1.5 s`.
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(format: "%.0f s", seconds) : String(format: "%.1f s", seconds)
}

func formatDate(_ date: Date) -> String {
    ISO8601DateFormatter().string(from: date)
}
