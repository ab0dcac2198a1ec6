import Foundation
import Synchronization

/// A counting semaphore for async code: limits how many actions run at once (globally and per rule)
/// without blocking a thread while waiting.
public actor AsyncSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(_ count: Int) { available = max(1, count) }

    public func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty { available += 1 } else { waiters.removeFirst().resume() }
    }

    public func with<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}

/// Money for paid actions: each reserves its estimate before starting; one that would overrun is refused.
final class BudgetLedger: Sendable {
    private let limitUSD: Double?
    private let state = Mutex<(spent: Double, reserved: Double, refused: Bool)>((0, 0, false))

    init(limitUSD: Double?) { self.limitUSD = limitUSD }

    func reserve(_ estimate: Double) -> Bool {
        state.withLock { state in
            if let limitUSD, state.spent + state.reserved + estimate > limitUSD + 1e-12 {
                state.refused = true
                return false
            }
            state.reserved += estimate
            return true
        }
    }

    func settle(estimate: Double, actual: Double) {
        state.withLock { state in
            state.reserved -= estimate
            state.spent += actual
        }
    }

    var spentUSD: Double { state.withLock { $0.spent } }
    var wasReached: Bool { state.withLock { $0.refused } }
}

/// Set by SIGINT / SIGTERM: no new action starts once it is raised; running ones finish and are committed.
public final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func raise() { raised.store(true, ordering: .relaxed) }
    public var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Backoff for retryable processor failures: exponential with full jitter, but a provider's `Retry-After`
/// is obeyed as given (capped at `maxDelaySeconds`).
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelaySeconds: Double
    public var maxDelaySeconds: Double
    /// How to wait; tests pass one that records the delays instead of sleeping them.
    public var sleep: @Sendable (Double) async throws -> Void

    public init(
        maxAttempts: Int = 4, baseDelaySeconds: Double = 1, maxDelaySeconds: Double = 120,
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(nanoseconds: UInt64($0 * 1e9)) }
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelaySeconds = baseDelaySeconds
        self.maxDelaySeconds = maxDelaySeconds
        self.sleep = sleep
    }

    public func delay(afterAttempt attempt: Int, retryAfterSeconds: Double?) -> Double {
        if let retryAfterSeconds { return min(retryAfterSeconds, maxDelaySeconds) }
        let ceiling = min(maxDelaySeconds, baseDelaySeconds * pow(2, Double(attempt - 1)))
        return Double.random(in: ceiling / 2...ceiling)
    }
}

/// Runs blocking work (SQLite, file I/O, fsync) on a dispatch thread, keeping the cooperative pool free.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
