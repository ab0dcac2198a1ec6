import Foundation
import Synchronization

/// The Gemini API's Files upload (resumable protocol) and `generateContent` on 127.0.0.1. Checks the upload
/// headers and sizes, makes files `PROCESSING` then `ACTIVE`, and answers `generateContent` with JSON that
/// follows the request's response schema (enums answered with their first value), with token usage.
public final class FakeGemini: Sendable {
    struct Upload: Sendable {
        var declaredSize: Int
        var mimeType: String
    }
    struct File: Sendable {
        var name: String
        var state: String
        var size: Int
        var mimeType: String
        /// The tokens Gemini counts for the file: 263 a second of video, 32 a second of its sound.
        var videoTokens: Int
        var audioTokens: Int
        var polls = 0
    }
    struct State: Sendable {
        var uploads: [String: Upload] = [:]
        var files: [String: File] = [:]
        var nextID = 1
        var calls: [String: Int] = [:]
        var violations: [String] = []
        var finishReason = "STOP"
        var answerOutsideEnum = false
        /// Polls answered `PROCESSING` before a file turns `ACTIVE`.
        var pollsBeforeActive = 1
        /// Thinking tokens reported with each answer.
        var thoughtsTokens = 125
        /// Prompt tokens reported as served from a context cache.
        var cachedTokens = 0
    }

    public let apiKey = "gemini-key-\(UUID().uuidString.prefix(8))"
    private let state = Mutex(State())
    private let server = Mutex<FakeHTTPServer?>(nil)

    public var baseURL: String { server.withLock { $0?.baseURL } ?? "" }
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var violations: [String] { state.withLock { $0.violations } }
    public var uploadedBytes: [Int] { state.withLock { $0.files.values.map(\.size).sorted() } }

    /// Every answer from now on reports this many of its prompt tokens as cached.
    public func setCachedTokens(_ tokens: Int) { state.withLock { $0.cachedTokens = tokens } }

    /// Forgets every uploaded file, as the Files API does after 48 hours.
    public func expireFiles() { state.withLock { $0.files.removeAll() } }

    /// Every answer from now on reports this many thinking tokens.
    public func setThoughtsTokens(_ tokens: Int) { state.withLock { $0.thoughtsTokens = tokens } }

    /// Seconds of an MP4 (its `mvhd` box) and whether it has a sound track (a `soun` handler).
    static func mp4Duration(_ bytes: [UInt8]) -> (seconds: Double, audio: Bool)? {
        guard let at = (0..<max(0, bytes.count - 32)).first(where: { bytes[$0..<$0 + 4].elementsEqual("mvhd".utf8) }) else { return nil }
        func number(_ offset: Int, _ count: Int) -> Int { bytes[offset..<offset + count].reduce(0) { $0 << 8 | Int($1) } }
        let version = bytes[at + 4]
        let (scale, duration) = version == 1 ? (number(at + 24, 4), number(at + 28, 8)) : (number(at + 16, 4), number(at + 20, 4))
        guard scale > 0 else { return nil }
        let audio = (0..<max(0, bytes.count - 4)).contains { bytes[$0..<$0 + 4].elementsEqual("soun".utf8) }
        return (Double(duration) / Double(scale), audio)
    }

    public static func start() async throws -> FakeGemini {
        let fake = FakeGemini()
        let server = try await FakeHTTPServer.start { [fake] request in fake.handle(request) }
        fake.server.withLock { $0 = server }
        return fake
    }

    public func stop() async { await server.withLock { $0 }?.stop() }
    public func setFinishReason(_ reason: String) { state.withLock { $0.finishReason = reason } }
    public func answerOutsideEnum(_ on: Bool) { state.withLock { $0.answerOutsideEnum = on } }
    /// How many polls of an uploaded file still answer `PROCESSING` (`Int.max`: it never becomes ACTIVE).
    public func setPollsBeforeActive(_ polls: Int) { state.withLock { $0.pollsBeforeActive = polls } }

    private func count(_ route: String) { state.withLock { $0.calls[route, default: 0] += 1 } }

    private func violation(_ text: String, status: Int = 400) -> FakeReply {
        state.withLock { $0.violations.append(text) }
        return .json(status, ["error": ["code": status, "message": text, "status": "INVALID_ARGUMENT"]])
    }

    func handle(_ request: FakeRequest) -> FakeReply {
        guard request.headers["x-goog-api-key"] == apiKey else {
            return .json(403, ["error": ["code": 403, "message": "API key not valid. Please pass a valid API key.", "status": "PERMISSION_DENIED"]])
        }
        switch (request.method, request.path) {
        case ("POST", "/upload/v1beta/files") where request.query["upload_id"] == nil:
            count("POST /upload/v1beta/files (start)")
            return startUpload(request)
        case ("POST", "/upload/v1beta/files"):
            count("POST /upload/v1beta/files (finalize)")
            return finishUpload(request)
        case ("GET", let path) where path.hasPrefix("/v1beta/files/"):
            count("GET /v1beta/files/{name}")
            return poll(String(path.dropFirst("/v1beta/".count)))
        case ("POST", let path) where path.hasPrefix("/v1beta/models/") && path.hasSuffix(":generateContent"):
            count("POST :generateContent")
            return generate(request)
        default:
            return violation("no such endpoint: \(request.method) \(request.path)", status: 404)
        }
    }

