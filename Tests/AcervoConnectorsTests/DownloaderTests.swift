import AcervoFakeServers
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoConnectors

@Suite("Downloads into the store", .serialized)
struct DownloaderTests {
    final class Bench: Sendable {
        let directory = TemporaryDirectory("acervo-download")
        let store: Store
        let media: FakeMediaServer
        let session = HTTPSession(connectTimeoutSeconds: 10, readTimeoutSeconds: 10)
        let downloader: Downloader
        let video: [UInt8] = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }

        init() async throws {
            store = try await Store.open(at: directory.path + "/store")
            media = try await FakeMediaServer.start()
            media.put("/v/lesson.mp4", video)
            downloader = Downloader(api: APIClient(provider: "media", session: session,
                                                   retry: RetryPolicy(maxAttempts: 4, baseDelaySeconds: 0.01, maxDelaySeconds: 0.05)), store: store)
        }

        var url: String { media.baseURL + "/v/lesson.mp4" }

        func close() async {
            await session.shutdown()
            await media.stop()
        }
    }

    @Test("a download dropped halfway resumes with Range instead of starting over, and the object matches the file")
    func resume() async throws {
        let bench = try await Bench()
        bench.media.dropNextDownloads(1)
        let fetched = try await bench.downloader.fetch(bench.url)
        #expect(fetched.digest == Digest.of(bench.video))
        #expect(try await bench.store.blobs.bytes(of: fetched.digest) == bench.video)
        let requests = try #require(bench.media.requests["/v/lesson.mp4"])
        #expect(requests >= 2)
        #expect(bench.media.partialResponses == requests - 1, "every request after the dropped one asked only for the missing part")
        #expect(fetched.bytesTransferred == Int64(bench.video.count))
        await bench.close()
    }

    @Test("an unchanged file costs a 304, a known digest costs no request at all")
    func unchanged() async throws {
        let bench = try await Bench()
        let first = try await bench.downloader.fetch(bench.url)
        bench.media.resetCounts()
        let second = try await bench.downloader.fetch(bench.url)
        #expect(second.digest == first.digest && second.bytesTransferred == 0)
        #expect(bench.media.notModified == 1 && bench.media.bytesSent == 0)
        bench.media.resetCounts()
        let third = try await bench.downloader.fetch(bench.url, expectedDigest: first.digest)
        #expect(third.digest == first.digest && bench.media.totalRequests == 0)
        // A changed file is fetched again.
        bench.media.put("/v/lesson.mp4", Array(bench.video.reversed()))
        let changed = try await bench.downloader.fetch(bench.url)
        #expect(changed.digest == Digest.of(Array(bench.video.reversed())))
        await bench.close()
    }

    @Test("a wrong size or digest, and a missing file, are errors naming the request")
    func verification() async throws {
        let bench = try await Bench()
        let wrongDigest = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let mismatch = await #expect(throws: ConnectorError.self) { try await bench.downloader.fetch(bench.url, expectedDigest: wrongDigest) }
        #expect(mismatch?.description.contains("media GET /v/lesson.mp4") == true && mismatch?.description.contains("not the expected") == true)
        let size = await #expect(throws: ConnectorError.self) { try await bench.downloader.fetch(bench.url, expectedSize: 5) }
        #expect(size?.description.contains("received 3000000 bytes where 5 were expected") == true)
        let missing = await #expect(throws: ConnectorError.self) { try await bench.downloader.fetch(bench.media.baseURL + "/v/none.mp4") }
        #expect(missing?.kind == .rejected && missing?.status == 404)
        await bench.close()
    }
}
