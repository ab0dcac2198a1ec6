import AcervoApp
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
import Hummingbird

/// What the knowledge-base page shows: one snapshot (default: the latest), narrowed by attributes and words.
struct KnowledgeBaseFilter {
    static let attributes = ["course", "school", "topic", "level", "language"]
    var snapshot: String?
    var attributes: [String: String]
    var words: String

    init(snapshot: String? = nil, attributes: [String: String] = [:], words: String = "") {
        self.snapshot = snapshot
        self.attributes = attributes
        self.words = words
    }

    init(_ request: Request) {
        snapshot = FormFields.query(request, "snapshot").flatMap { $0.isEmpty ? nil : $0 }
        var attributes: [String: String] = [:]
        for name in Self.attributes { if let value = FormFields.query(request, name), !value.isEmpty { attributes[name] = value } }
        self.attributes = attributes
        words = FormFields.query(request, "q") ?? ""
    }

    func matches(_ entry: SnapshotEntry) -> Bool {
        for (name, value) in attributes where entry.attributes[name] != value { return false }
        let needle = words.trimmingCharacters(in: .whitespaces).folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
        guard !needle.isEmpty else { return true }
        let haystack = (entry.title + " " + entry.itemID).folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
        return haystack.contains(needle)
    }
}

extension FormFields {
    /// A query parameter as a form sends it: `+` is a space (`nombres+descriptivos` → `nombres descriptivos`).
    static func query(_ request: Request, _ name: String) -> String? {
        guard let raw = request.uri.query else { return nil }
        return parse(raw)[name]
    }
}

extension AcervoService {
    /// The knowledge base's documents with their attributes, filterable, each linking to its lesson.
    func knowledgeBasePage(_ filter: KnowledgeBaseFilter) async throws -> HTML {
        let manifest: SnapshotManifest
        do {
            manifest = try await workspace.knowledgeBase { try await $0.manifest(filter.snapshot) }
        } catch {
            if filter.snapshot == nil, figures.knowledgeBase == nil {
                return page("Knowledge base", "<section><p class=\"muted\">Nothing built yet: the first build makes the knowledge base.</p></section>")
            }
            throw PageNotFound("There is no snapshot `\(filter.snapshot ?? "latest")`; the snapshots page lists them.")
        }
        let shown = manifest.entries.filter(filter.matches)
        var values: [String: Set<String>] = [:]
        for entry in manifest.entries {
            for name in KnowledgeBaseFilter.attributes { if let value = entry.attributes[name] { values[name, default: []].insert(value) } }
        }
        let selects = KnowledgeBaseFilter.attributes.filter { values[$0] != nil }.map { name -> HTML in
            let options = values[name, default: []].sorted().map { value in
                HTML("<option\(filter.attributes[name] == value ? " selected" : "")>\(value)</option>")
            }
            return "<label>\(name) <select name=\"\(name)\"><option value=\"\">any</option>\(options)</select></label> "
        }
        let rows = shown.map { entry -> HTML in
            let attributes = KnowledgeBaseFilter.attributes.compactMap { name in entry.attributes[name].map { "\(name): \($0)" } }.joined(separator: " · ")
            return """
                <tr><td><a href="/lesson?item=\(HTML.query(entry.itemID))"><b>\(entry.title)</b></a><br><code class="id">\(entry.itemID)</code>\
                \(entry.kept ? HTML(" <span class=\"budget\">kept from an earlier build</span>") : "")</td>\
                <td class="text">\(attributes)</td><td>\(shortDigest(entry.document.description))</td></tr>
                """
        }
        let which: HTML = filter.snapshot.map { "snapshot \(shortDigest($0)) · <a href=\"/kb\">the latest</a>" } ?? "the latest snapshot"
        return page("Knowledge base", """
            <section><form method="get" action="/kb">\(filter.snapshot.map { HTML("<input type=\"hidden\" name=\"snapshot\" value=\"\($0)\">") } ?? "")\
            \(selects)<input type="search" name="q" value="\(filter.words)" placeholder="title or lesson id"> <button type="submit">Filter</button></form>
            <p class="muted">\(counted(shown.count, "document")) of \(manifest.entries.count) in \(which).</p></section>
            <section class="scroll"><table class="stack"><thead><tr><th>Lesson</th><th>Attributes</th><th>Document</th></tr></thead><tbody>\(rows)</tbody></table></section>
            """)
    }

