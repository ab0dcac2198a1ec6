import AcervoApp
import ArgumentParser
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The last run, the current knowledge base, the cache, and whether a build is running.")

    @OptionGroup var options: StoreOptions

    func run() async throws {
        let status = try await perform { try await options.workspace().status() }
        if options.json { printJSON(status); return }
        print("build running: \(status.buildRunning ?? "no")")
        if let run = status.lastRun { print("last run: \(run.id) \(run.command) \(run.status.rawValue)") } else { print("last run: none") }
        if let kb = status.knowledgeBase {
            print("knowledge base: \(kb.digest) (\(kb.documents) documents, \(formatDate(kb.createdAt)))")
        } else {
            print("knowledge base: none yet; run `acervo build`")
        }
        print("cache: \(status.cache.entries) results, \(formatBytes(status.cache.bytes)), \(status.cache.hits) hits, \(formatUSD(status.cache.savedUSD)) saved")
    }
}
