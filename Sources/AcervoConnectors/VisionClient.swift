import AcervoRules
import Foundation

/// Cloud Vision `images:annotate` with DOCUMENT_TEXT_DETECTION, at most 16 images a request (Vision's limit),
/// authorized by the service account.
public struct VisionClient: Sendable {
    public static let provider = "Google Vision"
    public static let maxImagesPerRequest = 16
    public let api: APIClient
    public let url: String

    public init(context: ConnectorContext) throws(ConnectorError) {
        api = try context.googleAPI(provider: Self.provider)
        url = context.environment.baseURL("ACERVO_VISION_URL", default: "https://vision.googleapis.com") + "/v1/images:annotate"
    }

    /// One image's answer: its text, or Vision's error for it.
    public struct Annotation: Decodable, Sendable {
        public struct FullText: Decodable, Sendable { public var text: String? }
        public struct Failure: Decodable, Sendable {
            public var code: Int?
            public var message: String?
        }
        public var fullTextAnnotation: FullText?
        public var error: Failure?
    }

    struct Response: Decodable {
        var responses: [Annotation]
    }

    /// The text of each image, in order (one answer per image, or an error naming the request).
    public func annotate(images: [[UInt8]], languageHints: [String]) async throws(ConnectorError) -> [Annotation] {
        let requests: [JSONValue] = images.map { image in
            .object([
                "image": .object(["content": .string(Data(image).base64EncodedString())]),
                "features": .array([.object(["type": .string("DOCUMENT_TEXT_DETECTION")])]),
                "imageContext": .object(["languageHints": .array(languageHints.map(JSONValue.string))]),
            ])
        }
        let request = try APIRequest.json(.POST, url, JSONValue.object(["requests": .array(requests)]), timeoutSeconds: 120)
        let response = try await api.json(request, as: Response.self)
        guard response.responses.count == images.count else {
            throw ConnectorError(.badResponse, provider: Self.provider, request: request.label,
                                 message: "\(response.responses.count) answers for \(images.count) images")
        }
        return response.responses
    }
}
