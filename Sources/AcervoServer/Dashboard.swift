import AcervoApp
import AcervoEngine
import AcervoStore
import Foundation
import Hummingbird

/// The dashboard: server-rendered pages over the same queries as the JSON API. Pages need no script; the
/// overview reloads itself every few seconds while a build runs.
extension RouterGroup<ServiceRequestContext> {
    @discardableResult
    func addRoutes(dashboard service: AcervoService) -> Self {
        get("") { _, context in try await service.htmlAnswer { try await service.overviewPage(context.credential!) } }
        get("runs") { _, _ in try await service.htmlAnswer { try await service.runsPage() } }
        get("runs/:run") { request, context in
            let id = try context.parameters.require("run")
            let hits = request.uri.queryParameters.get("hits", as: Int.self)
            return try await service.htmlAnswer { try await service.runPage(id, hitsPage: hits) }
        }
        get("lesson") { request, _ in
            let item = request.uri.queryParameters.get("item") ?? ""
            return try await service.htmlAnswer { try await service.lessonPage(item) }
        }
        get("snapshots") { _, _ in try await service.htmlAnswer { try await service.snapshotsPage() } }
        get("diff") { request, _ in
            let old = request.uri.queryParameters.get("old") ?? "", new = request.uri.queryParameters.get("new") ?? "latest"
            return try await service.htmlAnswer { try await service.diffPage(old: old, new: new) }
        }
        get("search") { request, _ in
            let query = request.uri.queryParameters.get("q") ?? ""
            return try await service.htmlAnswer { try await service.searchPage(query) }
        }
        get("cache") { _, context in try await service.htmlAnswer { try await service.cachePage(context.credential!) } }
        get("cost") { request, _ in
            let projection = request.uri.queryParameters.get("projection") == "1"
            return try await service.htmlAnswer { try await service.costPage(projection: projection) }
        }
        post("gc") { _, context in
            let apply = context.form["apply"] == "1"
            let (status, json) = await service.maintenance { try await service.collectGarbage(apply: apply) }
            return Response.html(page(apply ? "Garbage collected" : "What gc would free", "<section><pre>\(json)</pre><p><a href=\"/cache\">Back</a></p></section>"),
                                 status: status)
        }
        post("sync") { _, _ in
            let (status, json) = await service.maintenance { try await service.workspace.sync(SyncRequest()) }
            return Response.html(page("Sync", "<section><pre>\(json)</pre><p><a href=\"/\">Back</a></p></section>"), status: status)
        }
        post("builds") { _, context in
            let (status, message) = await service.startBuild(refresh: context.form["refresh"].flatMap { $0.isEmpty ? nil : $0 })
            if status == .accepted { return Response.redirect(to: "/", type: .normal) }
            return Response.html(page("Build not started", "<section><p class=\"error\">\(message)</p><p><a href=\"/\">Back</a></p></section>"),
                                 status: status)
        }
        return self
    }
}

extension Response {
    static func html(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        text(html.text, status: status, contentType: "text/html; charset=utf-8")
    }
}

extension AcervoService {
    /// A page, or the error that stopped it as a page.
    func htmlAnswer(_ body: () async throws -> HTML) async throws -> Response {
        do {
            return .html(try await body())
        } catch let missing as PageNotFound {
            return .html(page("Not found", "<section><p>\(missing.message)</p></section>"), status: .notFound)
        } catch {
            let failure = AppError(error)
            logger.error("page failed", metadata: ["error": .string(failure.message)])
            return .html(page("Something went wrong", "<section><p class=\"error\">\(failure.message)</p></section>"), status: .internalServerError)
        }
    }

