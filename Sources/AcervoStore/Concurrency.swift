import Foundation

/// Runs blocking work — fsync, large reads and writes, waiting for a lock — on a thread outside Swift's
/// cooperative pool, whose few threads must never wait on a disk or another process.
public func onBlockingThread<T: Sendable, Failure: Error>(_ body: @escaping @Sendable () throws(Failure) -> T) async throws(Failure) -> T {
    let result: Result<T, Failure> = await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: Result(catching: body)) }
    }
    return try result.get()
}

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

/// Backoff for retried work (a processor's retryable failure, an HTTP call, a database connection):
/// exponential with full jitter, but a provider's `Retry-After` is obeyed as given (capped at `maxDelaySeconds`).
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

