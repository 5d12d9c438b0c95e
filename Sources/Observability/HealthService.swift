package import Prometheus
import ServiceLifecycle
import Synchronization

/// Whether the process is ready (`/readyz`): set by whoever knows (the controller, the elector),
/// read by the health server; no polling.
package final class Readiness: Sendable {
    private let state = Mutex(false)
    private let details = Mutex<[String]>([])
    package init(_ initial: Bool = false) { state.withLock { $0 = initial } }
    package var isReady: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
    /// Lines `/readyz?verbose` shows above the verdict, Kubernetes style (`[+]name: detail` or
    /// `[-]name: detail`); a fleet machine lists its clusters there.
    package var checks: [String] {
        get { details.withLock { $0 } }
        set { details.withLock { $0 = newValue } }
    }
}

/// `/metrics`, `/healthz`, `/readyz` as a `Service`: listens until graceful shutdown (it is the
/// first service of each group, so it is the last to stop: probes keep answering while the
/// controller hands over).
package struct HealthService: Service {
    private let address: String
    private let registry: PrometheusCollectorRegistry
    private let readiness: Readiness

    package init(address: String, registry: PrometheusCollectorRegistry, readiness: Readiness) {
        self.address = address
        self.registry = registry
        self.readiness = readiness
    }

    package func run() async throws {
        let readiness = self.readiness
        guard
            let server = try await HealthServer.serve(
                address: address, registry: registry, readiness: readiness)
        else {
            try? await gracefulShutdown()
            return
        }
        try? await gracefulShutdown()
        try? await server.stop()
    }
}
