import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

extension TemporaryFolder {
    func openStore(_ name: String = "store") async throws -> Store {
        try await Store.open(at: path + "/" + name)
    }
}

/// A backend a store can run on. The conformance tests run against every one in `all`: a new backend
/// (PostgreSQL, a remote cache) joins them by adding one line there.
struct Backend: Sendable, CustomTestStringConvertible {
    let name: String
    /// A new, empty store; `folder` is a private temp folder the backend may use.
    let make: @Sendable (_ folder: String) async throws -> Store

    var testDescription: String { name }

    static let all: [Backend] = [.sqlite, .memory]

    /// Blobs in files, metadata in SQLite: the store folder every user has.
    static let sqlite = Backend(name: "files + SQLite") { folder in try await Store.open(at: folder + "/store") }
    /// Everything in memory: the small second implementation.
    static let memory = Backend(name: "memory") { _ in Store.inMemory() }
}

/// A store on a backend, with the folder that holds it and the means to damage it as a disk would.
final class TestStore: Sendable {
    let folder = TemporaryFolder()
    let store: Store

    init(_ backend: Backend) async throws {
        store = try await backend.make(folder.path)
    }

    /// Flips one byte of a stored object, as bit rot would.
    func corrupt(_ digest: Digest) throws {
        switch store.blobs {
        case let files as FileBlobStore: try AcervoTestSupport.corrupt(files.path(of: digest))
        case let memory as MemoryBlobStore:
            var bytes = try #require(memory.peek(digest))
            bytes[0] ^= 0xff
            memory.overwrite(digest, with: bytes)
        default: Issue.record("no way to damage \(type(of: store.blobs))")
        }
    }
}

/// A key made of one repeated hex digit, for readable tests.
func key(_ digit: Character) -> ActionKey {
    ActionKey(hex: String(repeating: digit, count: 64))!
}
