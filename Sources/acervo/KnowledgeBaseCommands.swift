import AcervoApp
import AcervoEngine
import AcervoStore
import ArgumentParser
import Foundation

struct KnowledgeBaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kb", abstract: "Snapshots of the knowledge base: list, show, diff, export; sync and restore to OpenAI.",
        subcommands: [List.self, Show.self, Diff.self, Export.self, Sync.self, Restore.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Snapshots, newest first.")
        @OptionGroup var options: StoreOptions

        func run() async throws {
            let snapshots = try await perform { try await options.workspace().knowledgeBase { try await $0.list() } }
            if options.json { printJSON(snapshots); return }
            for snapshot in snapshots {
                print("\(snapshot.name)  \(snapshot.digest)  \(snapshot.documents) documents  \(formatDate(snapshot.createdAt))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "The documents of a snapshot (default: latest).")
        @OptionGroup var options: StoreOptions
        @Argument(help: "latest, a snapshot ref, a run id, or a digest prefix.") var snapshot: String?

        func run() async throws {
            let manifest = try await perform {
                try await options.workspace().knowledgeBase { try await $0.manifest(snapshot) }
            }
            if options.json { printJSON(manifest); return }
            for entry in manifest.entries {
                let attributes = ["school", "topic", "level", "language"].compactMap { name in entry.attributes[name].map { "\(name)=\($0)" } }
                print("\(entry.itemID)  \"\(entry.title)\"  \(entry.document.hex.prefix(12))  \(attributes.joined(separator: " "))"
                    + (entry.kept ? "  (kept from an earlier build)" : ""))
            }
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "diff", abstract: "What changed between two snapshots.")
        @OptionGroup var options: StoreOptions
        @Argument(help: "The older snapshot.") var old: String
        @Argument(help: "The newer snapshot (default: latest).") var new: String = "latest"

        func run() async throws {
            let diff = try await perform { try await options.workspace().knowledgeBase { try await $0.diff(old, new) } }
            if options.json { printJSON(diff); return }
            for item in diff.added { print("+ \(item)") }
            for item in diff.removed { print("- \(item)") }
            for change in diff.changed { print("~ \(change.itemID) (\(change.fields.joined(separator: ", ")))") }
            if diff.isEmpty { print("no differences") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export", abstract: "Write a snapshot's documents to a folder.")
        @OptionGroup var options: StoreOptions
        @Argument(help: "The snapshot (latest, a ref, a run id, a digest prefix).") var snapshot: String
        @Argument(help: "The folder to write into.") var directory: String

        func run() async throws {
            let report = try await perform {
                try await options.workspace().knowledgeBase { try await $0.export(snapshot, to: directory) }
            }
            if options.json {
                printJSON(report)
            } else {
                print("wrote \(report.written.count) documents and manifest.json to \(directory)")
                for failure in report.failures { printError("acervo: could not write \(failure.itemID) (\(failure.path)): \(failure.error)") }
            }
            if !report.failures.isEmpty { throw ExitCode(.failedActions) }
        }
    }

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
            let request = SyncRequest(snapshot: snapshot ?? "latest", vectorStore: sync.vectorStore, wait: sync.wait)
            try report(try await perform { try await options.workspace().sync(request) }, json: options.json)
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
            let request = SyncRequest(snapshot: snapshot, vectorStore: sync.vectorStore, wait: sync.wait)
            try report(try await perform { try await options.workspace().restore(request) }, json: options.json)
        }
    }
}

/// Where a snapshot is synced: `--vector-store` wins over pipeline.yaml's `sink.vector_store`.
struct SyncOptions: ParsableArguments {
    @Option(name: .long, help: "The vector store: a name (created when missing) or a vs_… id (default: sink.vector_store in pipeline.yaml).")
    var vectorStore: String?

    @Flag(name: .long, help: "Wait for a running build instead of exiting with code 4.")
    var wait = false
}

/// Prints a sync's report; an incomplete sync exits 1.
private func report(_ report: SyncReport, json: Bool) throws {
    if json { printJSON(report) } else { printSyncReport(report) }
    if !report.isComplete { throw ExitCode(.failedActions) }
}

func printSyncReport(_ report: SyncReport) {
    print("vector store \(report.vectorStore): \(report.kept) current, \(report.uploaded.count) uploaded, "
        + "\(report.updated.count) updated, \(report.removed.count) removed"
        + (report.orphansDeleted > 0 ? ", \(report.orphansDeleted) orphaned uploads deleted" : "") + " (run \(report.run))")
    for failure in report.failures { print("  failed \(failure.itemID): \(failure.error)") }
}

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Full-text search of a snapshot's documents (ranked, with snippets).")

    @OptionGroup var options: StoreOptions
    @Argument(help: "Words to find (accents optional).") var query: [String]
    @Option(name: .long, help: "Search this snapshot instead of the latest.") var snapshot: String?
    @OptionGroup var filters: AttributeFilters
    @Option(name: .long, help: "At most this many results.") var limit = 10

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let hits = try await perform {
            try await options.workspace().knowledgeBase {
                try await $0.search(query.joined(separator: " "), snapshot: snapshot, filters: filters.values, limit: limit)
            }
        }
        if options.json { printJSON(hits); return }
        if hits.isEmpty { print("no matches") }
        for hit in hits {
            print("\(hit.item)  \"\(hit.title)\"")
            print("    \(hit.snippet.replacingOccurrences(of: "\n", with: " "))")
        }
    }
}

