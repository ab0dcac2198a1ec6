import AcervoStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `acervo-bench store`: hashing and ingest throughput against `openssl dgst -sha256` and `cp` on the same file,
/// measured in the same run, plus the peak RSS of a 2 GiB ingest by the real `acervo put`.
struct StoreBenchmark {
    let workDirectory: String
    let sizeMiB: Int
    let rssSizeMiB: Int
    let repetitions = 3

    func run() async throws {
        let file = workDirectory + "/bench-\(sizeMiB)MiB.bin"
        try makeRandomFile(file, mebibytes: sizeMiB)
        _ = try FileBlobStore.hash(fileAt: file)  // warm the page cache so every contender reads from memory

        let openssl = try best { try shell("openssl dgst -sha256 '\(file)' > /dev/null") }
        let hash = try best { _ = try FileBlobStore.hash(fileAt: file) }
        let copyTarget = workDirectory + "/bench-copy.bin"
        let copy = try best(before: { unlink(copyTarget) }) { try shell("cp '\(file)' '\(copyTarget)'") }
        let copySync = try best(before: { unlink(copyTarget) }) { try shell("cp '\(file)' '\(copyTarget)' && sync '\(copyTarget)'") }
        unlink(copyTarget)
        let storePath = workDirectory + "/bench-store"
        var ingests: [Double] = []
        for _ in 0..<repetitions {
            try? shell("chmod -R u+w '\(storePath)' 2>/dev/null; rm -rf '\(storePath)'")
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try await Store.open(at: storePath).put(fileAt: file)
            ingests.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let ingest = ingests.min()!
        let bytes = Double(sizeMiB) * 1_048_576
        print("file: \(sizeMiB) MiB, best of \(repetitions) runs, page cache warm")
        row("openssl dgst -sha256", openssl, bytes)
        row("acervo hash", hash, bytes)
        row("cp", copy, bytes)
        row("cp + fsync", copySync, bytes)
        row("acervo ingest (fsync)", ingest, bytes)
        print(String(format: "hash throughput vs openssl: %.2fx (target >= 0.90)", openssl / hash))
        print(String(format: "ingest time vs cp:          %.2fx (target <= 1.10)", ingest / copy))
        print(String(format: "ingest time vs cp + fsync:  %.2fx", ingest / copySync))
        print(String(format: "ingest time vs hash alone:  %.2fx (the floor: one SHA-256 stream cannot go faster)", ingest / hash))
        unlink(file)

        let big = workDirectory + "/bench-\(rssSizeMiB)MiB.bin"
        try makeRandomFile(big, mebibytes: rssSizeMiB)
        try? shell("chmod -R u+w '\(storePath)'; rm -rf '\(storePath)'")
        let peak = try peakResidentKiB(of: acervoBinary(), ["put", "--store", storePath, big])
        print(String(format: "peak RSS of `acervo put` on %d MiB: %.1f MiB (target <= 64)", rssSizeMiB, Double(peak) / 1024))
        unlink(big)
        try? shell("chmod -R u+w '\(storePath)'; rm -rf '\(storePath)'")
    }

    private func row(_ name: String, _ seconds: Double, _ bytes: Double) {
        print(name.padding(toLength: 24, withPad: " ", startingAt: 0)
            + String(format: "%8.3f s  %8.0f MiB/s", seconds, bytes / seconds / 1_048_576))
    }

    private func best(before: () throws -> Void = {}, _ body: () throws -> Void) throws -> Double {
        var fastest = Double.infinity
        for _ in 0..<repetitions {
            try before()
            let clock = ContinuousClock()
            let elapsed = try clock.measure(body)
            fastest = min(fastest, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        return fastest
    }

    private func makeRandomFile(_ path: String, mebibytes: Int) throws {
        if let info = try? FileManager.default.attributesOfItem(atPath: path), (info[.size] as? Int) == mebibytes * 1_048_576 { return }
        // openssl rand takes at most 2^31 - 1 bytes at a time.
        try shell(": > '\(path)'")
        for piece in stride(from: 0, to: mebibytes, by: 512) {
            try shell("openssl rand \(min(512, mebibytes - piece) * 1_048_576) >> '\(path)'")
        }
    }

    /// The release `acervo` built beside this benchmark.
    private func acervoBinary() -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("acervo").path
    }
}

/// Runs a shell command; a non-zero exit is an error carrying the command.
func shell(_ command: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchmarkError.commandFailed(command, process.terminationStatus) }
}

/// Spawns a program and returns its peak resident set size in KiB, from the kernel's own accounting.
func peakResidentKiB(of executable: String, _ arguments: [String]) throws -> Int {
    var pid: pid_t = 0
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw BenchmarkError.commandFailed(executable, spawned) }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid, status == 0 else { throw BenchmarkError.commandFailed(executable, status) }
    return usage.ru_maxrss
}

enum BenchmarkError: Error, CustomStringConvertible {
    case commandFailed(String, Int32)
    case usage(String)

    var description: String {
        switch self {
        case .commandFailed(let command, let status): return "`\(command)` failed (status \(status))"
        case .usage(let text): return text
        }
    }
}
