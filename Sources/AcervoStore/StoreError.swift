import Foundation

/// Everything that can go wrong in the store, each case carrying the path or digest involved and saying what
/// to do about it.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedDigest(String)
    case unknownDigest(Digest, store: String)
    case notAStore(path: String, unexpected: [String])
    case readOnly(path: String)
    case noSpace(path: String)
    case io(operation: String, path: String, errno: Int32)
    case locked(path: String, holder: String)
    case unknownActionKey(String)
    case ambiguousActionKey(String, matches: Int)
    case database(path: String, message: String)
    /// A stored blob that should be structured (a tree, a manifest, a hit list) and cannot be read as such.
    case unreadable(Digest, what: String, reason: String)
    /// The task was cancelled while it waited for the store.
    case cancelled
    case invalidArgument(String)
    /// Stored bytes that no longer match their digest (disk damage, a hand edit): moved to quarantine when
    /// found, so nothing ships them and the next lookup is a miss.
    case corrupt(Digest, quarantinedTo: String?)
    /// The store's database cannot be read (SQLite's words in `message`); the objects are safe.
    case databaseDamaged(path: String, message: String)
    /// The store's database is missing or empty while objects/ holds blobs: opening would start an empty one
    /// and silently forget every result, run and ref.
    case databaseMissing(path: String)
    /// A path that is not a regular file (a FIFO, a device, a folder): reading it could block forever.
    case notRegularFile(path: String, kind: String)

    public var description: String {
        switch self {
        case .malformedDigest(let text):
            return "malformed digest '\(text)': expected sha256: followed by 64 lowercase hex digits"
        case .unknownDigest(let digest, let store):
            return "no blob \(digest) in the store at \(store); check the digest, or run `acervo fsck` if it should be there"
        case .notAStore(let path, let unexpected):
            let sample = unexpected.prefix(3).joined(separator: ", ")
            return "\(path) is not an Acervo store (it holds \(sample)\(unexpected.count > 3 ? ", …" : "")); "
                + "pass --store with an empty folder or an existing store"
        case .readOnly(let path):
            return "the store at \(path) is read-only; make it writable or pass --store with a writable folder"
        case .noSpace(let path):
            return "no space left while writing \(path); nothing was stored — free space and retry"
        case .io(let operation, let path, let code):
            return "\(operation) \(path): \(String(cString: strerror(code)))"
        case .locked(let path, let holder):
            return "the store is locked by another build (\(holder)); wait for it, or pass --wait (lock: \(path))"
        case .unknownActionKey(let key):
            return "no action result with key '\(key)'; list them with `acervo cache ls`"
        case .ambiguousActionKey(let key, let matches):
            return "key prefix '\(key)' matches \(matches) results; give more digits"
        case .database(let path, let message):
            return "database \(path): \(message)"
        case .unreadable(let digest, let what, let reason):
            return "the \(what) \(digest) cannot be read (\(reason)); run `acervo fsck` to check the store"
        case .cancelled:
            return "cancelled"
        case .invalidArgument(let message):
            return message
        case .corrupt(let digest, let quarantinedTo):
            return "the stored bytes of \(digest) no longer match their digest (damaged on disk?)"
                + (quarantinedTo.map { "; they were moved to \($0)" } ?? "")
                + "; nothing was shipped — `acervo build` recomputes what needs them (or run `acervo fsck --repair`)"
        case .databaseDamaged(let path, let message):
            return "the store's database \(path) is damaged (SQLite: \(message.shortenedForMessage)); the objects are safe — "
                + "run `acervo fsck --repair` to salvage what it holds and rebuild the rest from the objects"
        case .databaseMissing(let path):
            return "the store's database \(path) is missing or has no tables (was its -wal file lost, as a backup of acervo.sqlite alone "
                + "loses it?), but objects/ holds blobs: its results, runs and refs would be lost; "
                + "run `acervo fsck --repair` to rebuild them from what the objects hold (nothing is paid again)"
        case .notRegularFile(let path, let kind):
            return "\(path) is \(kind), not a regular file; only regular files are read — replace it with the file itself"
        }
    }

    /// Maps a failed system call to the error a user can act on.
    static func from(errno code: Int32, operation: String, path: String) -> StoreError {
        switch code {
        case EROFS, EACCES, EPERM: return .readOnly(path: path)
        case ENOSPC, EDQUOT, EFBIG: return .noSpace(path: path)
        default: return .io(operation: operation, path: path, errno: code)
        }
    }
}

extension String {
    /// At most 300 characters, for quoting another program's words.
    var shortenedForMessage: String { count <= 300 ? self : prefix(300) + "…" }
}
