import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore
import AcervoApp

/// Every bad input ends with a message naming the path or digest, exit code 2, and nothing half-written.
@Suite(.serialized) struct BadInputTests {
    @Test func `put then cat round-trips through the CLI`() async throws {
        let folder = TemporaryFolder()
        let bytes = randomBytes(300_000)
        let file = folder.file("slides.pdf", bytes: bytes)
        let put = try await acervoOffPool(["put", "--store", folder.path + "/store", file])
        #expect(put.status == 0)
        let digest = put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(digest == Digest.of(bytes).description)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: acervoBinary)
        process.arguments = ["cat", "--store", folder.path + "/store", digest]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && Array(out) == bytes)
    }

    @Test func `a malformed digest exits 2 and says what a digest looks like`() async throws {
        let folder = TemporaryFolder()
        let outcome = try await acervoOffPool(["cat", "--store", folder.path + "/store", "sha256:abc"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("malformed digest 'sha256:abc': expected sha256: followed by 64 lowercase hex digits"))
    }

    @Test func `an unknown digest exits 2 naming the store`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        _ = try await Store.open(at: storePath)
        let digest = Digest.of([7]).description
        let outcome = try await acervoOffPool(["cat", "--store", storePath, digest])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("no blob \(digest) in the store at \(storePath)"))
    }

    @Test func `a folder that is not a store exits 2 and is left untouched`() async throws {
        let folder = TemporaryFolder()
        _ = folder.file("holiday.jpg", bytes: [1, 2, 3])
        let file = folder.file("../acervo-input-\(UUID().uuidString)", bytes: [4])
        defer { unlink(file) }
        let outcome = try await acervoOffPool(["put", "--store", folder.path, file])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("\(folder.path) is not an Acervo store (it holds holiday.jpg)"))
        #expect(FileSystem.entries(of: folder.path) == ["holiday.jpg"])
    }

    @Test func `a read-only store exits 2 naming it, and can still be read`() async throws {
        let mount = try TinyFileSystem(sizeKiB: 4096)
        defer { mount.unmount() }
        let storePath = mount.path + "/store"
        let stored = try await Store.open(at: storePath).put(bytes: Array("kept".utf8)).digest
        let input = TemporaryFolder()
        let file = input.file("new.txt", bytes: Array("new".utf8))
        try mount.remountReadOnly()

        let put = try await acervoOffPool(["put", "--store", storePath, file])
        #expect(put.status == 2)
        #expect(put.stderr.contains("the store at \(storePath) is read-only"))
        let cat = try await acervoOffPool(["cat", "--store", storePath, stored.description])
        #expect(cat.status == 0 && cat.stdout == "kept")
    }

    @Test func `a full disk exits 2 and leaves no partial object or temp file`() async throws {
        let mount = try TinyFileSystem(sizeKiB: 1024)
        defer { mount.unmount() }
        let storePath = mount.path + "/store"
        _ = try await Store.open(at: storePath)
        let input = TemporaryFolder()
        // Above the pipelined-copy threshold, so the writer thread's error path is the one taken.
        let file = input.file("too-big.mp4", bytes: randomBytes(FileBlobStore.pipelineThreshold + 2 * 1024 * 1024))

        let outcome = try await acervoOffPool(["put", "--store", storePath, file])

        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("no space left while writing \(storePath)/tmp/"))
        #expect(FileSystem.entries(of: storePath + "/tmp").isEmpty)
        let store = try await Store.open(at: storePath)
        #expect(try await store.blobs.inventory().digests.isEmpty)
        #expect(try await store.fsck(repair: false).isClean)
    }

    @Test func `a file-size limit is reported like a full disk, not a crash`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        _ = try await Store.open(at: storePath)
        let file = folder.file("big.mov", bytes: randomBytes(1024 * 1024))
        let outcome = try run("/bin/bash", ["-c", "ulimit -f 256 && exec \"$0\" put --store \"$1\" \"$2\"", acervoBinary, storePath, file])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("no space left while writing"))
        #expect(FileSystem.entries(of: storePath + "/tmp").isEmpty)
        #expect(try await Store.open(at: storePath).blobs.inventory().digests.isEmpty)
    }
}

/// A small tmpfs mounted for one test: a real full disk and a real read-only file system. Needs root, as CI
/// and the development machines run; without it the test fails and says so.
struct TinyFileSystem {
    let path: String

    init(sizeKiB: Int) throws {
        path = NSTemporaryDirectory() + "acervo-tmpfs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let outcome = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeKiB)k", "tmpfs", path])
        guard outcome.status == 0 else {
            throw StoreError.invalidArgument("mounting a tmpfs for this test failed (needs root): \(outcome.stderr)")
        }
    }

    func remountReadOnly() throws {
        let outcome = try run("/bin/mount", ["-o", "remount,ro", path])
        guard outcome.status == 0 else { throw StoreError.invalidArgument("remount read-only failed: \(outcome.stderr)") }
    }

    func unmount() {
        _ = try? run("/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }
}
