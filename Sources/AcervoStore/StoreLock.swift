import CAcervoShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The single-writer lock (`store/lock`) held by build, sync, gc and repair.
///
/// An open-file-description lock: the kernel releases it when the holder dies, so a killed build never leaves
/// the store locked, and a reader (`acervo status`, the dashboard) can ask whether it is held without taking
/// it — so a build starting at that instant is never refused because someone looked. The file's text (pid,
/// command, start) only serves the messages.
public final class StoreLock: Sendable {
    private let descriptor: Int32
    public let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { Glibc.close(descriptor) }

    /// Takes the lock, or throws `StoreError.locked` naming the holder; with `wait`, waits (on a thread of its
    /// own, not the cooperative pool) until it is free.
    public static func acquire(storeRoot root: String, purpose: String, wait: Bool) async throws(StoreError) -> StoreLock {
        let path = root + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.from(errno: errno, operation: "open", path: path) }
        var code = take(fd, wait: false)
        if code == EAGAIN || code == EACCES {
            guard wait else {
                Glibc.close(fd)
                throw StoreError.locked(path: path, holder: await onBlockingThread { describeHolder(path: path) })
            }
            code = await onBlockingThread { take(fd, wait: true) }
        }
        guard code == 0 else {
            Glibc.close(fd)
            throw StoreError.from(errno: code, operation: "lock", path: path)
        }
        let text = "pid \(getpid()), \(purpose), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return StoreLock(descriptor: fd, path: path)
    }

    /// 0, or the errno of the failed attempt.
    private static func take(_ fd: Int32, wait: Bool) -> Int32 {
        while acervo_lock_exclusive(fd, wait ? 1 : 0) != 0 {
            if errno == EINTR { continue }
            return errno
        }
        return 0
    }

    /// Who holds the lock of the store at `root`, or nil when nobody does — found out without taking it.
    public static func holder(storeRoot root: String) async -> String? {
        await onBlockingThread { holderNow(storeRoot: root) }
    }

    private static func holderNow(storeRoot root: String) -> String? {
        let path = root + "/lock"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        guard acervo_lock_is_held(fd) == 1 else { return nil }
        return describeHolder(path: path)
    }

    /// The holder's own words (pid, command, since). A holder that has just taken the lock may not have
    /// written them yet, leaving its predecessor's; text naming a process that is gone is read again briefly
    /// rather than reported.
    private static func describeHolder(path: String) -> String {
        for _ in 0..<20 {
            let text = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if let pid = Int32(text.dropFirst(4).prefix { $0.isNumber }), text.hasPrefix("pid "), kill(pid, 0) == 0 || errno == EPERM {
                return text
            }
            usleep(5_000)
        }
        return "a process that is still starting"
    }
}
