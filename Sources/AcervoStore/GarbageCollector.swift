import Foundation

/// What gc keeps. Everything reachable from a kept root stays; the rest may be freed.
public struct GCPolicy: Sendable {
    /// Keep only the newest N snapshot refs (`snapshots/…`); `nil` keeps them all.
    public var keepSnapshots: Int?
    /// Action results created or reused more recently than this stay, with their outputs: an item still in
    /// the catalog is hit by every nightly build, so its paid-for results never age out.
    public var keepResultsYoungerThanSeconds: TimeInterval
    /// Raw media blobs older than this are freed even though sources reference them; `nil` keeps all media.
    public var dropMediaOlderThanSeconds: TimeInterval?
    /// Objects written this recently are never freed: a concurrent `acervo put` may not have named them yet.
    public var graceSeconds: TimeInterval
    public var now: Date

    public init(
        keepSnapshots: Int? = nil, keepResultsYoungerThanSeconds: TimeInterval = 90 * 86_400,
        dropMediaOlderThanSeconds: TimeInterval? = nil, graceSeconds: TimeInterval = 3_600, now: Date = Date()
    ) {
        self.keepSnapshots = keepSnapshots
        self.keepResultsYoungerThanSeconds = keepResultsYoungerThanSeconds
        self.dropMediaOlderThanSeconds = dropMediaOlderThanSeconds
        self.graceSeconds = graceSeconds
        self.now = now
    }
}

/// What gc would free (dry run) or freed (`apply`).
public struct GCReport: Sendable, Codable, Equatable {
    public var applied: Bool
    public var keptObjects: Int
    public var freedObjects: Int
    public var freedBytes: Int64
    /// Of the freed objects, the raw media ones.
    public var freedMediaObjects: Int
    public var freedMediaBytes: Int64
    public var droppedResults: Int
    public var droppedSnapshots: [String]
}

extension Store {
    /// Marks from the roots (kept refs, pins, recent results, media unless dropped by age), then frees the
    /// rest. The caller holds the store lock when `apply` is true.
    public func collectGarbage(policy: GCPolicy, apply: Bool) async throws(StoreError) -> GCReport {
        var roots = Set<Digest>()

        let allRefs = try await refs.refs(prefix: nil)
        let snapshots = allRefs.filter { $0.name.hasPrefix(Ref.snapshotPrefix) }
        let droppedSnapshots = policy.keepSnapshots.map { Array(snapshots.dropFirst(max(0, $0))) } ?? []
        let droppedNames = Set(droppedSnapshots.map(\.name))
        roots.formUnion(allRefs.filter { !droppedNames.contains($0.name) }.map(\.digest))

        roots.formUnion(try await refs.pins().map(\.digest))

        let resultCutoff = policy.now.addingTimeInterval(-policy.keepResultsYoungerThanSeconds)
        let results = try await withListedHits(try await actionCache.results(processor: nil))
        for result in results where max(result.createdAt, result.lastHitAt ?? .distantPast) >= resultCutoff {
            roots.formUnion(result.outputs.values)
        }

        let media = try await catalog.mediaBlobs()
        let mediaDigests = Set(media.map(\.digest))
        for blob in media {
            let expired = policy.dropMediaOlderThanSeconds.map { blob.createdAt < policy.now.addingTimeInterval(-$0) } ?? false
            if !expired { roots.insert(blob.digest) }
        }

        let links = try await catalog.links()
        let reachable = closure(of: roots, links: links)
        let graceCutoff = policy.now.addingTimeInterval(-policy.graceSeconds)
        var freed: [(Digest, Int64)] = []
        var kept = 0
        for digest in try await blobs.inventory().digests {
            guard let info = await blobs.info(digest) else { continue }
            if reachable.contains(digest) || info.modifiedAt > graceCutoff {
                kept += 1
            } else {
                freed.append((digest, info.size))
            }
        }
        let freedSet = Set(freed.map(\.0))
        let droppedKeys = results.filter { $0.outputs.values.contains(where: freedSet.contains) }.map(\.key)
        let freedMedia = freed.filter { mediaDigests.contains($0.0) }

        if apply {
            // Results and refs first, then each tree before its members: a gc killed at any moment leaves
            // only garbage (a member without its tree), never a tree without a member.
            try await actionCache.removeResults(droppedKeys)
            // Hit lists' totals counted the dropped results' savings: they are counted again without them.
            hitListTotals.withLock { $0.removeAll() }
            try await refs.deleteRefs(Array(droppedNames))
            for digest in Self.parentsFirst(freedSet, links: links) { try await blobs.remove(digest) }
            try await catalog.forgetBlobs(freedSet)
        }
        return GCReport(
            applied: apply, keptObjects: kept, freedObjects: freed.count, freedBytes: freed.reduce(0) { $0 + $1.1 },
            freedMediaObjects: freedMedia.count, freedMediaBytes: freedMedia.reduce(0) { $0 + $1.1 },
            droppedResults: droppedKeys.count, droppedSnapshots: droppedSnapshots.map(\.name))
    }

    /// Roots plus everything trees and manifests reach from them.
    func closure(of roots: Set<Digest>, links: [BlobLink]) -> Set<Digest> {
        var children: [Digest: [Digest]] = [:]
        for link in links { children[link.parent, default: []].append(link.child) }
        var reached = roots
        var pending = Array(roots)
        while let next = pending.popLast() {
            for child in children[next] ?? [] where reached.insert(child).inserted { pending.append(child) }
        }
        return reached
    }

    /// `digests` ordered so that every parent comes before its members (links form no cycle: a blob cannot
    /// name its own digest).
    static func parentsFirst(_ digests: Set<Digest>, links: [BlobLink]) -> [Digest] {
        var children: [Digest: [Digest]] = [:]
        var parentsLeft: [Digest: Int] = [:]
        for link in links where digests.contains(link.parent) && digests.contains(link.child) && link.parent != link.child {
            children[link.parent, default: []].append(link.child)
            parentsLeft[link.child, default: 0] += 1
        }
        var ready = digests.filter { parentsLeft[$0] == nil }.sorted()
        var ordered: [Digest] = []
        while let next = ready.popLast() {
            ordered.append(next)
            for child in children[next] ?? [] {
                parentsLeft[child]! -= 1
                if parentsLeft[child] == 0 { ready.append(child) }
            }
        }
        return ordered
    }
}

/// Parses spans such as `30d`, `12h`, `90m`, `45s`, `2w` into seconds.
public func parseTimeSpan(_ text: String) throws(StoreError) -> TimeInterval {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
    guard let unit = text.last, let scale = units[unit], let count = Double(text.dropLast()), count >= 0 else {
        throw .invalidArgument("invalid time span '\(text)': use a number and a unit, such as 30d, 12h, 90m, 45s or 2w")
    }
    return count * scale
}
