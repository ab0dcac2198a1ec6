import AcervoRules
import AcervoStore

/// One lesson: a stable id, metadata, and its source artifacts already in the store.
public struct Item: Sendable, Equatable {
    public var id: String
    /// Course, module, title, order, language, …; stored as a canonical JSON blob, the `metadata` artifact.
    public var metadata: [String: JSONValue]
    /// `video`, `captions`, `materials` (a tree) … → digest.
    public var artifacts: [String: Digest]
    /// Set when the source could not read this lesson (an unreadable file, a folder name it refuses): the
    /// build records the error, runs nothing for the item, and keeps its previous document.
    public var detectionError: String?

    public init(id: String, metadata: [String: JSONValue], artifacts: [String: Digest], detectionError: String? = nil) {
        self.id = id
        self.metadata = metadata
        self.artifacts = artifacts
        self.detectionError = detectionError
    }

    /// The artifact names rules may read; `metadata` is always present.
    public static let artifactNames: Set<String> = ["video", "captions", "materials", "metadata"]
}

/// Where items come from. `items` is the detect step: it always runs, and it puts every source artifact in
/// the store (through the stat cache, so unchanged files are not read).
public protocol Source: Sendable {
    func items(store: Store) async throws -> [Item]
}

/// A source that cannot be read at all (as opposed to one lesson with a problem, which fails alone).
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
