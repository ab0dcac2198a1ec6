import AcervoEngine
import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
@testable import AcervoProcessors

/// The repository's `rules/prices.yaml`: what the cloud processors price their calls from.
let repositoryPrices = try! PriceTable.load(rulesDirectory: repositoryRoot + "/rules")

/// A temp folder with a store; removed when the test ends.
final class Scratch {
    let path: String
    let store: Store

    private let directory = TemporaryDirectory("acervo-processors")

    init() async throws {
        path = directory.path
        store = try await Store.open(at: path + "/store")
    }

    func put(_ text: String) async throws -> Digest { try await store.put(bytes: Array(text.utf8)).digest }

    func text(_ digest: Digest) async throws -> String { String(decoding: try await store.blobs.bytes(of: digest), as: UTF8.self) }

    func action(inputs: [String: Digest], params: [String: JSONValue] = [:], files: [String: Digest] = [:]) -> ActionInput {
        ActionInput(itemID: "m/l", rule: "r", inputs: inputs, params: params, files: files, store: store)
    }
}
