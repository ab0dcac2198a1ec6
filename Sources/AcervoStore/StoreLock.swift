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

    /// The holder's own words (pid, command, since) when they are the holder's: the text is checked against
    /// the kernel's record of who holds the lock (`/proc/PID/fdinfo`), because the file may still hold the
    /// words of a previous holder — one that is gone, or one that released the lock and lives on. A holder
    /// that has just taken the lock gets a moment to write them; failing that, the process holding it is
    /// found in `/proc` and named by its command line.
    private static func describeHolder(path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "an unknown process" }
        for _ in 0..<20 {
            let text = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if text.hasPrefix("pid "), let pid = Int32(text.dropFirst(4).prefix { $0.isNumber }), holdsLock(pid: pid, on: info) { return text }
            usleep(5_000)
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), holdsLock(pid: pid, on: info) else { continue }
            let cmdline = (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()).map { $0 == 0 ? 0x20 : $0 }
            return "pid \(pid), \(String(decoding: cmdline, as: UTF8.self).trimmingCharacters(in: .whitespaces))"
        }
        return "a process that is still starting"
    }

    /// Whether `pid` holds an open-file-description write lock on the file `info` describes: its fdinfo
    /// lists such locks as `lock: 1: OFDLCK ADVISORY WRITE -1 MAJOR:MINOR:INODE 0 EOF`.
    static func holdsLock(pid: Int32, on info: stat) -> Bool {
        let major = (UInt64(info.st_dev) >> 8) & 0xfff | (UInt64(info.st_dev) >> 32) & ~0xfff
        let minor = UInt64(info.st_dev) & 0xff | (UInt64(info.st_dev) >> 12) & ~0xff
        let file = String(format: "%02llx:%02llx:%llu ", major, minor, UInt64(info.st_ino))
        let directory = "/proc/\(pid)/fdinfo"
        for descriptor in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let text = try? String(contentsOfFile: directory + "/" + descriptor, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("lock:") && line.contains("OFDLCK") && line.contains("WRITE") {
                if line.contains(file) { return true }
            }
        }
        return false
    }
}
