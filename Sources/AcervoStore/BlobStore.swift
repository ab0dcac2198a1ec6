import CAcervoShims
import Crypto
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a put did: the blob's digest and size, how many bytes were read to learn it, and whether the bytes
/// were new to the store.
public struct PutOutcome: Sendable, Equatable {
    public let digest: Digest
    public let size: Int64
    public let bytesRead: Int64
    public let isNew: Bool
}

/// Writes one object in pieces; see `BlobStore.writer()`. Owned by one task at a time, which may hand it to a
/// dispatch thread for the fsync of `commit` while it waits — hence `@unchecked Sendable`.
public final class BlobWriter: @unchecked Sendable {
    private let object: TemporaryObject

    init(object: TemporaryObject) {
        self.object = object
    }

    /// Bytes written since the start (or the last `restart`).
    public var size: Int64 { object.writtenBytes }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(StoreError) { try object.append(bytes) }

    public func restart() throws(StoreError) { try object.restart() }

    /// Makes the object durable and names it by its digest.
    public func commit() throws(StoreError) -> PutOutcome { try object.commit() }
}

/// A directory opened on first use (it may not exist yet when the store is created) and kept open.
final class DirectoryHandle: Sendable {
    let path: String
    private let opened = Atomic<Int32>(-1)

    init(path: String) {
        self.path = path
    }

    /// The descriptor, or nil when the directory cannot be opened (callers fall back to absolute paths).
    var descriptor: Int32? {
        let current = opened.load(ordering: .acquiring)
        if current >= 0 { return current }
        let fresh = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fresh >= 0 else { return nil }
        let (exchanged, winner) = opened.compareExchange(expected: -1, desired: fresh, ordering: .acquiringAndReleasing)
        if !exchanged { close(fresh) }
        return exchanged ? fresh : winner
    }

    deinit {
        let descriptor = opened.load(ordering: .relaxed)
        if descriptor >= 0 { close(descriptor) }
    }
}

/// Immutable blobs under `objects/sha256/ab/cdef…`, written so that a reader or a crash never sees a partial
/// object: bytes are hashed while they are copied (one pass) into `tmp/`, fsynced, made read-only, renamed
/// into place, and the directory is fsynced so the rename itself survives a power loss.
public struct BlobStore: Sendable {
    /// The store's root folder.
    public let root: String
    /// Size of each read and write; large enough that system-call overhead vanishes next to hashing.
    static let chunkSize = 1 << 20
    /// Files at least this large are written by a second thread while the next chunk is hashed; below it
    /// starting a thread costs more than the overlap saves.
    static let pipelineThreshold: Int = 8 << 20

    /// The objects folder, opened once: an existence check relative to it walks two path components
    /// instead of the whole absolute path, and a no-op build makes one per action.
    private let objects: DirectoryHandle

    public init(root: String) {
        self.root = root
        objects = DirectoryHandle(path: root + "/objects/sha256")
    }

    var objectsPath: String { root + "/objects/sha256" }
    var temporaryPath: String { root + "/tmp" }
    var quarantinePath: String { root + "/quarantine" }

    /// Where the object with `digest` lives (whether or not it exists).
    public func path(of digest: Digest) -> String {
        var path = objectsPath
        path.reserveCapacity(objectsPath.utf8.count + 66)
        path += "/"
        path += digest.fanOutPath
        return path
    }

    public func contains(_ digest: Digest) -> Bool {
        guard let directory = objects.descriptor else { return FileSystem.exists(path(of: digest)) }
        return digest.fanOutPath.withCString { faccessat(directory, $0, F_OK, AT_SYMLINK_NOFOLLOW) == 0 }
    }

    /// Size in bytes, or `nil` when the blob is absent.
    public func size(of digest: Digest) -> Int64? {
        FileSystem.status(path(of: digest)).map { Int64($0.st_size) }
    }

