import Foundation

/// `acervo-fuzz TARGET [options] CORPUS…` — `captions` or `yaml` (see `FuzzTarget`).
///
/// Built as usual it replays the corpus and seeded mutations of it: `--seconds N` (default 10), `--seed S`.
/// Built with `-Xswiftc -sanitize=fuzzer -Xswiftc -DACERVO_FUZZ -Xswiftc -use-ld=lld` (`scripts/torture` does) it is a libFuzzer
/// binary, and every option after the target is libFuzzer's (`-max_total_time=60 -timeout=5 CORPUS`).
@main
enum Entry {
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: acervo-fuzz captions|yaml [--seconds N] [--seed S] CORPUS…\n".utf8))
            exit(2)
        }
        arguments.removeFirst()
        #if ACERVO_FUZZ
        exit(LibFuzzer.run(target, arguments: arguments))
        #else
        var seconds = 10.0
        var seed: UInt64 = 1
        var folders: [String] = []
        while let argument = arguments.first {
            arguments.removeFirst()
            switch argument {
            case "--seconds": seconds = Double(arguments.removeFirst()) ?? seconds
            case "--seed": seed = UInt64(arguments.removeFirst()) ?? seed
            default: folders.append(argument)
            }
        }
        var corpus: [[UInt8]] = []
        for folder in folders {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() {
                if let data = FileManager.default.contents(atPath: folder + "/" + name) { corpus.append(Array(data)) }
            }
        }
        let runs = CorpusFuzzer(target: target, corpus: corpus, seed: seed).run(seconds: seconds)
        print("acervo-fuzz \(target.rawValue): \(runs) inputs in \(Int(seconds)) s (seed \(seed), \(corpus.count) corpus files), no failure")
        #endif
    }
}

#if ACERVO_FUZZ
/// libFuzzer's driver, called with our own `main` (so the binary also builds, and replays, without it).
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

enum LibFuzzer {
    nonisolated(unsafe) static var target = FuzzTarget.captions

    static func run(_ target: FuzzTarget, arguments: [String]) -> CInt {
        Self.target = target
        var argv: [UnsafeMutablePointer<CChar>?] = ([CommandLine.arguments[0]] + arguments).map { strdup($0) } + [nil]
        var argc = CInt(arguments.count + 1)
        return argv.withUnsafeMutableBufferPointer { buffer in
            var base = buffer.baseAddress
            return runDriver(&argc, &base) { data, count in
                LibFuzzer.target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
                return 0
            }
        }
    }
}
#endif
