import AcervoStore
import ArgumentParser
import Foundation

/// A writer for crash tests: holds the build lock and commits blobs and results in a loop, printing each
/// committed key, until it is killed. Hidden from help; the crash-consistency test drives it.
struct TortureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_torture", shouldDisplay: false)

    @OptionGroup var options: StoreOptions

    @Option(name: .long, help: "Distinguishes this writer's keys from earlier ones.")
    var seed: Int = 0

    func run() async throws {
        try await reportingErrors {
            let store = try options.open()
            let lock = try StoreLock.acquire(storeRoot: store.root, purpose: "acervo _torture", wait: true)
            defer { _ = lock }
            let run = try store.runLog.start(command: "_torture", toolVersion: Store.toolVersion)
            var counter = 0
            while true {
                counter += 1
                let size = Int.random(in: 1...(32 * 1024))
                let bytes = (0..<size).map { _ in UInt8.random(in: 0...255) }
                let blob = try store.put(bytes: bytes)
                let member = try store.put(bytes: Array("member \(seed)-\(counter)".utf8))
                let tree = try store.putTree([
                    TreeEntry(name: "a", digest: blob.digest, size: blob.size),
                    TreeEntry(name: "b", digest: member.digest, size: member.size),
                ])
                let key = Digest.of(Array("torture \(seed) \(counter)".utf8)).hex
                let result = ActionResult(
                    key: key, processor: "torture", processorVersion: "1", outputs: ["blob": blob.digest, "tree": tree],
                    costUSD: 0.001, runID: run.id, toolVersion: Store.toolVersion)
                try store.actionCache.commit(result) { db in
                    try Event(runID: run.id, itemID: "item-\(counter)", rule: "torture", key: key, decision: .executed,
                              reason: "new item").insert(db)
                }
                if counter % 7 == 0 { try store.refs.set("snapshots/torture-\(seed)-\(counter)", to: tree) }
                print("committed \(key)")
                fflush(nil)
            }
        }
    }
}
