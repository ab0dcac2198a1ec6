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
