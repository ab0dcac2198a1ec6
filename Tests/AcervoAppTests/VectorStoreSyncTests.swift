import AcervoEngine
import AcervoFakeServers
import AcervoSinks
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp
@testable import AcervoConnectors

/// A store, a fake OpenAI and the OpenAI sink between them, published to as the application does (each
/// publication a run of its own).
final class SyncBench: Sendable {
    let directory = TemporaryDirectory("acervo-sync")
    let store: Store
    let workspace: Workspace
    let fake: FakeOpenAI
    let session = HTTPSession(connectTimeoutSeconds: 2, readTimeoutSeconds: 0.5)
    let sink: OpenAIVectorStoreSink

    init(faults: FaultInjector? = nil, pollsBeforeDone: Int = 1) async throws {
        store = try await Store.open(at: directory.path + "/store")
        workspace = Workspace(store: store, rulesPath: directory.path + "/rules")
        fake = try await FakeOpenAI.start(faults: faults)
        fake.setPollsBeforeDone(pollsBeforeDone)
        let environment = ConnectorEnvironment(["OPENAI_API_KEY": fake.apiKey, "OPENAI_BASE_URL": fake.baseURL])
        // Retries are real but quick: the fault tests exercise the same path with tiny waits.
        let retry = RetryPolicy(maxAttempts: 8, baseDelaySeconds: 0.01, maxDelaySeconds: 0.05)
        let client = try OpenAIVectorStores.fromEnvironment(environment, session: session, retry: retry)
        sink = OpenAIVectorStoreSink(client: client, vectorStore: "support-kb", concurrency: 4, pollIntervalSeconds: 0.01, pollTimeoutSeconds: 10)
    }

    func close() async {
        await session.shutdown()
        await fake.stop()
    }

    /// A snapshot whose items have these document texts (and a course attribute each).
    func snapshot(_ documents: [String: String], attributes: [String: [String: String]] = [:]) async throws -> Digest {
        var entries: [SnapshotEntry] = []
        for (item, text) in documents {
            entries.append(SnapshotEntry(itemID: item, title: "Lesson \(item)", document: try await store.put(bytes: Array(text.utf8)).digest,
                                         attributes: ["item_id": item, "course": "python"].merging(attributes[item] ?? [:]) { $1 }))
        }
        return try await store.put(bytes: Array(try JSONEncoder.canonical.encode(SnapshotManifest(entries: entries)))).digest
    }

    func sync(_ snapshot: Digest, command: RunCommand = .kbSync) async throws -> SyncReport {
        try await workspace.publish(snapshot, to: sink, command: command, store: store)
    }

    /// What the vector store holds: item → document text, with every file completed and used once.
    func contents() -> [String: String] {
        let files = Dictionary(fake.files.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        var contents: [String: String] = [:]
        for entry in fake.entries(ofStoreNamed: "support-kb") {
            let item = entry.attributes["item_id"] ?? "?"
            #expect(entry.status == "completed", "\(item) is \(entry.status)")
            #expect(contents[item] == nil, "\(item) is in the vector store twice")
            contents[item] = files[entry.fileID]?.text ?? "<file deleted>"
        }
        return contents
    }
}

@Suite("Vector-store sync")
struct VectorStoreSyncTests {
    @Test("the first sync uploads every document with its attributes; a second sync makes no write calls")
    func firstAndSecondSync() async throws {
        let bench = try await SyncBench()
        let documents = ["l1": "# Listas", "l2": "# Tuplas", "l3": "# Dicts"]
        let snapshot = try await bench.snapshot(documents, attributes: ["l1": ["school": "dev", "level": "basic"]])
        let first = try await bench.sync(snapshot)
        #expect(first.uploaded == ["l1", "l2", "l3"])
        #expect(first.isComplete)
        #expect(bench.contents() == documents)
        let l1 = try #require(bench.fake.entries(ofStoreNamed: "support-kb").first { $0.attributes["item_id"] == "l1" })
        #expect(l1.attributes["school"] == "dev")
        #expect(l1.attributes["level"] == "basic")
        #expect(l1.attributes["course"] == "python")
        #expect(l1.attributes["acervo_document"] == Digest.of(Array("# Listas".utf8)).hex)
        #expect(l1.chunking == ["max": 800, "overlap": 400])
        #expect(bench.fake.calls["POST /files"] == 3)
        #expect(bench.fake.calls["POST /vector_stores"] == 1)

        bench.fake.resetCounts()
        let second = try await bench.sync(snapshot)
        #expect(second.kept == 3)
        #expect(second.uploaded.isEmpty && second.removed.isEmpty && second.updated.isEmpty)
        #expect(bench.fake.writeCalls == 0)
        #expect(bench.fake.calls == ["GET /vector_stores": 1, "GET /vector_stores/{id}/files": 1])
        #expect(bench.fake.violations.isEmpty)
        // Every decision is on record: the second run lists three items as current.
        #expect(try await bench.store.events(run: second.run).filter { $0.decision == .hit }.count == 3)
        await bench.close()
    }

