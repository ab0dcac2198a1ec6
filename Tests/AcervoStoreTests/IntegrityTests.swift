import AcervoTestSupport
import Foundation
import Synchronization
import Testing
@testable import AcervoStore

/// What leaves the store is what went in: damaged bytes are found where they are read and never returned, a
/// tree missing a member is never a hit, and whatever a killed gc leaves, repair finishes — on every backend.
@Suite struct IntegrityTests {
    /// A result whose output is a tree of two frames.
    private func framesResult(_ store: Store) async throws -> (frame: Digest, other: Digest, tree: Digest) {
        let frame = try await store.put(bytes: Array("frame 1".utf8)).digest
        let other = try await store.put(bytes: Array("frame 2".utf8)).digest
        let tree = try await store.putTree([TreeEntry(name: "0001.png", digest: frame, size: 7), TreeEntry(name: "0002.png", digest: other, size: 7)])
        try await store.commit(ActionResult(key: key("f"), processor: "ffmpeg.keyframes", processorVersion: "1", outputs: ["out": tree],
                                            toolVersion: Store.toolVersion))
        return (frame, other, tree)
    }

    @Test(arguments: Backend.all) func `damaged bytes are quarantined when read, never returned, and their result becomes a miss`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        let store = test.store
        let document = try await store.put(bytes: Array("# Funciones\n".utf8)).digest
        try await store.commit(ActionResult(key: key("d"), processor: "document.markdown", processorVersion: "1", outputs: ["out": document],
                                            toolVersion: Store.toolVersion))
        let video = try await store.put(bytes: Array(repeating: 7, count: 3_000_000)).digest
        try test.corrupt(document)
        try test.corrupt(video)

        // A large blob is checked whole before it is streamed out (`acervo cat`).
        await #expect(throws: StoreError.corrupt(video, quarantinedTo: nil)) {
            do { try await store.blobs.verify(video) } catch StoreError.corrupt(let digest, _) { throw StoreError.corrupt(digest, quarantinedTo: nil) }
        }
        #expect(await !store.blobs.contains(video))
        do {
            _ = try await store.blobs.bytes(of: document)
            Issue.record("damaged bytes were returned")
        } catch StoreError.corrupt(let digest, _) {
            #expect(digest == document)
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(await !store.blobs.contains(document), "moved to quarantine")
        #expect(try await store.lookup(key("d")) == nil, "a miss: the next build recomputes it")
    }

    @Test(arguments: Backend.all) func `a result whose tree lost a member is a miss, and repair drops it and the tree`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        let store = test.store
        let (frame, _, tree) = try await framesResult(store)
        #expect(try await store.lookup(key("f")) != nil)
        try await store.blobs.remove(frame)

        #expect(try await store.lookup(key("f")) == nil)
        let report = try await store.fsck(repair: true)
        #expect(report.missingChildren.map(\.child) == [frame])
        #expect(report.missingChildren.first?.stillNeeded == false)
        #expect(!report.unrepairable)
        #expect(report.droppedResults == [key("f")])
        #expect(report.removedTrees == [tree])
        #expect(try await store.fsck(repair: false).isClean)
    }

    @Test(arguments: Backend.all) func `a snapshot missing a member stays reported: only a build can bring it back`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        let store = test.store
        let (frame, _, tree) = try await framesResult(store)
        try await store.refs.setRefs([("snapshots/s1", tree)], at: Date())
        try await store.blobs.remove(frame)

        let report = try await store.fsck(repair: true)
        #expect(report.missingChildren.first?.stillNeeded == true)
        #expect(report.unrepairable)
        #expect(report.removedTrees.isEmpty)
        #expect(await store.blobs.contains(tree))
    }

    /// A build commits a result (its blob first) while fsck is re-hashing: fsck checks the state as of its
    /// start and does not report the new result's blob as missing.
    @Test(arguments: Backend.all) func `a result committed while fsck runs is no false alarm`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        let store = test.store
        for index in 0..<3 { _ = try await store.put(bytes: Array("object \(index)".utf8)) }
        let committed = DispatchSemaphore(value: 0)
        let fired = Mutex(false)
        let report = try await store.fsck(repair: false) { _, _ in
            guard fired.withLock({ let first = !$0; $0 = true; return first }) else { return }
            Task.detached {
                let blob = try await store.put(bytes: Array("written during fsck".utf8)).digest
                try await store.commit(ActionResult(key: key("9"), processor: "p", processorVersion: "1", outputs: ["out": blob],
                                                    toolVersion: Store.toolVersion))
                committed.signal()
            }
            committed.wait()
        }
        #expect(report.isClean, "\(report)")
        #expect(try await store.fsck(repair: false).isClean)
    }

    @Test func `gc removes each tree before its members`() {
        let (a, b, c, tree, manifest) = (Digest.of([1]), Digest.of([2]), Digest.of([3]), Digest.of([4]), Digest.of([5]))
        let links = [BlobLink(parent: tree, child: a), BlobLink(parent: tree, child: b), BlobLink(parent: manifest, child: tree),
                     BlobLink(parent: manifest, child: c)]
        let order = Store.parentsFirst([a, b, c, tree, manifest], links: links)
        #expect(Set(order) == [a, b, c, tree, manifest])
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        for link in links { #expect(position[link.parent]! < position[link.child]!, "\(link)") }
    }

    /// gc killed after any number of its deletions: what it leaves is garbage fsck does not even report,
    /// never a tree without a member.
    @Test(arguments: Backend.all) func `a gc stopped after any deletion leaves no incomplete tree`(backend: Backend) async throws {
        for stop in 0...4 {
            let test = try await TestStore(backend)
            let store = test.store
            let (frame, other, tree) = try await framesResult(store)
            try await store.actionCache.removeResults([key("f")])
            let manifest = try await store.putTree([TreeEntry(name: "frames", digest: tree, size: 1)])
            let links = try await store.catalog.links()
            for digest in Store.parentsFirst([frame, other, tree, manifest], links: links).prefix(stop) { try await store.blobs.remove(digest) }
            let report = try await store.fsck(repair: false)
            #expect(report.missingChildren.isEmpty, "stopped after \(stop) deletions: \(report.missingChildren)")
        }
    }

    /// What the gc of earlier versions could leave (a tree whose member it deleted first, then killed):
    /// repair finishes the job.
    @Test(arguments: Backend.all) func `repair removes an incomplete tree that nothing needs`(backend: Backend) async throws {
        let test = try await TestStore(backend)
        let store = test.store
        let (frame, _, tree) = try await framesResult(store)
        try await store.actionCache.removeResults([key("f")])
        try await store.blobs.remove(frame)

        let before = try await store.fsck(repair: false)
        #expect(before.missingChildren.map(\.parent) == [tree] && !before.unrepairable)
        let repaired = try await store.fsck(repair: true)
        #expect(repaired.removedTrees == [tree] && repaired.droppedResults.isEmpty)
        #expect(try await store.fsck(repair: false).isClean)
    }
}
