import Foundation
import Synchronization

/// Children must not outlive Acervo: a build killed with SIGKILL (the OOM killer, a container stop) would
/// otherwise leave ffmpeg and tesseract running for hours. Each tool is started through util-linux's
/// `setpriv --pdeathsig KILL`, which asks the kernel to kill it when its parent goes.
///
/// The kernel's "parent" is the *thread* that started the child, and Swift's worker threads come and go, so
/// children are started from one thread that lives as long as the process: the tasks that run tools prefer
/// this executor.
final class ChildProcessThread: TaskExecutor, @unchecked Sendable {
    static let shared = ChildProcessThread()

    /// Whether this system has `setpriv` (Debian's util-linux always does); without it tools run directly.
    static let hasSetpriv = ExternalTool.locate("setpriv") != nil

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "acervo-children"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }

    /// The command line (a program name found on PATH, and its arguments) that starts `program` (a path) so
    /// that it dies with this process.
    static func command(name: String, program: String, _ arguments: [String]) -> (name: String, arguments: [String]) {
        hasSetpriv ? ("setpriv", ["--pdeathsig", "KILL", "--", program] + arguments) : (name, arguments)
    }
}

/// Scratch folders of processes that are gone (killed before they could clean up) are removed when the next
/// build starts; folders of live processes are left alone.
public enum StaleScratch {
    public static let prefix = "acervo-work-"

    /// Removes `acervo-work-PID-…` folders in the temp folder whose process is no longer running; returns
    /// how many went.
    @discardableResult
    public static func removeLeftovers(in directory: String = NSTemporaryDirectory()) -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0.isNumber }), pid > 0 else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            if (try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
    }
}
