import AcervoApp
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// Who may do what: tokens, roles, CSRF, and loopback.
@Suite(.serialized) struct AccessTests {
    let adminToken = "adm-9f3c1e7b2d-secret"
    let viewerToken = "view-41aa8c0e6f-secret"

    @Test func `beyond loopback the service will not start without an admin token`() throws {
        let project = try TinyProject()
        #expect {
            _ = try AcervoService(storePath: project.store, rulesPath: project.rules, variables: [:], options: .init(host: "0.0.0.0", port: 0),
                                  logger: LogLines().logger)
        } throws: { error in
            let failure = try #require(error as? AppError)
            return failure.status == .usage && failure.message.contains("ACERVO_ADMIN_TOKEN") && failure.message.contains("0.0.0.0")
        }
    }

    @Test func `with tokens set, nothing but the health probes answers anonymously`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project, variables: ["ACERVO_ADMIN_TOKEN": adminToken, "ACERVO_VIEWER_TOKEN": viewerToken])
        for path in ["/", "/runs", "/snapshots", "/cache", "/search?q=x", "/api/status", "/api/runs", "/api/cache", "/api/cost", "/api/snapshots", "/metrics",
                     "/api/session"] {
            let answer = try await request(.GET, running.baseURL + path)
            #expect(answer.status == 401, "\(path) answered \(answer.status) anonymously")
            #expect(answer.headers["WWW-Authenticate"].first?.hasPrefix("Basic realm=\"Acervo\"") == true)
        }
        let wrong = try await request(.GET, running.baseURL + "/api/status", headers: [bearer("not-the-token")])
        #expect(wrong.status == 401)
        let post = try await request(.POST, running.baseURL + "/api/builds")
        #expect(post.status == 401)
        #expect(try await request(.GET, running.baseURL + "/healthz").status == 200)
        #expect(try await request(.GET, running.baseURL + "/readyz").status == 200)
        try await running.stop()
    }

    @Test func `a viewer reads but cannot POST; an admin's POST needs the CSRF token unless sent as a bearer`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project, variables: ["ACERVO_ADMIN_TOKEN": adminToken, "ACERVO_VIEWER_TOKEN": viewerToken])
        #expect(try await request(.GET, running.baseURL + "/api/status", headers: [basic(viewerToken)]).status == 200)
        #expect(try await request(.GET, running.baseURL + "/", headers: [basic(viewerToken)]).status == 200)
        // The viewer's own CSRF token does not make it an admin.
        let viewerSession = try #require(try await request(.GET, running.baseURL + "/api/session", headers: [basic(viewerToken)]).json() as? [String: String])
        #expect(viewerSession["role"] == "viewer")
        let viewerPost = try await request(.POST, running.baseURL + "/api/builds",
                                           headers: [basic(viewerToken), ("X-CSRF-Token", viewerSession["csrfToken"] ?? "")])
        #expect(viewerPost.status == 403)
        #expect(viewerPost.body.contains("only an admin"))

        // A browser sends Basic credentials by itself: without the form's token, a POST is refused…
        let forged = try await request(.POST, running.baseURL + "/builds", headers: [basic(adminToken), ("Content-Type", "application/x-www-form-urlencoded")],
                                       body: "")
        #expect(forged.status == 403)
        let wrongToken = try await request(.POST, running.baseURL + "/builds",
                                           headers: [basic(adminToken), ("Content-Type", "application/x-www-form-urlencoded")],
                                           body: "csrf=" + (viewerSession["csrfToken"] ?? ""))
        #expect(wrongToken.status == 403, "a token made for another credential is refused")
        // …and with the token the dashboard's form carries, it starts a build (303 back to the overview).
        let overview = try await request(.GET, running.baseURL + "/", headers: [basic(adminToken)])
        let csrf = try #require(overview.body.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)?.1)
        let form = try await request(.POST, running.baseURL + "/builds",
                                     headers: [basic(adminToken), ("Content-Type", "application/x-www-form-urlencoded")], body: "csrf=\(csrf)")
        #expect(form.status == 303, "\(form.status) \(form.body)")
        #expect(form.headers["Location"].first == "/")
        _ = await running.service.coordinator.lastAttemptAfterRunning()

        // A script's bearer token is never sent by a browser on its own: no CSRF token needed.
        let scripted = try await request(.POST, running.baseURL + "/api/builds", headers: [bearer(adminToken)])
        #expect(scripted.status == 202, "\(scripted.body)")
        _ = await running.service.coordinator.lastAttemptAfterRunning()
        try await running.stop()
    }

    @Test func `on loopback without tokens, callers are admin but a POST still needs the CSRF token`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project)
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        #expect(session["role"] == "admin")
        // Another web page open in the same browser could post to 127.0.0.1: the token stops it.
        #expect(try await request(.POST, running.baseURL + "/api/builds").status == 403)
        let started = try await request(.POST, running.baseURL + "/api/builds", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")])
        #expect(started.status == 202)
        _ = await running.service.coordinator.lastAttemptAfterRunning()
        try await running.stop()
    }
}

extension BuildCoordinator {
    /// Waits for the running build (if any) to end and returns the newest attempt; a build still running after
    /// 30,000 looks (ten minutes of 20 ms naps, far past any build here) is the test's failure, not a hang.
    func lastAttemptAfterRunning() async -> BuildAttempt? {
        for _ in 0..<30_000 where running != nil { try? await Task.sleep(for: .milliseconds(20)) }
        if running != nil {
            Issue.record("the build never ended")
            return nil
        }
        return lastAttempt
    }
}
