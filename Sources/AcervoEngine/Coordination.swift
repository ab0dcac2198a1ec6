import Foundation
import Synchronization

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

/// Set by SIGINT / SIGTERM (or a service shutting down): no new action starts once it is raised; running
/// ones have `graceSeconds` to finish and commit, then they are cancelled and recorded as interrupted — so a
/// stop always ends within a bound, and the next build runs exactly what did not finish.
public final class StopFlag: Sendable {
    /// How long running actions may go on once the flag is raised: the default bound of every stop path.
    public static let defaultGraceSeconds = 30.0

    public let graceSeconds: Double
    private let state = Mutex<(raised: Bool, waiters: [UInt64: CheckedContinuation<Void, Never>], next: UInt64)>((false, [:], 0))

    public init(graceSeconds: Double = StopFlag.defaultGraceSeconds) {
        self.graceSeconds = max(0, graceSeconds)
    }

    public func raise() {
        let waiters = state.withLock { state in
            state.raised = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    public var isRaised: Bool { state.withLock { $0.raised } }

    /// Returns once the flag is raised, or when the waiting task is cancelled.
    public func raised() async {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.raised || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Runs `body`, cancelling it `graceSeconds` after the flag is raised if it has not ended by then (the
    /// caller's own cancellation reaches it at once).
    public func bounding<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = Task { try await body() }
        let watchdog = Task { [graceSeconds] in
            await self.raised()
            guard !Task.isCancelled else { return }
            try? await Task.sleep(nanoseconds: UInt64(graceSeconds * 1e9))
            if !Task.isCancelled { work.cancel() }
        }
        defer { watchdog.cancel() }
        return try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
    }
}

/// An action that was not started, or was ended, because the build is stopping: recorded as interrupted (it
/// runs next time), never as failed.
struct ActionInterrupted: Error {}
