import AcervoConnectors
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoStore
import ArgumentParser
import Foundation

/// Where and how a snapshot is synced: `--vector-store` wins over pipeline.yaml's `sink.vector_store`.
struct SyncOptions: ParsableArguments {
    @Option(name: .long, help: "The vector store: a name (created when missing) or a vs_… id (default: sink.vector_store in pipeline.yaml).")
    var vectorStore: String?

    @Option(name: .long, help: "The rules folder whose sink settings apply (env ACERVO_RULES, default ./rules).")
    var rules: String = ProcessInfo.processInfo.environment["ACERVO_RULES"] ?? "rules"

    @Flag(name: .long, help: "Wait for a running build instead of exiting with code 4.")
    var wait = false

    /// The sink settings of the rules folder, or defaults when it does not name OpenAI.
    func settings() throws -> OpenAISinkSettings {
        let pipeline = try RulesLoader(catalog: PipelineOptions.allDescriptors, sourceArtifacts: Item.artifactNames).load(directory: rules)
        return try OpenAISinkSettings(sink: pipeline.sink.merging(["kind": .string("openai")]) { _, openai in openai })!
    }
}

/// Makes an OpenAI vector store match a snapshot, printing progress on stderr; shared by `build` (when the
/// sink is OpenAI), `kb sync` and `kb restore`.
func syncSnapshot(store: Store, snapshot: Digest, settings: OpenAISinkSettings, vectorStore: String?, command: String,
                  quiet: Bool) async throws -> SyncReport {
    guard let target = vectorStore ?? settings.vectorStore else {
        throw ConnectorError(.configuration, provider: "sync", request: "",
                             message: "no vector store: pass --vector-store NAME or set `sink: { kind: openai, vector_store: NAME }`")
    }
    let manifest = try SnapshotManifest.load(snapshot, from: store)
    return try await withConnectors(quiet: quiet) { context in
        let sync = VectorStoreSync(client: try context.vectorStores(), store: store, chunking: settings.chunking)
        return try await sync.sync(manifest, snapshot: snapshot, vectorStore: target, command: command, progress: context.log)
    }
}

/// `build --json`: the build summary's fields, plus `sync` when the snapshot went to a vector store.
struct BuildOutput: Encodable {
    var summary: BuildSummary
    var sync: SyncReport?

    enum CodingKeys: String, CodingKey { case sync }

    func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(sync, forKey: .sync)
    }
}

func printSyncReport(_ report: SyncReport) {
    print("vector store \(report.vectorStore): \(report.kept) current, \(report.uploaded.count) uploaded, "
        + "\(report.updated.count) updated, \(report.removed.count) removed"
        + (report.orphansDeleted > 0 ? ", \(report.orphansDeleted) orphaned uploads deleted" : "") + " (run \(report.run))")
    for failure in report.failures { print("  failed \(failure.itemID): \(failure.error)") }
}

extension KnowledgeBaseCommand {
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sync",
            abstract: "Make an OpenAI vector store hold exactly a snapshot's documents (default: latest).",
            discussion: """
                Reconciles instead of uploading blindly: files already current are left alone, changed attributes are \
                updated in place, missing documents are uploaded and indexed, documents the snapshot no longer has are \
                deleted. A second sync of the same snapshot makes no write calls. Needs OPENAI_API_KEY (or \
                OPENAI_API_KEY_FILE); OPENAI_BASE_URL points it at a compatible server.
                """)
        @OptionGroup var options: StoreOptions
        @OptionGroup var sync: SyncOptions
        @Argument(help: "latest, a snapshot ref, a run id, or a digest prefix.") var snapshot: String?

        func run() async throws {
            let report = try await reportingSetupErrors { try await runSync(snapshot ?? "latest", command: "kb sync") }
            if options.json { printJSON(report) } else { printSyncReport(report) }
            if !report.isComplete { throw ExitCode(Exit.failedActions) }
        }

        func runSync(_ name: String, command: String) async throws -> SyncReport {
            let store = try options.open()
            let lock = try StoreLock.acquire(storeRoot: store.root, purpose: "acervo \(command)", wait: sync.wait)
            defer { _ = lock }
            let digest = try KnowledgeBase(store: store).resolve(name)
            return try await syncSnapshot(store: store, snapshot: digest, settings: try sync.settings(), vectorStore: sync.vectorStore,
                                          command: command, quiet: options.json)
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Make an OpenAI vector store match an older snapshot, from stored documents only (no transcription or analysis).")
        @OptionGroup var options: StoreOptions
        @OptionGroup var sync: SyncOptions
        @Argument(help: "The snapshot to restore: a ref, a run id, or a digest prefix.") var snapshot: String

        func run() async throws {
            let command = Sync(options: options, sync: sync, snapshot: snapshot)
            let report = try await reportingSetupErrors { try await command.runSync(snapshot, command: "kb restore") }
            if options.json { printJSON(report) } else { printSyncReport(report) }
            if !report.isComplete { throw ExitCode(Exit.failedActions) }
        }
    }
}

extension KnowledgeBaseCommand.Sync {
    init(options: StoreOptions, sync: SyncOptions, snapshot: String?) {
        self.init()
        self.options = options
        self.sync = sync
        self.snapshot = snapshot
    }
}

/// `acervo ask`: the knowledge base as the support assistants see it.
struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask the vector store a question the way a support assistant does (Responses API, file_search).")
    @OptionGroup var sync: SyncOptions
    @Flag(name: .long, help: "Print JSON for scripts.") var json = false
    @Argument(help: "The question.") var question: [String]
    @Option(name: .long, help: "The model that answers.") var model = "gpt-4.1-mini"
    @Option(name: .long, help: "Only files of this school.") var school: String?
    @Option(name: .long, help: "Only files of this topic.") var topic: String?
    @Option(name: .long, help: "Only files of this level.") var level: String?
    @Option(name: .long, help: "Only files of this course.") var course: String?
    @Option(name: .long, help: "Only files in this language.") var language: String?

    func run() async throws {
        let answer = try await reportingSetupErrors { () async throws -> KnowledgeBaseQuestion.Answer in
            let settings = try sync.settings()
            guard let target = sync.vectorStore ?? settings.vectorStore else {
                throw ConnectorError(.configuration, provider: "ask", request: "", message: "pass --vector-store NAME or set sink.vector_store")
            }
            return try await withConnectors(quiet: true) { context in
                let stores = try context.vectorStores()
                guard let store = try await stores.vectorStores().first(where: { $0.id == target || $0.name == target }) else {
                    throw ConnectorError(.configuration, provider: "OpenAI", request: "GET /vector_stores", message: "no vector store `\(target)`; sync one first")
                }
                var filters: [String: String] = [:]
                for (name, value) in [("school", school), ("topic", topic), ("level", level), ("course", course), ("language", language)] {
                    if let value { filters[name] = value }
                }
                return try await KnowledgeBaseQuestion(api: stores.api, baseURL: stores.baseURL)
                    .ask(question.joined(separator: " "), vectorStore: store.id, model: model, filters: filters)
            }
        }
        if json { printJSON(answer); return }
        print(answer.text)
        if !answer.sources.isEmpty { print("\nsources:") }
        for source in answer.sources {
            print("  \(source.itemID ?? source.fileID)  \(source.title.map { "\"\($0)\"" } ?? "")  \(source.score.map { String(format: "%.2f", $0) } ?? "")")
        }
    }
}
