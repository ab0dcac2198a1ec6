import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

@Suite struct StatCacheTests {
    /// Waits out the racy window: a file changed just before hashing is not trusted, by design.
    private func settle() async throws {
        try await Task.sleep(nanoseconds: UInt64(StatIdentity.racyWindowNanoseconds) * 2)
    }

    @Test func `hashing an unchanged 50 MB file a second time reads no bytes`() async throws {
        let folder = TemporaryFolder()
        let path = folder.file("lesson.mp4", bytes: randomBytes(50 * 1024 * 1024))
        try await settle()
        let store = try await folder.openStore()

        let first = try await store.ingest(fileAt: path)
        let second = try await store.ingest(fileAt: path)

        #expect(first.bytesRead == 50 * 1024 * 1024)
        #expect(second.bytesRead == 0)
        #expect(second.digest == first.digest)
    }

    @Test func `a changed file is hashed again`() async throws {
        let folder = TemporaryFolder()
        let path = folder.file("notes.md", bytes: Array("first".utf8))
        try await settle()
        let store = try await folder.openStore()
        let first = try await store.ingest(fileAt: path)

        try Data("second".utf8).write(to: URL(fileURLWithPath: path))
        let second = try await store.ingest(fileAt: path)

        #expect(second.bytesRead == 6)
        #expect(second.digest == Digest.of(Array("second".utf8)))
        #expect(second.digest != first.digest)
    }

    /// The change is dated in the future, so it falls in the racy window however slow the machine is.
    @Test func `a file changed just before hashing is not trusted next time`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let path = folder.file("fresh.txt", bytes: Array("fresh".utf8))
        var times = [timespec(tv_sec: time(nil) + 3600, tv_nsec: 0), timespec(tv_sec: time(nil) + 3600, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        _ = try await store.ingest(fileAt: path)
        #expect(try await store.ingest(fileAt: path).bytesRead == 5)
    }

    @Test func `a cached digest whose blob is gone is stored again`() async throws {
        let folder = TemporaryFolder()
        let path = folder.file("clip.mov", bytes: randomBytes(4096))
        try await settle()
        let store = try await folder.openStore()
        let first = try await store.ingest(fileAt: path)
        try await store.blobs.remove(first.digest)

        let again = try await store.ingest(fileAt: path)
        #expect(again.bytesRead == 4096 && again.isNew)
        #expect(await store.blobs.contains(first.digest))
    }
}