    func overviewPage(_ credential: Credential) async throws -> HTML {
        let figures = self.figures
        let runs = try await workspace.recentBuilds()
        let running = await coordinator.running
        var sections: [HTML] = []
        if let running { sections.append(liveSection(running)) }
        let last: HTML
        if let run = runs.first {
            let summary = run.buildSummary
            last = """
                <div class="figure"><span class="muted">Last build</span><b class="\(run.status.rawValue)">\(run.status.rawValue)</b>
                <a href="/runs/\(HTML.query(run.id))"><code>\(run.id)</code></a><br>\(when(run.startedAt))\
                \(run.endedAt.map { HTML(" · \(seconds($0.timeIntervalSince(run.startedAt)))") } ?? "")<br>\
                \(summary.map { HTML("executed \($0.executed) · hits \($0.hits) · failed \($0.failed) · \(usd($0.costUSD))") } ?? "")</div>
                """
        } else {
            last = "<div class=\"figure\"><span class=\"muted\">Last build</span><b>none yet</b></div>"
        }
        let knowledgeBase: HTML = figures.knowledgeBase.map { kb in
            """
            <div class="figure"><span class="muted">Knowledge base</span><b>\(kb.documents) documents</b>
            <code>\(String(kb.digest.description.prefix(23)))…</code><br>\(when(kb.createdAt))</div>
            """
        } ?? "<div class=\"figure\"><span class=\"muted\">Knowledge base</span><b>empty</b></div>"
        let next: HTML
        if let planned = scheduler?.next {
            let local = schedule.map { $0.localTime(planned.at) } ?? when(planned.at)
            next = "<div class=\"figure\"><span class=\"muted\">Next build</span><b>\(local)</b>\(planned.trigger == .retry ? "retry of a failed night · " : "")\(scheduleText ?? "")</div>"
        } else if scheduler == nil {
            next = "<div class=\"figure\"><span class=\"muted\">Next build</span><b>not scheduled</b>add <code>schedule:</code> to pipeline.yaml</div>"
        } else {
            next = "<div class=\"figure\"><span class=\"muted\">Next build</span><b>after this one</b>\(scheduleText ?? "")</div>"
        }
        let cache = figures.cache
        let saved: HTML = """
            <div class="figure"><span class="muted">Saved by the cache</span><b>\(usd(cache.savedUSD))</b>\(cache.hits) hits · \
            \(cache.entries) results · \(formatBytes(cache.bytes))</div>
            """
        let button: HTML = credential.role == .admin && running == nil ? """
            <form class="inline" method="post" action="/builds"><input type="hidden" name="csrf" value="\(access.csrfToken(for: credential))">\
            <button type="submit">Build now</button></form>
            """ : ""
        sections.append("<section><div class=\"figures\">\(last)\(knowledgeBase)\(next)\(saved)</div><p>\(button)</p></section>")
        sections.append("<section><h2>The last \(min(runs.count, 30)) builds</h2>\(BuildChart(runs: Array(runs.prefix(30).reversed())).svg)</section>")
        return page("Overview", refreshSeconds: running == nil ? nil : 3, "\(sections)")
    }

    func runsPage() async throws -> HTML {
        let runs = try await workspace.runs(limit: 100)
        let rows = runs.map { run -> HTML in
            let summary = run.buildSummary
            return """
                <tr><td><a href="/runs/\(HTML.query(run.id))"><code>\(run.id)</code></a></td><td>\(run.command)</td>\
                <td class="\(run.status.rawValue)">\(run.status.rawValue)</td><td>\(when(run.startedAt))</td>\
                <td class="num">\(run.endedAt.map { seconds($0.timeIntervalSince(run.startedAt)) } ?? "—")</td>\
                <td class="num">\(summary.map { "\($0.executed)" } ?? "")</td><td class="num">\(summary.map { "\($0.hits)" } ?? "")</td>\
                <td class="num">\(summary.map { "\($0.failed)" } ?? "")</td><td class="num">\(summary.map { usd($0.costUSD) } ?? "")</td></tr>
                """
        }
        return page("Runs", """
            <section class="scroll"><table><thead><tr><th>Run</th><th>Command</th><th>Status</th><th>Started</th><th class="num">Took</th>\
            <th class="num">Executed</th><th class="num">Hits</th><th class="num">Failed</th><th class="num">Cost</th></tr></thead>
            <tbody>\(rows)</tbody></table></section>
            """)
    }

