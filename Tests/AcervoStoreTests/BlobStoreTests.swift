import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// The file-system blob store: layout, durability details and the store folder's rules.
@Suite struct BlobStoreTests {
    /// Sizes below and above the pipelined-copy threshold, neither a multiple of the chunk size.
    @Test(arguments: [3 * FileBlobStore.chunkSize + 17, FileBlobStore.pipelineThreshold + 5 * FileBlobStore.chunkSize + 17])
    func `a put file is stored under its SHA-256, read-only, and reads back identically`(size: Int) async throws {
        let folder = TemporaryFolder()
        let bytes = randomBytes(size)
        let source = folder.file("video.mp4", bytes: bytes)
        let store = try await folder.openStore()
        let files = try #require(store.blobs as? FileBlobStore)

        let outcome = try await store.put(fileAt: source)

        #expect(outcome.digest == Digest.of(bytes))
        #expect(outcome.size == Int64(bytes.count))
        #expect(outcome.isNew)
        let objectPath = files.path(of: outcome.digest)
        #expect(objectPath.hasSuffix("/objects/sha256/\(outcome.digest.hex.prefix(2))/\(outcome.digest.hex.dropFirst(2))"))
        let permissions = try FileManager.default.attributesOfItem(atPath: objectPath)[.posixPermissions] as? Int
        #expect(permissions == 0o444)
        #expect(try await store.blobs.bytes(of: outcome.digest) == bytes)
        #expect(FileSystem.entries(of: files.root + "/tmp").isEmpty)
    }

    @Test func `identical content is stored once and leaves no temp file`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let bytes = randomBytes(10_000)
        let first = try await store.put(bytes: bytes)
        let second = try await store.put(fileAt: folder.file("copy", bytes: bytes))
        #expect(first.digest == second.digest)
        #expect(first.isNew && !second.isNew)
        #expect(try await store.blobs.inventory().digests == [first.digest])
        #expect(FileSystem.entries(of: store.root! + "/tmp").isEmpty)
    }

    @Test func `a stream is hashed while it is written`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let chunks = (0..<5).map { _ in randomBytes(100_000) }
        let stream = AsyncStream<[UInt8]> { continuation in
            for chunk in chunks { continuation.yield(chunk) }
            continuation.finish()
        }
        let outcome = try await store.put(stream: stream, kind: .media)
        #expect(outcome.digest == Digest.of(chunks.flatMap { $0 }))
        #expect(try await store.catalog.mediaBlobs().map(\.digest) == [outcome.digest])
    }

    @Test func `a stream that fails leaves nothing behind`() async throws {
        struct Broken: Error {}
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let stream = AsyncThrowingStream<[UInt8], any Error> { continuation in
            continuation.yield(randomBytes(1000))
            continuation.finish(throwing: Broken())
        }
        await #expect(throws: Broken.self) { try await store.put(stream: stream) }
        #expect(try await store.blobs.inventory().digests.isEmpty)
        #expect(FileSystem.entries(of: store.root! + "/tmp").isEmpty)
    }

    @Test func `temp files of dead writers are removed when the store opens`() async throws {
        let folder = TemporaryFolder()
        let root = try #require(try await folder.openStore().root)
        // pid 2^22 + 1 is above Linux's pid_max limit, so no live process owns this name.
        let stale = root + "/tmp/4194305-1-99"
        _ = FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
        let live = root + "/tmp/\(getpid())-999999-1"
        _ = FileManager.default.createFile(atPath: live, contents: Data([4]))

        _ = try await folder.openStore()

        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live))
    }

    @Test func `an unknown digest is an error naming the store folder`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        let digest = Digest.of([1, 2, 3])
        await #expect(throws: StoreError.unknownDigest(digest, store: store.root!)) { try await store.blobs.bytes(of: digest) }
    }

    @Test func `a folder holding other files is not taken for a store`() async throws {
        let folder = TemporaryFolder()
        _ = folder.file("thesis.docx", bytes: [1])
        await #expect(throws: StoreError.notAStore(path: folder.path, unexpected: ["thesis.docx"])) {
            try await Store.open(at: folder.path)
        }
        #expect(FileSystem.entries(of: folder.path) == ["thesis.docx"])
    }

    @Test func `a store whose creator was killed before WAL mode was on still opens`() async throws {
        let folder = TemporaryFolder()
        let store = try await folder.openStore()
        // What SIGKILL during the first migration leaves: SQLite's rollback journal beside the database.
        _ = FileManager.default.createFile(atPath: store.root! + "/acervo.sqlite-journal", contents: Data())
        #expect(try await folder.openStore().put(bytes: [7]).isNew)
    }

    @Test func `a folder with only the committed README becomes a store`() async throws {
        let folder = TemporaryFolder()
        _ = folder.file("README.md", bytes: Array("# store\n".utf8))
        let store = try await Store.open(at: folder.path)
        #expect(try await store.put(bytes: [1]).isNew)
    }
}
