import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// The lock's holder as the kernel knows it, not as a stale file says.
@Suite(.serialized) struct StoreLockTests {
    @Test func `the holder named is the live process holding the lock, not the words a previous holder left`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        _ = try await Store.open(at: storePath)
        // The writer holds the lock once it has committed something.
        let writer = try StoreLockHolder(store: storePath)
        defer { writer.stop() }

        let named = try #require(await StoreLock.holder(storeRoot: storePath))
        #expect(named.hasPrefix("pid \(writer.pid),"), "\(named)")

        // The words of a previous holder that released the lock and lives on (this test process): not believed.
        try "pid \(getpid()), acervo gc, since 2026-11-26T03:00:00Z\n".write(toFile: storePath + "/lock", atomically: false, encoding: .utf8)
        let found = try #require(await StoreLock.holder(storeRoot: storePath))
        #expect(found.hasPrefix("pid \(writer.pid), "), "\(found)")
        #expect(found.contains("acervo-torture write"), "\(found)")

        // fsck while the writer commits: each run checks one consistent state, and says who was writing.
        let store = try await Store.open(at: storePath)
        for run in 0..<10 {
            let report = try await store.fsck(repair: false)
            #expect(report.isClean, "run \(run): \(report)")
            #expect(report.writerRunning?.hasPrefix("pid \(writer.pid), ") == true, "run \(run)")
        }

        let refusal = await #expect(throws: StoreError.self) {
            _ = try await StoreLock.acquire(storeRoot: storePath, purpose: "acervo build", wait: false)
        }
        #expect(refusal?.description.contains("locked by another build (pid \(writer.pid), ") == true, "\(String(describing: refusal))")
    }
}
