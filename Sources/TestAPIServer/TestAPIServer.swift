import CLibc
import Foundation
import Glibc
package import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A Kubernetes API server for tests and the local demo: real HTTP, real watch streams, the
/// semantics clients depend on (docs/architecture.md, "The test API server"). Plain HTTP; put TLS in front when needed.
package final class TestAPIServer: Sendable {
    /// Injected failures for the next requests, and added latency.
    package struct Faults: Sendable {
        package var failNext: [Int] = []  // HTTP codes, consumed one per request
        package var latency: Duration = .zero
        package var rules: [Rule] = []
    }

    /// A fault for the requests it matches (all of `segments` among the URL path's segments, and
    /// `method` when given): handled only after `delay` (the object is written then), and/or
    /// answered with `status` and `message` instead, for `remaining` requests (nil: until removed).
    package struct Rule: Sendable {
        package var method: String?
        package var segments: [String]
        package var delay: Duration
        package var status: Int?
        package var message: String
        package var remaining: Int?

        package init(
            method: String? = nil, segments: [String], delay: Duration = .zero, status: Int? = nil,
            message: String = "injected failure", remaining: Int? = nil
        ) {
            self.method = method
            self.segments = segments
            self.delay = delay
            self.status = status
            self.message = message
            self.remaining = remaining
        }

        func matches(method m: String, uri: String) -> Bool {
            if let method, method != m { return false }
            let path = (uri.split(separator: "?").first ?? "").split(separator: "/").map(String.init)
            return segments.allSatisfy(path.contains)
        }
    }

    /// Adds a fault rule (see `Rule`).
    package func addRule(_ rule: Rule) { faults.withLock { $0.rules.append(rule) } }

    /// Removes every fault rule.
    package func clearRules() { faults.withLock { $0.rules = [] } }

    /// The first rule matching a request, counted against its `remaining`.
    func rule(method: String, uri: String) -> Rule? {
        faults.withLock { f in
            guard let i = f.rules.firstIndex(where: { $0.matches(method: method, uri: uri) }) else { return nil }
            let r = f.rules[i]
            if let n = r.remaining {
                if n <= 1 { f.rules.remove(at: i) } else { f.rules[i].remaining = n - 1 }
            }
            return r
        }
    }

    package let store: ObjectStore
    /// Interval between BOOKMARK events on watches that allow them.
    package let bookmarkInterval: TimeAmount
    let faults = Mutex(Faults())
    /// The last requests seen (method, URI, Authorization header), newest last.
    let log = Mutex<[RecordedRequest]>([])

    /// One request as the server saw it.
    package struct RecordedRequest: Sendable, Equatable {
        package let method: String
        package let uri: String
        package let authorization: String?
        package var contentType: String? = nil
        /// The body's first 1,000 bytes.
        package var body: String = ""
    }

    /// TCP connections accepted so far (to check that clients reuse connections).
    let connections = Mutex(0)
    package var connectionsAccepted: Int { connections.withLock { $0 } }

    /// The last (up to 200) requests, oldest first.
    package var recentRequests: [RecordedRequest] { log.withLock { $0 } }
    private let group: MultiThreadedEventLoopGroup
    private let channels = Mutex<[any Channel]>([])

    package init(windowSize: Int = 1000, bookmarkInterval: Duration = .seconds(5), threads: Int = 2) {
        self.store = ObjectStore(windowSize: windowSize)
        self.bookmarkInterval = .nanoseconds(
            Int64(bookmarkInterval.components.seconds) * 1_000_000_000
                + bookmarkInterval.components.attoseconds / 1_000_000_000)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    /// Starts listening; returns the bound port (pass 0 for any free port).
    @discardableResult
    package func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let ch = try await bootstrap().bind(host: host, port: port).get()
        channels.withLock { $0.append(ch) }
        return ch.localAddress?.port ?? port
    }

    /// Also listens on `host:port` inside the network namespace `/run/netns/<namespace>` (a
    /// namespace the test created): processes there — e.g. containers started in an LB node's
    /// namespace — reach the same server the test talks to on loopback. The socket is made on a
    /// thread that entered the namespace (a socket keeps the namespace it was created in).
    package func listen(inNamespace namespace: String, host: String, port: Int) async throws {
        let fd = try Self.socketInNamespace(namespace, host: host, port: port)
        do {
            let ch = try await bootstrap().withBoundSocket(fd).get()
            channels.withLock { $0.append(ch) }
        } catch {
            close(fd)
            throw error
        }
    }

    private func bootstrap() -> ServerBootstrap {
        let server = self
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                server.connections.withLock { $0 += 1 }
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(RequestHandler(server: server))
                }
            }
    }

    package struct NamespaceSocketError: Error, CustomStringConvertible {
        package let description: String
    }

    private static func socketInNamespace(_ namespace: String, host: String, port: Int) throws -> Int32 {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Int32, NamespaceSocketError> = .failure(.init(description: "not run"))
        let thread = Thread {
            defer { done.signal() }
            func fail(_ what: String) -> Result<Int32, NamespaceSocketError> {
                .failure(.init(description: "\(what) in namespace \(namespace): \(String(cString: strerror(errno)))"))
            }
            let nsfd = open("/run/netns/\(namespace)", O_RDONLY)
            guard nsfd >= 0 else {
                result = fail("open")
                return
            }
            defer { close(nsfd) }
            guard clibc_setns_net(nsfd) == 0 else {
                result = fail("setns")
                return
            }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = UInt16(port).bigEndian
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
                result = .failure(.init(description: "not an IPv4 address: \(host)"))
                return
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                result = fail("socket")
                return
            }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0, Glibc.listen(fd, 256) == 0 else {
                result = fail("bind \(host):\(port)")
                close(fd)
                return
            }
            result = .success(fd)
        }
        thread.start()
        done.wait()
        return try result.get()
    }

    /// Stops listening, ends every watch, and shuts the event loops down.
    package func stop() async throws {
        store.closeAllWatches()
        let all = channels.withLock { c in
            defer { c = [] }
            return c
        }
        for ch in all { try? await ch.close().get() }
        try await group.shutdownGracefully()
    }

    /// The next `count` API requests fail with `status` (429 carries `Retry-After: 1`).
    package func failNext(_ count: Int, status: Int) {
        faults.withLock { $0.failNext += Array(repeating: status, count: count) }
    }

    /// Adds `latency` before every API response.
    package func setLatency(_ latency: Duration) {
        faults.withLock { $0.latency = latency }
    }
}