    /// A run: every decision that is not a plain hit in full, failures first; plain hits — tens of thousands on
    /// a quiet night — counted by rule, and listed a page at a time (`?hits=PAGE`).
    func runPage(_ id: String, hitsPage: Int?) async throws -> HTML {
        guard let decisions = try await workspace.runDecisions(id) else { throw PageNotFound("no run `\(id)`") }
        let run = decisions.run
        let order: [Decision: Int] = [.failed: 0, .executed: 1, .skipped: 2, .hit: 3]
        let events = decisions.events.sorted { (order[$0.decision] ?? 9, $0.itemID, $0.rule) < (order[$1.decision] ?? 9, $1.itemID, $1.rule) }
        var counts = Dictionary(grouping: events, by: \.decision).mapValues(\.count)
        counts[.hit, default: 0] += decisions.hits.entries.count
        let rows = events.map { event -> HTML in
            """
            <tr><td class="\(event.decision.rawValue)">\(event.decision.rawValue)</td>\
            <td><a href="/lesson?item=\(HTML.query(event.itemID))">\(event.itemID)</a></td><td>\(event.rule)</td>\
            <td>\(event.reason.description)\(event.error.map { HTML("<br><span class=\"failed\">\($0)</span>") } ?? "")</td>\
            <td class="num">\(String(format: "%.2f s", event.durationSeconds))</td><td class="num">\(usd(event.costUSD))</td></tr>
            """
        }
        let hitsByRule = hitCountsByRule(decisions)
        var hits: HTML = ""
        if !hitsByRule.isEmpty {
            let pageSize = 500
            let pages = (decisions.hits.entries.count + pageSize - 1) / pageSize
            var listed: HTML = ""
            if let hitsPage, (1...max(pages, 1)).contains(hitsPage) {
                let slice = decisions.hits.entries.dropFirst((hitsPage - 1) * pageSize).prefix(pageSize)
                listed = """
                    <table><tbody>\(slice.map { HTML("<tr><td class=\"hit\">hit</td><td><a href=\"/lesson?item=\(HTML.query($0.itemID))\">\($0.itemID)</a></td><td>\($0.rule)</td><td><code>\(String($0.key.hex.prefix(16)))</code></td></tr>") })</tbody></table>
                    """
            }
            let links = (1...pages).prefix(200).map { page -> HTML in
                page == hitsPage ? "<b>\(page)</b> " : "<a href=\"/runs/\(HTML.query(id))?hits=\(page)\">\(page)</a> "
            }
            hits = """
                <section class="scroll"><h2>Reused as stored (\(decisions.hits.entries.count) hits)</h2>
                <p>\(hitsByRule.map { HTML("\($0.key) <b>\($0.value)</b> · ") })</p><p class="muted">List them: \(links)</p>\(listed)</section>
                """
        }
        let summary: HTML = run.summary.map { "<p class=\"mono muted\">\($0)</p>" } ?? ""
        return page("Run \(run.id)", """
            <section><p><b class="\(run.status.rawValue)">\(run.status.rawValue)</b> · \(run.command) · \(when(run.startedAt))\
            \(run.endedAt.map { HTML(" · took \(seconds($0.timeIntervalSince(run.startedAt)))") } ?? "") · Acervo \(run.toolVersion)</p>
            <p>failed \(counts[.failed] ?? 0) · executed \(counts[.executed] ?? 0) · skipped \(counts[.skipped] ?? 0) · hits \(counts[.hit] ?? 0)</p>\
            \(summary)</section>
            <section class="scroll"><h2>Decisions</h2><table><thead><tr><th>Decision</th><th>Lesson</th><th>Rule</th><th>Why</th>\
            <th class="num">Took</th><th class="num">Cost</th></tr></thead><tbody>\(rows)</tbody></table></section>
            \(hits)
            """)
    }

