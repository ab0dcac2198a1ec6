import Crypto
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

/// Immutable blobs under `objects/sha256/ab/cdef…`, written so that a reader or a crash never sees a partial
/// object: bytes are hashed while they are copied (one pass) into `tmp/`, fsynced, made read-only, renamed
/// into place, and the directory is fsynced so the rename itself survives a power loss.
public struct BlobStore: Sendable {
    /// The store's root folder.
    public let root: String
    /// Size of each read and write; large enough that system-call overhead vanishes next to hashing.
    static let chunkSize = 1 << 20

    public init(root: String) {
        self.root = root
    }

    var objectsPath: String { root + "/objects/sha256" }
    var temporaryPath: String { root + "/tmp" }
    var quarantinePath: String { root + "/quarantine" }

    /// Where the object with `digest` lives (whether or not it exists).
    public func path(of digest: Digest) -> String {
        objectsPath + "/" + digest.fanOutPath
    }

    public func contains(_ digest: Digest) -> Bool {
        FileSystem.exists(path(of: digest))
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
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let count = try source.read(into: buffer)
            if count == 0 { break }
            try writer.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return try writer.commit()
    }

    /// Stores bytes already in memory.
    @discardableResult
    public func put(bytes: [UInt8]) throws(StoreError) -> PutOutcome {
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