    func snapshotsPage() async throws -> HTML {
        let all = try await snapshotMemo.snapshots(workspace).sorted { $0.createdAt > $1.createdAt }
        // The newest hundred; the pickers offer each distinct knowledge base once (quiet nights share one).
        let snapshots = Array(all.prefix(100))
        var seen = Set<Digest>()
        let distinct = all.filter { seen.insert($0.digest).inserted }.prefix(200)
        let rows = snapshots.enumerated().map { index, snapshot -> HTML in
            let previous = index + 1 < snapshots.count ? snapshots[index + 1] : nil
            return """
                <tr><td><a href="/kb?snapshot=\(HTML.query(snapshot.digest.description))">\(snapshot.name)</a></td>\
                <td>\(shortDigest(snapshot.digest.description))</td><td class="num">\(time(snapshot.createdAt))</td>\
                <td class="num"><a href="/kb?snapshot=\(HTML.query(snapshot.digest.description))">\(snapshot.documents)</a></td>\
                <td>\(previous.map { HTML("<a href=\"/diff?old=\(HTML.query($0.digest.description))&amp;new=\(HTML.query(snapshot.digest.description))\">changes</a>") } ?? "")</td></tr>
                """
        }
        let options = distinct.map { HTML("<option value=\"\($0.digest.description)\">\($0.name) · \(time($0.createdAt))</option>") }
        return page("Snapshots", """
            <section><form method="get" action="/diff">Compare <select name="old">\(options)</select> with \
            <select name="new">\(options)</select> <button type="submit">Diff</button></form></section>
            <section class="scroll"><table class="stack"><thead><tr><th>Name</th><th>Digest</th><th class="num">Made</th><th class="num">Documents</th><th></th></tr></thead>
            <tbody>\(rows)</tbody></table>\(all.count > snapshots.count ? HTML("<p class=\"muted\">The newest \(snapshots.count) of \(all.count); `acervo kb list` lists all.</p>") : "")</section>
            """)
    }

    func diffPage(old: String, new: String) async throws -> HTML {
        guard !old.isEmpty else { throw PageNotFound("Choose two snapshots to compare on the snapshots page.") }
        let diff = try await workspace.knowledgeBase { try await $0.diff(old, new) }
        let link = { (item: String) -> HTML in "<a href=\"/lesson?item=\(HTML.query(item))\">\(item)</a>" }
        let list = { (title: String, items: [HTML]) -> HTML in
            items.isEmpty ? "" : "<section><h2>\(title) (\(items.count))</h2><ul>\(items.map { HTML("<li>\($0)</li>") })</ul></section>"
        }
        let name = { (snapshot: String) -> HTML in
            snapshot.hasPrefix("sha256:") ? "<a href=\"/kb?snapshot=\(HTML.query(snapshot))\">\(shortDigest(snapshot))</a>" : "<a href=\"/kb\">\(snapshot)</a>"
        }
        return page("Changes", """
            <section><p>\(name(old)) → \(name(new))\(diff.isEmpty ? " — no change" : "")</p></section>
            \(list("Added", diff.added.map(link)))\(list("Removed", diff.removed.map { HTML("\($0)") }))\
            \(list("Changed", diff.changed.map { HTML("\(link($0.itemID)) — \($0.fields.joined(separator: ", "))") }))
            """)
    }

    func searchPage(_ query: String) async throws -> HTML {
        var results: HTML = ""
        if !query.trimmingCharacters(in: .whitespaces).isEmpty {
            let hits = try await workspace.knowledgeBase { try await $0.search(query, limit: 20) }
            results = hits.isEmpty ? "<section><p>Nothing matches.</p></section>" : """
                <section>\(hits.map { hit in HTML("<p><a href=\"/lesson?item=\(HTML.query(hit.item))\"><b>\(hit.title)</b></a> <code class=\"id\">\(hit.item)</code><br>\(hit.snippet)</p>") })</section>
                """
        }
        return page("Search", """
            <section><form method="get" action="/search"><input type="search" name="q" value="\(query)" placeholder="variables, funciones, …" autofocus> \
            <button type="submit">Search</button></form></section>\(results)
            """)
    }

