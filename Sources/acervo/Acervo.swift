import AcervoStore
import ArgumentParser
import Foundation

/// The `acervo` command: each subcommand parses, calls one library function, prints.
struct Acervo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acervo",
        abstract: "Turns course content into AI assistants' knowledge bases, never paying twice for the same work.",
        version: Store.toolVersion,
        subcommands: [
            BuildCommand.self, PlanCommand.self, StatusCommand.self, WhyCommand.self, RunsCommand.self, TraceCommand.self,
            KnowledgeBaseCommand.self, SearchCommand.self, AskCommand.self, CacheCommand.self, FsckCommand.self, GCCommand.self,
            PutCommand.self, CatCommand.self, PinCommand.self, TortureCommand.self,
        ]
    )
}

/// Options every store command takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store folder (env ACERVO_STORE, default ./store).")
    var store: String = ProcessInfo.processInfo.environment["ACERVO_STORE"] ?? "store"

    @Flag(name: .long, help: "Print JSON for scripts.")
    var json = false

    func open(readOnly: Bool = false) throws(StoreError) -> Store {
        try Store.open(at: store, readOnly: readOnly)
    }
}

/// Exit codes of the CLI contract.
enum Exit {
    static let failedActions: Int32 = 1
    static let usage: Int32 = 2
    static let budget: Int32 = 3
    static let locked: Int32 = 4
}

/// Runs a command body, turning a `StoreError` into its message on stderr and the contract's exit code.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        printError("acervo: \(error)")
        if case .locked = error { throw ExitCode(Exit.locked) }
        throw ExitCode(Exit.usage)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    print(String(decoding: try! encoder.encode(value), as: UTF8.self))
}

/// `1.5 MiB`-style sizes for people; JSON keeps exact bytes.
func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func formatUSD(_ amount: Double) -> String {
    String(format: "$%.4f", amount)
}
