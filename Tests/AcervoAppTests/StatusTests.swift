import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Synchronization
import Testing
@testable import AcervoApp

/// Blobs in memory that count how they are asked: a status must not walk or stat the objects.
final class CountingBlobStore: BlobStore {
    let base = MemoryBlobStore()
    private let counts = Mutex<(inventory: Int, info: Int, reads: Int)>((0, 0, 0))

    var inventories: Int { counts.withLock { $0.inventory } }
    var stats: Int { counts.withLock { $0.info } }
    var reads: Int { counts.withLock { $0.reads } }
    func reset() { counts.withLock { $0 = (0, 0, 0) } }

    func contains(_ digest: Digest) async -> Bool { await base.contains(digest) }
    func info(_ digest: Digest) async -> BlobInfo? {
        counts.withLock { $0.info += 1 }
        return await base.info(digest)
    }
    func put(bytes: [UInt8]) async throws(StoreError) -> PutOutcome { try await base.put(bytes: bytes) }
    func put(fileAt path: String) async throws(StoreError) -> PutOutcome { try await base.put(fileAt: path) }
    func writer() async throws(StoreError) -> any BlobWriter { try await base.writer() }
    func chunks(of digest: Digest) async throws(StoreError) -> BlobChunks {
        counts.withLock { $0.reads += 1 }
        return try await base.chunks(of: digest)
    }
    func file(of digest: Digest) async throws(StoreError) -> String { try await base.file(of: digest) }
    func inventory() async throws(StoreError) -> BlobInventory {
        counts.withLock { $0.inventory += 1 }
        return try await base.inventory()
    }
    func remove(_ digest: Digest) async throws(StoreError) { try await base.remove(digest) }
    func quarantine(_ digest: Digest) async throws(StoreError) -> String { try await base.quarantine(digest) }
}

@Suite(.serialized) struct StatusTests {
    @Test func `status reads the lock's holder without taking the lock`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        _ = try await Store.open(at: storePath)

        let free = try await acervoOffPool(["status", "--store", storePath, "--json"])
        #expect(free.status == 0, "\(free.stderr)")
        #expect(!free.stdout.contains("buildRunning"), "nobody holds the lock")
        // Taking the lock writes the taker into the lock file; a status that only looks leaves no trace there,
        // so a build starting at that instant could never have been refused because of it.
        let lockText = (try? String(contentsOfFile: storePath + "/lock", encoding: .utf8)) ?? ""
        #expect(!lockText.contains("status"), "`acervo status` took the lock: \(lockText)")

        let writer = try StoreLockHolder(store: storePath)
        defer { writer.stop() }
        let busy = try await acervoOffPool(["status", "--store", storePath])
        #expect(busy.stdout.contains("build running: pid \(writer.pid), acervo-torture"), "\(busy.stdout)")
    }

    @Test func `status neither walks nor stats the objects, however many there are`() async throws {
        let blobs = CountingBlobStore()
        let store = Store(blobs: blobs, metadata: MemoryMetadata())
        var entries: [SnapshotEntry] = []
        for index in 0..<50 {
            let document = try await store.put(bytes: Array("document \(index)".utf8)).digest
            try await store.commit(ActionResult(key: ActionKey(Digest.of(Array("\(index)".utf8))), processor: "document.markdown",
                                                processorVersion: "1.0", outputs: ["out": document], toolVersion: Store.toolVersion))
            entries.append(SnapshotEntry(itemID: "m/\(index)", title: "L\(index)", document: document, attributes: [:]))
        }
        let manifest = try await store.put(bytes: Array(try JSONEncoder.canonical.encode(SnapshotManifest(entries: entries)))).digest
        try await store.refs.setRefs([(SnapshotManifest.latestRef, manifest)], at: Date())
        blobs.reset()

        let status = try await Workspace(store: store, rulesPath: "/nonexistent").status()

        #expect(status.cache.entries == 50 && status.knowledgeBase?.documents == 50)
        #expect(status.cache.bytes == (0..<50).reduce(0) { $0 + Int64("document \($1)".utf8.count) })
        #expect(blobs.inventories == 0, "no listing of every object")
        #expect(blobs.stats == 0, "no stat of every output")
        #expect(blobs.reads == 1, "only the knowledge base's manifest is read")
    }
}