/// What the router decided to answer.
enum Reply {
    case json(HTTPResponseStatus, JSON, extraHeaders: [(String, String)] = [])
    case watch(
        ResourceType, namespace: String?, labels: LabelSelector?, fields: FieldSelector?, rv: String?,
        bookmarks: Bool, timeout: Int?)
}

final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: TestAPIServer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var watchID: Int?

    init(server: TestAPIServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
        case .body(var b):
            body.writeBuffer(&b)
        case .end:
            guard let head else { return }
            let bytes = Data(body.readableBytesView)
            if !head.uri.hasPrefix("/testapi/"), let rule = server.rule(method: head.method.rawValue, uri: head.uri) {
                // Handled (and written) only after the rule's delay, or refused as the rule says.
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let server = self.server
                context.eventLoop.scheduleTask(
                    in: .nanoseconds(
                        Int64(rule.delay.components.attoseconds / 1_000_000_000) + rule.delay.components.seconds
                            * 1_000_000_000)
                ) {
                    let (handler, ctx) = loopBound.value
                    let reply =
                        rule.status.map {
                            Router(server: server).refuse(head, body: bytes, status: $0, message: rule.message)
                        }
                        ?? Router(server: server).route(head, body: bytes)
                    handler.respond(context: ctx, head: head, reply: reply)
                }
                return
            }
            let reply = Router(server: server).route(head, body: bytes)
            let latency = server.faults.withLock { $0.latency }
            if latency > .zero && !head.uri.hasPrefix("/testapi/") {
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(
                    in: .nanoseconds(
                        Int64(latency.components.attoseconds / 1_000_000_000) + latency.components.seconds
                            * 1_000_000_000)
                ) {
                    let (handler, ctx) = loopBound.value
                    handler.respond(context: ctx, head: head, reply: reply)
                }
            } else {
                respond(context: context, head: head, reply: reply)
            }
        }
    }

    func respond(context: ChannelHandlerContext, head: HTTPRequestHead, reply: Reply) {
        switch reply {
        case .json(let status, let json, let extra):
            let data = json.data
            var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(data.count))])
            for (k, v) in extra { headers.add(name: k, value: v) }
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: data)))), promise: nil)
            let keepAlive = head.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        case .watch(let r, let ns, let labels, let fields, let rv, let bookmarks, let timeout):
            startWatch(context: context, head: head, r, ns, labels, fields, rv, bookmarks, timeout)
        }
    }

    private func startWatch(
        context: ChannelHandlerContext, head: HTTPRequestHead, _ r: ResourceType, _ ns: String?,
        _ labels: LabelSelector?, _ fields: FieldSelector?, _ rv: String?, _ bookmarks: Bool, _ timeout: Int?
    ) {
        let headers = HTTPHeaders([("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil
        )
        let channel = context.channel
        let ended = ManagedAtomic(false)
        let send: @Sendable (JSON) -> Void = { event in
            var line = ByteBuffer(bytes: event.data)
            line.writeString("\n")
            let buf = line
            channel.eventLoop.execute {
                guard !ended.load() else { return }
                channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buf)), promise: nil)
            }
        }
        let end: @Sendable (_ closeConnection: Bool) -> Void = { closeConnection in
            channel.eventLoop.execute {
                guard ended.exchange(true) == false else { return }
                channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
                    if closeConnection { channel.close(promise: nil) }
                }
            }
        }
        let store = server.store
        do {
            let id = try store.watch(
                r, namespace: ns, labels: labels, fields: fields, resourceVersion: rv,
                send: send, close: { end(true) })
            watchID = id
            if bookmarks {
                let interval = server.bookmarkInterval
                let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    store.sendBookmark(id)
                }
                channel.closeFuture.whenComplete { _ in task.cancel() }
            }
            if let timeout, timeout > 0 {
                channel.eventLoop.scheduleTask(in: .seconds(Int64(timeout))) {
                    store.stopWatch(id)
                    end(false)
                }
            }
        } catch {
            send(.object(["type": .string("ERROR"), "object": error.status]))
            end(false)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let id = watchID { server.store.stopWatch(id) }
        context.fireChannelInactive()
    }
}

/// A tiny atomic flag without pulling in swift-atomics.
final class ManagedAtomic: Sendable {
    private let value: Mutex<Bool>
    init(_ v: Bool) { value = Mutex(v) }
    func load() -> Bool { value.withLock { $0 } }
    func exchange(_ v: Bool) -> Bool {
        value.withLock { old in
            defer { old = v }
            return old
        }
    }
}