    func cachePage(_ credential: Credential) async throws -> HTML {
        let statistics = figures.statistics
        let rows = (statistics?.processors ?? []).sorted { $0.processor < $1.processor }.map { row -> HTML in
            """
            <tr><td>\(row.processor)</td><td class="num">\(row.entries)</td><td class="num">\(formatBytes(row.bytes))</td><td class="num">\(row.hits)</td>\
            <td class="num">\(usd(row.spentUSD))</td><td class="num">\(usd(row.savedUSD))</td></tr>
            """
        }
        return page("Cache", """
            <section class="scroll"><table><thead><tr><th>Processor</th><th class="num">Results</th><th class="num">Bytes</th><th class="num">Hits</th>\
            <th class="num">Spent</th><th class="num">Saved</th></tr></thead><tbody>\(rows)</tbody></table>
            <p class="muted">As of \(time(figures.readAt)); refreshed after each build.</p></section>
            \(credential.role == .admin ? try maintenanceForms(credential) : "")
            """)
    }

    /// `acervo cost` as a page: what was spent and where, what the cache saved, what the store costs to keep;
    /// the catalog's projection on request (it plans: it reads the source).
    func costPage(projection: Bool) async throws -> HTML {
        let report = try await workspace.costReport(projection: projection)
        func table(_ headers: [String], _ rows: [[HTML]], empty: String = "Nothing paid yet.") -> HTML {
            guard !rows.isEmpty else { return "<p class=\"muted\">\(empty)</p>" }
            let head = headers.enumerated().map { HTML(raw: $0.offset == 0 ? "<th>\($0.element)</th>" : "<th class=\"num\">\($0.element)</th>") }
            let body = rows.map { row in
                HTML("<tr>\(row.enumerated().map { $0.offset == 0 ? HTML("<td>\($0.element)</td>") : HTML("<td class=\"num\">\($0.element)</td>") })</tr>")
            }
            return "<div class=\"scroll\"><table><thead><tr>\(head)</tr></thead><tbody>\(body)</tbody></table></div>"
        }
        var catalog: HTML
        if let projection = report.projection {
            catalog = """
                <div class="figure"><span class="muted">Catalog, projected</span><b>\(usd(projection.projectedUSD))</b>\(projection.lessons) lessons: \
                \(usd(projection.builtUSD)) built, \(usd(projection.pendingUSD)) (\(usd(projection.pendingLowUSD))–\(usd(projection.pendingHighUSD))) \
                for \(projection.pendingActions) paid actions still to run</div>
                """
        } else if let error = report.projectionError {
            catalog = "<div class=\"figure\"><span class=\"muted\">Catalog, projected</span><span class=\"error\">\(error)</span></div>"
        } else {
            catalog = "<div class=\"figure\"><span class=\"muted\">Catalog, projected</span><a href=\"/cost?projection=1\">Plan it</a> (reads the source; pays nothing)</div>"
        }
        let storage: HTML = report.storage.map { storage in
            """
            <div class="figure"><span class="muted">Vector store, a day</span><b>\(storage.usdPerDay.map(usd) ?? "unpriced")</b>\(formatBytes(Int64(storage.bytes))) \
            in \(storage.vectorStore)</div>
            """
        } ?? ""
        // Each provider's prices as rules/prices.yaml has them, with where and when they were read.
        let prices = (try? workspace.pipeline().prices) ?? PriceTable()
        let priceRows = Set(prices.prices.keys).union(report.prices.keys).sorted().map { provider -> [HTML] in
            let units = (prices.prices[provider] ?? [:]).sorted { $0.key < $1.key }.map { unit, models in
                HTML("\(unit.replacingOccurrences(of: "_", with: " ")): \(models.sorted { $0.key < $1.key }.map { "\($0.key) $\(String(format: "%g", $0.value))" }.joined(separator: ", "))<br>")
            }
            let source = report.prices[provider].map { provenance -> HTML in
                provenance.source.hasPrefix("https://")
                    ? "<a href=\"\(provenance.source)\" rel=\"noreferrer\">\(URL(string: provenance.source)?.host ?? provenance.source)</a>, read \(provenance.taken)"
                    : "\(provenance.source), read \(provenance.taken)"
            } ?? "—"
            return [HTML(text: provider), HTML("\(units)"), source]
        }
        return page("Cost", """
            <section class="figures">
            <div class="figure"><span class="muted">Spent, last \(counted(report.runsCounted, "run"))</span><b>\(usd(report.spentUSD))</b></div>
            <div class="figure"><span class="muted">Saved by the cache</span><b>\(usd(report.savedUSD))</b>\(counted(report.hits, "hit"))</div>
            \(catalog)\(storage)
            </section>
            <section><h2>Nights (\(report.timeZone))</h2>\(table(["Night", "Runs", "Spent"],
                report.nights.prefix(30).map { [HTML(text: $0.night), HTML(text: $0.runs), HTML(text: usd($0.spentUSD))] }))</section>
            <section><h2>Processors</h2>\(table(["Processor", "Paid actions", "Estimated", "Spent", "By failed actions"],
                report.processors.map { [HTML(text: $0.processor), HTML(text: $0.paidActions), HTML(text: usd($0.estimatedUSD)), HTML(text: usd($0.spentUSD)),
                                         HTML(text: usd($0.failedUSD))] }))</section>
            <section><h2>Courses</h2>\(table(["Course", "Lessons", "Spent"],
                report.courses.map { [HTML(text: $0.course), HTML(text: $0.lessons), HTML(text: usd($0.spentUSD))] }))</section>
            <section><h2>Costliest lessons</h2>\(table(["Lesson", "Paid actions", "Spent"],
                report.lessons.prefix(20).map { lesson in
                    [HTML(raw: "<a href=\"/lesson?item=\(HTML.query(lesson.item))\">\(HTML.escaped(lesson.item))</a>"), HTML(text: lesson.paidActions),
                     HTML(text: usd(lesson.spentUSD))]
                }))</section>
            <section><h2>Prices</h2>\(priceTable(priceRows))</section>
            """)
    }

    /// The prices table: provider, its prices, where they were read. Text columns, so no number alignment.
    private func priceTable(_ rows: [[HTML]]) -> HTML {
        guard !rows.isEmpty else { return "<p class=\"muted\">rules/prices.yaml lists no prices.</p>" }
        return """
            <div class="scroll"><table class="stack"><thead><tr><th>Provider</th><th>Price (dollars)</th><th>Read from</th></tr></thead><tbody>\
            \(rows.map { row in HTML("<tr><td>\(row[0])</td><td class=\"text\">\(row[1])</td><td>\(row[2])</td></tr>") })</tbody></table></div>
            """
    }

    /// An admin's buttons: rebuild a rule, collect garbage (dry run first), and — when the knowledge base goes
    /// to a vector store — sync it.
    func maintenanceForms(_ credential: Credential) throws -> HTML {
        let csrf: HTML = "<input type=\"hidden\" name=\"csrf\" value=\"\(access.csrfToken(for: credential))\">"
        let pipeline = try? workspace.pipeline()
        let rules = pipeline?.rules.map(\.name) ?? []
        let sync: HTML
        if case .openai(let settings)? = pipeline?.sink.kind {
            sync = "<form class=\"inline\" method=\"post\" action=\"/sync\">\(csrf)<button type=\"submit\">Sync to \(settings.vectorStore ?? "the vector store")</button></form>"
        } else {
            sync = "<span class=\"muted\">The knowledge base stays in the store (<code>sink: local</code>): there is nothing to sync.</span>"
        }
        return """
            <section><h2>Maintenance</h2>
            <form method="post" action="/builds">\(csrf)Build now, recomputing <select name="refresh"><option value="">nothing extra</option>\
            \(rules.map { HTML("<option value=\"\($0)\">\($0)</option>") })</select> <button type="submit">Build</button></form>
            <p><form class="inline" method="post" action="/gc">\(csrf)<input type="hidden" name="apply" value="0"><button type="submit">gc: what would it free?</button></form>
            <form class="inline" method="post" action="/gc">\(csrf)<input type="hidden" name="apply" value="1"><button type="submit">gc: free it</button></form>
            \(sync)</p>
            </section>
            """
    }

    /// What a gc or sync asked from a page did, in words and tables.
    func maintenanceAnswer(_ answer: MaintenanceAnswer, back: String) -> HTML {
        switch answer {
        case .done(let json):
            return "<section><dl class=\"facts\">\(SummaryFacts.rows(json).map { HTML("<dt>\($0.0)</dt><dd>\($0.1)</dd>") })</dl><p><a href=\"\(back)\">Back</a></p></section>"
        case .refused(let message):
            return "<section><p class=\"error\">\(message)</p><p><a href=\"\(back)\">Back</a></p></section>"
        }
    }
}

