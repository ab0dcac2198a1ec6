import AcervoTestSupport
import Foundation
import Testing

/// `acervo serve` as people run it: the binary, its arguments, its signals and exit codes.
@Suite(.serialized) struct ServeCommandTests {
    @Test func `SIGTERM stops the service cleanly, and the log says where it listens, who may use it and that it stops`() async throws {
        let project = try TinyProject()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: acervoBinary)
        process.arguments = ["serve", "--store", project.store, "--rules", project.rules, "--listen", "127.0.0.1:0"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        var seen = ""
        var port: Int?
        while port == nil {
            let chunk = errors.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            seen += String(decoding: chunk, as: UTF8.self)
            port = seen.firstMatch(of: /address=http:\/\/127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) }
        }
        let listening = try #require(port, "\(seen)")
        #expect(try await request(.GET, "http://127.0.0.1:\(listening)/healthz").body == "ok\n")
        #expect(seen.contains("access=loopback only, no tokens"), "\(seen)")
        #expect(seen.contains("nextBuild=none: pipeline.yaml has no schedule"), "\(seen)")
        kill(process.processIdentifier, SIGTERM)
        let rest = try await offPool { String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        try await offPool { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
        #expect(rest.contains("shutting down") && rest.contains("build=none running"), "\(rest)")
    }

    @Test func `an IPv6 address is logged as a URL`() async throws {
        let project = try TinyProject()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: acervoBinary)
        process.arguments = ["serve", "--store", project.store, "--rules", project.rules, "--listen", "[::1]:0"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let seen = try await offPool { () -> String in
            var seen = ""
            while !seen.contains("address=") {
                let chunk = errors.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            return seen
        }
        kill(process.processIdentifier, SIGTERM)
        try await offPool { process.waitUntilExit() }
        #expect(seen.contains("address=http://[::1]:"), "\(seen)")
    }

    @Test func `serve refuses an address beyond loopback without an admin token, and bad arguments`() throws {
        let project = try TinyProject()
        let open = try acervo(["serve", "--store", project.store, "--rules", project.rules, "--listen", "0.0.0.0:0"])
        #expect(open.status == 2)
        #expect(open.stderr.contains("beyond loopback every caller must prove who they are, and no admin token is set"), "\(open.stderr)")
        let badListen = try acervo(["serve", "--listen", "localhost", "--store", project.store, "--rules", project.rules])
        #expect(badListen.status == 2)
        #expect(badListen.stderr.contains("--listen must be HOST:PORT"))
    }

    @Test func `serve --once builds as the schedule would and exits with the build's code`() throws {
        let project = try TinyProject()
        let once = try acervo(["serve", "--once", "--json", "--store", project.store, "--rules", project.rules])
        #expect(once.status == 0, "\(once.stderr)")
        let attempt = try #require(try JSONSerialization.jsonObject(with: Data(once.stdout.utf8)) as? [String: Any])
        #expect(attempt["trigger"] as? String == "schedule")
        #expect(attempt["exitStatus"] as? Int == 0)
        #expect((attempt["outcome"] as? [String: Any])?["executed"] as? Int == 2)
        let status = try acervo(["status", "--store", project.store, "--rules", project.rules])
        #expect(status.stdout.contains("knowledge base: sha256:"))
    }
}
