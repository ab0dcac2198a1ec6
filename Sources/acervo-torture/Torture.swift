import AcervoStore
import AcervoTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-test tooling, kept out of the `acervo` binary users install. Tests run it and kill it at seeded
/// random moments, then check the store.
///
///     acervo-torture write STORE SEED   hold the store lock and commit blobs, trees and results in a loop,
///                                       printing `committed KEY` after each durable commit, until killed
///     acervo-torture put STORE FILE     store one file and print its digest
@main
enum Torture {
    static func main() async {
        let arguments = CommandLine.arguments.dropFirst()
        do {
            switch (arguments.first, arguments.count) {
            case ("write", 3):
                try await write(store: arguments[arguments.startIndex + 1], seed: Int(arguments[arguments.startIndex + 2]) ?? 0)
            case ("put", 3):
                let store = try await Store.open(at: arguments[arguments.startIndex + 1])
                print(try await store.ingest(fileAt: arguments[arguments.startIndex + 2], kind: .derived).digest)
            default:
                FileHandle.standardError.write(Data("usage: acervo-torture write STORE SEED | put STORE FILE\n".utf8))
                exit(2)
            }
        } catch {
            FileHandle.standardError.write(Data("acervo-torture: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Says `ready` once the store is open and locked, then commits forever: each round a random blob, a tree of it and a small member, and a result naming both
    /// with its event, in one durable commit; every seventh round a snapshot ref to the tree.
    static func write(store path: String, seed: Int) async throws {
        let store = try await Store.open(at: path)
        let lock = try await StoreLock.acquire(storeRoot: store.root!, purpose: "acervo-torture", wait: true)
        defer { withExtendedLifetime(lock) {} }
        let run = try await store.startRun(command: .torture)
        // Open, locked and started: the kill schedule counts from here, not from a process start that a busy
        // machine can make last longer than the schedule's window.
        print("ready")
        fflush(nil)
        var generator = SeededGenerator(seed: UInt64(seed))
        var counter = 0
        while true {
            counter += 1
            let size = Int.random(in: 1...(32 * 1024), using: &generator)
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let blob = try await store.put(bytes: bytes)
            let member = try await store.put(bytes: Array("member \(seed)-\(counter)".utf8))
            let tree = try await store.putTree([
                TreeEntry(name: "a", digest: blob.digest, size: blob.size),
                TreeEntry(name: "b", digest: member.digest, size: member.size),
            ])
            let key = ActionKey(Digest.of(Array("torture \(seed) \(counter)".utf8)))
            let result = ActionResult(key: key, processor: "torture", processorVersion: "1", outputs: ["blob": blob.digest, "tree": tree],
                                      costUSD: 0.001, runID: run.id, toolVersion: Store.toolVersion)
            let event = Event(runID: run.id, itemID: "item-\(counter)", rule: "torture", key: key, decision: .executed,
                              reason: .changed([.newItem]))
            try await store.commit(result, event: event)
            if counter % 7 == 0 { try await store.refs.setRefs([("snapshots/torture-\(seed)-\(counter)", tree)], at: Date()) }
            print("committed \(key)")
            fflush(nil)
        }
    }
}
