import AcervoEngine
import AcervoFormats
import AcervoProcessors
import AcervoStore
import Foundation

/// `acervo-bench captions`: `captions@2` on ten hours of captions in the three shapes it meets — YouTube's
/// rolling auto-captions (WebVTT, inline word timestamps, every line shown twice), a Windows-1252 SubRip
/// export and SBV — against ffmpeg converting the same WebVTT file to SubRip in the same run.
struct CaptionsBenchmark {
    let workDirectory: String
    let hours: Int

    func run() async throws {
        let root = workDirectory + "/captions-\(hours)h"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let seconds = hours * 3600
        let files: [(name: String, bytes: [UInt8])] = [
            ("rolling auto-captions.vtt", Array(Self.rollingWebVTT(seconds: seconds).utf8)),
            ("windows-1252.srt", Self.windows1252SubRip(seconds: seconds)),
            ("youtube.sbv", Array(Self.sbv(seconds: seconds).utf8)),
        ]
        print("captions@2 on \(hours) h of captions, best of 5 (target: parse < 0.2 s each)")
        print("  file                        size      cues      segments    parse    whole action (+ JSON, SHA-256, store)")
        let store = Store.inMemory()
        let processor = CaptionsProcessor()
        var parseSeconds: [Double] = []
        for file in files {
            let digest = try await store.put(bytes: file.bytes).digest
            let action = ActionInput(itemID: "bench", rule: "transcript", inputs: ["captions": digest], params: ["language": .string("es")],
                                     files: [:], store: store)
            var reading: CaptionsProcessor.Reading?
            let parse = try best(5) { reading = try CaptionsProcessor.read(file.bytes, language: "es") }
            parseSeconds.append(parse)
            var output: ProcessorOutput?
            let whole = try await bestAsync(5) { output = try await processor.run(action) }
            guard let reading, let output, reading.warnings.isEmpty, output.warnings.isEmpty else {
                throw BenchmarkError.usage("\(file.name): unexpected warnings \(reading?.warnings ?? [])")
            }
            print("  " + file.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                + String(format: "%5.1f MiB  %6d  →  %6d      %.3f s  %.3f s", Double(file.bytes.count) / 1_048_576,
                         reading.cues, reading.transcript.segments.count, parse, whole))
            try Data(file.bytes).write(to: URL(fileURLWithPath: root + "/" + file.name))
        }
        let vtt = root + "/rolling auto-captions.vtt"
        let ffmpeg = try best(3) { try shell("ffmpeg -nostdin -v error -y -i '\(vtt)' -f srt '\(root)/ffmpeg.srt'") }
        print(String(format: "  reference: ffmpeg reading the rolling WebVTT file and writing SubRip: %.3f s; captions@2 parses it in %.2f× that time",
                     ffmpeg, parseSeconds[0] / ffmpeg))
    }

    private func best(_ rounds: Int, _ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return best
    }

    private func bestAsync(_ rounds: Int, _ body: () async throws -> Void) async throws -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            try await body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return best
    }

    private static let words = ["vamos", "a", "ver", "cómo", "funciona", "una", "lista", "en", "Python", "y", "sus", "métodos",
                                "append", "para", "agregar", "elementos", "al", "final", "de", "la"]

    private static func clock(_ milliseconds: Int, separator: String = ".", hourDigits: Int = 2) -> String {
        let hours = milliseconds / 3_600_000, minutes = milliseconds / 60000 % 60, seconds = milliseconds / 1000 % 60
        return String(format: "%0\(hourDigits)d:%02d:%02d\(separator)%03d", hours, minutes, seconds, milliseconds % 1000)
    }

    private static func line(_ index: Int) -> [String] { (0..<6).map { words[(index * 7 + $0 * 3) % words.count] } }

    /// A cue every 2.5 s with the new line's words timed inline, then a 10 ms cue showing it alone: the
    /// shape YouTube exports.
    static func rollingWebVTT(seconds: Int) -> String {
        var text = "WEBVTT\nKind: captions\nLanguage: es\n"
        var previous = ""
        for (index, start) in stride(from: 0, to: seconds * 1000, by: 2500).enumerated() {
            let words = line(index)
            var timed = words[0]
            for (offset, word) in words.dropFirst().enumerated() { timed += "<\(clock(start + 400 * (offset + 1)))><c> \(word)</c>" }
            text += "\n\(clock(start)) --> \(clock(start + 2490)) align:start position:0%\n\(previous.isEmpty ? " " : previous)\n\(timed)\n"
            previous = words.joined(separator: " ")
            text += "\n\(clock(start + 2490)) --> \(clock(start + 2500)) align:start position:0%\n\(previous)\n \n"
        }
        return text
    }

    /// A cue every 3 s, two lines, numbered, CRLF, accents in Windows-1252.
    static func windows1252SubRip(seconds: Int) -> [UInt8] {
        var text = ""
        for (index, start) in stride(from: 0, to: seconds * 1000, by: 3000).enumerated() {
            text += "\(index + 1)\r\n\(clock(start, separator: ",")) --> \(clock(start + 2900, separator: ","))\r\n"
            text += "<i>" + line(index).joined(separator: " ") + "</i>\r\n¿" + line(index + 1).joined(separator: " ") + "?\r\n\r\n"
        }
        return text.unicodeScalars.map { UInt8($0.value) }
    }

    /// A cue every 3 s, YouTube's SBV.
    static func sbv(seconds: Int) -> String {
        var text = ""
        for (index, start) in stride(from: 0, to: seconds * 1000, by: 3000).enumerated() {
            text += "\(clock(start, hourDigits: 1)),\(clock(start + 2900, hourDigits: 1))\n" + line(index).joined(separator: " ") + "\n\n"
        }
        return text
    }
}
