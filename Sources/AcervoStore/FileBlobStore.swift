import CAcervoShims
import Crypto
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The file-system `BlobWriter`: a temp file hashed as it is written.
final class FileBlobWriter: BlobWriter, @unchecked Sendable {
    // One task owns a writer at a time (see `BlobWriter`); `commit` hands it to a blocking thread for the fsync
    // while that task waits — hence `@unchecked`.
    private let object: TemporaryObject

    init(object: TemporaryObject) {
        self.object = object
    }

    var size: Int64 { object.writtenBytes }

    func append(_ bytes: UnsafeRawBufferPointer) throws(StoreError) { try object.append(bytes) }

    func restart() throws(StoreError) { try object.restart() }

    func commit() async throws(StoreError) -> PutOutcome {
        try await onBlockingThread { [self] () throws(StoreError) in try object.commit() }
    }
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
///
/// Existence checks and small reads run inline (they are answered from the kernel's caches); writes, fsyncs
/// and reads of whole large files run on blocking threads.
public struct FileBlobStore: BlobStore {
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

    public func contains(_ digest: Digest) async -> Bool {
        containsNow(digest)
    }

    /// The stored object's size, or nil when it is absent.
    func sizeNow(_ digest: Digest) -> Int64? {
        var info = stat()
        let found: Bool
        if let directory = objects.descriptor {
            found = digest.fanOutPath.withCString { fstatat(directory, $0, &info, AT_SYMLINK_NOFOLLOW) == 0 }
        } else {
            found = stat(path(of: digest), &info) == 0
        }
        return found ? Int64(info.st_size) : nil
    }

    /// Whether any object is stored, without listing them all.
    func holdsObjects() -> Bool {
        FileSystem.entries(of: objectsPath).contains { !FileSystem.entries(of: objectsPath + "/" + $0).isEmpty }
    }

    func containsNow(_ digest: Digest) -> Bool {
        guard let directory = objects.descriptor else { return FileSystem.exists(path(of: digest)) }
        return digest.fanOutPath.withCString { faccessat(directory, $0, F_OK, AT_SYMLINK_NOFOLLOW) == 0 }
    }

    public func info(_ digest: Digest) async -> BlobInfo? {
        let path = path(of: digest)
        guard let status = FileSystem.status(path) else { return nil }
        return BlobInfo(size: Int64(status.st_size), modifiedAt: Date(timeIntervalSince1970: Double(status.st_mtim.tv_sec)), location: path)
    }

    public func put(fileAt path: String) async throws(StoreError) -> PutOutcome {
        try await onBlockingThread { () throws(StoreError) in try putNow(fileAt: path) }
    }

