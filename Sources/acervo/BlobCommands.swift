import AcervoApp
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
        let outcome = try await perform { try await options.workspace().put(file: file, media: media) }
        if options.json {
            printJSON(["digest": outcome.digest.description, "size": String(outcome.size), "new": String(outcome.isNew)])
        } else {
            print(outcome.digest)
        }
    }
}

struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat", abstract: "Stream a blob to standard output.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The blob's digest, sha256:<64 hex>.")
    var digest: String

    func validate() throws {
        do { _ = try Digest(parsing: digest) } catch { throw ValidationError("\(error)") }
    }

    /// Reads only the objects, not the database: `cat` works on a read-only medium. The blob is checked
    /// against its digest before a byte is written, so damaged bytes are never passed on.
    func run() async throws {
        try await perform {
            do {
                let blobs = try Store.openBlobs(at: options.store)
                let digest = try Digest(parsing: digest)
                try await blobs.verify(digest)
                try await blobs.chunks(of: digest).forEach { chunk throws(StoreError) in try writeAll(chunk) }
            } catch StoreError.io(_, "standard output", EPIPE) {
                return  // the reader went away (`acervo cat … | head`): nothing more to write
            } catch {
                throw AppError(error)
            }
        }
    }

    private func writeAll(_ chunk: [UInt8]) throws(StoreError) {
        var offset = 0
        while offset < chunk.count {
            let written = chunk.withUnsafeBytes { write(1, $0.baseAddress! + offset, chunk.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw StoreError.io(operation: "write", path: "standard output", errno: errno)
            }
            offset += written
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

    func validate() throws {
        do { _ = try Digest(parsing: digest) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        try await perform {
            try await options.workspace().pin(try Digest(parsing: digest), note: note, remove: remove)
        }
    }
}
