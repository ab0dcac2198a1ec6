import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Sends e-mail through an SMTP server named by a URL: `smtp://user:password@host:587` (STARTTLS) or
/// `smtps://user:password@host:465` (TLS from the first byte).
///
/// The password never travels in clear: when the server does not offer STARTTLS, a mailer with credentials
/// refuses to send (one without credentials — a relay on loopback — may). Certificates are verified against the
/// system's roots, or against `caFile` for a private authority; there is no switch to turn verification off.
public struct SMTPMailer: Sendable {
    public struct Server: Sendable {
        public var host: String
        public var port: Int
        public var implicitTLS: Bool
        public var user: String?
        public var password: Secret?

        /// Reads `smtp[s]://[user[:password]@]host[:port]`; user and password may be percent-encoded.
        public init(url: Secret) throws(ConnectorError) {
            guard let components = URLComponents(string: url.value), let scheme = components.scheme?.lowercased(),
                  scheme == "smtp" || scheme == "smtps", let host = components.host, !host.isEmpty else {
                throw ConnectorError(.configuration, provider: "SMTP", request: "",
                                     message: "the server URL must look like smtp://user:password@host:587 or smtps://user:password@host:465")
            }
            self.host = host
            implicitTLS = scheme == "smtps"
            port = components.port ?? (implicitTLS ? 465 : 587)
            user = components.percentEncodedUser?.removingPercentEncoding
            password = components.percentEncodedPassword?.removingPercentEncoding.map(Secret.init)
        }
    }

    public let server: Server
    /// A PEM file of certificate authorities to trust instead of the system's (a private mail server).
    public var caFile: String?
    /// Silence allowed at each step (connecting, each reply): a notification never holds anything up for long.
    public var timeoutSeconds: Int64 = 10

    public init(server: Server, caFile: String? = nil) {
        self.server = server
        self.caFile = caFile
    }

    /// Sends one message to every recipient; fails as a whole (the caller retries).
    public func send(_ message: MailMessage) async throws(ConnectorError) {
        do {
            try await conversation(message)
        } catch let error as ConnectorError {
            throw error
        } catch {
            throw ConnectorError(.unavailable, provider: "SMTP", request: "\(server.host):\(server.port)",
                                 message: error is SMTPProtocolError ? "\(error)" : APIClient.connectionFailure(error))
        }
    }

    private func fail(_ kind: ConnectorError.Kind, _ message: String) -> ConnectorError {
        ConnectorError(kind, provider: "SMTP", request: "\(server.host):\(server.port)", message: message)
    }

    private func conversation(_ message: MailMessage) async throws {
        let replies = SMTPReplies()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(timeoutSeconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(replies)
                }
            }
            .connect(host: server.host, port: server.port).get()
        defer { channel.close(promise: nil) }
        if server.implicitTLS { try await startTLS(on: channel) }

        func expect(_ codes: Set<Int>, after command: String?) async throws -> SMTPReply {
            if let command { try await channel.writeAndFlush(ByteBuffer(string: command + "\r\n")).get() }
            let reply = try await replies.next(timeoutSeconds: timeoutSeconds, on: channel.eventLoop)
            guard codes.contains(reply.code) else {
                // The command is named by its verb only: AUTH's argument is the credential.
                let verb = command.map { String($0.prefix { $0 != " " && $0 != ":" }) } ?? "greeting"
                let kind: ConnectorError.Kind = reply.code == 535 || reply.code == 534 ? .authentication : reply.code >= 500 ? .rejected : .unavailable
                throw fail(kind, "\(verb): the server answered \(reply.code) \(reply.text.prefix(200))")
            }
            return reply
        }

