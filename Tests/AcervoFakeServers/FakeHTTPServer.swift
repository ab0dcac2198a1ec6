import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A request as the fake received it.
public struct FakeRequest: Sendable {
    public var method: String
    /// The target exactly as sent (`/media/a%2Fb.mp4?x=1`), before any decoding.
    public var uri: String
    /// The path, percent-decoded.
    public var path: String
    public var query: [String: String]
    /// Names lowercased.
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object, or nil when it is not one.
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

/// What the fake sends back — a normal answer or one of the faults real networks and providers produce.
public enum FakeReply: Sendable {
    case respond(status: Int, headers: [(String, String)], body: [UInt8])
    /// The connection is closed without an answer (a reset, a crashed proxy).
    case reset
    /// Head and a Content-Length, then only part of the body, then the connection is closed.
    case cutBody(status: Int, body: [UInt8])
    /// Head with these headers and the full Content-Length, then only `sendBytes` of the body, then the
    /// connection is closed (a download dropped halfway).
    case partial(status: Int, headers: [(String, String)], body: [UInt8], sendBytes: Int)
    /// The answer after a delay (a slow provider; with a delay past the client's timeout, a timeout).
    indirect case delayed(seconds: Double, FakeReply)

    public static func json(_ status: Int = 200, _ object: Any, headers: [(String, String)] = []) -> FakeReply {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return .respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(data))
    }

    /// The provider's usual error envelope.
    public static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> FakeReply {
        .json(status, ["error": ["message": message, "code": status]], headers: headers)
    }

    /// A 200 whose JSON stops halfway — the message itself is complete, so only the parser notices.
    public static func truncatedJSON(_ object: Any) -> FakeReply {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(data.prefix(max(1, data.count / 2))))
    }

    public static func html(_ status: Int, _ title: String) -> FakeReply {
        .respond(status: status, headers: [("Content-Type", "text/html")],
                 body: Array("<!DOCTYPE html><html><head><title>\(title)</title></head><body><h1>\(title)</h1></body></html>".utf8))
    }
}

/// An HTTP/1.1 server on 127.0.0.1 and a free port, answering every request through `handler`, which runs on
/// the event loop (keep it quick; use `.delayed` for slowness).
public final class FakeHTTPServer: Sendable {
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public static func start(_ handler: @escaping @Sendable (FakeRequest) -> FakeReply) async throws -> FakeHTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(FakeRequestHandler(handler: handler))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        return FakeHTTPServer(port: channel.localAddress?.port ?? 0, channel: channel, group: group)
    }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class FakeRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: @Sendable (FakeRequest) -> FakeReply
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(handler: @escaping @Sendable (FakeRequest) -> FakeReply) {
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let components = URLComponents(string: head.uri)
            var query: [String: String] = [:]
            for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = FakeRequest(method: head.method.rawValue, uri: head.uri, path: components?.path ?? head.uri, query: query,
                                      headers: headers, body: body)
            send(handler(request), context: context, keepAlive: head.isKeepAlive)
        }
    }

    private func send(_ reply: FakeReply, context: ChannelHandlerContext, keepAlive: Bool) {
        switch reply {
        case .delayed(let seconds, let reply):
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
                let (handler, context) = loopBound.value
                handler.send(reply, context: context, keepAlive: keepAlive)
            }
        case .reset:
            context.close(promise: nil)
        case .cutBody(let status, let body):
            var headers = HTTPHeaders([("Content-Length", "\(body.count)"), ("Content-Type", "application/json")])
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(body.count / 2))))), promise: nil)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer())))).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        case .partial(let status, let extra, let body, let sendBytes):
            var headers = HTTPHeaders(extra)
            headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
            headers.replaceOrAdd(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(sendBytes)))))).whenComplete { [channel = context.channel] _ in
                channel.close(promise: nil)
            }
        case .respond(let status, let extra, let body):
            var headers = HTTPHeaders(extra)
            headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}

/// Chooses faults deterministically: the same seed injects the same faults into the same sequence of calls.
public final class FaultInjector: Sendable {
    public enum Fault: String, Sendable, CaseIterable {
        case tooManyRequests, serverError, reset, slow, truncatedJSON
    }

    private let state: Mutex<(generator: UInt64, injected: [Fault: Int])>
    public let rate: Double
    public let faults: [Fault]
    /// How long `slow` waits before answering (tests set the client's timeout below it).
    public let slowSeconds: Double

    public init(rate: Double, seed: UInt64 = 0x5eed, faults: [Fault] = Fault.allCases, slowSeconds: Double = 0.3) {
        self.rate = rate
        self.faults = faults
        self.slowSeconds = slowSeconds
        state = Mutex((seed | 1, [:]))
    }

    /// A fault for the next call, or nil to answer normally.
    public func next() -> Fault? {
        state.withLock { state in
            // xorshift64*: small, deterministic, good enough to spread faults.
            func random() -> Double {
                state.generator ^= state.generator >> 12
                state.generator ^= state.generator << 25
                state.generator ^= state.generator >> 27
                return Double((state.generator &* 0x2545F4914F6CDD1D) >> 11) / Double(1 << 53)
            }
            guard rate > 0, random() < rate, !faults.isEmpty else { return nil }
            let fault = faults[min(faults.count - 1, Int(random() * Double(faults.count)))]
            state.injected[fault, default: 0] += 1
            return fault
        }
    }

    public var injected: [Fault: Int] { state.withLock { $0.injected } }
    public var total: Int { injected.values.reduce(0, +) }

    /// The reply for a fault that strikes before the provider does anything (nil for one that strikes after).
    public func replyBeforeProcessing(_ fault: Fault) -> FakeReply? {
        switch fault {
        case .tooManyRequests: return .error(429, "Rate limit reached", headers: [("Retry-After", "0")])
        case .serverError: return .error(500, "The server had an error while processing your request")
        case .reset: return .reset
        case .slow, .truncatedJSON: return nil
        }
    }

    /// The reply for a fault that strikes after the provider did the work: the answer is lost or late.
    public func replyAfterProcessing(_ fault: Fault, _ reply: FakeReply) -> FakeReply {
        switch fault {
        case .slow: return .delayed(seconds: slowSeconds, reply)
        case .truncatedJSON:
            if case .respond(200, _, let body) = reply {
                return .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.prefix(max(1, body.count / 2))))
            }
            return reply
        default: return reply
        }
    }
}
