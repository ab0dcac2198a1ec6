import AcervoConnectors
import AcervoRules
import AcervoSources
import Foundation

/// Where every lesson's media are, source by source: `acervo media` (and `--json`, and the dashboard).
public struct MediaReport: Sendable, Codable, Equatable {
    public struct SourceMedia: Sendable, Codable, Equatable {
        public var name: String
        public var kind: String
        public var rows: [MediaRow]
        /// Why the source could not be read, when it could not.
        public var error: String?
    }

    public var sources: [SourceMedia]

    public var rows: [MediaRow] { sources.flatMap(\.rows) }
    public func count(_ status: MediaRow.Status) -> Int { rows.count { $0.status == status } }
    /// Lessons a build would fail for want of a video.
    public var unresolved: [MediaRow] { rows.filter { $0.status == .ambiguous || $0.status == .unmatched } }
}

extension Workspace {
    /// Reads each Hotmart source's catalog and pairs its pages with the media resolvers' videos, as a build
    /// would — without fetching any video.
    public func media() async throws -> MediaReport {
        let pipeline = try pipeline()
        return try await classified {
            try await withConnectors { connectors in
                var sources: [MediaReport.SourceMedia] = []
                for spec in pipeline.sources {
                    guard case .hotmart(let settings) = spec.settings else {
                        sources.append(.init(name: spec.name, kind: spec.settings.kind, rows: []))
                        continue
                    }
                    do {
                        let source = try HotmartSource(context: connectors, settings: settings, projectDirectory: pipeline.projectDirectory,
                                                       idPrefix: spec.idPrefix)
                        sources.append(.init(name: spec.name, kind: "hotmart", rows: try await source.mediaTable()))
                    } catch {
                        sources.append(.init(name: spec.name, kind: "hotmart", rows: [], error: "\(error)"))
                    }
                }
                return MediaReport(sources: sources)
            }
        }
    }

    /// Writes the matched pages as a media manifest (`{page_id: {video: {vimeo: ID}}}`), keeping every entry the
    /// file already has: what a person fixed by hand wins. Answers how many entries were added.
    public func writeManifest(_ report: MediaReport, to path: String) throws -> Int {
        var manifest: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: path) {
            guard let existing = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw AppError.usage("\(path) is not a media manifest (a JSON object of page ids); move it away or name another file")
            }
            manifest = existing
        }
        var added = 0
        for row in report.rows where row.status == .matched && manifest[row.pageID] == nil {
            var entry: [String: Any] = [:]
            if let video = row.video, !video.isEmpty { entry["video"] = video }
            if let captions = row.captions, !captions.isEmpty { entry["captions"] = captions }
            guard !entry.isEmpty else { continue }
            manifest[row.pageID] = entry
            added += 1
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw AppError.usage("cannot write \(path): \(error.localizedDescription)")
        }
        return added
    }
}