    func lessonPage(_ item: String) async throws -> HTML {
        guard !item.isEmpty else { throw PageNotFound("name a lesson: /lesson?item=ID") }
        let steps = try await workspace.trace(item: item)
        let document = try await snapshotMemo.document(item: item, in: workspace)
        guard !steps.isEmpty || document != nil else { throw PageNotFound("nothing recorded for `\(item)`") }
        let rows = steps.map { step -> HTML in
            let inputs = step.inputs.sorted { $0.key < $1.key }.map { HTML("\($0.key) <code>\(String($0.value.description.prefix(19)))</code><br>") }
            let outputs = step.outputs.sorted { $0.key < $1.key }.map { HTML("\($0.key) <code>\(String($0.value.description.prefix(19)))</code><br>") }
            let warnings = (step.warnings ?? []).map { HTML("<br><span class=\"budget\">warning: \($0)</span>") }
            return """
                <tr><td>\(step.rule)</td><td>\(step.processor)</td><td><code>\(String(step.key.hex.prefix(16)))</code></td>\
                <td>\(inputs)</td><td>\(outputs)\(warnings)</td><td class="num">\(step.costUSD.map(usd) ?? "—")</td>\
                <td>\(step.run.map { HTML("<a href=\"/runs/\(HTML.query($0))\"><code>\($0)</code></a>") } ?? "")</td></tr>
                """
        }
        let rendered: HTML = document.map { document in
            let attributes = document.entry.attributes.sorted { $0.key < $1.key }.map { HTML("<code>\($0.key)=\($0.value)</code> ") }
            return "<section class=\"document\"><h2>Document</h2><p>\(attributes)</p>\(MarkdownHTML.render(document.text))</section>"
        } ?? "<section><p class=\"muted\">Not in the current knowledge base.</p></section>"
        return page(document?.entry.title ?? item, """
            <section><p><code>\(item)</code></p></section>
            <section class="scroll"><h2>How it was made</h2><table><thead><tr><th>Rule</th><th>Processor</th><th>Key</th><th>Inputs</th>\
            <th>Outputs</th><th class="num">Cost</th><th>Run</th></tr></thead><tbody>\(rows)</tbody></table></section>
            \(rendered)
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
                <tr><td>\(snapshot.name)</td><td><code>\(String(snapshot.digest.description.prefix(23)))</code></td>\
                <td>\(when(snapshot.createdAt))</td><td class="num">\(snapshot.documents)</td>\
                <td>\(previous.map { HTML("<a href=\"/diff?old=\(HTML.query($0.digest.description))&amp;new=\(HTML.query(snapshot.digest.description))\">changes</a>") } ?? "")</td></tr>
                """
        }
        let options = distinct.map { HTML("<option value=\"\($0.digest.description)\">\($0.name) · \(when($0.createdAt))</option>") }
        return page("Snapshots", """
            <section><form method="get" action="/diff">Compare <select name="old">\(options)</select> with \
            <select name="new">\(options)</select> <button type="submit">Diff</button></form></section>
            <section class="scroll"><table><thead><tr><th>Name</th><th>Digest</th><th>Made</th><th class="num">Documents</th><th></th></tr></thead>
            <tbody>\(rows)</tbody></table>\(all.count > snapshots.count ? HTML("<p class=\"muted\">The newest \(snapshots.count) of \(all.count); `acervo kb list` lists all.</p>") : "")</section>
            """)
    }

    func diffPage(old: String, new: String) async throws -> HTML {
        guard !old.isEmpty else { throw PageNotFound("choose two snapshots on /snapshots") }
        let diff = try await workspace.knowledgeBase { try await $0.diff(old, new) }
        let link = { (item: String) -> HTML in "<a href=\"/lesson?item=\(HTML.query(item))\">\(item)</a>" }
        let list = { (title: String, items: [HTML]) -> HTML in
            items.isEmpty ? "" : "<section><h2>\(title) (\(items.count))</h2><ul>\(items.map { HTML("<li>\($0)</li>") })</ul></section>"
        }
        return page("Changes", """
            <section><p><code>\(old)</code> → <code>\(new)</code>\(diff.isEmpty ? " — no change" : "")</p></section>
            \(list("Added", diff.added.map(link)))\(list("Removed", diff.removed.map { HTML("\($0)") }))\
            \(list("Changed", diff.changed.map { HTML("\(link($0.itemID)) — \($0.fields.joined(separator: ", "))") }))
            """)
    }

