import AcervoStore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Fetches remote files (lesson videos, captions, materials) straight into the blob store: streamed in
/// pieces (memory stays bounded whatever the size), resumed with `Range` after a dropped connection,
/// checked against the expected size and digest, and not fetched at all when unchanged — a known digest
/// already stored costs no request, a known ETag costs a 304.
public struct Downloader: Sendable {
    public let api: APIClient
    public let store: Store
    /// Told of every piece of a body as it arrives (bytes): the progress line's bytes per second.
    public var onBytes: @Sendable (Int64) -> Void

    public init(api: APIClient, store: Store, onBytes: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.api = api
        self.store = store
        self.onBytes = onBytes
    }

    /// A new link for the same file, when the one in hand has expired (a CDN's signed URL answering 403 or 410
    /// half-way): the download resumes from where it stopped, with the new link.
    public typealias Relink = @Sendable () async throws(ConnectorError) -> String

    public struct Fetched: Sendable, Equatable {
        public var digest: Digest
        public var size: Int64
        /// Bytes that crossed the network (0 when the stored copy was current).
        public var bytesTransferred: Int64
    }

    private enum Attempt {
        case done
        case notModified
        case retry(String, retryAfter: Double?)
        /// The link was refused (403, 410): with a way to get a new one, resume with it.
        case expired(status: Int, message: String)
    }

    public func fetch(_ url: String, expectedDigest: Digest? = nil, expectedSize: Int64? = nil, relink: Relink? = nil) async throws(ConnectorError) -> Fetched {
        var url = url
        let label = APIRequest(.GET, url).label
        if let expectedDigest, await store.blobs.contains(expectedDigest) {
            return Fetched(digest: expectedDigest, size: await store.blobs.size(of: expectedDigest) ?? 0, bytesTransferred: 0)
        }
        var usableCache: DownloadRecord?
        do {
            if let cached = try await store.downloads.downloadRecord(for: url), await store.blobs.contains(cached.digest) { usableCache = cached }
        } catch {
            throw ConnectorError(.configuration, provider: api.provider, request: label, message: "cannot read the store's download records: \(error)")
        }
        let writer: any BlobWriter
        do { writer = try await store.blobs.writer() } catch {
            throw ConnectorError(.configuration, provider: api.provider, request: label, message: "cannot write into the store: \(error)")
        }
        var validators: (etag: String?, lastModified: String?) = (nil, nil)
        var transferred: Int64 = 0
        var attempt = 1
        var relinks = 0
        while true {
            let outcome = try await self.attempt(url, label: label, writer: writer, cached: usableCache, validators: &validators,
                                                 transferred: &transferred, relinking: relink != nil)
            switch outcome {
            case .expired(let status, let message):
                // A signed link expired: a fresh one for the same file, and the download goes on where it was.
                guard let relink, relinks < 3 else {
                    throw ConnectorError(.authentication, provider: api.provider, request: label, status: status, message: message)
                }
                relinks += 1
                url = try await relink()
                // The new link may point at another CDN node: its validators are its own.
                validators = (nil, nil)
                api.log("\(api.provider) \(label): the link expired (HTTP \(status)); resuming at byte \(writer.size) with a fresh one")
            case .notModified:
                guard let usableCache else { break }
                return Fetched(digest: usableCache.digest, size: usableCache.size, bytesTransferred: 0)
            case .done:
                if let expectedSize, writer.size != expectedSize {
                    throw ConnectorError(.badResponse, provider: api.provider, request: label,
                                         message: "received \(writer.size) bytes where \(expectedSize) were expected")
                }
                let stored: PutOutcome
                do { stored = try await store.commit(writer, kind: .media) } catch {
                    throw ConnectorError(.configuration, provider: api.provider, request: label, message: "cannot store the download: \(error)")
                }
                if let expectedDigest, stored.digest != expectedDigest {
                    throw ConnectorError(.badResponse, provider: api.provider, request: label,
                                         message: "the file's digest is \(stored.digest), not the expected \(expectedDigest)")
                }
                do {
                    try await store.downloads.rememberDownload(
                        DownloadRecord(url: url, etag: validators.etag, lastModified: validators.lastModified, size: stored.size, digest: stored.digest),
                        at: Date())
                } catch {
                    // The file is stored; only the shortcut for next time (a 304) is lost, so the lesson goes on.
                    api.log("\(api.provider) \(label): stored, but its validators could not be recorded (\(error)); it will be fetched again")
                }
                return Fetched(digest: stored.digest, size: stored.size, bytesTransferred: transferred)
            case .retry(let message, let retryAfter):
                guard try await api.waitToRetry(after: attempt, label, because: "\(message), resuming at byte \(writer.size)",
                                                retryAfter: retryAfter) else {
                    throw ConnectorError(.unavailable, provider: api.provider, request: label,
                                         message: "\(message) (after \(attempt) attempts, \(writer.size) bytes received)")
                }
                attempt += 1
            }
        }
    }

