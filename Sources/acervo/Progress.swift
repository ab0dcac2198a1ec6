import AcervoEngine
import AcervoStore
import Foundation
import Synchronization

/// Progress on a terminal: one live line per rule (done / total, hits, failures, elapsed, ETA), redrawn in
/// place on stderr at most ten times a second.
final class TerminalProgress: BuildReporter {
    private struct RuleCounts {
        var done = 0
        var hits = 0
        var failed = 0
    }
    private struct State {
        var rules: [String] = []
        var items = 0
        var counts: [String: RuleCounts] = [:]
        var drawnLines = 0
        var lastDraw = Date.distantPast
        var started = Date()
        /// Media fetched before the rules start (Hotmart's lessons from their hosts): a line of its own.
        var fetchedBytes: Int64 = 0
        var fetchStarted: Date?
        var fetchLineDrawn = false
    }
    private let state = Mutex(State())

    func started(runID: String, rules: [String], items: Int) {
        let endFetchLine = state.withLock { state in
            state.rules = rules
            state.items = items
            state.started = Date()
            defer { state.fetchLineDrawn = false }
            return state.fetchLineDrawn
        }
        write((endFetchLine ? "\n" : "") + "build \(runID): \(items) items × \(rules.count) rules\n")
    }

    /// Media bytes as they arrive: `fetching media  412.5 MB  11.8 MB/s`, redrawn in place at most four times a second.
    func fetched(bytes: Int64) {
        let line: String? = state.withLock { state in
            let now = Date()
            if state.fetchStarted == nil { state.fetchStarted = now }
            state.fetchedBytes += bytes
            guard now.timeIntervalSince(state.lastDraw) > 0.25 else { return nil }
            state.lastDraw = now
            state.fetchLineDrawn = true
            return "\r\u{1B}[2K  fetching media  " + Self.transfer(bytes: state.fetchedBytes, seconds: now.timeIntervalSince(state.fetchStarted ?? now))
        }
        if let line { write(line) }
    }

    /// `412.5 MB  11.8 MB/s`.
    static func transfer(bytes: Int64, seconds: Double) -> String {
        let megabytes = Double(bytes) / 1e6
        return String(format: "%.1f MB  %.1f MB/s", megabytes, seconds > 0 ? megabytes / seconds : 0)
    }

    func finished(item: String, rule: String, decision: Decision, reason: DecisionReason, error: String?) {
        let frame: String? = state.withLock { state in
            var counts = state.counts[rule] ?? RuleCounts()
            counts.done += 1
            if decision == .hit { counts.hits += 1 }
            if decision == .failed { counts.failed += 1 }
            state.counts[rule] = counts
            let complete = state.counts.values.reduce(0) { $0 + $1.done } == state.items * state.rules.count
            guard complete || Date().timeIntervalSince(state.lastDraw) > 0.1 else { return nil }
            state.lastDraw = Date()
            return render(&state)
        }
        if let frame { write(frame) }
    }

    func allDecided() {
        let frame = state.withLock { render(&$0) }
        write(frame)
    }

    private func render(_ state: inout State) -> String {
        let elapsed = Date().timeIntervalSince(state.started)
        var out = state.drawnLines > 0 ? "\u{1B}[\(state.drawnLines)A" : ""
        for rule in state.rules {
            let counts = state.counts[rule] ?? RuleCounts()
            let remaining = state.items - counts.done
            let eta = counts.done > 0 && remaining > 0 ? String(format: " ETA %.0fs", elapsed / Double(counts.done) * Double(remaining)) : ""
            out += "\u{1B}[2K  \(rule.padding(toLength: 14, withPad: " ", startingAt: 0)) \(counts.done)/\(state.items)"
                + "  hits \(counts.hits)  failed \(counts.failed)  \(String(format: "%.1fs", elapsed))\(eta)\n"
        }
        state.drawnLines = state.rules.count
        return out
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Progress on a pipe or in a log: one plain line per action that ran, failed or was skipped (hits are only
/// counted, so a nightly no-op build prints one line). A lesson's failure is told in full once: its other
/// rules failing of the same cause say so in a word.
final class PlainProgress: BuildReporter {
    private let told = Mutex<Set<[String]>>([])

    func started(runID: String, rules: [String], items: Int) {
        print("build \(runID): \(items) items × \(rules.count) rules")
    }

    func finished(item: String, rule: String, decision: Decision, reason: DecisionReason, error: String?) {
        switch decision {
        case .hit: return
        case .skipped where reason.isNotApplicable: return
        case .failed:
            let cause = error ?? reason.description
            let isNew = told.withLock { $0.insert([item, cause]).inserted }
            print("failed   \(item) \(rule): " + (isNew ? cause : "the same cause"))
        default: print("\(decision.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(item) \(rule): \(reason)")
        }
        fflush(nil)
    }
}
