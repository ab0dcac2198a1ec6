import AcervoStore
import Foundation

/// What `ffprobe` says of a video: duration and streams. Paid transcription estimates its cost from this.
public struct MediaInfo: Sendable, Codable, Equatable {
    public var durationSeconds: Double
    public var videoCodec: String?
    public var width: Int?
    public var height: Int?
    public var audioCodec: String?
    public var audioSampleRate: Int?
    public var audioChannels: Int?

    public var hasAudio: Bool { audioCodec != nil }

    public init(durationSeconds: Double, videoCodec: String? = nil, width: Int? = nil, height: Int? = nil, audioCodec: String? = nil,
                audioSampleRate: Int? = nil, audioChannels: Int? = nil) {
        self.durationSeconds = durationSeconds
        self.videoCodec = videoCodec
        self.width = width
        self.height = height
        self.audioCodec = audioCodec
        self.audioSampleRate = audioSampleRate
        self.audioChannels = audioChannels
    }

    public static func decode(_ bytes: [UInt8]) throws -> MediaInfo { try JSONDecoder().decode(MediaInfo.self, from: Data(bytes)) }

    public func encoded() throws(StoreError) -> [UInt8] {
        try JSONEncoder.canonicalBytes(self, what: "\(Self.self)")
    }
}
