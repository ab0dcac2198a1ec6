import AcervoApp
import ArgumentParser
import Foundation

struct MediaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "Show where each lesson's video is: matched (how, how closely), ambiguous (the candidates) or unmatched (why).",
        discussion: """
            Reads the Hotmart catalog and every media resolver's list (Vimeo, Panda Video, a folder, a manifest,
            URL templates) and pairs them as a build would, without fetching any video. A lesson left ambiguous
            or unmatched fails in the build with the same reason and keeps its previous document.
            --write-manifest FILE writes what was matched as a manifest (entries already in FILE are kept), so a
            person fixes the rest once and lists FILE first under `source.media`.
            """)

    @OptionGroup var options: StoreOptions

    @Option(name: .customLong("write-manifest"), help: ArgumentHelp("Write the matched pages to this media manifest.", valueName: "file"))
    var manifest: String?

    func run() async throws {
        let workspace = options.workspace()
        let report = try await perform { try await workspace.media() }
        let added = try await perform { try manifest.map { try workspace.writeManifest(report, to: $0) } }
        if options.json {
            printJSON(report)
            return
        }
        for source in report.sources {
            guard source.kind == "hotmart" else {
                print("\(source.name): a course folder — each lesson folder holds its own video")
                continue
            }
            if let error = source.error {
                print("\(source.name): cannot be read: \(error)")
                continue
            }
            print("\(source.name): \(source.rows.count) pages")
            let widths = (id: source.rows.map(\.pageID.count).max() ?? 0, title: min(40, source.rows.map(\.title.count).max() ?? 0))
            for row in source.rows {
                let title = row.title.count > 40 ? String(row.title.prefix(39)) + "…" : row.title
                let head = "  " + row.pageID.padding(toLength: widths.id, withPad: " ", startingAt: 0) + "  "
                    + title.padding(toLength: widths.title, withPad: " ", startingAt: 0) + "  "
                switch row.status {
                case .matched:
                    let score = row.score.map { String(format: " %.2f", $0) } ?? ""
                    print(head + "← \(row.match ?? "?") (\(row.resolver ?? "?"), by \(row.how ?? "?")\(score))")
                case .ambiguous:
                    print(head + "AMBIGUOUS: \(row.candidates.joined(separator: " | "))")
                case .unmatched:
                    print(head + "UNMATCHED: \(row.reasons.isEmpty ? "no media resolver is configured" : row.reasons.joined(separator: "; "))")
                case .notALesson:
                    print(head + "not a lesson (no video): makes no document")
                }
            }
        }
        print("\(report.count(.matched)) matched, \(report.count(.ambiguous)) ambiguous, \(report.count(.unmatched)) unmatched"
              + (report.count(.notALesson) > 0 ? ", \(report.count(.notALesson)) not lessons" : ""))
        if let manifest, let added {
            print("wrote \(added) new \(added == 1 ? "entry" : "entries") to \(manifest)"
                  + (report.unresolved.isEmpty ? "" : "; add the \(report.unresolved.count) ambiguous or unmatched pages to it by hand, with the right video's id (docs/cloud.md shows how)"))
        }
    }
}
