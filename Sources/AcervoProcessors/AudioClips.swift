import AcervoEngine
import AcervoTools
import Foundation

/// Pieces of an audio file, cut with ffmpeg, for providers that take a limited length per request.
public enum AudioClips {
    /// A piece: where it starts in the whole file, and the FLAC file holding it (in `scratch`).
    public struct Clip: Sendable {
        public var startSeconds: Double
        public var durationSeconds: Double
        public var path: String

        public init(startSeconds: Double, durationSeconds: Double, path: String) {
            self.startSeconds = startSeconds
            self.durationSeconds = durationSeconds
            self.path = path
        }

        /// The piece's bytes, for a request body.
        func bytes() throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else { throw ProcessorFailure("cannot read the audio piece \(path)") }
            return Array(data)
        }
    }

    /// Windows of at most `length` seconds, each overlapping the previous one by `overlap`, covering
    /// `duration` — the overlap lets a word cut by one window boundary be heard whole in the other.
    public static func windows(duration: Double, length: Double, overlap: Double) -> [(start: Double, end: Double)] {
        guard duration > length else { return [(0, duration)] }
        let step = max(1, length - overlap)
        var windows: [(Double, Double)] = []
        var start = 0.0
        while start < duration {
            let end = min(duration, start + length)
            windows.append((start, end))
            if end >= duration { break }
            start += step
        }
        return windows
    }

    /// Cuts `path` into the windows above, re-encoding to FLAC (16-bit, the source's rate and channels).
    public static func cut(_ path: String, duration: Double, length: Double, overlap: Double) async throws -> (clips: [Clip], scratch: ScratchFolder) {
        let scratch = try ScratchFolder()
        var clips: [Clip] = []
        for (index, window) in windows(duration: duration, length: length, overlap: overlap).enumerated() {
            let output = scratch.path + String(format: "/clip-%04d.flac", index)
            _ = try await ExternalTool.run("ffmpeg", [
                "-nostdin", "-v", "error", "-ss", String(format: "%.3f", window.start), "-t", String(format: "%.3f", window.end - window.start),
                "-i", path, "-c:a", "flac", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", output,
            ], timeoutSeconds: max(60, window.end - window.start))
            clips.append(Clip(startSeconds: window.start, durationSeconds: window.end - window.start, path: output))
        }
        return (clips, scratch)
    }
}
