import Foundation

/// `acervo-bench SUITE [--size MiB] [--dir PATH]`: benchmarks print ratios against a reference tool measured in
/// the same run, never absolute pass/fail times.
@main
enum Entry {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        let suite = arguments.isEmpty ? "" : arguments.removeFirst()
        var options: [String: String] = [:]
        while arguments.count >= 2, arguments[0].hasPrefix("--") {
            options[String(arguments.removeFirst().dropFirst(2))] = arguments.removeFirst()
        }
        let directory = options["dir"] ?? FileManager.default.currentDirectoryPath + "/.build/bench"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            switch suite {
            case "store":
                try await StoreBenchmark(
                    workDirectory: directory, sizeMiB: Int(options["size"] ?? "") ?? 1024,
                    rssSizeMiB: Int(options["rss-size"] ?? "") ?? 2048
                ).run()
            case "engine":
                try await EngineBenchmark(
                    workDirectory: directory, items: Int(options["items"] ?? "") ?? 10_000, rules: Int(options["rules"] ?? "") ?? 8,
                    extraNoopBuilds: Int(options["extra-noop-builds"] ?? "") ?? 0, skipNinja: options["ninja"] == "no",
                    reuse: options["reuse"] == "yes"
                ).run()
            case "media":
                try await MediaBenchmark(
                    workDirectory: directory, minutes: Int(options["minutes"] ?? "") ?? 60,
                    repositoryRoot: FileManager.default.currentDirectoryPath
                ).run()
            case "serve":
                try await ServeBenchmark(
                    workDirectory: directory, lessons: Int(options["lessons"] ?? "") ?? 10_000, runs: Int(options["runs"] ?? "") ?? 1_000,
                    seconds: Int(options["seconds"] ?? "") ?? 10,
                    acervoBinary: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("acervo").path,
                    reuse: options["reuse"] == "yes"
                ).run()
            case "captions":
                try await CaptionsBenchmark(workDirectory: directory, hours: Int(options["hours"] ?? "") ?? 10).run()
            default:
                throw BenchmarkError.usage("""
                    usage: acervo-bench store [--size MiB] [--rss-size MiB] [--dir PATH]
                           acervo-bench serve [--lessons N] [--runs N] [--seconds N] [--reuse yes]  (acervo serve under wrk)
                           acervo-bench engine [--items N] [--rules N] [--dir PATH] [--ninja no] [--extra-noop-builds N]
                                              [--reuse yes]  (keep the catalog and store; later runs skip the cold build)
                           acervo-bench media [--minutes N] [--dir PATH]   (run from the repository root)
                           acervo-bench captions [--hours N] [--dir PATH]
                    """)
            }
        } catch {
            FileHandle.standardError.write(Data("acervo-bench: \(error)\n".utf8))
            exit(2)
        }
    }
}