extension AcervoService {
    /// Where each lesson's video is, read from the hosts now (as `acervo media`): matched (how, how closely),
    /// ambiguous (the candidates) or unmatched (why) — what a person fixes in a manifest before the night.
    func mediaPage() async throws -> HTML {
        let report = try await workspace.media()
        let sections = report.sources.map { source -> HTML in
            guard source.kind == "hotmart" else {
                return "<section><h2>\(source.name)</h2><p class=\"muted\">A course folder: each lesson folder holds its own video.</p></section>"
            }
            if let error = source.error {
                return "<section class=\"warning\"><h2>\(source.name)</h2><p class=\"error\">Cannot be read: \(error)</p></section>"
            }
            let rows = source.rows.map { row -> HTML in
                let found: HTML
                switch row.status {
                case .matched:
                    let score = row.score.map { String(format: ", %.2f", $0) } ?? ""
                    found = "<span class=\"ok\">\(row.match ?? "")</span> <span class=\"muted\">(\(row.resolver ?? ""), by \(row.how ?? "")\(score))</span>"
                case .ambiguous:
                    found = "<span class=\"failed\">Ambiguous:</span> \(row.candidates.joined(separator: " · "))"
                case .unmatched:
                    found = "<span class=\"failed\">Unmatched:</span> \(row.reasons.isEmpty ? "no media resolver is configured" : row.reasons.joined(separator: "; "))"
                case .notALesson:
                    found = "<span class=\"muted\">Not a lesson (no video): makes no document</span>"
                }
                return """
                    <tr><td><a href="/lesson?item=\(HTML.query(row.item))"><code class="id">\(row.pageID)</code></a></td><td>\(row.title)</td>\
                    <td>\(row.module)</td><td class="text">\(found)</td></tr>
                    """
            }
            return """
                <section class="scroll"><h2>\(source.name)</h2><table class="stack"><thead><tr><th>Page</th><th>Title</th><th>Module</th>\
                <th>Video</th></tr></thead><tbody>\(rows)</tbody></table></section>
                """
        }
        let unresolved = report.unresolved.count
        let summary: HTML = """
            <section\(unresolved > 0 ? HTML(" class=\"warning\"") : "")><p>\(report.count(.matched)) matched, \(report.count(.ambiguous)) ambiguous, \
            \(report.count(.unmatched)) unmatched\(report.count(.notALesson) > 0 ? HTML(", \(report.count(.notALesson)) not lessons") : "").\
            \(unresolved > 0 ? HTML(" The \(unresolved) ambiguous or unmatched \(unresolved == 1 ? "lesson fails" : "lessons fail") in the build and \(unresolved == 1 ? "keeps its" : "keep their") previous document: add them to a media manifest with the right video's id, listed first under <code>source.media</code> (docs/cloud.md shows how).") : "")</p>
            <p class="muted">Read from the hosts at \(time(Date())); no video was fetched. <code>acervo media --write-manifest media.json</code> writes the matched pages as a manifest to start from.</p></section>
            """
        return page("Media", "\(summary)\(sections)")
    }
}
