import Foundation
import KubeClient
import Logging
import Synchronization
import TestAPIServer
@_exported import TestSupport
import Testing

@testable import Watcher

/// A test cluster: the in-process API server, a client, and helpers to run watchers.
struct Cluster {
    let server: TestAPIServer
    let client: KubeClient
    let port: Int

    static func start(windowSize: Int = 5000) async throws -> Cluster {
        let server = TestAPIServer(windowSize: windowSize, bookmarkInterval: .milliseconds(500))
        let port = try await server.start()
        return Cluster(
            server: server, client: KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)")), port: port)
    }

    func stop() async { try? await server.stop() }

    func writeConfig(_ json: String) async throws {
        let name = "global"
        if var cm = try? await client.get(ConfigMap.self, namespace: "k8slb-system", name: name) {
            cm.data = ["config": json]
            _ = try await client.update(cm)
        } else {
            _ = try await client.create(
                ConfigMap(metadata: ObjectMeta(name: name, namespace: "k8slb-system"), data: ["config": json]))
        }
    }

    /// Runs an in-process controller until the returned task is cancelled.
    func runController(_ settings: WatcherSettings = WatcherSettings(), quarantine: Duration = .milliseconds(100)) -> (
        Task<Void, Never>, WatcherController
    ) {
        var s = settings
        s.publishDelay = .milliseconds(20)
        s.releaseQuarantine = quarantine
        var logger = Logger(label: "test-watcher")
        logger.logLevel = .critical
        let controller = WatcherController(client: client, settings: s, logger: logger, metrics: WatcherMetrics())
        return (Task { await controller.run() }, controller)
    }

    func service(
        _ name: String, namespace: String = "default", ports: [Int] = [80], pool: String? = nil, ip: String? = nil,
        annotations: [String: String] = [:], type: String = "LoadBalancer"
    ) -> Service {
        var a = annotations
        if let pool { a["loadbalancer/pool"] = pool }
        var spec = Service.Spec(
            type: type,
            ports: ports.enumerated().map {
                .init(name: "p\($0.offset)", port: $0.element, targetPort: .int(8080 + $0.offset))
            },
            selector: ["app": name])
        spec.loadBalancerIP = ip
        return Service(
            metadata: ObjectMeta(name: name, namespace: namespace, annotations: a.isEmpty ? nil : a), spec: spec)
    }

    /// `namespace/name` → external IPs, from the API (what `kubectl get svc` shows).
    func externalIPs() async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for svc in try await client.listAll(Service.self).items {
            out[svc.key] = (svc.status?.loadBalancer?.ingress ?? []).compactMap(\.ip)
        }
        return out
    }

    func events(for name: String) async throws -> [Event] {
        try await client.listAll(Event.self).items.filter { $0.involvedObject.name == name }
    }
}

let basicConfig = #"""
    {"pools": {
      "default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.12"},
      "big": {"network": "198.51.100.0/22", "range": "198.51.100.0/22"},
      "v6": {"network": "2001:db8::/64", "range": "2001:db8::/64"}
    }}
    """#
