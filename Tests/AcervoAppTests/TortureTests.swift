import AcervoEngine
import AcervoFakeServers
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

/// The crash suite: SIGKILL at seeded random moments across `build` (with its sync to the fake OpenAI),
/// `gc --apply`, `put`, `kb sync` and `fsck --repair`, on a course that changes between rounds. After each
/// kill: no tool outlives the killed process, fsck is clean or `fsck --repair` makes it so, the next build
/// completes without recomputing anything that was committed, and the killed build's scratch folder is gone.
/// At the end the knowledge base is the one an uninterrupted build of the same course makes.
///
/// CI runs a few rounds; `scripts/torture` runs `ACERVO_TORTURE_ROUNDS` (120) with the seed it prints.
@Suite(.serialized) struct TortureTests {
    static let environment = ProcessInfo.processInfo.environment
    static let rounds = Int(environment["ACERVO_TORTURE_ROUNDS"] ?? "") ?? 6
    static let seed = UInt64(environment["ACERVO_TORTURE_SEED"] ?? "") ?? 20_261_126

    enum Operation: String, CaseIterable {
        case build, gc, put, sync, repair

        /// Kill moments are drawn from 0 to this many milliseconds: about as long as the operation takes here.
        var window: UInt32 {
            switch self {
            case .build: 3_000
            case .gc: 400
            case .put: 1_500
            case .sync: 1_200
            case .repair: 600
            }
        }
    }

