import AcervoApp
import AcervoEngine
import AcervoStore
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

/// A request as the service sees it: who is asking, once the access middleware has checked.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AccessMiddleware` for every route behind it.
    var credential: Credential?
    /// A form's fields or a JSON body's bytes, read once by the middleware (a POST's CSRF token is in them).
    var form: [String: String] = [:]

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Checks every request but the health probes: who is asking (401 without a valid credential when any is
/// configured), that only an admin changes anything (403), and that a POST a browser could have been made to
/// send carries the CSRF token (403).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var request = request
        guard let credential = policy.role(authorization: request.headers[.authorization]) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Basic realm=\"Acervo\", charset=\"UTF-8\""
            return .problem(.unauthorized, "sign in: send the viewer or admin token (HTTP Basic password, or Authorization: Bearer)",
                            headers: headers)
        }
        context.credential = credential
        if request.method == .post {
            guard credential.role == .admin else { return .problem(.forbidden, "only an admin may change things") }
            let body = try await request.collectBody(upTo: 64 * 1024)
            if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
                context.form = FormFields.parse(String(buffer: body))
            }
            if credential.needsCSRF, !policy.checkCSRF(request.headers[Self.csrfHeader] ?? context.form["csrf"], for: credential) {
                return .problem(.forbidden, "this form has expired or did not come from the dashboard: reload the page and try again")
            }
        }
        return try await next(request, context)
    }

    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
}

/// `application/x-www-form-urlencoded` fields.
enum FormFields {
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (part: Substring) in part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}

