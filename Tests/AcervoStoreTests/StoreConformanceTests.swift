import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// What every backend must do, through the ports alone: the same tests for files + SQLite, memory, and any
/// backend added to `Backend.all`.
@Suite struct StoreConformanceTests {
    private func result(_ key: ActionKey, _ outputs: [String: Digest], processor: String = "google.stt", cost: Double = 0.25,
                        createdAt: Date = Date(timeIntervalSince1970: 1_700_000_000)) -> ActionResult {
        ActionResult(key: key, processor: processor, processorVersion: "1", outputs: outputs, provider: "google", model: "chirp_2",
                     usage: ["billedSeconds": 600], costUSD: cost, durationSeconds: 12.5, runID: "r1", toolVersion: Store.toolVersion,
                     createdAt: createdAt, warnings: ["line 7: a block without a timing line was skipped (\"…\")"],
                     metadata: ["encoding": "windows-1252", "format": "SubRip"])
    }

    // MARK: Blobs

    @Test(arguments: Backend.all) func `bytes are stored under their SHA-256, once, and read back whole`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let blobs = test.store.blobs
        let bytes = randomBytes(3 * (1 << 20) + 17)
        let first = try await blobs.put(bytes: bytes)
        let again = try await blobs.put(bytes: bytes)

        #expect(first.digest == Digest.of(bytes) && first.size == Int64(bytes.count) && first.isNew)
        #expect(again.digest == first.digest && !again.isNew)
        #expect(await blobs.contains(first.digest))
        #expect(await blobs.info(first.digest)?.size == Int64(bytes.count))
        #expect(try await blobs.bytes(of: first.digest) == bytes)
        var chunks = 0
        for try await chunk in try await blobs.chunks(of: first.digest) {
            chunks += 1
            #expect(chunk.count <= 1 << 20)
        }
        #expect(chunks == 4, "a large blob is read a chunk at a time")
        #expect(try await blobs.inventory().digests == [first.digest])
    }

    @Test(arguments: Backend.all) func `a file, a stream and a restarted writer are stored like bytes`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let blobs = test.store.blobs
        let bytes = randomBytes(100_000)
        #expect(try await blobs.put(fileAt: test.folder.file("lesson.mp4", bytes: bytes)).digest == Digest.of(bytes))

        let stream = AsyncStream<[UInt8]> { continuation in
            continuation.yield(Array(bytes[..<40_000]))
            continuation.yield(Array(bytes[40_000...]))
            continuation.finish()
        }
        #expect(try await blobs.put(stream: stream).digest == Digest.of(bytes))

        let writer = try await blobs.writer()
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try writer.append($0) }
        try writer.restart()
        try [UInt8]([4, 5]).withUnsafeBytes { try writer.append($0) }
        #expect(writer.size == 2)
        let written = try await writer.commit()
        #expect(written.digest == Digest.of([4, 5]))
        #expect(try await blobs.bytes(of: written.digest) == [4, 5])
    }

    @Test(arguments: Backend.all) func `a blob can be handed to a program as a file`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let digest = try await test.store.blobs.put(bytes: Array("frame".utf8)).digest
        let path = try await test.store.blobs.file(of: digest)
        #expect(FileManager.default.contents(atPath: path) == Data("frame".utf8))
    }

    @Test(arguments: Backend.all) func `an absent blob is an error naming it, removed and quarantined blobs are gone`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let blobs = test.store.blobs
        let missing = Digest.of([1, 2, 3])
        await #expect(throws: StoreError.unknownDigest(missing, store: test.store.location)) { try await blobs.bytes(of: missing) }
        #expect(await blobs.info(missing) == nil)

        let removed = try await blobs.put(bytes: [1]).digest
        let quarantined = try await blobs.put(bytes: [2]).digest
        try await blobs.remove(removed)
        try await blobs.remove(removed)  // already gone: fine
        let evidence = try await blobs.quarantine(quarantined)
        #expect(!evidence.isEmpty)
        #expect(await !blobs.contains(removed))
        #expect(await !blobs.contains(quarantined))
        #expect(try await blobs.inventory().digests.isEmpty)
    }

    // MARK: Action cache

    @Test(arguments: Backend.all) func `a committed result is found with everything it recorded`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let transcript = try await store.put(bytes: Array("hola".utf8)).digest
        let committed = result(key("a"), ["transcript": transcript])
        try await store.commit(committed)
        var expected = committed
        expected.outputBytes = 4
        #expect(try await store.lookup(committed.key) == expected)
        #expect(try await store.actionCache.outputIndex(named: "transcript") == [committed.key: transcript])
        #expect(try await store.actionCache.outputIndex(named: "out").isEmpty)
    }

    @Test(arguments: Backend.all) func `a result whose blob is gone is a miss, never a broken hit`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let transcript = try await store.put(bytes: Array("hola".utf8)).digest
        try await store.commit(result(key("b"), ["transcript": transcript]))
        try await store.blobs.remove(transcript)
        #expect(try await store.lookup(key("b")) == nil)
        #expect(try await store.actionCache.result(forKey: key("b")) != nil)
    }

    @Test(arguments: Backend.all) func `results list newest first, by processor, by key prefix, and are removed by key`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let blob = try await store.put(bytes: [1]).digest
        let older = ActionKey(hex: "ab" + String(repeating: "0", count: 62))!
        let newer = ActionKey(hex: "ac" + String(repeating: "0", count: 62))!
        try await store.commit(result(older, ["o": blob], createdAt: Date(timeIntervalSince1970: 1_000)))
        try await store.commit(result(newer, ["o": blob], processor: "tesseract", createdAt: Date(timeIntervalSince1970: 2_000)))

        #expect(try await store.actionCache.results(processor: nil).map(\.key) == [newer, older])
        #expect(try await store.actionCache.results(processor: "tesseract").map(\.key) == [newer])
        let byPrefix = try await store.actionCache.results(keyPrefix: "ab", limit: 2)
        #expect(byPrefix.matches.map(\.key) == [older] && byPrefix.total == 1)
        let ambiguous = try await store.actionCache.results(keyPrefix: "a", limit: 1)
        #expect(ambiguous.matches.count == 1 && ambiguous.total == 2)

        try await store.actionCache.removeResults([older])
        #expect(try await store.actionCache.results(processor: nil).map(\.key) == [newer])
    }

    @Test(arguments: Backend.all) func `stats count entries, bytes, hits and dollars saved per processor without visiting objects`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let a = try await store.put(bytes: randomBytes(100)).digest
        let b = try await store.put(bytes: randomBytes(50)).digest
        try await store.commit(result(key("1"), ["t": a], cost: 0.5))
        try await store.commit(result(key("2"), ["t": b], processor: "tesseract", cost: 0))
        for _ in 0..<3 { try await store.actionCache.recordHit(key("1"), at: Date()) }
        try await store.actionCache.recordHit(key("2"), at: Date())

        let totals = try await store.actionCache.resultTotals()
        let stt = try #require(totals.first { $0.processor == "google.stt" })
        #expect(stt.entries == 1 && stt.bytes == 100 && stt.hits == 3)
        #expect(abs(stt.savedUSD - 1.5) < 1e-9 && abs(stt.spentUSD - 0.5) < 1e-9)
        let stats = try await store.cacheStatistics()
        #expect(stats.total.entries == 2 && stats.total.bytes == 150 && stats.total.hits == 4)
        #expect(abs(stats.total.savedUSD - 1.5) < 1e-9)
    }

    @Test(arguments: Backend.all) func `a result stored without its size is measured once`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let blob = try await store.put(bytes: randomBytes(70)).digest
        var unsized = result(key("7"), ["o": blob])
        unsized.outputBytes = nil
        try await store.actionCache.commit(unsized, event: nil, trace: nil)  // as results committed before sizes were recorded
        #expect(try await store.actionCache.unsizedResults().map(\.key) == [key("7")])

        #expect(try await store.cacheStatistics().total.bytes == 70)
        #expect(try await store.actionCache.unsizedResults().isEmpty)
    }

    // MARK: Journal

    @Test(arguments: Backend.all) func `a result, its event and its trace commit together`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let blob = try await store.put(bytes: [9]).digest
        let run = try await store.startRun(command: .build)
        let event = Event(runID: run.id, itemID: "m1/l1", rule: "transcript", key: key("c"), decision: .executed, reason: .changed([.newItem]))
        let trace = Trace(itemID: "m1/l1", rule: "transcript", key: key("c"), components: "{}", runID: run.id)
        try await store.commit(result(key("c"), ["o": blob]), event: event, trace: trace)

        #expect(try await store.journal.events(run: run.id).map(\.reason) == [.changed([.newItem])])
        #expect(try await store.journal.traces(item: "m1/l1").map(\.key) == [key("c")])
        #expect(try await store.journal.trace(item: "m1/l1", rule: "transcript")?.runID == run.id)
        #expect(try await store.journal.traceKeys() == ["m1/l1": ["transcript": key("c")]])
    }

    @Test(arguments: Backend.all) func `hit lists are totalled once and kept: cache statistics read the totals, not the lists`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let blob = try await store.put(bytes: [4]).digest
        try await store.commit(ActionResult(key: key("7"), processor: "google.stt", processorVersion: "1", outputs: ["t": blob], costUSD: 0.25,
                                            toolVersion: Store.toolVersion))
        try await store.commit(ActionResult(key: key("8"), processor: "ffprobe", processorVersion: "1", outputs: ["t": blob],
                                            toolVersion: Store.toolVersion))
        let list = HitList([HitList.Entry(itemID: "m1/a", rule: "speech", key: key("7")), HitList.Entry(itemID: "m1/a", rule: "media", key: key("8"))])
        for night in 0..<3 {  // three quiet nights share one list
            let run = try await store.startRun(command: .build, at: Date(timeIntervalSince1970: Double(1_000 + night)))
            try await store.recordHits(list, run: run.id)
        }
        let digest = try #require(try await store.journal.hitLists(since: nil).first?.digest)
        #expect(try await store.journal.hitListTotals([digest]).isEmpty, "not totalled before anyone asks")

        let statistics = try await store.cacheStatistics()
        #expect(statistics.total.hits == 6 && abs(statistics.total.savedUSD - 0.75) < 1e-9)
        let kept = try await store.journal.hitListTotals([digest, Digest.of([1, 2, 3])])
        #expect(kept == [digest: ["google.stt": HitTotals(hits: 1, savedUSD: 0.25), "ffprobe": HitTotals(hits: 1, savedUSD: 0)]])

        // A list that hit nothing still in the cache is known, with no processor.
        let empty = Digest.of(Array("an empty list".utf8))
        try await store.journal.recordHitListTotals([empty: [:]])
        #expect(try await store.journal.hitListTotals([empty]) == [empty: [:]])

        // The kept totals are what the figures come from: a new process reads them (here: totals changed by
        // hand, which only a reader of the kept rows would show).
        try await store.journal.recordHitListTotals([digest: ["google.stt": HitTotals(hits: 1, savedUSD: 1.0)]])
        let fresh = Store(blobs: store.blobs, metadata: store.metadata, root: nil)
        #expect(abs(try await fresh.cacheStatistics().total.savedUSD - 3.0) < 1e-9)
    }

    @Test(arguments: Backend.all) func `runs start, finish and list newest first`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let first = try await store.startRun(command: .build, at: Date(timeIntervalSince1970: 1_000))
        let second = try await store.startRun(command: .kbSync, at: Date(timeIntervalSince1970: 2_000))
        try await store.journal.finishRun(first.id, status: .failed, summary: #"{"failed":1}"#, at: Date(timeIntervalSince1970: 1_500))

        #expect(try await store.journal.runs(limit: 10).map(\.id) == [second.id, first.id])
        #expect(try await store.journal.runs(limit: 1).map(\.id) == [second.id])
        let finished = try #require(try await store.journal.run(first.id))
        #expect(finished.status == .failed && finished.summary == #"{"failed":1}"# && finished.endedAt == Date(timeIntervalSince1970: 1_500))
        #expect(try await store.journal.run(second.id)?.status == .running)
        #expect(try await store.journal.run("r-none") == nil)
    }

    @Test(arguments: Backend.all) func `decisions keep their order, structured reasons and errors, and count hits`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let blob = try await store.put(bytes: [3]).digest
        try await store.commit(result(key("5"), ["out": blob]))
        let run = try await store.startRun(command: .build)
        let reasons: [DecisionReason] = [
            .cached, .dependencyFailed(rule: "audio"), .notApplicable(.missingInput(["video", "audio"])), .budgetReached(estimateUSD: 0.1, limitUSD: 0.25),
            .changed([.paramChanged(name: "style", old: #""short""#, new: nil), .inputChanged(name: "video", old: nil, new: blob)]),
            .sink(.upload(document: blob)), .sharedInRun(item: "m1/a"), .unreadableItem, .interrupted,
        ]
        let decisions = reasons.enumerated().map { index, reason in
            DecisionRecord(event: Event(runID: run.id, itemID: "item-\(index)", rule: "r", key: index == 0 ? key("5") : nil,
                                        decision: index == 0 ? .hit : .skipped, reason: reason, error: index == 7 ? "unreadable" : nil),
                           hitKey: index == 0 ? key("5") : nil)
        }
        try await store.journal.record(decisions)

        let events = try await store.journal.events(run: run.id)
        #expect(events.map(\.reason) == reasons)
        #expect(events.map(\.itemID) == (0..<reasons.count).map { "item-\($0)" })
        #expect(events[7].error == "unreadable" && events[0].key == key("5"))
        #expect(try await store.actionCache.result(forKey: key("5"))?.hitCount == 1)
        #expect(try await store.journal.events(item: "item-3").map(\.reason) == [reasons[3]])
    }

    @Test(arguments: Backend.all) func `hit lists are kept per run and found again since a date`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let old = try await store.startRun(command: .build, at: Date(timeIntervalSince1970: 1_000))
        let new = try await store.startRun(command: .build, at: Date(timeIntervalSince1970: 2_000))
        let hits = HitList([HitList.Entry(itemID: "m1/a", rule: "audio", key: key("6"))])
        try await store.recordHits(hits, run: old.id)
        try await store.recordHits(hits, run: new.id)

        let records = try await store.journal.hitLists(since: nil)
        #expect(records.map(\.runID) == [new.id, old.id])
        #expect(Set(records.map(\.digest)).count == 1, "identical nights share one blob")
        #expect(try await store.journal.hitLists(since: Date(timeIntervalSince1970: 1_500)).map(\.runID) == [new.id])
        #expect(try await store.hits(run: new.id) == hits)
        #expect(try await store.events(run: new.id).map(\.reason) == [.cached])
        #expect(try await store.listedHits()[key("6")]?.count == 2)
    }

    // MARK: Refs, pins, catalog, stat cache, downloads

    @Test(arguments: Backend.all) func `refs are set together, read by name or prefix newest first, and deleted`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let a = Digest.of([1]), b = Digest.of([2])
        try await store.refs.setRefs([("snapshots/r1", a), ("kb/latest", a)], at: Date(timeIntervalSince1970: 1_000))
        try await store.refs.setRefs([("snapshots/r2", b)], at: Date(timeIntervalSince1970: 2_000))

        #expect(try await store.refs.ref("kb/latest") == Ref(name: "kb/latest", digest: a, updatedAt: Date(timeIntervalSince1970: 1_000)))
        #expect(try await store.refs.refs(prefix: "snapshots/").map(\.name) == ["snapshots/r2", "snapshots/r1"])
        #expect(try await store.refs.refs(prefix: nil).count == 3)
        try await store.refs.deleteRefs(["snapshots/r1"])
        #expect(try await store.refs.ref("snapshots/r1") == nil)
        #expect(try await store.refs.refs(prefix: "snapshot").map(\.name) == ["snapshots/r2"])
    }

    @Test(arguments: Backend.all) func `pins keep their note until removed`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let digest = Digest.of([4])
        try await store.refs.pin(digest, note: "audit", at: Date(timeIntervalSince1970: 5))
        #expect(try await store.refs.pins() == [Pin(digest: digest, note: "audit", createdAt: Date(timeIntervalSince1970: 5))])
        try await store.refs.unpin(digest)
        #expect(try await store.refs.pins().isEmpty)
    }

    @Test(arguments: Backend.all) func `media are catalogued once and trees link their members`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let video = try await store.put(bytes: Array("video".utf8), kind: .media)
        try await store.put(bytes: Array("video".utf8), kind: .media)
        let frame = try await store.put(bytes: Array("frame".utf8)).digest
        let tree = try await store.putTree([TreeEntry(name: "0001.png", digest: frame, size: 5)])

        #expect(try await store.catalog.mediaBlobs().map(\.digest) == [video.digest])
        #expect(try await store.catalog.links() == [BlobLink(parent: tree, child: frame)])
        #expect(try await store.tree(tree) == [TreeEntry(name: "0001.png", digest: frame, size: 5)])
        try await store.catalog.forgetBlobs([tree, video.digest])
        #expect(try await store.catalog.links().isEmpty)
        #expect(try await store.catalog.mediaBlobs().isEmpty)
    }

    @Test(arguments: Backend.all) func `stat entries and download records are remembered and forgotten`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let entry = StatEntry(identity: StatIdentity(device: 1, inode: 2, size: 3, mtimeNanoseconds: 4, ctimeNanoseconds: 5), digest: Digest.of([6]))
        try await store.metadata.recordStat(entry, path: "/course/a.mp4")
        #expect(try await store.metadata.statEntries() == ["/course/a.mp4": entry])
        try await store.metadata.forgetStat(path: "/course/a.mp4")
        #expect(try await store.metadata.statEntries().isEmpty)

        let record = DownloadRecord(url: "https://cdn.example/a.mp4", etag: "\"v1\"", lastModified: nil, size: 3, digest: Digest.of([7]))
        try await store.downloads.rememberDownload(record, at: Date())
        #expect(try await store.downloads.downloadRecord(for: record.url) == record)
        #expect(try await store.downloads.downloadRecord(for: "https://cdn.example/b.mp4") == nil)
    }

    @Test(arguments: Backend.all) func `search needs every word, folds accents, filters on attributes and ranks titles first`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let collection = Digest.of(Array("snapshot".utf8))
        #expect(try await !store.searchIndex.isIndexed(collection))
        try await store.searchIndex.index(collection, documents: [
            SearchDocument(item: "a", title: "Función", attributes: ["language": "es"], body: "una función devuelve un valor"),
            SearchDocument(item: "b", title: "Listas", attributes: ["language": "pt"], body: "funcion e lista de valores"),
            SearchDocument(item: "c", title: "Variables", attributes: ["language": "es"], body: "nada que ver"),
        ])
        #expect(try await store.searchIndex.isIndexed(collection))

        let hits = try await store.searchIndex.search(collection, query: SearchQuery("funcion"), filters: [:], limit: 10)
        #expect(hits.map(\.item) == ["a", "b"], "the title match ranks first; accents are optional")
        #expect(hits[0].snippet.contains("[función]"))
        #expect(try await store.searchIndex.search(collection, query: SearchQuery("funcion valor"), filters: [:], limit: 10).map(\.item) == ["a"])
        #expect(try await store.searchIndex.search(collection, query: SearchQuery("funcion"), filters: ["language": "pt"], limit: 10).map(\.item) == ["b"])
        #expect(throws: StoreError.self) { try SearchQuery("¿?") }
    }

    // MARK: The facade over the ports

    @Test(arguments: Backend.all) func `fsck finds a damaged object, and repair drops exactly the results that needed it`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let transcript = try await store.put(bytes: Array("transcript bytes".utf8)).digest
        let analysis = try await store.put(bytes: Array("analysis bytes".utf8)).digest
        try await store.commit(result(key("d"), ["transcript": transcript]))
        try await store.commit(result(key("e"), ["analysis": analysis]))
        #expect(try await store.fsck(repair: false).isClean)

        try test.corrupt(transcript)
        let report = try await store.fsck(repair: true)

        #expect(report.corrupt.map(\.digest) == [transcript])
        #expect(report.droppedResults == [key("d")])
        #expect(try await store.actionCache.result(forKey: key("d")) == nil)
        #expect(try await store.lookup(key("e")) != nil)
        #expect(try await store.fsck(repair: false).isClean)
    }
}