    func searchPage(_ query: String) async throws -> HTML {
        var results: HTML = ""
        if !query.trimmingCharacters(in: .whitespaces).isEmpty {
            let hits = try await workspace.knowledgeBase { try await $0.search(query, limit: 20) }
            results = hits.isEmpty ? "<section><p>Nothing matches.</p></section>" : """
                <section>\(hits.map { hit in HTML("<p><a href=\"/lesson?item=\(HTML.query(hit.item))\"><b>\(hit.title)</b></a> <code>\(hit.item)</code><br>\(hit.snippet)</p>") })</section>
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
            <p class="muted">As of \(when(figures.readAt)); refreshed after each build.</p></section>
            \(credential.role == .admin ? try maintenanceForms(credential) : "")
            """)
    }

    /// `acervo cost` as a page: what was spent and where, what the cache saved, what the store costs to keep;
    /// the catalog's projection on request (it plans: it reads the source).
    func costPage(projection: Bool) async throws -> HTML {
        let report = try await workspace.costReport(projection: projection)
        func table(_ headers: [String], _ rows: [[HTML]]) -> HTML {
            guard !rows.isEmpty else { return "<p class=\"muted\">Nothing paid yet.</p>" }
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
            catalog = "<div class=\"figure\"><span class=\"muted\">Catalog, projected</span><a href=\"/cost?projection=1\">Plan it</a> (reads the source)</div>"
        }
        let storage: HTML = report.storage.map { storage in
            """
            <div class="figure"><span class="muted">Vector store, a day</span><b>\(storage.usdPerDay.map(usd) ?? "unpriced")</b>\(formatBytes(Int64(storage.bytes))) \
            in \(storage.vectorStore)</div>
            """
        } ?? ""
        return page("Cost", """
            <section class="figures">
            <div class="figure"><span class="muted">Spent, last \(report.runsCounted) runs</span><b>\(usd(report.spentUSD))</b></div>
            <div class="figure"><span class="muted">Saved by the cache</span><b>\(usd(report.savedUSD))</b>\(report.hits) hits</div>
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
            <section><h2>Prices</h2>\(table(["Provider", "Read", "From"],
                report.prices.sorted { $0.key < $1.key }.map { [HTML(text: $0.key), HTML(text: $0.value.taken), HTML(text: $0.value.source)] }))</section>
            """)
    }

    /// An admin's buttons: rebuild a rule, collect garbage (dry run first), sync the knowledge base.
    func maintenanceForms(_ credential: Credential) throws -> HTML {
        let csrf: HTML = "<input type=\"hidden\" name=\"csrf\" value=\"\(access.csrfToken(for: credential))\">"
        let rules = (try? workspace.pipeline().rules.map(\.name)) ?? []
        return """
            <section><h2>Maintenance</h2>
            <form method="post" action="/builds">\(csrf)Build now, recomputing <select name="refresh"><option value="">nothing extra</option>\
            \(rules.map { HTML("<option value=\"\($0)\">\($0)</option>") })</select> <button type="submit">Build</button></form>
            <p><form class="inline" method="post" action="/gc">\(csrf)<input type="hidden" name="apply" value="0"><button type="submit">gc: what would it free?</button></form>
            <form class="inline" method="post" action="/gc">\(csrf)<input type="hidden" name="apply" value="1"><button type="submit">gc: free it</button></form>
            <form class="inline" method="post" action="/sync">\(csrf)<button type="submit">Sync the knowledge base</button></form></p>
            </section>
            """
    }

    var scheduleText: String? { schedule?.summary }

