import NIOCore
import NIOHTTP1
import NIOPosix
package import Prometheus
import Synchronization

/// Serves `/metrics` (Prometheus text), `/healthz` and `/readyz` for one process.
package final class HealthServer: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let readiness: Readiness
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel = Mutex<(any Channel)?>(nil)

    package init(registry: PrometheusCollectorRegistry, readiness: Readiness) {
        self.registry = registry
        self.readiness = readiness
    }

    /// Starts a server on `address` (`HOST:PORT`); nil when the address is empty (disabled).
    package static func serve(
        address: String, registry: PrometheusCollectorRegistry, readiness: Readiness
    ) async throws -> HealthServer? {
        guard !address.isEmpty, let colon = address.lastIndex(of: ":"),
            let port = Int(address[address.index(after: colon)...])
        else { return nil }
        let server = HealthServer(registry: registry, readiness: readiness)
        _ = try await server.start(host: String(address[..<colon]), port: port)
        return server
    }

    /// Listens on `host:port` (0 = any free port); returns the bound port.
    package func start(host: String, port: Int) async throws -> Int {
        let registry = self.registry
        let readiness = self.readiness
        let ch = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(registry: registry, readiness: readiness))
                }
            }
            .bind(host: host, port: port).get()
        channel.withLock { $0 = ch }
        return ch.localAddress?.port ?? port
    }

    package func stop() async throws {
        let ch = channel.withLock { c in
            defer { c = nil }
            return c
        }
        try await ch?.close().get()
        try await group.shutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let registry: PrometheusCollectorRegistry
        let readiness: Readiness
        var uri = ""

        init(registry: PrometheusCollectorRegistry, readiness: Readiness) {
            self.registry = registry
            self.readiness = readiness
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): uri = h.uri
            case .body: break
            case .end:
                // `/readyz?verbose`: the checks' lines above the verdict.
                let verbose = uri.contains("?verbose") ? readiness.checks.map { $0 + "\n" }.joined() : ""
                let (status, type, body): (HTTPResponseStatus, String, [UInt8]) =
                    switch uri.split(separator: "?").first.map(String.init) ?? "" {
                    case "/metrics": (.ok, "text/plain; version=0.0.4", registry.emitToBuffer())
                    case "/healthz", "/livez": (.ok, "text/plain", Array("ok\n".utf8))
                    case "/readyz":
                        readiness.isReady
                            ? (.ok, "text/plain", Array((verbose + "ok\n").utf8))
                            : (.serviceUnavailable, "text/plain", Array((verbose + "not ready\n").utf8))
                    default: (.notFound, "text/plain", Array("not found\n".utf8))
                    }
                let headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.count))])
                context.write(
                    wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                    promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
