import Foundation
import KubeClient
import Synchronization
import TestAPIServer
@_exported import TestSupport
import Testing

/// Runs `body` with a fresh in-process test API server and a client for it.
func withServer<R>(
    windowSize: Int = 1000, bookmarkInterval: Duration = .seconds(5), token: String? = "test-token",
    _ body: (TestAPIServer, KubeClient, Int) async throws -> R
) async throws -> R {
    let server = TestAPIServer(windowSize: windowSize, bookmarkInterval: bookmarkInterval)
    let port = try await server.start()
    let client = KubeClient(
        config: ClusterConfig(server: "http://127.0.0.1:\(port)", token: token.map { .init(token: $0) }))
    do {
        let r = try await body(server, client, port)
        try await server.stop()
        return r
    } catch {
        try? await server.stop()
        throw error
    }
}

func lbService(_ name: String, namespace: String = "default", port: Int = 80, labels: [String: String]? = nil)
    -> Service
{
    Service(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        spec: .init(
            type: "LoadBalancer", ports: [.init(name: "http", port: port, targetPort: .int(8080))],
            selector: ["app": name]))
}

/// Collects informer changes from a Sendable context.
final class ChangeLog: Sendable {
    private let entries = Mutex<[String]>([])
    func append(_ s: String) { entries.withLock { $0.append(s) } }
    var all: [String] { entries.withLock { $0 } }
}