/// Filters on the attributes assistants search by.
struct AttributeFilters: ParsableArguments {
    @Option(name: .long, help: "Only this school.") var school: String?
    @Option(name: .long, help: "Only this topic.") var topic: String?
    @Option(name: .long, help: "Only this level.") var level: String?
    @Option(name: .long, help: "Only this course.") var course: String?
    @Option(name: .long, help: "Only this language.") var language: String?

    var values: [String: String] {
        var filters: [String: String] = [:]
        for (name, value) in [("school", school), ("topic", topic), ("level", level), ("course", course), ("language", language)] {
            if let value { filters[name] = value }
        }
        return filters
    }
}

/// `acervo ask`: the knowledge base as the support assistants see it.
struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask the vector store a question the way a support assistant does (Responses API, file_search).")
    @OptionGroup var options: StoreOptions
    @Option(name: .long, help: "The vector store (default: sink.vector_store in pipeline.yaml).") var vectorStore: String?
    @Argument(help: "The question.") var question: [String]
    @Option(name: .long, help: "The model that answers.") var model = "gpt-4.1-mini"
    @Flag(name: .long, help: "Also list everything the search found, cited or not.") var results = false
    @OptionGroup var filters: AttributeFilters

    func run() async throws {
        let asked = Question(question.joined(separator: " "), model: model, filters: filters.values, vectorStore: vectorStore)
        let answer = try await perform { try await options.workspace(quiet: true).ask(asked) }
        if options.json { printJSON(answer); return }
        print(answer.text)
        let line = { (source: AnswerSource) in
            "  \(source.itemID ?? source.fileID)  \(source.title.map { "\"\($0)\"" } ?? "")  \(source.score.map { String(format: "%.2f", $0) } ?? "")"
        }
        print(answer.citations.isEmpty ? "\ncites: nothing from the course" : "\ncites:")
        for source in answer.citations { print(line(source)) }
        if results, !answer.sources.isEmpty {
            print("\nsearch results:")
            for source in answer.sources { print(line(source)) }
        }
        let usage = "\(answer.inputTokens) tokens in, \(answer.outputTokens) out, \(answer.searchCalls) search\(answer.searchCalls == 1 ? "" : "es")"
        print("\n" + (answer.costUSD.map { "cost: \(formatUSD($0)) (\(usage))" }
                      ?? "cost: \(usage); `\(model)` or file_search is not priced in rules/prices.yaml"))
    }
}
