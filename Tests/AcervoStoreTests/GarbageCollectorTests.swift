import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// gc's policy, on every backend.
@Suite struct GarbageCollectorTests {
    private let day: TimeInterval = 86_400

    /// Policies in these tests look from 200 days ahead, so every object is past its grace period.
    private func policy(_ configure: (inout GCPolicy) -> Void = { _ in }) -> GCPolicy {
        var policy = GCPolicy(keepResultsYoungerThanSeconds: 90 * day, graceSeconds: 0, now: Date().addingTimeInterval(200 * day))
        configure(&policy)
        return policy
    }

    @Test(arguments: Backend.all) func `by default gc only reports what it would free`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let orphan = try await store.put(bytes: randomBytes(1000)).digest

        let report = try await store.collectGarbage(policy: policy(), apply: false)

        #expect(report.freedObjects == 1 && report.freedBytes == 1000 && !report.applied)
        #expect(await store.blobs.contains(orphan))
    }

    @Test(arguments: Backend.all) func `apply frees what no root reaches and keeps refs, their trees, pins and recent results`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let orphan = try await store.put(bytes: Array("orphan".utf8)).digest
        let member = try await store.put(bytes: Array("document".utf8)).digest
        let manifest = try await store.putTree([TreeEntry(name: "doc.md", digest: member, size: 8)])
        try await store.refs.setRefs([("kb/latest", manifest)], at: Date())
        let pinned = try await store.put(bytes: Array("pinned".utf8)).digest
        try await store.refs.pin(pinned, note: "keep for audit", at: Date())
        let recent = try await store.put(bytes: Array("recent transcript".utf8)).digest
        try await store.commit(ActionResult(
            key: key("1"), processor: "google.stt", processorVersion: "1",
            outputs: ["transcript": recent], toolVersion: Store.toolVersion, createdAt: Date().addingTimeInterval(150 * day)))
        let stale = try await store.put(bytes: Array("stale transcript".utf8)).digest
        try await store.commit(ActionResult(
            key: key("2"), processor: "google.stt", processorVersion: "1",
            outputs: ["transcript": stale], toolVersion: Store.toolVersion, createdAt: Date()))

        let report = try await store.collectGarbage(policy: policy(), apply: true)

        #expect(report.freedObjects == 2 && report.droppedResults == 1)
        #expect(await !store.blobs.contains(orphan))
        #expect(await !store.blobs.contains(stale))
        for kept in [member, manifest, pinned, recent] { #expect(await store.blobs.contains(kept)) }
        #expect(try await store.actionCache.result(forKey: key("2")) == nil)
        #expect(try await store.fsck(repair: false).isClean)
    }

    @Test(arguments: Backend.all) func `a reused result stays however old it is`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let transcript = try await store.put(bytes: Array("paid for".utf8)).digest
        let key = key("3")
        try await store.commit(ActionResult(
            key: key, processor: "google.stt", processorVersion: "1", outputs: ["transcript": transcript],
            toolVersion: Store.toolVersion, createdAt: Date()))
        try await store.actionCache.recordHit(key, at: Date().addingTimeInterval(190 * day))

        let report = try await store.collectGarbage(policy: policy(), apply: true)

        #expect(report.freedObjects == 0)
        #expect(try await store.lookup(key) != nil)
    }

    @Test(arguments: Backend.all) func `keep-snapshots keeps the newest N snapshot refs`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        var manifests: [Digest] = []
        for index in 0..<4 {
            let manifest = try await store.put(bytes: Array("manifest \(index)".utf8)).digest
            try await store.refs.setRefs([("snapshots/\(index)", manifest)], at: Date(timeIntervalSince1970: Double(1_000 + index)))
            manifests.append(manifest)
        }

        let report = try await store.collectGarbage(policy: policy { $0.keepSnapshots = 2 }, apply: true)

        #expect(report.droppedSnapshots.sorted() == ["snapshots/0", "snapshots/1"])
        #expect(try await store.refs.refs(prefix: nil).map(\.name) == ["snapshots/3", "snapshots/2"])
        #expect(await !store.blobs.contains(manifests[0]))
        #expect(await store.blobs.contains(manifests[3]))
    }

    @Test(arguments: Backend.all) func `dropping old media frees raw videos and keeps the paid-for outputs`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let video = try await store.put(bytes: randomBytes(5000), kind: .media).digest
        let transcript = try await store.put(bytes: Array("transcribed".utf8)).digest
        let key = key("4")
        try await store.commit(ActionResult(
            key: key, processor: "google.stt", processorVersion: "1", outputs: ["transcript": transcript],
            costUSD: 0.4, toolVersion: Store.toolVersion, createdAt: Date().addingTimeInterval(199 * day)))

        let keptByDefault = try await store.collectGarbage(policy: policy(), apply: true)
        #expect(keptByDefault.freedObjects == 0)
        #expect(await store.blobs.contains(video))

        let dropped = try await store.collectGarbage(policy: policy { $0.dropMediaOlderThanSeconds = 30 * day }, apply: true)

        #expect(dropped.freedMediaObjects == 1 && dropped.freedMediaBytes == 5000)
        #expect(await !store.blobs.contains(video))
        #expect(try await store.lookup(key)?.outputs == ["transcript": transcript])
    }

    @Test(arguments: Backend.all) func `objects within the grace period are never freed`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        defer { withExtendedLifetime(test) {} }
        let store = test.store
        let fresh = try await store.put(bytes: Array("just written".utf8)).digest
        let report = try await store.collectGarbage(policy: GCPolicy(graceSeconds: 3_600), apply: true)
        #expect(report.freedObjects == 0)
        #expect(await store.blobs.contains(fresh))
    }

    @Test func `time spans parse with units and refuse anything else`() throws {
        #expect(try parseTimeSpan("30d") == 30 * day)
        #expect(try parseTimeSpan("90m") == 5_400)
        #expect(throws: StoreError.self) { try parseTimeSpan("30 days") }
        #expect(throws: StoreError.self) { try parseTimeSpan("-1d") }
    }
}
