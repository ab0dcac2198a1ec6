import Foundation

/// One part of a `multipart/form-data` body, as a fake server reads it.
public struct FormPart: Sendable, Equatable {
    public var name: String
    public var filename: String?
    public var contentType: String?
    public var content: [UInt8]

    public var text: String { String(decoding: content, as: UTF8.self) }
}

/// Parses a multipart body strictly enough to fail on what a real server would reject: no boundary,
/// a part without `Content-Disposition: form-data; name=…`, a missing closing delimiter.
public func parseMultipart(_ body: [UInt8], contentType: String?) -> Result<[FormPart], FakeViolation> {
    guard let contentType, contentType.hasPrefix("multipart/form-data"),
          let boundaryRange = contentType.range(of: "boundary=") else {
        return .failure(FakeViolation("Content-Type is `\(contentType ?? "none")`, expected multipart/form-data with a boundary"))
    }
    let boundary = String(contentType[boundaryRange.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    let delimiter = Array("--\(boundary)".utf8)
    let data = body
    var positions: [Int] = []
    var index = 0
    while index + delimiter.count <= data.count {
        if data[index] == delimiter[0], Array(data[index..<index + delimiter.count]) == delimiter {
            positions.append(index)
            index += delimiter.count
        } else {
            index += 1
        }
    }
    guard positions.count >= 2, Array(data[positions.last! + delimiter.count..<min(data.count, positions.last! + delimiter.count + 2)]) == Array("--".utf8) else {
        return .failure(FakeViolation("the multipart body does not end with the closing delimiter `--\(boundary)--`"))
    }
    var parts: [FormPart] = []
    for (start, end) in zip(positions, positions.dropFirst()) {
        var part = Array(data[(start + delimiter.count)..<end])
        guard part.starts(with: Array("\r\n".utf8)) else { return .failure(FakeViolation("a multipart delimiter is not followed by CRLF")) }
        part.removeFirst(2)
        guard part.suffix(2) == [13, 10] else { return .failure(FakeViolation("a multipart part does not end with CRLF")) }
        part.removeLast(2)
        guard let split = firstIndex(of: Array("\r\n\r\n".utf8), in: part) else {
            return .failure(FakeViolation("a multipart part has no blank line after its headers"))
        }
        let headerText = String(decoding: part[..<split], as: UTF8.self)
        var name: String?
        var filename: String?
        var partType: String?
        for line in headerText.components(separatedBy: "\r\n") {
            let lower = line.lowercased()
            if lower.hasPrefix("content-disposition:") {
                guard lower.contains("form-data") else { return .failure(FakeViolation("a part's Content-Disposition is not form-data")) }
                name = attribute("name", in: line)
                filename = attribute("filename", in: line)
            } else if lower.hasPrefix("content-type:") {
                partType = String(line.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces)
            }
        }
        guard let name else { return .failure(FakeViolation("a multipart part has no name")) }
        parts.append(FormPart(name: name, filename: filename, contentType: partType, content: Array(part[(split + 4)...])))
    }
    return .success(parts)
}

private func attribute(_ name: String, in line: String) -> String? {
    guard let range = line.range(of: "; \(name)=\"") else { return nil }
    let rest = line[range.upperBound...]
    guard let end = rest.firstIndex(of: "\"") else { return nil }
    return String(rest[..<end])
}

private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] && Array(haystack[start..<start + needle.count]) == needle {
        return start
    }
    return nil
}

/// Something a request did that the real service would reject.
public struct FakeViolation: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