    @Test func `SIGKILL at seeded moments never costs a committed result, a consistent store or the final knowledge base`() async throws {
        let fake = try await FakeOpenAI.start()
        defer { Task { await fake.stop() } }
        let environment: [String: String?] = ["OPENAI_API_KEY": fake.apiKey, "OPENAI_BASE_URL": fake.baseURL]
        let project = try SyncCommandTests.Project()
        let path = project.path
        let large = path + "/large.bin"
        // The whole schedule comes from the seed: a failing round replays exactly.
        var generator = SeededGenerator(seed: Self.seed)
        let schedule = (0..<Self.rounds).map { _ in
            (operation: Operation.allCases.randomElement(using: &generator)!, change: Int.random(in: 0..<3, using: &generator))
        }
        let delays = schedule.map { UInt32.random(in: 0...$0.operation.window, using: &generator) }
        try await offPool { () throws in
            #expect(try run("/bin/sh", ["-c", "head -c 96M /dev/urandom > '\(large)'"]).status == 0)
            #expect(try acervo(["build", "--quiet"], in: path, environment: environment).status == 0)
        }

        var kills: [Operation: Int] = [:]
        var repairs = 0
        for (round, step) in schedule.enumerated() {
            let operation = step.operation
            let context = "round \(round) (seed \(Self.seed), \(operation.rawValue))"
            let (killed, repaired) = try await offPool { () throws -> (Int32, Bool) in
                try Self.change(path + "/examples/course", round: round, choice: step.change)
                let arguments: [String]
                switch operation {
                case .build: arguments = ["build", "--quiet"]
                case .gc: arguments = ["gc", "--apply", "--keep-snapshots", "1", "--grace", "0s"]
                case .put: arguments = ["put", large]
                case .sync:
                    #expect(try acervo(["build", "--quiet", "--no-sync"], in: path, environment: environment).status == 0)
                    arguments = ["kb", "sync"]
                case .repair: arguments = ["fsck", "--repair"]
                }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: acervoBinary)
                process.arguments = arguments
                process.currentDirectoryURL = URL(fileURLWithPath: path)
                var merged = ProcessInfo.processInfo.environment
                for (name, value) in environment { merged[name] = value }
                process.environment = merged
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                usleep(delays[round] * 1_000)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()

                var orphans = processes(mentioning: path + "/store")
                for _ in 0..<200 where !orphans.isEmpty {
                    usleep(50_000)
                    orphans = processes(mentioning: path + "/store")
                }
                #expect(orphans.isEmpty, "\(context): tools outlived acervo: \(orphans)")
                guard try acervo(["fsck"], in: path).status != 0 else { return (process.processIdentifier, false) }
                let repair = try acervo(["fsck", "--repair"], in: path)
                #expect(repair.status == 0, "\(context): repair failed: \(repair.stdout)\(repair.stderr)")
                return (process.processIdentifier, true)
            }
            kills[operation, default: 0] += 1
            if repaired { repairs += 1 }

            let committed = try await Self.resultKeys(path)
            let next = try await offPool { try acervo(["build", "--json"], in: path, environment: environment) }
            #expect(next.status == 0, "\(context): \(next.stdout)\(next.stderr)")
            let summary = try decodeJSON(BuildSummary.self, next.stdout)
            let store = try await Store.open(at: path + "/store")
            let recomputed = try await store.events(run: summary.run).filter { $0.decision == .executed }.compactMap(\.key).filter(committed.contains)
            #expect(recomputed.isEmpty, "\(context): committed results were recomputed: \(recomputed)")
            let scratch = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("acervo-work-\(killed)-") }
            #expect(scratch.isEmpty, "\(context): \(scratch)")
            #expect(try await store.fsck(repair: false).isClean, "\(context)")
        }

        // The same course, built once without interruption: the same knowledge base.
        let (latest, expected) = try await offPool { () throws -> (SnapshotManifest, SnapshotManifest) in
            let reference = try ExampleCourseTests.Project()
            try FileManager.default.removeItem(atPath: reference.path + "/examples/course")
            try FileManager.default.copyItem(atPath: path + "/examples/course", toPath: reference.path + "/examples/course")
            #expect(try reference.build().failed == 0)
            return (try decodeJSON(SnapshotManifest.self, try acervo(["kb", "show", "--json"], in: path).stdout),
                    try decodeJSON(SnapshotManifest.self, try acervo(["kb", "show", "--json"], in: reference.path).stdout))
        }
        #expect(latest.entries == expected.entries, "the final knowledge base differs from an uninterrupted build's")
        print("torture: \(Self.rounds) rounds, seed \(Self.seed): kills \(kills.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", ")); "
            + "repairs needed \(repairs)")
    }

    /// Every action result's key in the store.
    static func resultKeys(_ project: String) async throws -> Set<ActionKey> {
        Set(try await Store.open(at: project + "/store").actionCache.results(processor: nil).map(\.key))
    }

    /// Changes the course so the next build has work: a caption edited, a lesson retitled, or a new lesson
    /// with a video of its own (audio, keyframes and OCR to do).
    static func change(_ course: String, round: Int, choice: Int) throws {
        switch round % 3 {
        case 0:
            let captions = course + "/01-fundamentos/02-variables/captions.srt"
            let text = try String(contentsOfFile: captions, encoding: .utf8)
            try text.replacingOccurrences(of: "booleanos", with: "booleanos (\(round))").write(toFile: captions, atomically: true, encoding: .utf8)
        case 1:
            let title = ["Listas", "Listas y tuplas", "Colecciones"][choice]
            try "title: \(title) \(round)\n".write(toFile: course + "/02-dados-em-python/01-listas/lesson.yaml", atomically: true, encoding: .utf8)
        default:
            let lesson = course + "/03-extra/\(String(format: "%02d", round))-ronda"
            try FileManager.default.createDirectory(atPath: lesson, withIntermediateDirectories: true)
            let ffmpeg = try run("/usr/bin/ffmpeg", [
                "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=320x180:r=2:d=6", "-f", "lavfi", "-i", "sine=f=\(300 + round):d=6",
                "-vf", "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fontsize=24:x=20:y=70:text='Ronda \(round) %{eif\\:floor(t/2)\\:d}'",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", lesson + "/ronda.mp4",
            ])
            #expect(ffmpeg.status == 0, "ffmpeg is needed: run scripts/setup")
        }
    }
}
