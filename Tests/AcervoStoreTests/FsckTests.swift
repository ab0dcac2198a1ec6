import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// fsck on the store folder every user has: what it reports of damaged files, and what repair leaves.
@Suite struct FsckTests {
    /// A store with one result (two outputs) and a snapshot ref to a tree of both.
    private func populated(_ folder: TemporaryFolder) async throws -> (Store, FileBlobStore, transcript: Digest, analysis: Digest, tree: Digest) {
        let store = try await folder.openStore()
        let transcript = try await store.put(bytes: Array("transcript bytes".utf8)).digest
        let analysis = try await store.put(bytes: Array("analysis bytes".utf8)).digest
        let tree = try await store.putTree([
            TreeEntry(name: "analysis.json", digest: analysis, size: 14),
            TreeEntry(name: "transcript.json", digest: transcript, size: 16),
        ])
        try await store.commit(ActionResult(key: key("d"), processor: "google.stt", processorVersion: "1",
                                            outputs: ["transcript": transcript], costUSD: 0.3, toolVersion: Store.toolVersion))
        try await store.commit(ActionResult(key: key("e"), processor: "gemini.analyze", processorVersion: "1",
                                            outputs: ["analysis": analysis], costUSD: 0.1, toolVersion: Store.toolVersion))
        try await store.refs.setRefs([("snapshots/2026-11-25", tree)], at: Date())
        return (store, try #require(store.blobs as? FileBlobStore), transcript, analysis, tree)
    }

    @Test func `a healthy store is clean`() async throws {
        let folder = TemporaryFolder()
        let (store, _, _, _, _) = try await populated(folder)
        let report = try await store.fsck(repair: false)
        #expect(report.isClean)
        #expect(report.checkedObjects == 3)
    }

    @Test func `a flipped byte is reported by digest and path`() async throws {
        let folder = TemporaryFolder()
        let (store, files, transcript, _, _) = try await populated(folder)
        try corrupt(files.path(of: transcript))

        let report = try await store.fsck(repair: false)

        #expect(report.corrupt.map(\.digest) == [transcript])
        #expect(report.corrupt.first?.path == files.path(of: transcript))
        #expect(report.missingOutputs.map(\.key) == [key("d")])
        #expect(report.missingChildren.map(\.child) == [transcript])
        #expect(!report.isClean)
    }

    @Test func `a missing blob and a dangling ref are reported by name`() async throws {
        let folder = TemporaryFolder()
        let (store, _, _, analysis, _) = try await populated(folder)
        try await store.blobs.remove(analysis)
        let ghost = Digest.of(Array("never stored".utf8))
        try await store.refs.setRefs([("kb/latest", ghost)], at: Date())

        let report = try await store.fsck(repair: false)

        #expect(report.missingOutputs == [.init(key: key("e"), processor: "gemini.analyze", output: "analysis", digest: analysis)])
        #expect(report.danglingRefs == [.init(name: "kb/latest", digest: ghost)])
    }

    @Test func `repair quarantines corrupt objects and drops exactly the results that needed them`() async throws {
        let folder = TemporaryFolder()
        let (store, files, transcript, analysis, _) = try await populated(folder)
        let objectPath = files.path(of: transcript)
        try corrupt(objectPath)
        let corruptBytes = try Data(contentsOf: URL(fileURLWithPath: objectPath))

        let report = try await store.fsck(repair: true)

        #expect(report.droppedResults == [key("d")])
        let quarantined = try #require(report.corrupt.first?.quarantinedTo)
        #expect(try Data(contentsOf: URL(fileURLWithPath: quarantined)) == corruptBytes)
        #expect(await !store.blobs.contains(transcript))
        #expect(try await store.actionCache.result(forKey: key("d")) == nil)
        #expect(try await store.lookup(key("e"))?.outputs == ["analysis": analysis])
        // The snapshot's tree lost a member: only a rebuild can bring it back, so fsck keeps saying so.
        #expect(report.unrepairable)
        let after = try await store.fsck(repair: false)
        #expect(after.corrupt.isEmpty && after.missingOutputs.isEmpty)
        #expect(after.missingChildren.map(\.child) == [transcript])
    }
}

/// Errors that used to be swallowed, and a number the canonical encoder used to trap on.
@Suite struct NoSwallowedErrorTests {
    @Test func `a result whose stored usage is not JSON is an error naming the column, not a result that cost nothing`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let output = try await store.put(bytes: Array("transcript".utf8)).digest
        try await store.commit(ActionResult(key: key("a"), processor: "google.stt", processorVersion: "1", outputs: ["transcript": output],
                                            usage: ["billedSeconds": 600], costUSD: 0.3, toolVersion: Store.toolVersion))
        #expect(try await store.lookup(key("a"))?.usage == ["billedSeconds": 600])
        let database = folder.path + "/store/acervo.sqlite"
        let damage = try run("/usr/bin/sqlite3", [database, "UPDATE action_results SET usage = '{\"billedSeconds\": 6' WHERE processor = 'google.stt'"])
        #expect(damage.status == 0, "sqlite3 is needed (scripts/setup installs it): \(damage.stderr)")
        let error = await #expect(throws: StoreError.self) { _ = try await store.lookup(key("a")) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("the `usage` of result"), "\(String(describing: error))")
    }

