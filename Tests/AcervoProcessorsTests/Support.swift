import AcervoEngine
import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
@testable import AcervoProcessors

/// A temp folder with a store; removed when the test ends.
final class Scratch {
    let path: String
    let store: Store

    private let directory = TemporaryDirectory("acervo-processors")

    init() throws {
        path = directory.path
        store = try Store.open(at: path + "/store")
    }

    func put(_ text: String) throws -> Digest { try store.put(bytes: Array(text.utf8)).digest }

    func text(_ digest: Digest) throws -> String { String(decoding: try store.blobs.bytes(of: digest), as: UTF8.self) }

    func action(inputs: [String: Digest], params: [String: JSONValue] = [:], files: [String: Digest] = [:]) -> ActionInput {
        ActionInput(itemID: "m/l", rule: "r", inputs: inputs, params: params, files: files, store: store)
    }
}
