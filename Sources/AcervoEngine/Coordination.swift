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

/// Set by SIGINT / SIGTERM: no new action starts once it is raised; running ones finish and are committed.
public final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func raise() { raised.store(true, ordering: .relaxed) }
    public var isRaised: Bool { raised.load(ordering: .relaxed) }
}