    /// Copies a file into the store on the calling thread.
    func putNow(fileAt path: String) throws(StoreError) -> PutOutcome {
        let source = try POSIXFile.openRegular(path: path)
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

    public func put(bytes: [UInt8]) async throws(StoreError) -> PutOutcome {
        // Bytes in memory are hashed first: when the object exists (a rebuild re-storing metadata, say),
        // nothing is written at all, and nothing leaves this thread.
        let digest = Digest.of(bytes)
        if let size = sizeNow(digest) {
            if size == Int64(bytes.count) { return PutOutcome(digest: digest, size: size, bytesRead: 0, isNew: false) }
            // A stored copy of another size is damaged (truncated): set it aside and store these bytes.
            _ = try? await quarantine(digest)
        }
        return try await onBlockingThread { () throws(StoreError) in
            let writer = try TemporaryObject(store: self)
            try writer.append(bytes)
            return try writer.commit()
        }
    }

    public func writer() async throws(StoreError) -> any BlobWriter {
        FileBlobWriter(object: try TemporaryObject(store: self))
    }

    public func chunks(of digest: Digest) async throws(StoreError) -> BlobChunks {
        let objectPath = path(of: digest)
        guard FileSystem.exists(objectPath) else { throw StoreError.unknownDigest(digest, store: root) }
        let reader = try ChunkReader(file: try POSIXFile(path: objectPath, flags: O_RDONLY))
        return BlobChunks { () throws(StoreError) in
            // Small objects are read in one go where they are asked for; large ones a chunk at a time on a
            // blocking thread.
            if reader.isSmall { return try reader.next() }
            return try await onBlockingThread { () throws(StoreError) in try reader.next() }
        }
    }

    public func file(of digest: Digest) async throws(StoreError) -> String {
        let path = path(of: digest)
        guard FileSystem.exists(path) else { throw StoreError.unknownDigest(digest, store: root) }
        return path
    }

    public func inventory() async throws(StoreError) -> BlobInventory {
        await onBlockingThread { inventoryNow() }
    }

    func inventoryNow() -> BlobInventory {
        var digests: [Digest] = []
        var strays: [String] = []
        for fan in FileSystem.entries(of: objectsPath) {
            for rest in FileSystem.entries(of: objectsPath + "/" + fan) {
                if let digest = Digest(hex: fan + rest) { digests.append(digest) } else { strays.append("\(fan)/\(rest)") }
            }
        }
        return BlobInventory(digests: digests, strays: strays)
    }

    public func remove(_ digest: Digest) async throws(StoreError) {
        FileSystem.remove(path(of: digest))
    }

    public func quarantine(_ digest: Digest) async throws(StoreError) -> String {
        try FileSystem.makeDirectory(quarantinePath)
        let target = quarantinePath + "/" + digest.hex
        try FileSystem.rename(path(of: digest), target)
        try FileSystem.syncDirectory(quarantinePath)
        return target
    }

    /// The digest of a file, read once, without storing it.
    public static func hash(fileAt path: String) throws(StoreError) -> (digest: Digest, bytesRead: Int64) {
        let source = try POSIXFile.openRegular(path: path)
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

    /// Temp files that begin with `prefix` (a run log's header) and their contents, at most 64 MiB each; with
    /// `ofDeadWritersOnly`, only those whose writer is gone.
    func temporaryFiles(startingWith prefix: [UInt8], ofDeadWritersOnly: Bool = false) -> [(path: String, bytes: [UInt8])] {
        var found: [(String, [UInt8])] = []
        for name in FileSystem.entries(of: temporaryPath) where !ofDeadWritersOnly || !Self.isWriterAlive(temporaryName: name) {
            let path = temporaryPath + "/" + name
            guard let info = FileSystem.status(path), info.isRegularFile, info.st_size > prefix.count, info.st_size <= 64 << 20,
                  let data = FileManager.default.contents(atPath: path), data.starts(with: prefix) else { continue }
            found.append((path, Array(data)))
        }
        return found
    }

    /// Temp names start with the writer's pid; a file whose writer is gone is stale whatever its age.
    private static func isWriterAlive(temporaryName name: String) -> Bool {
        guard let pid = Int32(name.split(separator: "-").first ?? "") else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}

/// Reads one object front to back for `FileBlobStore.chunks`; the file closes when the reader is released.
private final class ChunkReader: @unchecked Sendable {
    // Used by one iteration at a time (an `AsyncIterator` is not shared), possibly from a blocking thread.
    private let file: POSIXFile
    /// Objects never change, so the size at open is the size to read.
    private var remaining: Int64
    let isSmall: Bool

    init(file: POSIXFile) throws(StoreError) {
        self.file = file
        remaining = Int64(try file.status().st_size)
        isSmall = remaining <= 256 << 10
        file.adviseSequential()
    }

    func next() throws(StoreError) -> [UInt8]? {
        guard remaining > 0 else { return nil }
        let capacity = Int(min(Int64(FileBlobStore.chunkSize), remaining))
        var failure: StoreError?
        let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            do throws(StoreError) {
                initialized = try file.read(into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        // A file truncated since it was opened ends early; whoever hashes the bytes finds out.
        guard !chunk.isEmpty else { remaining = 0; return nil }
        remaining -= Int64(chunk.count)
        return chunk
    }
}

/// One object being written: a temp file that either becomes an object or is removed, never left behind by
/// an error (a crash leaves it for `removeStaleTemporaries`).
final class TemporaryObject {
    private let store: FileBlobStore
    private let file: POSIXFile
    private var hasher = SHA256()
    private var size: Int64 = 0
    private var finished = false

    /// Makes temp names unique within the process; the pid and a random suffix do so across processes.
    private static let counter = Atomic<Int>(0)

    init(store: FileBlobStore) throws(StoreError) {
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
            UnsafeMutableRawBufferPointer.allocate(byteCount: FileBlobStore.chunkSize, alignment: 4096)
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
