import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The single-writer lock (`store/lock`) held by build and gc.
///
/// `flock` is released by the kernel when the holder dies, so a killed build never leaves the store locked;
/// the file's text (pid, command, start) only serves the message a second writer prints.
public final class StoreLock: Sendable {
    private let descriptor: Int32
    public let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { Glibc.close(descriptor) }

    /// Takes the lock, or throws `StoreError.locked` naming the holder; with `wait`, blocks until it is free.
    public static func acquire(storeRoot root: String, purpose: String, wait: Bool) throws(StoreError) -> StoreLock {
        let path = root + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.from(errno: errno, operation: "open", path: path) }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            if errno == EINTR { continue }
            let code = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw StoreError.locked(path: path, holder: holder.isEmpty ? "unknown holder" : holder) }
            throw StoreError.from(errno: code, operation: "lock", path: path)
        }
        let text = "pid \(getpid()), \(purpose), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return StoreLock(descriptor: fd, path: path)
    }
}
