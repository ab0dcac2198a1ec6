import Synchronization

/// The last few values looked up by a key, newest first — for values named by a digest (a hit list, a
/// manifest), which never change, so a kept value is never stale; only memory bounds how many are kept.
public final class RecentlyUsed<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let capacity: Int
    private let entries = Mutex<[(key: Key, value: Value)]>([])

    public init(capacity: Int) { self.capacity = capacity }

    public func value(for key: Key) -> Value? {
        entries.withLock { $0.first { $0.key == key }?.value }
    }

    public func remember(_ value: Value, for key: Key) {
        entries.withLock { entries in
            entries.removeAll { $0.key == key }
            entries.insert((key, value), at: 0)
            if entries.count > capacity { entries.removeLast() }
        }
    }

    /// The value kept for `key`, or the one `make` gives, then kept.
    public func value(for key: Key, make: () async throws -> Value) async rethrows -> Value {
        if let known = value(for: key) { return known }
        let made = try await make()
        remember(made, for: key)
        return made
    }
}
