import AcervoServer
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `acervo-soak STORE RULES NIGHTS`: `acervo serve`'s service with a clock that jumps to each night's time as
/// soon as the scheduler sleeps, so NIGHTS scheduled builds run back to back in one process. Prints the
/// process's resident memory once warm (after a tenth of the nights) and at the end, and the builds it saw.
/// A target of its own, outside the binary users install — and outside the crash-test writer, which must
/// start in milliseconds to be killed at seeded moments.
@main
enum Soak {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count == 3, let nights = Int(arguments[2]), nights >= 1 else {
            FileHandle.standardError.write(Data("usage: acervo-soak STORE RULES NIGHTS\n".utf8))
            exit(2)
        }
        do {
            try await run(store: arguments[0], rules: arguments[1], nights: nights)
        } catch {
            FileHandle.standardError.write(Data("acervo-soak: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run(store: String, rules: String, nights: Int) async throws {
        let clock = JumpingClock(start: Date())
        var logger = Logger(label: "soak")
        logger.logLevel = .error
        let service = try AcervoService(storePath: store, rulesPath: rules, options: .init(host: "127.0.0.1", port: 0, request: .init(jobs: 2)),
                                        clock: clock, logger: logger)
        let state = Mutex<(builds: Int, failed: Int, warm: Int, group: ServiceGroup?)>((0, 0, 0, nil))
        await service.observeBuilds { attempt in
            let (count, group) = state.withLock { state in
                state.builds += 1
                if attempt.exitStatus != .success { state.failed += 1 }
                if state.builds == max(1, nights / 10) { state.warm = residentKiB() }
                return (state.builds, state.group)
            }
            if count == nights { Task { await group?.triggerGracefulShutdown() } }
        }
        try await service.run(gracefulShutdownSignals: [], groupReady: { group in state.withLock { $0.group = group } })
        let (builds, failed, warm, _) = state.withLock { $0 }
        print("builds \(builds) failed \(failed)")
        print("rss-warm-kib \(warm)")
        print("rss-end-kib \(residentKiB())")
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") } ?? 0
    }
}

/// A wall clock that moves to whatever time the scheduler waits for, at once.
final class JumpingClock: WallClock {
    private let time: Mutex<Date>
    init(start: Date) { time = Mutex(start) }
    func now() -> Date { time.withLock { $0 } }
    func sleep(until deadline: Date) async throws {
        try Task.checkCancellation()
        time.withLock { $0 = max($0, deadline) }
        await Task.yield()
    }
}
