import AcervoApp
import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing

/// The command line's contract: exit codes, the lock's messages, argument checks, JSON even when a step fails.
@Suite(.serialized) struct CLIContractTests {
    @Test func `a second writer exits 4 naming the holder, or waits for it with --wait`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        let writer = try StoreLockHolder(store: storePath)

        let refused = try acervo(["gc", "--store", storePath, "--apply"])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("locked by another build (pid \(writer.pid), acervo-torture"), "\(refused.stderr)")

        let waiting = Process()
        waiting.executableURL = URL(fileURLWithPath: acervoBinary)
        waiting.arguments = ["gc", "--store", storePath, "--apply", "--wait", "--json"]
        let waitingOutput = Pipe()
        waiting.standardOutput = waitingOutput
        try waiting.run()
        let printed = Drain(waitingOutput.fileHandleForReading)
        // It cannot finish while the writer holds the lock: it prints nothing until the writer is gone.
        let holder = try acervo(["status", "--store", storePath])
        #expect(holder.stdout.contains("acervo-torture"))
        #expect(waiting.isRunning)
        writer.stop()
        waiting.waitUntilExit()
        #expect(waiting.terminationStatus == 0)
        #expect(String(decoding: printed.wait(), as: UTF8.self).contains("\"applied\" : true"))
    }

    @Test func `fsck names each problem and exits 1`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        let store = try await Store.open(at: storePath)
        let transcript = try await store.put(bytes: Array("transcript bytes".utf8)).digest
        try await store.commit(ActionResult(key: ActionKey(Digest.of([1])), processor: "google.stt", processorVersion: "1",
                                            outputs: ["transcript": transcript], toolVersion: Store.toolVersion))
        try corrupt(try #require(store.blobs as? FileBlobStore).path(of: transcript))

        let outcome = try acervo(["fsck", "--store", storePath])

        #expect(outcome.status == 1)
        #expect(outcome.stdout.contains("corrupt: \(transcript)"))
        #expect(outcome.stdout.contains("missing blob: \(transcript), output 'transcript' of google.stt"))
    }

    @Test(arguments: [
        (["build", "--jobs", "0"], "--jobs must be at least 1"),
        (["runs", "--limit", "0"], "--limit must be at least 1"),
        (["gc", "--keep-results", "90 days"], "--keep-results: invalid time span '90 days'"),
        (["cat", "sha256:abc"], "malformed digest 'sha256:abc'"),
        (["build", "--no-such-flag"], "Unknown option '--no-such-flag'"),
    ])
    func `a wrong argument exits 2 and says what is wrong`(arguments: [String], message: String) throws {
        let folder = TemporaryFolder()
        let outcome = try acervo(arguments + ["--store", folder.path + "/store"], in: folder.path)
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/store"), "nothing is created for a refused command")
    }

    @Test func `build --json prints its summary even when the sync after it fails`() async throws {
        try await offPool { () throws in
            let directory = TemporaryDirectory("acervo-sync-down")
            try copyExampleProject(into: directory.path)
            let rules = directory.path + "/rules/pipeline.yaml"
            let text = try String(contentsOfFile: rules, encoding: .utf8)
            try text.replacingOccurrences(of: "sink: { kind: local, document: document, attributes: class }",
                                          with: "sink: { kind: openai, document: document, attributes: class, vector_store: support-kb }")
                .write(toFile: rules, atomically: true, encoding: .utf8)

            // Nothing listens on port 9: the vector store cannot be reached.
            let outcome = try acervo(["build", "--json"], in: directory.path, environment: [
                "OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ACERVO_RETRY_ATTEMPTS": "1",
            ])

            #expect(outcome.status == 1, "the build succeeded, the sync did not: \(outcome.stderr)")
            struct Printed: Decodable {
                var executed: Int
                var snapshot: String?
                var syncError: String?
            }
            let printed = try decodeJSON(Printed.self, outcome.stdout)
            #expect(printed.executed == 38 && printed.snapshot != nil)
            #expect(printed.syncError?.contains("OpenAI GET /v1/vector_stores") == true, "\(printed.syncError ?? "")")
            #expect(!outcome.stdout.contains("sk-test-key") && !outcome.stderr.contains("sk-test-key"))
        }
    }
}