    /// Hits per rule of a run, counted once per hit list (a thousand quiet nights share one).
    private func hitCountsByRule(_ decisions: RunDecisions) -> [(key: String, value: Int)] {
        if let digest = decisions.hitListDigest, let known = hitsByRuleMemo.value(for: digest) { return known }
        var counts: [String: Int] = [:]
        for entry in decisions.hits.entries { counts[entry.rule, default: 0] += 1 }
        let sorted = counts.sorted { $0.key < $1.key }
        if let digest = decisions.hitListDigest { hitsByRuleMemo.remember(sorted, for: digest) }
        return sorted
    }
}

/// The running build: which, since when, how far, the last failures.
func liveSection(_ running: BuildCoordinator.Running) -> HTML {
    let progress = running.progress
    return """
        <section id="live"><h2>Building now</h2><p><span class="running">\(running.trigger.rawValue)</span> build \
        <code>\(progress.run ?? "starting")</code> since \(when(running.startedAt)): \
        <b>\(progress.decided)</b> of \(progress.total) actions decided — executed \(progress.executed), hits \(progress.hits), \
        failed \(progress.failed), skipped \(progress.skipped)</p>
        <progress max="\(max(progress.total, 1))" value="\(progress.decided)" style="width:100%"></progress>
        \(progress.recentFailures.map { HTML("<p class=\"failed mono\">\($0)</p>") })</section>
        """
}

/// A page that does not exist: 404, said as a page.
struct PageNotFound: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension Run {
    /// A build's summary as it recorded it; nil for other commands, running builds and errors.
    var buildSummary: BuildSummary? {
        guard command == "build", let summary, let data = summary.data(using: .utf8) else { return nil }
        return try? JSONDecoder().decode(BuildSummary.self, from: data)
    }
}

/// Cost and executed actions per build, as an inline SVG bar chart (no script).
struct BuildChart {
    var runs: [Run]

    var svg: HTML {
        guard !runs.isEmpty else { return "<p class=\"muted\">No builds yet.</p>" }
        let summaries = runs.map { $0.buildSummary }
        let maxCost = max(summaries.map { $0?.costUSD ?? 0 }.max() ?? 0, 0.01)
        let maxExecuted = max(summaries.map { $0?.executed ?? 0 }.max() ?? 0, 1)
        let width = 600.0, height = 160.0, slot = width / Double(max(runs.count, 1))
        var bars: [HTML] = []
        for (index, run) in runs.enumerated() {
            let summary = summaries[index]
            let x = Double(index) * slot
            let costHeight = (summary?.costUSD ?? 0) / maxCost * (height - 30)
            let executedHeight = Double(summary?.executed ?? 0) / Double(maxExecuted) * (height - 30)
            let title = "\(run.id): \(usd(summary?.costUSD ?? 0)), \(summary?.executed ?? 0) executed, \(run.status.rawValue)"
            bars.append(HTML(raw: String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2f5bd3\">",
                                         x + slot * 0.1, height - 20 - costHeight, slot * 0.38, costHeight))
                + "<title>\(title)</title></rect>"
                + HTML(raw: String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\">",
                                   x + slot * 0.5, height - 20 - executedHeight, slot * 0.38, executedHeight,
                                   run.status == .ok ? "#8fb3ff" : "#e57373"))
                + "<title>\(title)</title></rect>")
        }
        return """
            <svg viewBox="0 0 600 160" width="100%" role="img" aria-label="Cost and executed actions of the last builds">
            \(bars)<line x1="0" y1="140" x2="600" y2="140" stroke="#99a1ad"/>
            <text x="2" y="155">\(runs.first.map { when($0.startedAt) } ?? "")</text>
            <text x="598" y="155" text-anchor="end">\(runs.last.map { when($0.startedAt) } ?? "")</text>
            <text x="2" y="10">■ cost (max \(usd(maxCost)))   ■ executed actions (max \(maxExecuted)); red: not ok</text></svg>
            """
    }
}
