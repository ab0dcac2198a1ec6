import AcervoStore
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Store a file; print its digest.")

    @OptionGroup var options: StoreOptions

    @Flag(name: .long, help: "Record the blob as raw media (gc may drop it by age with --drop-media-older-than).")
    var media = false

    @Argument(help: "The file to store.")
    var file: String

    func run() async throws {
        try await reportingErrors {
            let store = try options.open()
            let outcome = try store.ingest(fileAt: file, kind: media ? .media : .derived)
            if options.json {
                printJSON(["digest": outcome.digest.description, "size": String(outcome.size), "new": String(outcome.isNew)])
            } else {
                print(outcome.digest)
            }
        }
    }
}

struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat", abstract: "Stream a blob to standard output.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The blob's digest, sha256:<64 hex>.")
    var digest: String

    func run() async throws {
        try await reportingErrors {
            let parsed = try Digest(parsing: digest)
            try Store.openBlobs(at: options.store).read(parsed) { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
                        if written < 0 {
                            if errno == EINTR { continue }
                            if errno == EPIPE { throw ExitCode.success }
                            throw StoreError.io(operation: "write", path: "standard output", errno: errno)
                        }
                        offset += written
                    }
            }
        }
    }
}

struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin", abstract: "Keep a blob through every gc (or release it with --remove).")

    @OptionGroup var options: StoreOptions

    @Flag(name: .long, help: "Remove the pin instead.")
    var remove = false

    @Option(name: .long, help: "Why it is pinned.")
    var note = ""

    @Argument(help: "The blob's digest.")
    var digest: String

    func run() async throws {
        try await reportingErrors {
            let parsed = try Digest(parsing: digest)
            let store = try options.open()
            if remove {
                try store.refs.unpin(parsed)
            } else {
                guard store.blobs.contains(parsed) else { throw StoreError.unknownDigest(parsed, store: store.root) }
                try store.refs.pin(parsed, note: note)
            }
        }
    }
}