    /// Copies a file into the store.
    @discardableResult
    public func put(fileAt path: String) throws(StoreError) -> PutOutcome {
        let source = try POSIXFile(path: path, flags: O_RDONLY)
        source.adviseSequential()
        let writer = try TemporaryObject(store: self)
        if try source.status().st_size >= Self.pipelineThreshold {
            try writer.copyPipelined(from: source)
        } else {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
            defer { buffer.deallocate() }
            while true {
                let count = try source.read(into: buffer)
                if count == 0 { break }
                try writer.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        }
        return try writer.commit()
    }

    /// Stores bytes already in memory.
    @discardableResult
    public func put(bytes: [UInt8]) throws(StoreError) -> PutOutcome {
        // Bytes in memory are hashed first: when the object exists (a rebuild re-storing metadata, say),
        // nothing is written at all.
        let digest = Digest.of(bytes)
        if contains(digest) { return PutOutcome(digest: digest, size: Int64(bytes.count), bytesRead: 0, isNew: false) }
        let writer = try TemporaryObject(store: self)
        try writer.append(bytes)
        return try writer.commit()
    }

    /// Stores a stream of chunks (a download, a process's output) without ever holding it whole in memory.
    @discardableResult
    public func put<Chunks: AsyncSequence>(stream chunks: Chunks) async throws -> PutOutcome
    where Chunks.Element == [UInt8] {
        let writer = try TemporaryObject(store: self)
        for try await chunk in chunks {
            try Task.checkCancellation()
            try writer.append(chunk)
        }
        return try writer.commit()
    }

    /// A writer for bytes that arrive piece by piece and may have to start over (a download whose server
    /// ignored a `Range`): hashed as written, committed like any other object.
    public func writer() throws(StoreError) -> BlobWriter {
        BlobWriter(object: try TemporaryObject(store: self))
    }

    /// The digest of a file, read once, without storing it.
    public static func hash(fileAt path: String) throws(StoreError) -> (digest: Digest, bytesRead: Int64) {
        let source = try POSIXFile(path: path, flags: O_RDONLY)
        source.adviseSequential()
        var hasher = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let count = try source.read(into: buffer)
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += Int64(count)
        }
        return (Digest(hasher.finalize()), total)
    }

