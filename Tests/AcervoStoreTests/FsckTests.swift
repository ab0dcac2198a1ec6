import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

@Suite struct FsckTests {
    /// A store with one result (two outputs) and a snapshot ref to a tree of both.
    private func populated(_ folder: TemporaryFolder) throws -> (Store, transcript: Digest, analysis: Digest, tree: Digest) {
        let store = try folder.openStore()
        let transcript = try store.put(bytes: Array("transcript bytes".utf8)).digest
        let analysis = try store.put(bytes: Array("analysis bytes".utf8)).digest
        let tree = try store.putTree([
            TreeEntry(name: "analysis.json", digest: analysis, size: 14),
            TreeEntry(name: "transcript.json", digest: transcript, size: 16),
        ])
        try store.actionCache.commit(ActionResult(
            key: String(repeating: "d", count: 64), processor: "google.stt", processorVersion: "1",
            outputs: ["transcript": transcript], costUSD: 0.3, toolVersion: Store.toolVersion))
        try store.actionCache.commit(ActionResult(
            key: String(repeating: "e", count: 64), processor: "gemini.analyze", processorVersion: "1",
            outputs: ["analysis": analysis], costUSD: 0.1, toolVersion: Store.toolVersion))
        try store.refs.set("snapshots/2026-11-25", to: tree)
        return (store, transcript, analysis, tree)
    }

    @Test func `a healthy store is clean`() throws {
        let folder = TemporaryFolder()
        let (store, _, _, _) = try populated(folder)
        let report = try store.fsck(repair: false)
        #expect(report.isClean)
        #expect(report.checkedObjects == 3)
    }

    @Test func `a flipped byte is reported by digest and path`() throws {
        let folder = TemporaryFolder()
        let (store, transcript, _, _) = try populated(folder)
        try corrupt(store.blobs.path(of: transcript))

        let report = try store.fsck(repair: false)

        #expect(report.corrupt.map(\.digest) == [transcript])
        #expect(report.corrupt.first?.path == store.blobs.path(of: transcript))
        #expect(report.missingOutputs.map(\.key) == [String(repeating: "d", count: 64)])
        #expect(report.missingChildren.map(\.child) == [transcript])
        #expect(!report.isClean)
    }

    @Test func `a missing blob and a dangling ref are reported by name`() throws {
        let folder = TemporaryFolder()
        let (store, _, analysis, _) = try populated(folder)
        store.blobs.remove(analysis)
        let ghost = Digest.of(Array("never stored".utf8))
        try store.refs.set("kb/latest", to: ghost)

        let report = try store.fsck(repair: false)

        #expect(report.missingOutputs == [.init(key: String(repeating: "e", count: 64), processor: "gemini.analyze", output: "analysis", digest: analysis)])
        #expect(report.danglingRefs == [.init(name: "kb/latest", digest: ghost)])
    }

    @Test func `repair quarantines corrupt objects and drops exactly the results that needed them`() throws {
        let folder = TemporaryFolder()
        let (store, transcript, analysis, _) = try populated(folder)
        let objectPath = store.blobs.path(of: transcript)
        try corrupt(objectPath)
        let corruptBytes = try Data(contentsOf: URL(fileURLWithPath: objectPath))

        let report = try store.fsck(repair: true)

        #expect(report.droppedResults == [String(repeating: "d", count: 64)])
        let quarantined = try #require(report.corrupt.first?.quarantinedTo)
        #expect(try Data(contentsOf: URL(fileURLWithPath: quarantined)) == corruptBytes)
        #expect(!store.blobs.contains(transcript))
        #expect(try store.actionCache.result(forKey: String(repeating: "d", count: 64)) == nil)
        #expect(try store.actionCache.lookup(String(repeating: "e", count: 64))?.outputs == ["analysis": analysis])
        // The snapshot's tree lost a member: only a rebuild can bring it back, so fsck keeps saying so.
        #expect(report.unrepairable)
        let after = try store.fsck(repair: false)
        #expect(after.corrupt.isEmpty && after.missingOutputs.isEmpty)
        #expect(after.missingChildren.map(\.child) == [transcript])
    }

    @Test func `the CLI names the problem and exits non-zero`() throws {
        let folder = TemporaryFolder()
        let (store, transcript, _, _) = try populated(folder)
        try corrupt(store.blobs.path(of: transcript))

        let outcome = try acervo(["fsck", "--store", store.root])

        #expect(outcome.status == 1)
        #expect(outcome.stdout.contains("corrupt: \(transcript)"))
        #expect(outcome.stdout.contains("missing blob: \(transcript), output 'transcript' of google.stt"))
    }
}