    private func startUpload(_ request: FakeRequest) -> FakeReply {
        guard request.headers["x-goog-upload-protocol"] == "resumable", request.headers["x-goog-upload-command"] == "start",
              let size = request.headers["x-goog-upload-header-content-length"].flatMap(Int.init),
              let mime = request.headers["x-goog-upload-header-content-type"] else {
            return violation("a resumable upload starts with X-Goog-Upload-Protocol: resumable, -Command: start, -Header-Content-Length and -Header-Content-Type")
        }
        guard (request.json?["file"] as? [String: Any])?["display_name"] is String else { return violation("the start body needs {file: {display_name}}") }
        let id = state.withLock { state -> String in
            defer { state.nextID += 1 }
            let id = "u\(state.nextID)"
            state.uploads[id] = Upload(declaredSize: size, mimeType: mime)
            return id
        }
        return .respond(status: 200, headers: [("X-Goog-Upload-URL", "\(baseURL)/upload/v1beta/files?upload_id=\(id)"),
                                               ("X-Goog-Upload-Status", "active")], body: [])
    }

    private func finishUpload(_ request: FakeRequest) -> FakeReply {
        guard let id = request.query["upload_id"], let upload = state.withLock({ $0.uploads[id] }) else {
            return violation("unknown upload session", status: 404)
        }
        guard request.headers["x-goog-upload-command"] == "upload, finalize", request.headers["x-goog-upload-offset"] == "0" else {
            return violation("the upload must be sent with X-Goog-Upload-Command: upload, finalize and X-Goog-Upload-Offset: 0")
        }
        guard request.body.count == upload.declaredSize else {
            return violation("received \(request.body.count) bytes, the start declared \(upload.declaredSize)")
        }
        let file = state.withLock { state -> File in
            defer { state.nextID += 1 }
            let media = Self.mp4Duration(request.body)
            let file = File(name: "files/f\(state.nextID)", state: "PROCESSING", size: request.body.count, mimeType: upload.mimeType,
                            videoTokens: media.map { Int($0.seconds * 263) } ?? 258,
                            audioTokens: media.map { $0.audio ? Int($0.seconds * 32) : 0 } ?? 0)
            state.files[file.name] = file
            return file
        }
        return .json(200, ["file": render(file)])
    }

    private func render(_ file: File) -> [String: Any] {
        ["name": file.name, "uri": "\(baseURL)/v1beta/\(file.name)", "state": file.state, "mimeType": file.mimeType, "sizeBytes": "\(file.size)"]
    }

    private func poll(_ name: String) -> FakeReply {
        state.withLock { state -> FakeReply in
            guard var file = state.files[name] else { return .json(404, ["error": ["code": 404, "message": "File \(name) not found"]]) }
            let reply = FakeReply.json(200, render(file))
            file.polls += 1
            if file.polls >= state.pollsBeforeActive { file.state = "ACTIVE" }
            state.files[name] = file
            return reply
        }
    }

    private func generate(_ request: FakeRequest) -> FakeReply {
        guard let body = request.json, let contents = body["contents"] as? [[String: Any]], let parts = contents.first?["parts"] as? [[String: Any]] else {
            return violation("generateContent needs contents[].parts[]")
        }
        var videoTokens = 0, audioTokens = 0
        for part in parts {
            if let data = part["file_data"] as? [String: Any] {
                guard let uri = data["file_uri"] as? String, let name = uri.components(separatedBy: "/v1beta/").last,
                      let file = state.withLock({ $0.files[name] }), file.state == "ACTIVE" else {
                    return violation("file_data must name an uploaded file that is ACTIVE")
                }
                videoTokens += file.videoTokens
                audioTokens += file.audioTokens
            }
        }
        guard let config = body["generationConfig"] as? [String: Any], config["responseMimeType"] as? String == "application/json",
              let schema = config["responseSchema"] as? [String: Any] else {
            return violation("generationConfig needs responseMimeType application/json and a responseSchema")
        }
        let (finishReason, outside) = state.withLock { ($0.finishReason, $0.answerOutsideEnum) }
        let answer = Self.instance(of: schema, outsideEnum: outside)
        let text = String(decoding: (try? JSONSerialization.data(withJSONObject: answer, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        let promptLength = parts.compactMap { $0["text"] as? String }.reduce(0) { $0 + $1.count }
        // The instructions and schema around the prompt, its text at four characters a token, and the files.
        let textTokens = 1_000 + promptLength / 4
        let promptTokens = textTokens + videoTokens + audioTokens
        var details = [["modality": "TEXT", "tokenCount": textTokens]]
        if videoTokens > 0 { details.append(["modality": "VIDEO", "tokenCount": videoTokens]) }
        if audioTokens > 0 { details.append(["modality": "AUDIO", "tokenCount": audioTokens]) }
        let (thoughts, cached) = state.withLock { ($0.thoughtsTokens, $0.cachedTokens) }
        return .json(200, [
            "candidates": [["content": ["role": "model", "parts": [["text": text]]], "finishReason": finishReason]],
            // gemini-2.5 models think by default; the thinking is billed at the output price.
            "usageMetadata": ["promptTokenCount": promptTokens, "candidatesTokenCount": 250, "thoughtsTokenCount": thoughts,
                              "totalTokenCount": promptTokens + 250 + thoughts, "promptTokensDetails": details,
                              "cachedContentTokenCount": cached],
            "modelVersion": "fake",
        ])
    }

    /// A value following a (Gemini-style, upper-case types) schema.
    static func instance(of schema: [String: Any], outsideEnum: Bool) -> Any {
        switch schema["type"] as? String {
        case "OBJECT":
            var object: [String: Any] = [:]
            for (name, property) in schema["properties"] as? [String: [String: Any]] ?? [:] {
                object[name] = instance(of: property, outsideEnum: outsideEnum)
            }
            return object
        case "ARRAY":
            return [instance(of: schema["items"] as? [String: Any] ?? [:], outsideEnum: outsideEnum)]
        case "NUMBER", "INTEGER": return 12
        default:
            if let values = schema["enum"] as? [String], let first = values.first { return outsideEnum ? "astrology" : first }
            return "texto de ejemplo"
        }
    }
}
