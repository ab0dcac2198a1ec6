import AcervoTestSupport
import Foundation
@testable import AcervoStore

/// A fresh folder under the system temp dir, removed when the test's scope ends.
final class TemporaryFolder {
    private let directory = TemporaryDirectory()
    var path: String { directory.path }

    func file(_ name: String, bytes: [UInt8]) -> String {
        let target = path + "/" + name
        _ = FileManager.default.createFile(atPath: target, contents: Data(bytes))
        return target
    }

    func openStore(_ name: String = "store") throws -> Store {
        try Store.open(at: path + "/" + name)
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
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

/// Flips one byte of a read-only object in place, as bit rot would.
func corrupt(_ path: String) throws {
    chmod(path, 0o644)
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    let first = try handle.read(upToCount: 1)?.first ?? 0
    try handle.seek(toOffset: 0)
    handle.write(Data([first ^ 0xff]))
    try handle.close()
    chmod(path, 0o444)
}
