import AcervoApp
import AcervoEngine
import AcervoStore
import Foundation

/// `acervo-bench media`: the local processors on a generated one-hour lecture (a slide every 30 s, a voice
/// track), and the example course built cold and warm by the real `acervo` binary.
struct MediaBenchmark {
    let workDirectory: String
    let minutes: Int
    let repositoryRoot: String

    func run() async throws {
        let root = workDirectory + "/media-\(minutes)min"
        try? shell("chmod -R u+w '\(root)' 2>/dev/null; rm -rf '\(root)'")
        let lesson = root + "/course/01-modulo/01-clase"
        try FileManager.default.createDirectory(atPath: lesson, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/rules", withIntermediateDirectories: true)
        try "name: Benchmark\nlanguage: es\n".write(toFile: root + "/course/course.yaml", atomically: true, encoding: .utf8)
        let seconds = minutes * 60
        let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
        let generate = try timed {
            try shell("""
                ffmpeg -nostdin -v error -y -f lavfi -i "color=c=0xf4f1e8:s=640x360:r=2:d=\(seconds)" \
                  -f lavfi -i "sine=f=220:sample_rate=16000:d=\(seconds)" \
                  -vf "drawbox=x=0:y=0:w=iw:h=ih/2:color=0x1d2433@1:t=fill:enable='lt(mod(t\\,60)\\,30)',drawtext=fontfile=\(font):fontsize=34:fontcolor=0x1d2433:x=40:y=250:text='Diapositiva %{eif\\:floor(t/30)+1\\:d}\\: funciones y datos'" \
                  -c:v libx264 -preset ultrafast -crf 32 -g 600 -c:a aac -b:a 24k -ac 1 -shortest '\(lesson)/clase.mp4'
                """)
        }
        try """
            rules:
              audio:  { processor: ffmpeg.audio@1, input: video, params: { rate: 16000, channels: 1 } }
              frames: { processor: ffmpeg.keyframes@1, input: video, params: { scene: 0.02, max: 400 } }
              ocr:    { processor: tesseract@1, input: frames, params: { languages: [spa, por, eng] } }
              document: { processor: document.markdown@1, inputs: { meta: metadata, ocr: ocr } }
            sink: { kind: local, document: document }
            """.write(toFile: root + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let workspace = Workspace(storePath: root + "/store", rulesPath: root + "/rules")
        let start = DispatchTime.now().uptimeNanoseconds
        let summary = try await workspace.build(BuildRequest(jobs: 2, sourceOverride: root + "/course")).summary
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard summary.failed == 0 else { throw BenchmarkError.usage("the media build failed: \(summary.failures)") }
        let store = try await workspace.store()
        let events = try await store.journal.events(run: summary.run)
        let frames = try await store.tree(try await requireDigest(store.journal.traces(item: "01-modulo/01-clase").first { $0.rule == "frames" }, store))

        print("video: \(minutes) min, 640x360, a slide every 30 s, alternating layouts (generated in \(String(format: "%.1f", generate)) s)")
        for rule in ["audio", "frames", "ocr", "document"] {
            let seconds = events.filter { $0.rule == rule }.reduce(0) { $0 + $1.durationSeconds }
            print("  " + rule.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: "%7.1f s", seconds))
        }
        print("  keyframes kept: \(frames.count)")
        print(String(format: "audio + keyframes + OCR, wall time with --jobs 2: %.1f s", wall))
        print(String(format: "  per hour of video: %.1f s (target < 180 s: our share of the 30 min budget)", wall * 60 / Double(minutes)))

        let project = root + "/example"
        try FileManager.default.createDirectory(atPath: project + "/examples", withIntermediateDirectories: true)
        try shell("cp -r '\(repositoryRoot)/rules' '\(project)/rules' && cp -r '\(repositoryRoot)/examples/course' '\(project)/examples/course'")
        let acervo = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("acervo").path
        let cold = try timed { try shell("cd '\(project)' && '\(acervo)' build --quiet") }
        let warm = try timed { try shell("cd '\(project)' && '\(acervo)' build --quiet") }
        print(String(format: "example course build: cold %.2f s, warm %.2f s (%.0fx)", cold, warm, cold / warm))
        try? shell("chmod -R u+w '\(root)'; rm -rf '\(root)'")
    }

    private func timed(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// The output digest of a traced rule.
private func requireDigest(_ trace: Trace?, _ store: Store) async throws -> Digest {
    guard let trace, let digest = try await store.actionCache.result(forKey: trace.key)?.outputs["out"] else {
        throw BenchmarkError.usage("no frames were recorded")
    }
    return digest
}