        _ = try await expect([220], after: nil)
        var hello = try await expect([250], after: "EHLO acervo")
        if !server.implicitTLS {
            if hello.lines.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) {
                _ = try await expect([220], after: "STARTTLS")
                try await startTLS(on: channel)
                hello = try await expect([250], after: "EHLO acervo")
            } else if server.user != nil {
                throw fail(.configuration, "the server does not offer STARTTLS; the password is not sent in clear (use smtps:// or another server)")
            }
        }
        if let user = server.user {
            let mechanisms = hello.lines.first { $0.uppercased().hasPrefix("AUTH") }?.uppercased().split(separator: " ").map(String.init) ?? []
            let password = server.password?.value ?? ""
            if mechanisms.contains("PLAIN") || !mechanisms.contains("LOGIN") {
                let token = Data(("\u{0}" + user + "\u{0}" + password).utf8).base64EncodedString()
                _ = try await expect([235], after: "AUTH PLAIN " + token)
            } else {
                _ = try await expect([334], after: "AUTH LOGIN")
                _ = try await expect([334], after: Data(user.utf8).base64EncodedString())
                _ = try await expect([235], after: Data(password.utf8).base64EncodedString())
            }
        }
        _ = try await expect([250], after: "MAIL FROM:<\(message.from)>")
        for recipient in message.to { _ = try await expect([250, 251], after: "RCPT TO:<\(recipient)>") }
        _ = try await expect([354], after: "DATA")
        _ = try await expect([250], after: message.rendered() + "\r\n.")
        _ = try? await expect([221], after: "QUIT")
    }

    private func startTLS(on channel: any Channel) async throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: configuration)
        // An address is not a host name for SNI; the certificate is then checked against the address.
        let hostname = server.host.first?.isNumber == true || server.host.contains(":") ? nil : server.host
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: hostname), position: .first)
        }.get()
    }
}

/// A plain-text message in UTF-8.
public struct MailMessage: Sendable, Equatable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var body: String
    public var date: Date

    public init(from: String, to: [String], subject: String, body: String, date: Date = Date()) {
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.date = date
    }

    /// The message as DATA sends it: headers (the subject as an RFC 2047 encoded word when it is not ASCII),
    /// the body in base64 lines of 76 characters — so no line starts with a dot and 8-bit text survives any relay.
    func rendered() -> String {
        let subjectHeader = subject.allSatisfy(\.isASCII) ? subject : "=?UTF-8?B?" + Data(subject.utf8).base64EncodedString() + "?="
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let domain = from.split(separator: "@").last.map(String.init) ?? "acervo"
        let body = Data(self.body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n").utf8)
            .base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return [
            "From: <\(from)>",
            "To: " + to.map { "<\($0)>" }.joined(separator: ", "),
            "Subject: " + subjectHeader,
            "Date: " + formatter.string(from: date),
            "Message-ID: <\(UUID().uuidString.lowercased())@\(domain)>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            body,
        ].joined(separator: "\r\n")
    }
}

/// One SMTP reply: its code and its lines (multi-line replies joined).
struct SMTPReply: Sendable {
    var code: Int
    var lines: [String]
    var text: String { lines.joined(separator: " ") }
}

/// Lines ending in CRLF (or LF), at most 8 KiB each.
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 8192 { throw SMTPProtocolError("a reply line longer than 8 KiB") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readString(length: length) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

struct SMTPProtocolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Collects reply lines into replies (`250-…` continues, `250 …` ends) and hands them out in order.
final class SMTPReplies: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = String
    // Touched only on the channel's event loop.
    private var pending: [String] = []
    private var ready: [Result<SMTPReply, any Error>] = []
    private var waiter: EventLoopPromise<SMTPReply>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        guard line.count >= 3, let code = Int(line.prefix(3)) else {
            deliver(.failure(SMTPProtocolError("not an SMTP reply: \(line.prefix(80))")))
            return
        }
        pending.append(String(line.dropFirst(4)))
        if line.count == 3 || line[line.index(line.startIndex, offsetBy: 3)] == " " {
            deliver(.success(SMTPReply(code: code, lines: pending)))
            pending = []
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliver(.failure(SMTPProtocolError("the server closed the connection")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        deliver(.failure(error))
        context.close(promise: nil)
    }

    private func deliver(_ result: Result<SMTPReply, any Error>) {
        if let waiter {
            self.waiter = nil
            waiter.completeWith(result)
        } else {
            ready.append(result)
        }
    }

    /// The next reply, or an error after `timeoutSeconds` of silence.
    func next(timeoutSeconds: Int64, on loop: any EventLoop) async throws -> SMTPReply {
        try await loop.flatSubmit { [self] () -> EventLoopFuture<SMTPReply> in
            if !ready.isEmpty { return loop.makeCompletedFuture(ready.removeFirst()) }
            let promise = loop.makePromise(of: SMTPReply.self)
            waiter = promise
            let timeout = loop.scheduleTask(in: .seconds(timeoutSeconds)) { [self] in
                if waiter?.futureResult === promise.futureResult {
                    waiter = nil
                    promise.fail(SMTPProtocolError("no answer within \(timeoutSeconds) s"))
                }
            }
            promise.futureResult.whenComplete { _ in timeout.cancel() }
            return promise.futureResult
        }.get()
    }
}
