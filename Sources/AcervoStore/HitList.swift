/// The plain cache hits of one run — (item, rule, key) for every action whose stored result was reused as is —
/// kept as one content-addressed blob instead of a row each.
///
/// A nightly build of an unchanged catalog decides tens of thousands of actions, nearly all hits. One event
/// row and one hit-count update per hit made the journal the slowest part of a no-op build; as a blob, the
/// hits cost one write, and nothing at all on a night whose hits are the same as the night before (the blob
/// is already stored). The journal names it for its run (`RunJournal.setHitList`), so gc keeps it and fsck
/// checks it, and `Store.events(run:)` reads it back: every decision stays on record.
public struct HitList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Hashable {
        public var itemID: String
        public var rule: String
        public var key: ActionKey

        public init(itemID: String, rule: String, key: ActionKey) {
            self.itemID = itemID
            self.rule = rule
            self.key = key
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry]) {
        self.entries = entries.sorted { ($0.itemID, $0.rule) < ($1.itemID, $1.rule) }
    }

    /// `item \t rule \t key \n`, sorted: the same hits always make the same bytes.
    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 96)
        for entry in entries {
            bytes += entry.itemID.utf8
            bytes.append(9)
            bytes += entry.rule.utf8
            bytes.append(9)
            bytes += entry.key.hex.utf8
            bytes.append(10)
        }
        return bytes
    }

    /// Parses the bytes above; a line that is not `item \t rule \t key` is an error, never silently dropped.
    init(parsing bytes: [UInt8]) throws(StoreError) {
        var entries: [Entry] = []
        for (index, line) in bytes.split(separator: 10).enumerated() {
            let fields = line.split(separator: 9, maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let key = ActionKey(hex: String(decoding: fields[2], as: UTF8.self)) else {
                throw .invalidArgument("line \(index + 1) is not `item<TAB>rule<TAB>key`")
            }
            entries.append(Entry(itemID: String(decoding: fields[0], as: UTF8.self), rule: String(decoding: fields[1], as: UTF8.self), key: key))
        }
        self.entries = entries
    }
}