    @Test func `a number that is not finite is written as a string by the canonical encoder, never a trap, and finite ones as before`() throws {
        struct Measured: Encodable { var seconds: Double; var ratio: Double }
        let bytes = try JSONEncoder.canonical.encode(Measured(seconds: .nan, ratio: .infinity))
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"ratio":"Infinity","seconds":"NaN"}"#)
        #expect(String(decoding: try JSONEncoder.canonical.encode(Measured(seconds: 1.5, ratio: 0.1)), as: UTF8.self) == #"{"ratio":0.1,"seconds":1.5}"#)
    }
}

/// The per-processor totals SQLite keeps with triggers are always what a scan of the results would say.
@Suite struct ResultTotalsTests {
    @Test func `kept result totals equal a scan of the results after commits, replacements, hits, sizes and removals`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let output = try await store.put(bytes: Array("out".utf8)).digest
        for (index, digit) in ["1", "2", "3", "4"].enumerated() {
            try await store.commit(ActionResult(key: key(Character(digit)), processor: index % 2 == 0 ? "google.stt" : "ffprobe", processorVersion: "1",
                                                outputs: ["o": output], costUSD: 0.1 * Double(index + 1), runID: index == 3 ? nil : "r1",
                                                toolVersion: Store.toolVersion))
        }
        // A result made again (`--refresh`) replaces the old one; hits; sizes recorded later; one removed.
        try await store.commit(ActionResult(key: key("1"), processor: "google.stt", processorVersion: "2", outputs: ["o": output], costUSD: 0.7,
                                            runID: "r2", toolVersion: Store.toolVersion))
        for _ in 0..<3 { try await store.actionCache.recordHit(key("2"), at: Date()) }
        try await store.actionCache.recordHit(key("3"), at: Date())
        try await store.actionCache.recordOutputBytes([key("4"): 1_000])
        try await store.actionCache.removeResults([key("3")])

        let database = folder.path + "/store/acervo.sqlite"
        let kept = try run("/usr/bin/sqlite3", [database, "SELECT processor, entries, bytes, hits, round(saved, 9), round(spent, 9) FROM result_totals WHERE entries > 0 ORDER BY processor"])
        let scanned = try run("/usr/bin/sqlite3", [database, """
            SELECT processor, COUNT(*), COALESCE(SUM(output_bytes), 0), SUM(hit_count), round(SUM(cost_usd * hit_count), 9),
                   round(SUM(CASE WHEN run_id IS NULL THEN 0 ELSE cost_usd END), 9) FROM action_results GROUP BY processor ORDER BY processor
            """])
        #expect(kept.status == 0 && scanned.status == 0, "sqlite3 is needed (scripts/setup installs it): \(kept.stderr)\(scanned.stderr)")
        #expect(!kept.stdout.isEmpty && kept.stdout == scanned.stdout, "kept:\n\(kept.stdout)\nscanned:\n\(scanned.stdout)")
        #expect(try await store.cacheStatistics().total.entries == 3)
    }
}
