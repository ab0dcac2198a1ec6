import AcervoApp
import AcervoConnectors
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
            return try await service.htmlAnswer {
                let hits = try QueryParameter.integer(request, "hits", default: 0, in: 0...1_000_000).get()
                return try await service.runPage(id, hitsPage: hits == 0 ? nil : hits)
            }
        }
        get("lesson") { request, _ in
            let item = request.uri.queryParameters.get("item") ?? ""
            return try await service.htmlAnswer { try await service.lessonPage(item) }
        }
        get("kb") { request, _ in
            try await service.htmlAnswer { try await service.knowledgeBasePage(KnowledgeBaseFilter(request)) }
        }
        get("snapshots") { _, _ in try await service.htmlAnswer { try await service.snapshotsPage() } }
        get("media") { _, _ in try await service.htmlAnswer { try await service.mediaPage() } }
        get("diff") { request, _ in
            let old = request.uri.queryParameters.get("old") ?? "", new = request.uri.queryParameters.get("new") ?? "latest"
            return try await service.htmlAnswer { try await service.diffPage(old: old, new: new) }
        }
        get("search") { request, _ in
            try await service.htmlAnswer { try await service.searchPage(FormFields.query(request, "q") ?? "") }
        }
        get("cache") { _, context in try await service.htmlAnswer { try await service.cachePage(context.credential!) } }
        get("cost") { request, _ in
            try await service.htmlAnswer { try await service.costPage(projection: try QueryParameter.flag(request, "projection").get()) }
        }
        post("gc") { _, context in
            let apply = context.form["apply"] == "1"
            let (status, answer) = await service.maintenanceResult { try await service.collectGarbage(apply: apply) }
            return service.html(page(apply ? "Garbage collected" : "What gc would free", service.maintenanceAnswer(answer, back: "/cache")), status: status)
        }
        post("sync") { _, _ in
            let (status, answer) = await service.maintenanceResult { try await service.workspace.sync(SyncRequest()) }
            return service.html(page("Sync", service.maintenanceAnswer(answer, back: "/")), status: status)
        }
        post("builds") { _, context in
            let (status, message) = await service.startBuild(refresh: context.form["refresh"].flatMap { $0.isEmpty ? nil : $0 })
            if status == .accepted { return Response.redirect(to: "/", type: .normal) }
            return service.html(page("Build not started", "<section><p class=\"error\">\(message)</p><p><a href=\"/\">Back</a></p></section>"),
                                status: status)
        }
        return self
    }
}

extension AcervoService {
    /// Times on every page: in the schedule's zone, with its offset.
    var time: TimeDisplay { TimeDisplay(timeZone: schedule?.timeZone ?? TimeZone(identifier: "UTC")!) }

    /// A page as sent: every secret the service knows scrubbed from it, as from notifications — an error
    /// quoting a provider's answer never shows a key.
    func html(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        .text(redact(html.text, secrets: knownSecrets), status: status, contentType: "text/html; charset=utf-8")
    }

    /// A page, or the error that stopped it as a page.
    func htmlAnswer(_ body: () async throws -> HTML) async throws -> Response {
        do {
            return html(try await body())
        } catch let missing as PageNotFound {
            return html(notFoundPage(missing.message), status: .notFound)
        } catch let problem as ParameterProblem {
            return html(page("Not understood", "<section><p class=\"error\">\(problem.message)</p></section>"), status: .badRequest)
        } catch {
            let failure = AppError(error)
            logger.error("page failed", metadata: ["error": .string(failure.message)])
            return html(page("Something went wrong", "<section><p class=\"error\">\(failure.message)</p></section>"), status: .internalServerError)
        }
    }

    func notFoundPage(_ message: String) -> HTML {
        page("Not found", """
            <section><p>\(message)</p><p>Try the <a href="/">overview</a>, the <a href="/runs">runs</a>, the \
            <a href="/kb">knowledge base</a> or <a href="/search">search</a>.</p></section>
            """)
    }