    /// Streams a blob's bytes to `body`, a chunk at a time.
    public func read(_ digest: Digest, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let objectPath = path(of: digest)
        guard FileSystem.exists(objectPath) else { throw StoreError.unknownDigest(digest, store: root) }
        let file = try POSIXFile(path: objectPath, flags: O_RDONLY)
        file.adviseSequential()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let count = try file.read(into: buffer)
            if count == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// A blob's bytes in memory; for small blobs (trees, manifests, documents) only.
    public func bytes(of digest: Digest) throws -> [UInt8] {
        var out: [UInt8] = []
        try read(digest) { out.append(contentsOf: $0) }
        return out
    }

    /// Every object's digest, in no particular order; files whose names are not digests are returned apart so
    /// that fsck can report them.
    public func allObjects() -> (digests: [Digest], strays: [String]) {
        var digests: [Digest] = []
        var strays: [String] = []
        for fan in FileSystem.entries(of: objectsPath) {
            for rest in FileSystem.entries(of: objectsPath + "/" + fan) {
                if let digest = Digest(hex: fan + rest) { digests.append(digest) } else { strays.append("\(fan)/\(rest)") }
            }
        }
        return (digests, strays)
    }

    /// Deletes a blob; absent blobs are fine (gc and repair may race with nothing else, they hold the lock).
    func remove(_ digest: Digest) {
        FileSystem.remove(path(of: digest))
    }

    /// Moves a corrupt object aside, keeping its bytes for inspection instead of deleting evidence.
    func quarantine(_ digest: Digest) throws(StoreError) -> String {
        try FileSystem.makeDirectory(quarantinePath)
        let target = quarantinePath + "/" + digest.hex
        try FileSystem.rename(path(of: digest), target)
        try FileSystem.syncDirectory(quarantinePath)
        return target
    }

    /// Removes temp files left by writers that died; called when the store is opened for writing, under the
    /// lock or with no writer alive, so nothing in flight is removed.
    func removeStaleTemporaries(olderThanSeconds age: Int64) -> Int {
        var removed = 0
        let now = Int64(time(nil))
        for name in FileSystem.entries(of: temporaryPath) {
            let path = temporaryPath + "/" + name
            guard let info = FileSystem.status(path) else { continue }
            if now - Int64(info.st_mtim.tv_sec) >= age || !Self.isWriterAlive(temporaryName: name) {
                FileSystem.remove(path)
                removed += 1
            }
        }
        return removed
    }

    /// Temp names start with the writer's pid; a file whose writer is gone is stale whatever its age.
    private static func isWriterAlive(temporaryName name: String) -> Bool {
        guard let pid = Int32(name.split(separator: "-").first ?? "") else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}

/// One object being written: a temp file that either becomes an object or is removed, never left behind by
/// an error (a crash leaves it for `removeStaleTemporaries`).
final class TemporaryObject {
    private let store: BlobStore
    private let file: POSIXFile
    private var hasher = SHA256()
    private var size: Int64 = 0
    private var finished = false

    /// Makes temp names unique within the process; the pid and a random suffix do so across processes.
    private static let counter = Atomic<Int>(0)

    init(store: BlobStore) throws(StoreError) {
        self.store = store
        let name = "\(getpid())-\(Self.counter.wrappingAdd(1, ordering: .relaxed).newValue)-\(UInt32.random(in: 0...UInt32.max))"
        self.file = try POSIXFile(path: store.temporaryPath + "/" + name, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
    }

    deinit {
        if !finished { FileSystem.remove(file.path) }
    }

    var writtenBytes: Int64 { size }

    /// Drops what was written: the file is emptied and the hash starts again.
    func restart() throws(StoreError) {
        guard ftruncate(file.descriptor, 0) == 0, lseek(file.descriptor, 0, SEEK_SET) == 0 else {
            throw StoreError.from(errno: errno, operation: "truncate", path: file.path)
        }
        hasher = SHA256()
        size = 0
    }

    func append(_ bytes: [UInt8]) throws(StoreError) {
        let failure = bytes.withUnsafeBytes { (pointer) -> StoreError? in
            do throws(StoreError) { try append(pointer); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        hasher.update(bufferPointer: bytes)
        try file.writeAll(bytes)
        size += Int64(bytes.count)
    }

    /// Copies a whole file, hashing each chunk on this thread while a writer thread writes the chunk hashed
    /// before it: a put then takes about as long as the slower of hashing and writing, not their sum.
    /// Each chunk is written from the very buffer that was hashed, so the object always matches its digest
    /// even if the source changes underneath.
    func copyPipelined(from source: POSIXFile) throws(StoreError) {
        let ring = ChunkRing(descriptor: file.descriptor, path: file.path)
        defer { ring.deallocate() }
        let writerThread = Thread { ring.writeLoop() }
        writerThread.start()
        var slot = 0
        var readError: StoreError?
        while true {
            ring.free.wait()
            if ring.writeError != nil { break }
            let count: Int
            do throws(StoreError) {
                count = try source.read(into: ring.buffers[slot])
            } catch {
                readError = error
                count = 0
            }
            if count > 0 {
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: ring.buffers[slot][0..<count]))
                size += Int64(count)
            }
            ring.counts[slot] = count
            ring.filled.signal()
            if count == 0 { break }
            slot = (slot + 1) % ChunkRing.slots
        }
        ring.finished.wait()
        if let readError { throw readError }
        if let writeError = ring.writeError { throw writeError }
    }

    /// fsync, read-only, rename into place, fsync the fan-out directory. When the object already exists the
    /// temp file is dropped: identical bytes are stored once, and a concurrent writer of the same bytes wins
    /// the rename harmlessly.
    func commit() throws(StoreError) -> PutOutcome {
        let digest = Digest(hasher.finalize())
        let target = store.path(of: digest)
        if FileSystem.exists(target) {
            try? file.close()
            FileSystem.remove(file.path)
            finished = true
            return PutOutcome(digest: digest, size: size, bytesRead: size, isNew: false)
        }
        try file.sync()
        guard fchmod(file.descriptor, 0o444) == 0 else {
            throw StoreError.from(errno: errno, operation: "chmod", path: file.path)
        }
        try file.close()
        let fanDirectory = store.objectsPath + "/" + String(digest.hex.prefix(2))
        try FileSystem.makeDirectory(fanDirectory)
        try FileSystem.rename(file.path, target)
        finished = true
        try FileSystem.syncDirectory(fanDirectory)
        return PutOutcome(digest: digest, size: size, bytesRead: size, isNew: true)
    }
}

/// The buffers shared by the hashing thread and the writer thread of a pipelined copy. The semaphores order
/// every access: a slot is filled only after `free` hands it over and written only after `filled` does.
final class ChunkRing: @unchecked Sendable {
    static let slots = 4
    let buffers: [UnsafeMutableRawBufferPointer]
    var counts = [Int](repeating: 0, count: slots)
    var writeError: StoreError?
    /// Starts at 0 and is signalled once per slot: libdispatch traps when a semaphore is freed below the value
    /// it was created with, which a ring that ends with slots in use would do.
    let free = DispatchSemaphore(value: 0)
    let filled = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)
    private let descriptor: Int32
    private let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffers = (0..<Self.slots).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: BlobStore.chunkSize, alignment: 4096)
        }
        for _ in 0..<Self.slots { free.signal() }
    }

    func deallocate() {
        buffers.forEach { $0.deallocate() }
    }

    /// Writes slots in order until an empty one marks the end; on an error, records it and frees the reader.
    func writeLoop() {
        var slot = 0
        var written: Int64 = 0
        while true {
            filled.wait()
            let count = counts[slot]
            if count == 0 { break }
            do throws(StoreError) {
                try POSIXFile.writeAll(UnsafeRawBufferPointer(rebasing: buffers[slot][0..<count]), descriptor: descriptor, path: path)
            } catch {
                writeError = error
                free.signal()
                break
            }
            // Start writeback of what is written so far, so the final fsync waits for the tail only
            // instead of the whole file; this overlaps disk writes with hashing.
            _ = acervo_start_writeback(descriptor, written, Int64(count))
            written += Int64(count)
            free.signal()
            slot = (slot + 1) % Self.slots
        }
        finished.signal()
    }
}
