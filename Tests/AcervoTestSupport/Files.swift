import Foundation

/// A fresh folder under the system temp dir, removed when the test's scope ends.
public final class TemporaryFolder: Sendable {
    private let directory = TemporaryDirectory()
    public var path: String { directory.path }

    public init() {}

    /// Writes a file into the folder; returns its path.
    @discardableResult
    public func file(_ name: String, bytes: [UInt8]) -> String {
        let target = path + "/" + name
        _ = FileManager.default.createFile(atPath: target, contents: Data(bytes))
        return target
    }

    /// The names in a folder below this one (or in it), sorted.
    public func entries(_ relative: String = "") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: relative.isEmpty ? path : path + "/" + relative)) ?? []).sorted()
    }
}

/// Random bytes: content no other test shares.
public func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = generator.next()
        for _ in 0..<8 where index < count {
            bytes[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
    }
    return bytes
}

/// Flips one byte of a (read-only) stored object in place, as bit rot would.
public func corrupt(_ path: String) throws {
    chmod(path, 0o644)
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    let first = try handle.read(upToCount: 1)?.first ?? 0
    try handle.seek(toOffset: 0)
    handle.write(Data([first ^ 0xff]))
    try handle.close()
    chmod(path, 0o444)
}

/// Writes a lesson video of `seconds` with a new slide (`Tema N`) every two seconds and a tone, with the real
/// ffmpeg: enough OCR work that a build of it is still running a moment after it starts.
public func makeSlideVideo(at path: String, seconds: Int) throws {
    let result = try run("/usr/bin/ffmpeg", [
        "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=320x180:r=2:d=\(seconds)",
        "-f", "lavfi", "-i", "sine=f=300:d=\(seconds)", "-vf",
        "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fontsize=24:x=20:y=70:text='Tema %{eif\\:floor(t/2)\\:d}'",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path,
    ])
    guard result.status == 0 else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "ffmpeg could not write \(path) (run scripts/setup): \(result.stderr)"])
    }
}
