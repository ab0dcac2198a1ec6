import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
@testable import AcervoProcessors

/// A temp folder with a store; removed when the test ends.
final class Scratch {
    let path: String
    let store: Store

    init() throws {
        path = NSTemporaryDirectory() + "acervo-processors-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        store = try Store.open(at: path + "/store")
    }

    deinit {
        let chmod = Process()
        chmod.executableURL = URL(fileURLWithPath: "/bin/chmod")
        chmod.arguments = ["-R", "u+w", path]
        try? chmod.run()
        chmod.waitUntilExit()
        try? FileManager.default.removeItem(atPath: path)
    }

    func put(_ text: String) throws -> Digest { try store.put(bytes: Array(text.utf8)).digest }

    func text(_ digest: Digest) throws -> String { String(decoding: try store.blobs.bytes(of: digest), as: UTF8.self) }

    func action(inputs: [String: Digest], params: [String: JSONValue] = [:], files: [String: Digest] = [:]) -> ActionInput {
        ActionInput(itemID: "m/l", rule: "r", inputs: inputs, params: params, files: files, store: store)
    }
}

/// The repository root, found from this file's path, for the example course and the default rules.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url.path
}()

/// The `acervo` binary next to the test bundle.
let acervoBinary: String = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("acervo").path) && directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent("acervo").path
}()

struct Outcome {
    let status: Int32
    let stdout: String
    let stderr: String
}

@discardableResult
func acervo(_ arguments: [String], in directory: String? = nil) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: acervoBinary)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
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

/// Decodes what `acervo … --json` printed (dates are ISO 8601).
func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(type, from: Data(text.utf8))
}
