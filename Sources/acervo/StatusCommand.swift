import AcervoEngine
import AcervoStore
import ArgumentParser
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The last run, the current knowledge base, the cache, and whether a build is running.")

    @OptionGroup var options: StoreOptions

    struct Status: Encodable {
        var buildRunning: String?
        var lastRun: Run?
        var knowledgeBase: SnapshotInfo?
        var cache: CacheStatistics.Row
        var objects: Int
    }

    func run() async throws {
        let status = try await reportingErrors { () throws -> Status in
            let store = try options.open()
            var running: String?
            do {
                _ = try StoreLock.acquire(storeRoot: store.root, purpose: "acervo status", wait: false)
            } catch StoreError.locked(_, let holder) {
                running = holder
            }
            let latest = try store.refs.get(SnapshotManifest.latestRef)
            let knowledgeBase = try latest.map { ref in
                SnapshotInfo(name: ref.name, digest: ref.digest, createdAt: ref.updatedAt,
                             documents: try SnapshotManifest.load(ref.digest, from: store).entries.count)
            }
            return Status(buildRunning: running, lastRun: try store.runLog.runs(limit: 1).first, knowledgeBase: knowledgeBase,
                          cache: try store.cacheStatistics().total, objects: store.blobs.allObjects().digests.count)
        }
        if options.json { printJSON(status); return }
        print("build running: \(status.buildRunning ?? "no")")
        if let run = status.lastRun { print("last run: \(run.id) \(run.command) \(run.status)") } else { print("last run: none") }
        if let kb = status.knowledgeBase {
            print("knowledge base: \(kb.digest) (\(kb.documents) documents, \(ISO8601DateFormatter().string(from: kb.createdAt)))")
        } else {
            print("knowledge base: none yet; run `acervo build`")
        }
        print("cache: \(status.cache.entries) results, \(formatBytes(status.cache.bytes)), \(status.cache.hits) hits, \(formatUSD(status.cache.savedUSD)) saved; \(status.objects) objects")
    }
}