extension Response {
    /// JSON in the CLI's `--json` shapes.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let bytes = try JSONEncoder.report.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// An error as `{"error": "…"}`.
    static func problem(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var response = (try? json(["error": message], status: status)) ?? Response(status: status)
        for field in headers { response.headers.append(field) }
        return response
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// What `GET /api/status` answers: the CLI's `acervo status --json`, plus the service's own state.
struct ServiceStatus: Encodable {
    var status: StatusReport
    /// The build this service runs now, with its progress.
    var build: BuildCoordinator.Running?
    var nextBuild: NightlyScheduler.Planned?
    var schedule: String?
    var lastAttempt: BuildAttempt?
    var startedAt: Date

    enum CodingKeys: String, CodingKey {
        case status, build, schedule, nextBuild, lastAttempt, startedAt
    }
}

extension AcervoService {
    func router() -> Router<ServiceRequestContext> {
        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: NotFoundMiddleware(service: self))
        router.get("healthz") { _, _ in Response.text("ok\n") }
        router.get("readyz") { [self] _, _ in await readiness() }
        router.group().add(middleware: AccessMiddleware(policy: access)).addRoutes(api: self).addRoutes(dashboard: self)
        return router
    }

    /// Ready when the store opens and the rules load: what a build needs before it can start.
    func readiness() async -> Response {
        do {
            _ = try await workspace.store()
            _ = try workspace.pipeline()
            return .text("ready\n")
        } catch {
            return .text("not ready: \(AppError(error).message)\n", status: .serviceUnavailable)
        }
    }

    func serviceStatus() async throws -> ServiceStatus {
        ServiceStatus(status: try await workspace.status(), build: await coordinator.running, nextBuild: scheduler?.next,
                      schedule: schedule?.summary, lastAttempt: await coordinator.lastAttempt,
                      startedAt: startedAt)
    }

    /// `POST /api/builds` and the dashboard's button: 202 when started, 409 while another build runs, 400 for
    /// a rule to refresh that does not exist.
    func startBuild(refresh: String? = nil) async -> (HTTPResponse.Status, String) {
        let rules = refresh.map { [$0] } ?? []
        if let refresh {
            do {
                guard try workspace.pipeline().rule(named: refresh) != nil else { return (.badRequest, "no rule `\(refresh)` to refresh") }
            } catch {
                // The rules are broken: that is the answer, not "no such rule".
                return (.internalServerError, "the rules cannot be read, so no build can start: \(AppError(error).message)")
            }
        }
        switch await coordinator.start(.manual, refresh: rules) {
        case .started:
            return (.accepted, "build started")
        case .busy(let why):
            return (.conflict, "a build is already running: \(why)")
        }
    }
}

extension RouterGroup<ServiceRequestContext> {
    @discardableResult
    func addRoutes(api service: AcervoService) -> Self {
        get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: service.metrics.exposition())))
        }
        get("api/session") { _, context in
            let credential = context.credential!
            return try Response.json(["role": credential.role.rawValue, "csrfToken": service.access.csrfToken(for: credential)])
        }
        get("api/status") { _, _ in try await service.answer { try Response.json(try await service.serviceStatus()) } }
        get("api/runs") { request, _ in
            let limit: Int
            switch QueryParameter.integer(request, "limit", default: 20, in: 1...1000) {
            case .success(let value): limit = value
            case .failure(let problem): return Response.problem(.badRequest, problem.message)
            }
            return try await service.answer { try Response.json(try await service.workspace.runs(limit: limit)) }
        }
        get("api/runs/:run") { _, context in
            let id = try context.parameters.require("run")
            return try await service.answer {
                guard let report = try await service.workspace.run(id) else { return Response.problem(.notFound, "no run `\(id)`") }
                return try Response.json(report)
            }
        }
        get("api/cache") { _, _ in try await service.answer { try Response.json(try await service.workspace.cacheStatistics()) } }
        // The projection plans (it reads the source): only when asked for.
        get("api/cost") { request, _ in
            let runs: Int, projection: Bool
            switch (QueryParameter.integer(request, "runs", default: 200, in: 1...10_000), QueryParameter.flag(request, "projection")) {
            case (.success(let count), .success(let flag)): (runs, projection) = (count, flag)
            case (.failure(let problem), _), (_, .failure(let problem)): return Response.problem(.badRequest, problem.message)
            }
            return try await service.answer { try Response.json(try await service.workspace.costReport(runs: runs, projection: projection)) }
        }
        get("api/media") { _, _ in try await service.answer { try Response.json(try await service.workspace.media()) } }
        get("api/snapshots") { _, _ in
            try await service.answer { try Response.json(try await service.snapshotMemo.snapshots(service.workspace)) }
        }
        post("api/builds") { request, context in
            let refresh = request.uri.queryParameters.get("refresh") ?? context.form["refresh"].flatMap { $0.isEmpty ? nil : $0 }
            let (status, message) = await service.startBuild(refresh: refresh)
            return try Response.json([status == .accepted ? "status" : "error": message], status: status)
        }
        post("api/gc") { request, context in
            let apply: Bool
            switch QueryParameter.flag(request, "apply", form: context.form) {
            case .success(let flag): apply = flag
            case .failure(let problem): return Response.problem(.badRequest, problem.message)
            }
            let (status, json) = await service.maintenance { try await service.collectGarbage(apply: apply) }
            return Response.text(json, status: status, contentType: "application/json; charset=utf-8")
        }
        post("api/sync") { _, _ in
            let (status, json) = await service.maintenance { try await service.workspace.sync(SyncRequest()) }
            return Response.text(json, status: status, contentType: "application/json; charset=utf-8")
        }
        // Anything else under /api is a JSON 404; elsewhere the router's 404 page answers.
        get("api/**") { request, _ in Response.problem(.notFound, "no endpoint `\(request.uri.path)`; docs/api.md lists them") }
        return self
    }
}

extension AcervoService {
    /// gc as the dashboard offers it: the CLI's defaults (results unused for 90 days, an hour's grace).
    func collectGarbage(apply: Bool) async throws -> GCReport {
        try await workspace.collectGarbage(policy: GCPolicy(), apply: apply, wait: false)
    }