    func overviewPage(_ credential: Credential) async throws -> HTML {
        let figures = self.figures
        let runs = try await workspace.recentBuilds()
        let running = await coordinator.running
        var sections: [HTML] = []
        if let running { sections.append(liveSection(running, time: time)) }
        let last: HTML
        if let run = runs.first {
            let summary = run.buildSummary
            last = """
                <div class="figure"><span class="muted">Last build</span><b class="\(run.status.rawValue)">\(run.status.words)</b>\
                \(runLink(run.id))<br>\(time(run.startedAt))\
                \(run.endedAt.map { HTML(" · \(seconds($0.timeIntervalSince(run.startedAt)))") } ?? "")<br>\
                \(summary.map { HTML("executed \($0.executed) · hits \($0.hits) · failed \($0.failed) · \(usd($0.costUSD))") } ?? "")</div>
                """
        } else {
            last = "<div class=\"figure\"><span class=\"muted\">Last build</span><b>none yet</b></div>"
        }
        let knowledgeBase: HTML = figures.knowledgeBase.map { kb in
            """
            <div class="figure"><span class="muted">Knowledge base</span><b><a href="/kb">\(counted(kb.documents, "document"))</a></b>\
            \(shortDigest(kb.digest.description))<br>\(time(kb.createdAt))</div>
            """
        } ?? "<div class=\"figure\"><span class=\"muted\">Knowledge base</span><b>empty</b>nothing built yet</div>"
        let next: HTML
        if let planned = scheduler?.next {
            next = "<div class=\"figure\"><span class=\"muted\">Next build</span><b>\(time(planned.at))</b>\(planned.trigger == .retry ? "retry of a failed night · " : "")\(scheduleText ?? "")</div>"
        } else if scheduler == nil {
            next = "<div class=\"figure\"><span class=\"muted\">Next build</span><b>not scheduled</b>add <code>schedule:</code> to pipeline.yaml</div>"
        } else {
            next = "<div class=\"figure\"><span class=\"muted\">Next build</span><b>after this one</b>\(scheduleText ?? "")</div>"
        }
        let cache = figures.cache
        let saved: HTML = """
            <div class="figure"><span class="muted">Saved by the cache</span><b>\(usd(cache.savedUSD))</b>\(counted(cache.hits, "hit")) · \
            \(counted(cache.entries, "result")) · \(formatBytes(cache.bytes))</div>
            """
        let button: HTML = credential.role == .admin && running == nil ? """
            <form class="inline" method="post" action="/builds"><input type="hidden" name="csrf" value="\(access.csrfToken(for: credential))">\
            <button type="submit">Build now</button></form>
            """ : ""
        sections.append("<section><div class=\"figures\">\(last)\(knowledgeBase)\(next)\(saved)</div><p>\(button)</p></section>")
        if let run = runs.first, let summary = run.buildSummary, !summary.problems.isEmpty {
            sections.append(problemsSection(summary.problems, run: run.id, limit: 5))
        }
        let shown = Array(runs.prefix(30))
        sections.append("<section><h2>\(shown.count == 1 ? "The last build" : "The last \(shown.count) builds")</h2>\(BuildChart(runs: shown.reversed(), time: time).html)</section>")
        return page("Overview", refreshSeconds: running == nil ? nil : 3, "\(sections)")
    }

    /// What went wrong in a run, one line per lesson and cause (the build's summary says it the same way).
    func problemsSection(_ problems: [LessonProblem], run: String, limit: Int? = nil) -> HTML {
        let shown = limit.map { Array(problems.prefix($0)) } ?? problems
        // A list, not a table: a cause is a sentence, and reads at a phone's width.
        let items = shown.map { problem -> HTML in
            let rules = (problem.failedRules == ["detect"] ? "" : "failed: " + problem.failedRules.joined(separator: ", "))
                + (problem.stoppedRules.isEmpty ? "" : (problem.failedRules == ["detect"] ? "" : "; ") + "not run: " + problem.stoppedRules.joined(separator: ", "))
            return """
                <li><a href="/lesson?item=\(HTML.query(problem.item))"><b>\(problem.item)</b></a><br>\(problem.cause)\
                \(rules.isEmpty ? "" : HTML("<br><span class=\"muted\">\(rules)</span>"))</li>
                """
        }
        let more: HTML = shown.count < problems.count
            ? "<p class=\"muted\">… and \(problems.count - shown.count) more on <a href=\"/runs/\(HTML.query(run))\">the run's page</a>.</p>" : ""
        return """
            <section class="warning"><h2>\(counted(problems.count, "lesson problem")) in run \(runLink(run))</h2>\
            <p class="muted">Each lesson keeps its previous document in the knowledge base until it builds again.</p>
            <ul class="problems">\(items)</ul>\(more)</section>
            """
    }

