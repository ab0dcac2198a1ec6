import Foundation

/// The time of day, for the schedule. A protocol because tests replace it: a night is tested by moving a
/// clock, never by sleeping until a wall-clock time.
public protocol WallClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` (at once when it has passed), or throws `CancellationError`.
    func sleep(until deadline: Date) async throws
}

/// The machine's clock. Long sleeps wake every minute to look at the time again, so a clock set forward
/// (NTP, a resumed virtual machine) does not delay a night by the time it jumped.
public struct SystemClock: WallClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return }
            try await Task.sleep(for: .seconds(min(remaining, 60)))
        }
    }
}
