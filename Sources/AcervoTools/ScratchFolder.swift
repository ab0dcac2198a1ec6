import Foundation

/// A private temp folder for a program's output files, removed when the processor is done with it. Its name
/// carries this process's id, so a folder left by a killed build is recognised and removed by the next one
/// (`StaleScratch`).
public final class ScratchFolder: Sendable {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + StaleScratch.prefix + "\(getpid())-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }
}
