import Foundation
import Testing
@testable import AcervoStore

@Suite struct GarbageCollectorTests {
    private let day: TimeInterval = 86_400

    /// Policies in these tests look from 200 days ahead, so every object is past its grace period.
    private func policy(_ configure: (inout GCPolicy) -> Void = { _ in }) -> GCPolicy {
        var policy = GCPolicy(keepResultsYoungerThanSeconds: 90 * day, graceSeconds: 0, now: Date().addingTimeInterval(200 * day))
        configure(&policy)
        return policy
    }

    @Test func `by default gc only reports what it would free`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let orphan = try store.put(bytes: randomBytes(1000)).digest

        let report = try store.collectGarbage(policy: policy(), apply: false)

        #expect(report.freedObjects == 1 && report.freedBytes == 1000 && !report.applied)
        #expect(store.blobs.contains(orphan))
    }

    @Test func `apply frees what no root reaches and keeps refs, their trees, pins and recent results`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let orphan = try store.put(bytes: Array("orphan".utf8)).digest
        let member = try store.put(bytes: Array("document".utf8)).digest
        let manifest = try store.putTree([TreeEntry(name: "doc.md", digest: member, size: 8)])
        try store.refs.set("kb/latest", to: manifest)
        let pinned = try store.put(bytes: Array("pinned".utf8)).digest
        try store.refs.pin(pinned, note: "keep for audit")
        let recent = try store.put(bytes: Array("recent transcript".utf8)).digest
        try store.actionCache.commit(ActionResult(
            key: String(repeating: "1", count: 64), processor: "google.stt", processorVersion: "1",
            outputs: ["transcript": recent], toolVersion: Store.toolVersion, createdAt: Date().addingTimeInterval(150 * day)))
        let stale = try store.put(bytes: Array("stale transcript".utf8)).digest
        try store.actionCache.commit(ActionResult(
            key: String(repeating: "2", count: 64), processor: "google.stt", processorVersion: "1",
            outputs: ["transcript": stale], toolVersion: Store.toolVersion, createdAt: Date()))

        let report = try store.collectGarbage(policy: policy(), apply: true)

        #expect(report.freedObjects == 2 && report.droppedResults == 1)
        #expect(!store.blobs.contains(orphan) && !store.blobs.contains(stale))
        for kept in [member, manifest, pinned, recent] { #expect(store.blobs.contains(kept)) }
        #expect(try store.actionCache.result(forKey: String(repeating: "2", count: 64)) == nil)
        #expect(try store.fsck(repair: false).isClean)
    }

    @Test func `a reused result stays however old it is`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let transcript = try store.put(bytes: Array("paid for".utf8)).digest
        let key = String(repeating: "3", count: 64)
        try store.actionCache.commit(ActionResult(
            key: key, processor: "google.stt", processorVersion: "1", outputs: ["transcript": transcript],
            toolVersion: Store.toolVersion, createdAt: Date()))
        try store.actionCache.recordHit(key, at: Date().addingTimeInterval(190 * day))

        let report = try store.collectGarbage(policy: policy(), apply: true)

        #expect(report.freedObjects == 0)
        #expect(try store.actionCache.lookup(key) != nil)
    }

    @Test func `keep-snapshots keeps the newest N snapshot refs`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        var manifests: [Digest] = []
        for index in 0..<4 {
            let manifest = try store.put(bytes: Array("manifest \(index)".utf8)).digest
            try store.refs.set("snapshots/\(index)", to: manifest, at: Date(timeIntervalSince1970: Double(1_000 + index)))
            manifests.append(manifest)
        }

        let report = try store.collectGarbage(policy: policy { $0.keepSnapshots = 2 }, apply: true)

        #expect(report.droppedSnapshots.sorted() == ["snapshots/0", "snapshots/1"])
        #expect(try store.refs.all().map(\.name) == ["snapshots/3", "snapshots/2"])
        #expect(!store.blobs.contains(manifests[0]) && store.blobs.contains(manifests[3]))
    }

    @Test func `dropping old media frees raw videos and keeps the paid-for outputs`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let video = try store.put(bytes: randomBytes(5000), kind: .media).digest
        let transcript = try store.put(bytes: Array("transcribed".utf8)).digest
        let key = String(repeating: "4", count: 64)
        try store.actionCache.commit(ActionResult(
            key: key, processor: "google.stt", processorVersion: "1", outputs: ["transcript": transcript],
            costUSD: 0.4, toolVersion: Store.toolVersion, createdAt: Date().addingTimeInterval(199 * day)))

        let keptByDefault = try store.collectGarbage(policy: policy(), apply: true)
        #expect(keptByDefault.freedObjects == 0 && store.blobs.contains(video))

        let dropped = try store.collectGarbage(policy: policy { $0.dropMediaOlderThanSeconds = 30 * day }, apply: true)

        #expect(dropped.freedMediaObjects == 1 && dropped.freedMediaBytes == 5000)
        #expect(!store.blobs.contains(video))
        #expect(try store.actionCache.lookup(key)?.outputs == ["transcript": transcript])
    }

    @Test func `objects within the grace period are never freed`() throws {
        let folder = TemporaryFolder()
        let store = try folder.openStore()
        let fresh = try store.put(bytes: Array("just written".utf8)).digest
        let report = try store.collectGarbage(policy: GCPolicy(graceSeconds: 3_600), apply: true)
        #expect(report.freedObjects == 0 && store.blobs.contains(fresh))
    }

    @Test func `time spans parse with units and refuse anything else`() throws {
        #expect(try parseTimeSpan("30d") == 30 * day)
        #expect(try parseTimeSpan("90m") == 5_400)
        #expect(throws: StoreError.self) { try parseTimeSpan("30 days") }
        #expect(throws: StoreError.self) { try parseTimeSpan("-1d") }
    }
}
