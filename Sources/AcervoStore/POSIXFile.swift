#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A thin owner of a file descriptor: every call maps `errno` to a `StoreError` naming the path, and the
/// descriptor is closed exactly once.
final class POSIXFile {
    let descriptor: Int32
    let path: String
    private var isOpen = true

    init(path: String, flags: Int32, mode: mode_t = 0o644) throws(StoreError) {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError.from(errno: errno, operation: "open", path: path) }
        self.descriptor = fd
        self.path = path
    }

    deinit { if isOpen { _ = Glibc.close(descriptor) } }

    /// Opens a file to read only if it is a regular file: opened without blocking (a FIFO would wait for a
    /// writer forever), checked, then switched back to blocking reads.
    static func openRegular(path: String) throws(StoreError) -> POSIXFile {
        let file = try POSIXFile(path: path, flags: O_RDONLY | O_NONBLOCK)
        let info = try file.status()
        guard info.isRegularFile else { throw StoreError.notRegularFile(path: path, kind: info.kindDescription) }
        _ = fcntl(file.descriptor, F_SETFL, fcntl(file.descriptor, F_GETFL) & ~O_NONBLOCK)
        return file
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw StoreError.from(errno: errno, operation: "read", path: path)
        }
    }

    /// Writes every byte, retrying short writes.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        try Self.writeAll(bytes, descriptor: descriptor, path: path)
    }

    static func writeAll(_ bytes: UnsafeRawBufferPointer, descriptor: Int32, path: String) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw StoreError.from(errno: errno, operation: "write", path: path)
            }
            offset += count
        }
    }

    func sync() throws(StoreError) {
        guard fsync(descriptor) == 0 else { throw StoreError.from(errno: errno, operation: "fsync", path: path) }
    }

    func status() throws(StoreError) -> stat {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StoreError.from(errno: errno, operation: "stat", path: path) }
        return info
    }

    func close() throws(StoreError) {
        isOpen = false
        guard Glibc.close(descriptor) == 0 else { throw StoreError.from(errno: errno, operation: "close", path: path) }
    }

    /// Hints the kernel to read ahead aggressively: objects are always read front to back.
    func adviseSequential() {
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
    }
}

enum FileSystem {
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func status(_ path: String) -> stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    static func makeDirectory(_ path: String) throws(StoreError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw StoreError.from(errno: errno, operation: "mkdir", path: path)
        }
    }

    /// Makes a rename or a new entry in `path` durable: without this a crash can lose a file whose own
    /// data was fsynced, because the directory entry pointing at it was not.
    static func syncDirectory(_ path: String) throws(StoreError) {
        let directory = try POSIXFile(path: path, flags: O_RDONLY | O_DIRECTORY)
        try directory.sync()
        try directory.close()
    }

    static func rename(_ from: String, _ to: String) throws(StoreError) {
        guard Glibc.rename(from, to) == 0 else { throw StoreError.from(errno: errno, operation: "rename", path: to) }
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Names in a directory, without `.` and `..`; empty when it cannot be read.
    static func entries(of path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// True when a file can be created in `path` (write permission and a writable file system).
    static func isWritableDirectory(_ path: String) -> Bool {
        access(path, W_OK) == 0
    }
}

extension stat {
    var isRegularFile: Bool { (st_mode & S_IFMT) == S_IFREG }

    /// What a file that is not a regular one is, for messages.
    var kindDescription: String {
        switch st_mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return "not a file"
        }
    }

    var modificationNanoseconds: Int64 { Int64(st_mtim.tv_sec) * 1_000_000_000 + Int64(st_mtim.tv_nsec) }
    var changeNanoseconds: Int64 { Int64(st_ctim.tv_sec) * 1_000_000_000 + Int64(st_ctim.tv_nsec) }
}
