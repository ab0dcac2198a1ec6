import Foundation
@testable import AcervoStore

/// A fresh folder under the system temp dir, removed when the test's scope ends.
final class TemporaryFolder {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "acervo-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        // Objects are read-only; make them writable so the folder can go.
        _ = try? run("/bin/chmod", ["-R", "u+w", path])
        try? FileManager.default.removeItem(atPath: path)
    }

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

/// What a spawned command did.
struct Outcome {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a program to completion and captures its output.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
}

/// The `acervo` binary SwiftPM built next to the test bundle (the test target depends on it).
let acervoBinary: String = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // On Linux the test runner is `<build>/AcervoPackageTests.xctest`; elsewhere it is inside a bundle.
    while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("acervo").path) && directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent("acervo").path
}()

@discardableResult
func acervo(_ arguments: [String]) throws -> Outcome {
    try run(acervoBinary, arguments)
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
