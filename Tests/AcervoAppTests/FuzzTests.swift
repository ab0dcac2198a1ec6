import AcervoTestSupport
import Foundation
import Testing
import acervo_fuzz

/// The fuzz targets on seeded mutations of their corpora: no crash, no hang, every reader's promise kept
/// (`FuzzTarget`). CI runs a fixed number of inputs; `scripts/torture` gives each `ACERVO_FUZZ_SECONDS`.
@Suite struct FuzzTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["ACERVO_FUZZ_SECONDS"] ?? "") ?? .infinity
    static let seed = UInt64(ProcessInfo.processInfo.environment["ACERVO_FUZZ_SEED"] ?? "") ?? 20_261_126

    static func corpus(_ folder: String) throws -> [[UInt8]] {
        let path = repositoryRoot + "/" + folder
        return try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + $0))) }
    }

    @Test func `captions: any bytes are read or refused, never crash, hang or grow`() async throws {
        try await offPool { () throws in
            let corpus = try Self.corpus("Tests/AcervoProcessorsTests/Captions")
            #expect(corpus.count >= 60)
            let runs = CorpusFuzzer(target: .captions, corpus: corpus, seed: Self.seed).run(rounds: Self.seconds.isInfinite ? 4_000 : .max, seconds: Self.seconds)
            print("fuzz captions: \(runs) inputs (seed \(Self.seed))")
        }
    }

    @Test func `yaml: every reader refuses what it cannot read with a short, located message`() async throws {
        try await offPool { () throws in
            let corpus = try Self.corpus("Tests/FuzzCorpus/yaml")
            #expect(corpus.count >= 9)
            let runs = CorpusFuzzer(target: .yaml, corpus: corpus, seed: Self.seed).run(rounds: Self.seconds.isInfinite ? 1_500 : .max, seconds: Self.seconds)
            print("fuzz yaml: \(runs) inputs (seed \(Self.seed))")
        }
    }
}
