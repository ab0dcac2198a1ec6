import Foundation

/// A `multipart/form-data` body (RFC 7578): the shape OpenAI's file and transcription endpoints take.
public struct MultipartForm: Sendable {
    public let boundary: String
    private var bytes: [UInt8] = []

    public init(boundary: String = "acervo-" + UUID().uuidString) {
        self.boundary = boundary
    }

    public var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    public mutating func add(field name: String, _ value: String) {
        bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
    }

    public mutating func add(file name: String, filename: String, contentType: String, _ content: [UInt8]) {
        let safeName = filename.replacingOccurrences(of: "\"", with: "_").replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: "")
        bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(safeName)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8)
        bytes += content
        bytes += Array("\r\n".utf8)
    }

    /// The finished body.
    public var body: [UInt8] { bytes + Array("--\(boundary)--\r\n".utf8) }
}
