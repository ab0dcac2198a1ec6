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
    /// Artifact → what a person calls it (`01-fundamentos/04-roto/clase.mp4`, a Vimeo video's name): failure
    /// messages name the file this way, never by its path in the store.
    public var sourceNames: [String: String]
    /// Plans only: artifacts the source knows of but did not fetch (a new video on a host), with what the host
    /// says of them. The rules reading them would run; their estimates use the host's duration.
    public var unfetched: [String: UnfetchedArtifact]

    public init(id: String, metadata: [String: JSONValue], artifacts: [String: Digest], detectionError: String? = nil,
                sourceNames: [String: String] = [:], unfetched: [String: UnfetchedArtifact] = [:]) {
        self.id = id
        self.metadata = metadata
        self.artifacts = artifacts
        self.detectionError = detectionError
        self.sourceNames = sourceNames
        self.unfetched = unfetched
    }

    /// Why the id cannot name a lesson, or nil when it can. Ids become file names (export) and parts of URLs,
    /// whatever source they come from: `/`-separated parts, none empty, `.` or `..`, and no control
    /// characters. Sources encode what they take from elsewhere (`HotmartSource` percent-encodes page ids).
    public var idProblem: String? {
        if id.isEmpty { return "an empty item id" }
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "the item id `\(id.debugDescription.dropFirst().dropLast())` has an empty, `.` or `..` part"
        }
        if let bad = id.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            return "the item id `\(id.debugDescription.dropFirst().dropLast())` holds the control character U+\(String(bad.value, radix: 16, uppercase: true))"
        }
        return nil
    }

    /// Metadata as documents and vector-store attributes can hold it: a line break or tab inside a value (a
    /// title pasted from somewhere) becomes a space, so it cannot break a heading or a front-matter line.
    public static func flattened(_ metadata: [String: JSONValue]) -> [String: JSONValue] {
        metadata.mapValues { value in
            guard let text = value.string, text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return value }
            let words = text.split { $0.unicodeScalars.contains { $0.properties.generalCategory == .control } || $0 == " " }
            return .string(words.joined(separator: " "))
        }
    }

    /// The artifact names rules may read; `metadata` is always present.
    public static let artifactNames: Set<String> = ["video", "captions", "materials", "metadata"]
}

/// Where items come from. `items` is the detect step: it always runs, and it puts every source artifact in
/// the store (through the stat cache, so unchanged files are not read).
public protocol Source: Sendable {
    func items(store: Store) async throws -> [Item]
    /// The items with what the source has to say about tonight's catalog (pages skipped and why): a build
    /// reports those notes as warnings. By default, `items` with no notes.
    func detect(store: Store) async throws -> Detection
    /// Detection for a plan, which must stay dry: a remote file not fetched before is left out of the store and
    /// listed in the item's `unfetched`, with its duration when the host says it. By default, `detect`
    /// (a local folder's files are read through the stat cache either way).
    func survey(store: Store) async throws -> Detection
}

extension Source {
    public func detect(store: Store) async throws -> Detection { Detection(items: try await items(store: store)) }
    public func survey(store: Store) async throws -> Detection { try await detect(store: store) }
}

/// A source artifact a plan knows of without having fetched it.
public struct UnfetchedArtifact: Sendable, Equatable {
    /// What the host says of its length (Vimeo's `duration`, Panda's `length`, ffprobe on the head of a URL).
    public var durationSeconds: Double?
    public var bytes: Int64?

    public init(durationSeconds: Double? = nil, bytes: Int64? = nil) {
        self.durationSeconds = durationSeconds
        self.bytes = bytes
    }
}

/// What a source's detect step found.
public struct Detection: Sendable {
    public var items: [Item]
    public var notes: [String]

    public init(items: [Item], notes: [String] = []) {
        self.items = items
        self.notes = notes
    }
}

/// A source that cannot be read at all (as opposed to one lesson with a problem, which fails alone).
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A source's catalog lost more of its lessons at once than `max_shrink` allows. Refused, so that an empty or
/// truncated answer never empties the knowledge base; the team is told (a notification of its own).
public struct CatalogShrank: Error, CustomStringConvertible, Sendable {
    /// `Hotmart GET /club/api/v1/modules`.
    public var source: String
    public var previous: Int
    public var current: Int
    public var maxShrink: Double

    public init(source: String, previous: Int, current: Int, maxShrink: Double) {
        self.source = source
        self.previous = previous
        self.current = current
        self.maxShrink = maxShrink
    }

    public var description: String {
        "\(source): the catalog shrank from \(previous) to \(current) lessons; if that is intended, raise `source.max_shrink` (now \(maxShrink))"
    }
}