    @Test("a changed, a removed and a new document each cost exactly their own calls")
    func changes() async throws {
        let bench = try await SyncBench()
        _ = try await bench.sync(try await bench.snapshot(["l1": "one", "l2": "two", "l3": "three"]))
        bench.fake.resetCounts()
        let next = ["l1": "one", "l2": "two, edited", "l4": "four"]
        let report = try await bench.sync(try await bench.snapshot(next))
        #expect(report.uploaded == ["l2", "l4"])
        #expect(report.removed == ["l2", "l3"])
        #expect(report.kept == 1)
        #expect(bench.fake.calls["POST /files"] == 2)
        #expect(bench.fake.calls["POST /vector_stores/{id}/files"] == 2)
        #expect(bench.fake.calls["DELETE /vector_stores/{id}/files/{file}"] == 2)
        #expect(bench.fake.calls["DELETE /files/{id}"] == 2)
        #expect(bench.contents() == next)
        #expect(bench.fake.files.count == 3, "the replaced and removed files are deleted, not just detached")
        await bench.close()
    }

    @Test("an attribute-only change updates the file in place instead of uploading it again")
    func attributeUpdate() async throws {
        let bench = try await SyncBench()
        _ = try await bench.sync(try await bench.snapshot(["l1": "one"], attributes: ["l1": ["level": "basic"]]))
        bench.fake.resetCounts()
        let report = try await bench.sync(try await bench.snapshot(["l1": "one"], attributes: ["l1": ["level": "advanced"]]))
        #expect(report.updated == ["l1"])
        #expect(bench.fake.calls["POST /files"] == nil)
        #expect(bench.fake.calls["POST /vector_stores/{id}/files/{file}"] == 1)
        #expect(bench.fake.entries(ofStoreNamed: "support-kb").first?.attributes["level"] == "advanced")
        await bench.close()
    }

    @Test("a file removed by hand in the dashboard is uploaded again")
    func repairsHandEdits() async throws {
        let bench = try await SyncBench()
        let snapshot = try await bench.snapshot(["l1": "one", "l2": "two"])
        _ = try await bench.sync(snapshot)
        let victim = try #require(bench.fake.entries(ofStoreNamed: "support-kb").first)
        bench.fake.removeByHand(fileID: victim.fileID, fromStoreNamed: "support-kb")
        let report = try await bench.sync(snapshot)
        #expect(report.uploaded == [victim.attributes["item_id"]!])
        #expect(bench.contents() == ["l1": "one", "l2": "two"])
        await bench.close()
    }

    @Test("a file whose indexing ends `failed` is an error on that item naming OpenAI; the others go on")
    func failedIndexing() async throws {
        let bench = try await SyncBench(pollsBeforeDone: 2)
        bench.fake.failIndexing(ofContentContaining: "CORRUPT")
        let report = try await bench.sync(try await bench.snapshot(["l1": "one", "l2": "CORRUPT", "l3": "three"]))
        #expect(report.uploaded == ["l1", "l3"])
        #expect(report.failures.map(\.itemID) == ["l2"])
        #expect(report.failures.first?.error.contains("OpenAI POST /vector_stores/") == true)
        #expect(report.failures.first?.error.contains("indexing `l2` ended `failed` (unsupported_file: The file could not be parsed)") == true)
        #expect(!report.isComplete)
        #expect(bench.contents() == ["l1": "one", "l3": "three"], "the failed file is not left in the store")
        #expect(try await bench.store.journal.run(report.run)?.status == .failed)
        await bench.close()
    }

    @Test("restoring an older snapshot makes the store match it again, using only stored documents")
    func restore() async throws {
        let bench = try await SyncBench()
        let old = try await bench.snapshot(["l1": "one", "l2": "two"])
        _ = try await bench.sync(old)
        _ = try await bench.sync(try await bench.snapshot(["l1": "one v2", "l3": "three"]))
        let report = try await bench.sync(old, command: .kbRestore)
        #expect(report.isComplete)
        #expect(bench.contents() == ["l1": "one", "l2": "two"])
        await bench.close()
    }

    @Test("with 20 % of calls failing (429, 500, resets, slow answers, truncated JSON) the store still ends equal to the snapshot, without duplicates")
    func faults() async throws {
        let faults = FaultInjector(rate: 0.2, seed: 42, slowSeconds: 1)
        let bench = try await SyncBench(faults: faults)
        bench.fake.setPageSize(7)  // listings paginate too
        var documents: [String: String] = [:]
        for index in 1...30 { documents[String(format: "l%02d", index)] = "lesson \(index)" }
        let report = try await bench.sync(try await bench.snapshot(documents))
        #expect(report.isComplete, "\(report.failures)")
        #expect(bench.contents() == documents)
        #expect(bench.fake.files.count == 30, "uploads whose answer was lost were swept")
        #expect(faults.total > 10)
        #expect(Set(faults.injected.keys).count == FaultInjector.Fault.allCases.count)
        var edited = documents
        edited["l05"] = "lesson 5, edited"
        edited["l30"] = nil
        let second = try await bench.sync(try await bench.snapshot(edited))
        #expect(second.isComplete, "\(second.failures)")
        #expect(bench.contents() == edited)
        #expect(bench.fake.files.count == 29)
        #expect(bench.fake.violations.isEmpty)
        await bench.close()
    }
}
