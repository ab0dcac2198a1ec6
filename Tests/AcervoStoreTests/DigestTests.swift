import AcervoTestSupport
import Testing
@testable import AcervoStore

@Suite struct DigestTests {
    @Test func `a digest round-trips through its text form`() throws {
        let digest = Digest.of(Array("hello\n".utf8))
        #expect(digest.description == "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
        #expect(try Digest(parsing: digest.description) == digest)
    }

    @Test(arguments: [
        "", "sha256:", "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        "sha256:5891", "sha256:5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03",
        "md5:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be0z",
    ])
    func `malformed digests are refused with the text in the message`(text: String) {
        #expect(throws: StoreError.malformedDigest(text)) { try Digest(parsing: text) }
    }

    @Test func `objects fan out on the first byte`() throws {
        let digest = try Digest(parsing: "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
        #expect(digest.fanOutPath == "58/91b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
    }
}
