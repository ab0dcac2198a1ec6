import Foundation
import Testing
@testable import AcervoStore

@Suite struct ActionCacheTests {
    private func result(_ key: String, _ outputs: [String: Digest], processor: String = "google.stt", cost: Double = 0.25) -> ActionResult {
        ActionResult(key: key, processor: processor, processorVersion: "1", outputs: outputs, provider: "google",
                     model: "chirp_2", usage: ["billedSeconds": 600], costUSD: cost, durationSeconds: 12.5,
                     runID: "r1", toolVersion: Store.toolVersion, createdAt: Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func `a committed result is found with everything it recorded`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let transcript = try store.put(bytes: Array("hola".utf8)).digest
        let committed = result(String(repeating: "a", count: 64), ["transcript": transcript])
        try store.actionCache.commit(committed)
        #expect(try store.actionCache.lookup(committed.key) == committed)
    }

    @Test func `a result whose blob is gone is a miss, never a broken hit`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let transcript = try store.put(bytes: Array("hola".utf8)).digest
        let committed = result(String(repeating: "b", count: 64), ["transcript": transcript])
        try store.actionCache.commit(committed)
        store.blobs.remove(transcript)
        #expect(try store.actionCache.lookup(committed.key) == nil)
        #expect(try store.actionCache.result(forKey: committed.key) != nil)
    }

    @Test func `stats count entries, bytes, hits and dollars saved per processor`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let a = try store.put(bytes: randomBytes(100)).digest
        let b = try store.put(bytes: randomBytes(50)).digest
        try store.actionCache.commit(result(String(repeating: "1", count: 64), ["t": a], cost: 0.5))
        try store.actionCache.commit(result(String(repeating: "2", count: 64), ["t": b], processor: "tesseract", cost: 0))
        for _ in 0..<3 { try store.actionCache.recordHit(String(repeating: "1", count: 64)) }
        try store.actionCache.recordHit(String(repeating: "2", count: 64))

        let stats = try store.cacheStatistics()

        let stt = try #require(stats.processors.first { $0.processor == "google.stt" })
        #expect(stt.entries == 1 && stt.bytes == 100 && stt.hits == 3)
        #expect(abs(stt.savedUSD - 1.5) < 1e-9 && abs(stt.spentUSD - 0.5) < 1e-9)
        #expect(stats.total.entries == 2 && stats.total.bytes == 150 && stats.total.hits == 4)
        #expect(abs(stats.total.savedUSD - 1.5) < 1e-9)
    }

    @Test func `a key prefix resolves when it is unique`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let blob = try store.put(bytes: [1]).digest
        try store.actionCache.commit(result("ab" + String(repeating: "0", count: 62), ["o": blob]))
        try store.actionCache.commit(result("ac" + String(repeating: "0", count: 62), ["o": blob]))
        #expect(try store.actionCache.resolve(prefix: "ab").key.hasPrefix("ab"))
        #expect(throws: StoreError.ambiguousActionKey("a", matches: 2)) { try store.actionCache.resolve(prefix: "a") }
        #expect(throws: StoreError.unknownActionKey("ff")) { try store.actionCache.resolve(prefix: "ff") }
    }

    @Test func `a result, its event and its trace commit together`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let blob = try store.put(bytes: [9]).digest
        let run = try store.runLog.start(command: "build", toolVersion: Store.toolVersion)
        let key = String(repeating: "c", count: 64)
        try store.actionCache.commit(result(key, ["o": blob])) { db in
            try Event(runID: run.id, itemID: "m1/l1", rule: "transcript", key: key, decision: .executed, reason: "new item").insert(db)
            try Trace(itemID: "m1/l1", rule: "transcript", key: key, components: "{}", runID: run.id).upsert(db)
        }
        #expect(try store.runLog.events(run: run.id).map(\.decision) == [.executed])
        #expect(try store.runLog.traces(item: "m1/l1").map(\.key) == [key])
    }
}
