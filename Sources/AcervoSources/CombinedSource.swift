import AcervoEngine
import AcervoStore

/// Several sources as one knowledge base (`sources:` in pipeline.yaml): their items side by side, each id
/// given its source's prefix so that two courses' `01-intro/01-hola` stay two lessons. A source that cannot be
/// read tonight (its API down, its folder unmounted) fails only its own lessons: each lesson it had in the
/// last snapshot comes back as a failed item, which keeps its document, and the other sources build.
public struct CombinedSource: Source {
    public struct Part: Sendable {
        public var name: String
        public var source: any Source
        /// Prepended here to the ids the source gives (a local course's `01-intro/01-hola`).
        public var addedPrefix: String
        /// Every id of this source's lessons starts with it, whoever adds it (Hotmart adds its own).
        public var ownedPrefix: String

        public init(name: String, source: any Source, addedPrefix: String, ownedPrefix: String) {
            self.name = name
            self.source = source
            self.addedPrefix = addedPrefix
            self.ownedPrefix = ownedPrefix
        }
    }

    public let parts: [Part]

    public init(parts: [Part]) {
        self.parts = parts
    }

    public func items(store: Store) async throws -> [Item] { try await detect(store: store).items }

    public func detect(store: Store) async throws -> Detection { try await detect(store: store, dry: false) }
    public func survey(store: Store) async throws -> Detection { try await detect(store: store, dry: true) }

    func detect(store: Store, dry: Bool) async throws -> Detection {
        var items: [Item] = []
        var notes: [String] = []
        var unread: [(part: Part, error: any Error)] = []
        for part in parts {
            do {
                let detection = dry ? try await part.source.survey(store: store) : try await part.source.detect(store: store)
                for var item in detection.items {
                    item.id = part.addedPrefix + item.id
                    items.append(item)
                }
                notes += detection.notes
            } catch {
                unread.append((part, error))
            }
        }
        guard !unread.isEmpty else { return Detection(items: items, notes: notes) }
        // Every source failing is the build's failure, as with a single source: nothing was read at all.
        guard unread.count < parts.count, let previous = try await SnapshotManifest.previous(in: store)?.manifest else {
            throw unread[0].error
        }
        for (part, error) in unread {
            notes.append("the source `\(part.name)` could not be read; its lessons keep their documents: \(error)")
            let others = parts.map(\.ownedPrefix).filter { !$0.isEmpty && $0 != part.ownedPrefix && $0.hasPrefix(part.ownedPrefix) }
            for entry in previous.entries where entry.itemID.hasPrefix(part.ownedPrefix) && !others.contains(where: { entry.itemID.hasPrefix($0) })
                && !items.contains(where: { $0.id == entry.itemID }) {
                items.append(Item(id: entry.itemID, metadata: [:], artifacts: [:],
                                  detectionError: "the source `\(part.name)` could not be read, so this lesson keeps its document: \(error)"))
            }
        }
        return Detection(items: items, notes: notes)
    }
}
