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
            let snapshots = try await reportingErrors { try KnowledgeBase(store: options.open()).list() }
            if options.json { printJSON(snapshots); return }
            for snapshot in snapshots {
                print("\(snapshot.name)  \(snapshot.digest)  \(snapshot.documents) documents  \(ISO8601DateFormatter().string(from: snapshot.createdAt))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "The documents of a snapshot (default: latest).")
        @OptionGroup var options: StoreOptions
        @Argument(help: "latest, a snapshot ref, a run id, or a digest prefix.") var snapshot: String?

        func run() async throws {
            let manifest = try await reportingErrors { try KnowledgeBase(store: options.open()).manifest(snapshot) }
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
            let diff = try await reportingErrors { try KnowledgeBase(store: options.open()).diff(old, new) }
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
            let files = try await reportingErrors { try KnowledgeBase(store: options.open()).export(snapshot, to: directory) }
            if options.json { printJSON(files); return }
            print("wrote \(files.count) files to \(directory)")
        }
    }
}

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Full-text search of a snapshot's documents (ranked, with snippets).")

    @OptionGroup var options: StoreOptions
    @Argument(help: "Words to find (accents optional).") var query: [String]
    @Option(name: .long, help: "Search this snapshot instead of the latest.") var snapshot: String?
    @Option(name: .long, help: "Only this school.") var school: String?
    @Option(name: .long, help: "Only this topic.") var topic: String?
    @Option(name: .long, help: "Only this level.") var level: String?
    @Option(name: .long, help: "Only this language.") var language: String?
    @Option(name: .long, help: "At most this many results.") var limit = 10

    func run() async throws {
        var filters: [String: String] = [:]
        for (name, value) in [("school", school), ("topic", topic), ("level", level), ("language", language)] {
            if let value { filters[name] = value }
        }
        let hits = try await reportingErrors {
            try KnowledgeBase(store: options.open()).search(query.joined(separator: " "), snapshot: snapshot, filters: filters, limit: limit)
        }
        if options.json { printJSON(hits); return }
        if hits.isEmpty { print("no matches") }
        for hit in hits {
            print("\(hit.item)  \"\(hit.title)\"")
            print("    \(hit.snippet.replacingOccurrences(of: "\n", with: " "))")
        }
    }
}