    /// A change asked by an admin (gc, sync), as JSON (the API's answer).
    func maintenance<T: Encodable>(_ body: () async throws -> T) async -> (status: HTTPResponse.Status, json: String) {
        let (status, answer) = await maintenanceResult(body)
        switch answer {
        case .done(let json): return (status, json)
        case .refused(let message): return (status, String(decoding: (try? JSONEncoder.report.encode(["error": message])) ?? Data(), as: UTF8.self))
        }
    }

    /// A change asked by an admin (gc, sync): refused with 409 while a build runs; an error carries the status
    /// the CLI's exit code means (2 → 400, 4 → 409, else 500). A sync with a local sink is refused in the
    /// service's words (there is no vector store), not the CLI's.
    func maintenanceResult<T: Encodable>(_ body: () async throws -> T) async -> (HTTPResponse.Status, MaintenanceAnswer) {
        if let running = await coordinator.running {
            return (.conflict, .refused("a build (\(running.trigger.words)) is running; try again when it ends"))
        }
        if T.self == SyncReport.self, case .local? = (try? workspace.pipeline())?.sink.kind {
            return (.badRequest, .refused("the knowledge base stays in the store (`sink: local` in rules/pipeline.yaml): there is no vector store to sync"))
        }
        do {
            return (.ok, .done(String(decoding: try JSONEncoder.report.encode(try await body()), as: UTF8.self)))
        } catch {
            let failure = AppError(error)
            let status: HTTPResponse.Status = switch failure.status {
            case .usage: .badRequest
            case .locked: .conflict
            default: .internalServerError
            }
            logger.warning("maintenance failed", metadata: ["error": .string(failure.message)])
            return (status, .refused(failure.message))
        }
    }

    /// Runs a query; an error the store or rules report becomes a JSON answer (500 for the store's state,
    /// which an operator must fix), never a dropped connection.
    func answer(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch {
            let failure = AppError(error)
            logger.error("request failed", metadata: ["error": .string(failure.message)])
            return .problem(.internalServerError, failure.message)
        }
    }
}

/// What a gc or sync asked for did: its report as JSON, or why it was refused.
enum MaintenanceAnswer: Sendable {
    case done(String)
    case refused(String)
}

/// Every URL nobody answers: a page with the navigation for a person (the API's own 404s are JSON).
struct NotFoundMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let service: AcervoService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            if request.uri.path.hasPrefix("/api/") { return .problem(.notFound, "no endpoint `\(request.uri.path)`; docs/api.md lists them") }
            return service.html(service.notFoundPage("There is no page `\(request.uri.path)`."), status: .notFound)
        }
    }
}

/// A query parameter that is not what its endpoint takes: a 400 with the reason, never silently the default.
struct ParameterProblem: Error {
    var message: String
}

/// The service's query parameters, read strictly.
enum QueryParameter {
    /// A whole number within `range`, or `fallback` when the parameter is absent.
    static func integer(_ request: Request, _ name: String, default fallback: Int, in range: ClosedRange<Int>) -> Result<Int, ParameterProblem> {
        guard let text = request.uri.queryParameters.get(name) else { return .success(fallback) }
        guard let value = Int(text), range.contains(value) else {
            return .failure(ParameterProblem(message: "`\(name)` must be a whole number from \(range.lowerBound) to \(range.upperBound), not `\(text.prefix(40))`"))
        }
        return .success(value)
    }

    /// `1` or `0` (absent: `0`), in the query or, for a form, in its fields.
    static func flag(_ request: Request, _ name: String, form: [String: String] = [:]) -> Result<Bool, ParameterProblem> {
        switch request.uri.queryParameters.get(name) ?? form[name] {
        case nil, "0"?, ""?: return .success(false)
        case "1"?: return .success(true)
        case let other?: return .failure(ParameterProblem(message: "`\(name)` must be 1 or 0, not `\(other.prefix(40))`"))
        }
    }
}