    /// One request: resumes from what `writer` holds, streams the body into it.
    private func attempt(_ url: String, label: String, writer: any BlobWriter, cached: DownloadRecord?,
                         validators: inout (etag: String?, lastModified: String?), transferred: inout Int64,
                         relinking: Bool) async throws(ConnectorError) -> Attempt {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "acervo/\(AcervoConnectors.version)")
        if let authorize = api.authorize {
            for header in try await authorize(false) { request.headers.replaceOrAdd(name: header.name, value: header.value) }
        }
        let resuming = writer.size > 0
        if resuming {
            request.headers.add(name: "Range", value: "bytes=\(writer.size)-")
            if let etag = validators.etag { request.headers.add(name: "If-Range", value: etag) }
        } else if let cached {
            if let etag = cached.etag { request.headers.add(name: "If-None-Match", value: etag) }
            if let modified = cached.lastModified { request.headers.add(name: "If-Modified-Since", value: modified) }
        }
        let response: HTTPClientResponse
        do {
            response = try await api.session.client.execute(request, timeout: .seconds(60))
        } catch {
            api.session.observe(.noAnswer(provider: api.provider))
            return .retry(redact(APIClient.describe(error), secrets: api.secrets), retryAfter: nil)
        }
        let status = Int(response.status.code)
        api.session.observe(.answered(provider: api.provider, status: status))
        switch status {
        case 304 where cached != nil && !resuming:
            return .notModified
        case 200:
            if resuming { do { try writer.restart() } catch { return .retry("cannot restart: \(error)", retryAfter: nil) } }
            validators = (response.headers.first(name: "etag"), response.headers.first(name: "last-modified"))
        case 206:
            let range = response.headers.first(name: "content-range") ?? ""
            guard range.hasPrefix("bytes \(writer.size)-") else {
                do { try writer.restart() } catch { return .retry("cannot restart: \(error)", retryAfter: nil) }
                return .retry("the server resumed at the wrong offset (\(range))", retryAfter: nil)
            }
        case 416:
            do { try writer.restart() } catch { return .retry("cannot restart: \(error)", retryAfter: nil) }
            return .retry("the server refused the resume range", retryAfter: nil)
        case 429, 500...599:
            return .retry("HTTP \(status)", retryAfter: APIClient.retryAfterSeconds(response.headers.first(name: "retry-after")))
        case 403 where relinking, 410 where relinking:
            let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            return .expired(status: status, message: APIClient.excerpt(redact(body, secrets: api.secrets)))
        default:
            let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            let kind: ConnectorError.Kind = status == 401 || status == 403 ? .authentication : .rejected
            throw ConnectorError(kind, provider: api.provider, request: label, status: status,
                                 message: APIClient.excerpt(redact(body, secrets: api.secrets)))
        }
        let expectedTotal: Int64? = status == 206
            ? (response.headers.first(name: "content-range")?.split(separator: "/").last).flatMap { Int64($0) }
            : response.headers.first(name: "content-length").flatMap { Int64($0) }
        do {
            for try await buffer in response.body {
                try buffer.withUnsafeReadableBytes { bytes throws(StoreError) in try writer.append(bytes) }
                transferred += Int64(buffer.readableBytes)
                onBytes(Int64(buffer.readableBytes))
            }
        } catch let error as StoreError {
            throw ConnectorError(.configuration, provider: api.provider, request: label, message: "cannot write the download: \(error)")
        } catch {
            return .retry(redact(APIClient.describe(error), secrets: api.secrets), retryAfter: nil)
        }
        if let expectedTotal, writer.size != expectedTotal {
            return .retry("the connection ended at byte \(writer.size) of \(expectedTotal)", retryAfter: nil)
        }
        return .done
    }
}