    func runsPage() async throws -> HTML {
        let runs = try await workspace.runs(limit: 100)
        let rows = runs.map { run -> HTML in
            let summary = run.buildSummary
            return """
                <tr><td>\(runLink(run.id))</td><td>\(run.command)</td>\
                <td class="\(run.status.rawValue)">\(run.status.words)</td><td class="num">\(time(run.startedAt))</td>\
                <td class="num">\(run.endedAt.map { seconds($0.timeIntervalSince(run.startedAt)) } ?? "—")</td>\
                <td class="num">\(summary.map { "\($0.executed)" } ?? "")</td><td class="num">\(summary.map { "\($0.hits)" } ?? "")</td>\
                <td class="num">\(summary.map { "\($0.failed)" } ?? "")</td><td class="num">\(summary.map { usd($0.costUSD) } ?? "")</td></tr>
                """
        }
        return page("Runs", """
            <section class="scroll"><table class="stack"><thead><tr><th>Run</th><th>Command</th><th>Status</th><th class="num">Started</th><th class="num">Took</th>\
            <th class="num">Executed</th><th class="num">Hits</th><th class="num">Failed</th><th class="num">Cost</th></tr></thead>
            <tbody>\(rows)</tbody></table></section>
            """)
    }

    /// A run: what it did in words (never its raw JSON), the lessons that went wrong, every decision that is not
    /// a plain hit, failures first; plain hits — tens of thousands on a quiet night — counted by rule, and
    /// listed a page at a time (`?hits=PAGE`).
    func runPage(_ id: String, hitsPage: Int?) async throws -> HTML {
        guard let decisions = try await workspace.runDecisions(id) else { throw PageNotFound("There is no run `\(id)`.") }
        let run = decisions.run
        let order: [Decision: Int] = [.failed: 0, .executed: 1, .skipped: 2, .hit: 3]
        let events = decisions.events.sorted { (order[$0.decision] ?? 9, $0.itemID, $0.rule) < (order[$1.decision] ?? 9, $1.itemID, $1.rule) }
        let rows = events.map { event -> HTML in
            """
            <tr><td class="\(event.decision.rawValue)">\(event.decision.rawValue)</td>\
            <td><a href="/lesson?item=\(HTML.query(event.itemID))">\(event.itemID)</a></td><td>\(event.rule)</td>\
            <td class="text">\(event.reason.description)\(event.error.map { HTML("<br><span class=\"\(event.decision == .failed ? "failed" : "muted")\">\($0)</span>") } ?? "")</td>\
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
                    <table><tbody>\(slice.map { HTML("<tr><td class=\"hit\">hit</td><td><a href=\"/lesson?item=\(HTML.query($0.itemID))\">\($0.itemID)</a></td><td>\($0.rule)</td><td><code class=\"id\">\(String($0.key.hex.prefix(16)))</code></td></tr>") })</tbody></table>
                    """
            }
            let links = (1...pages).prefix(200).map { page -> HTML in
                page == hitsPage ? "<b>\(page)</b> " : "<a href=\"/runs/\(HTML.query(id))?hits=\(page)\">\(page)</a> "
            }
            hits = """
                <section class="scroll"><h2>Reused as stored (\(counted(decisions.hits.entries.count, "hit")))</h2>
                <p>\(hitsByRule.map { HTML("\($0.key) <b>\($0.value)</b> · ") })</p><p class="muted">List them: \(links)</p>\(listed)</section>
                """
        }
        var sections: [HTML] = [runFacts(run, decisions: decisions)]
        let problems = run.buildSummary?.problems ?? LessonProblem.group(events: decisions.events)
        if !problems.isEmpty { sections.append(problemsSection(problems, run: run.id)) }
        let table: HTML = rows.isEmpty ? "<p class=\"muted\">Every action was reused as stored.</p>" : """
            <table class="stack"><thead><tr><th>Decision</th><th>Lesson</th><th>Rule</th><th>Why</th><th class="num">Took</th><th class="num">Cost</th></tr></thead>\
            <tbody>\(rows)</tbody></table>
            """
        sections.append("<section class=\"scroll\"><h2>Decisions</h2>\(table)</section>")
        sections.append(hits)
        return page("Run \(run.id)", "\(sections)")
    }

    /// The run's facts in words: how it ended, what it did (a build's counts as its summary has them), what
    /// it made, or its error.
    func runFacts(_ run: Run, decisions: RunDecisions) -> HTML {
        var facts: [(String, HTML)] = [
            ("Status", "<b class=\"\(run.status.rawValue)\">\(run.status.words)</b>"), ("Command", "\(run.command)"), ("Started", "\(time(run.startedAt))"),
        ]
        if let ended = run.endedAt { facts.append(("Took", "\(seconds(ended.timeIntervalSince(run.startedAt)))")) }
        if let summary = run.buildSummary {
            facts.append(("Actions", """
                executed \(summary.executed) · hits \(summary.hits) · failed \(summary.failed) · skipped \(summary.skipped)\
                \(summary.interruptedActions > 0 ? " (\(summary.interruptedActions) interrupted)" : "") · not applicable \(summary.notApplicable)
                """))
            facts.append(("Cost", "\(usd(summary.costUSD))"))
            if let snapshot = summary.snapshot {
                facts.append(("Knowledge base", "<a href=\"/kb?snapshot=\(HTML.query(snapshot))\">\(shortDigest(snapshot))</a>"))
            }
            if summary.interrupted { facts.append(("Interrupted", "stopped before every action ran; the next build runs the rest")) }
            if summary.budgetReached { facts.append(("Budget", "paid actions past the budget were not started")) }
            if !summary.warnings.isEmpty {
                facts.append(("Warnings", HTML("\(summary.warnings.prefix(20).map { HTML("\($0.item.isEmpty ? "" : $0.item + " " + $0.rule + ": ")\($0.message)<br>") })")))
            }
        } else if let summary = run.summary {
            facts += SummaryFacts.rows(summary)
        }
        facts.append(("Acervo", "\(run.toolVersion)"))
        return "<section><dl class=\"facts\">\(facts.map { HTML("<dt>\($0.0)</dt><dd>\($0.1)</dd>") })</dl></section>"
    }

    func lessonPage(_ item: String) async throws -> HTML {
        guard !item.isEmpty else { throw PageNotFound("Name a lesson: /lesson?item=ID, or pick one on the knowledge base page.") }
        let steps = try await workspace.trace(item: item)
        let document = try await snapshotMemo.document(item: item, in: workspace)
        let decisions = try await workspace.why(item: item, rule: nil)
        guard !steps.isEmpty || document != nil || !decisions.isEmpty else { throw PageNotFound("Nothing is recorded for the lesson `\(item)`.") }
        var sections: [HTML] = ["<section><p><code>\(item)</code></p></section>"]
        // The newest decisions that failed: the lesson's last build did not give it a new document.
        let newestRun = decisions.map(\.run).max()
        let failed = decisions.filter { $0.run == newestRun && $0.decision == .failed }
        if !failed.isEmpty, let run = newestRun {
            let problems = LessonProblem.group(
                failures: failed.map { FailureSummary(item: item, rule: $0.rule, error: $0.error ?? $0.reason.description) },
                blocked: decisions.filter { $0.run == run }.compactMap { explanation in
                    explanation.reason.blockingRule.map { LessonProblem.Blocked(item: item, rule: explanation.rule, upstream: $0) }
                })
            sections.append("""
                <section class="warning"><h2>The last build failed this lesson</h2>\
                \(problems.map { HTML("<p>\($0.cause)</p>") })<p class="muted">Run \(runLink(run)). \
                \(document == nil ? "It is not in the knowledge base yet." : "The knowledge base keeps its previous document, shown below.")</p></section>
                """)
        }
        let rows = steps.map { step -> HTML in
            let inputs = step.inputs.sorted { $0.key < $1.key }.map { HTML("\($0.key) \(shortDigest($0.value.description))<br>") }
            let outputs = step.outputs.sorted { $0.key < $1.key }.map { HTML("\($0.key) \(shortDigest($0.value.description))<br>") }
            let warnings = (step.warnings ?? []).map { HTML("<br><span class=\"budget\">warning: \($0)</span>") }
            return """
                <tr><td>\(step.rule)</td><td>\(step.processor)</td><td><code class="id">\(String(step.key.hex.prefix(12)))</code></td>\
                <td>\(inputs)</td><td class="text">\(outputs)\(warnings)</td><td class="num">\(step.costUSD.map(usd) ?? "—")</td>\
                <td>\(step.run.map(runLink) ?? "")</td></tr>
                """
        }
        sections.append("""
            <section class="scroll"><h2>How it was made</h2><table class="stack"><thead><tr><th>Rule</th><th>Processor</th><th>Key</th><th>Inputs</th>\
            <th>Outputs</th><th class="num">Cost</th><th>Run</th></tr></thead><tbody>\(rows)</tbody></table></section>
            """)
        sections.append(document.map { document in
            let attributes = document.entry.attributes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: " · ")
            return """
                <section class="document"><h2>Document\(document.entry.kept ? " (kept from an earlier build)" : "")</h2>\
                <p class="muted">Attributes (what assistants filter on): \(attributes)</p>\(MarkdownHTML.render(document.text))</section>
                """
        } ?? "<section><p class=\"muted\">Not in the current knowledge base.</p></section>")
        return page(document?.entry.title ?? item, "\(sections)")
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
func liveSection(_ running: BuildCoordinator.Running, time: TimeDisplay) -> HTML {
    let progress = running.progress
    return """
        <section id="live"><h2>Building now</h2><p><span class="running">\(running.trigger.words)</span> build \
        \(progress.run.map { HTML("<code class=\"id\">\($0)</code>") } ?? "starting") since \(time(running.startedAt)): \
        <b>\(progress.decided)</b> of \(progress.total) actions decided — executed \(progress.executed), hits \(progress.hits), \
        failed \(progress.failed), skipped \(progress.skipped)</p>
        <progress max="\(max(progress.total, 1))" value="\(progress.decided)" style="width:100%"></progress>
        \(progress.recentFailures.map { HTML("<p class=\"failed\">\($0)</p>") })</section>
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
        guard command == .build, let summary, let data = summary.data(using: .utf8) else { return nil }
        return try? JSONDecoder().decode(BuildSummary.self, from: data)
    }
}

extension RunStatus {
    /// How a run ended, in words.
    var words: String {
        switch self {
        case .running: "running"
        case .ok: "ok"
        case .failed: "failed"
        case .budget: "budget reached"
        case .interrupted: "interrupted"
        case .error: "could not run"
        }
    }
}

/// A stored summary that is not a build's (a sync's, a gc's, an error) as rows of facts: the top level's
/// fields by name, lists counted, nested objects one level deep — never as JSON text.
enum SummaryFacts {
    static func rows(_ json: String) -> [(String, HTML)] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [("Summary", "\(json)")] }
        return object.keys.sorted().map { key in (label(key), value(object[key]!)) }
    }

    /// `costUSD` → `Cost USD`, `removedBlobs` → `Removed blobs`.
    static func label(_ key: String) -> String {
        var words: [String] = []
        var current = ""
        for character in key {
            if character.isUppercase, let last = current.last, last.isLowercase {
                words.append(current)
                current = ""
            }
            current.append(character)
        }
        words.append(current)
        let sentence = words.map { $0.count > 1 && $0.allSatisfy(\.isUppercase) ? $0 : $0.lowercased() }.joined(separator: " ")
        return sentence.prefix(1).uppercased() + sentence.dropFirst()
    }

    static func value(_ value: Any, depth: Int = 0) -> HTML {
        switch value {
        case let text as String: return "\(text)"
        case let number as NSNumber: return "\(number)"
        case let list as [Any]:
            if list.isEmpty { return "none" }
            if depth > 0 || list.count > 10 || list.contains(where: { !($0 is String) }) { return "\(counted(list.count, "entry", "entries"))" }
            return "\(list.map { "\($0)" }.joined(separator: ", "))"
        case let object as [String: Any]:
            if depth > 0 { return "\(counted(object.count, "field"))" }
            return "\(object.keys.sorted().map { key in HTML("\(label(key)): \(Self.value(object[key]!, depth: 1))<br>") })"
        default: return "—"
        }
    }
}
