// Kubernetes client benchmarks against the in-process test API server:
// `swift run -c release KubeBenchmarks`. One reused connection (one lane) for get/patch.
import Foundation
import KubeClient
import TestAPIServer

func rate(_ n: Int, _ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    return String(format: "%.0f/s (%.3f ms each)", Double(n) / s, s * 1000 / Double(n))
}

let server = TestAPIServer(windowSize: 30_000)
let port = try await server.start()
let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"), lanes: 1)
let svc = Service(
    metadata: ObjectMeta(name: "web", namespace: "default"),
    spec: .init(
        type: "LoadBalancer", ports: [.init(name: "http", port: 80, targetPort: .int(8080))], selector: ["app": "web"]))
let connectionsBefore = server.connectionsAccepted
_ = try await client.create(svc)
let clock = ContinuousClock()
let n = 3000

let getTime = try await clock.measure {
    for _ in 0..<n { _ = try await client.get(Service.self, namespace: "default", name: "web") }
}
print("GET Service, \(n) sequential:   \(rate(n, getTime))")
let patchTime = try await clock.measure {
    for i in 0..<n {
        _ = try await client.patch(
            Service.self, namespace: "default", name: "web",
            .merge(Array(#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.\#(i % 250 + 1)"}]}}}"#.utf8)),
            subresource: "status")
    }
}
print("PATCH status, \(n) sequential:  \(rate(n, patchTime))")
print("TCP connections used for create + \(2 * n) requests: \(server.connectionsAccepted - connectionsBefore)")

// Watch decode: replay 20,000 events from the window and decode them.
let start = try await client.list(ConfigMap.self, namespace: "default").metadata.resourceVersion
let writer = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"), lanes: 4)
let events = 20_000
try await withThrowingTaskGroup(of: Void.self) { group in
    for w in 0..<4 {
        group.addTask {
            for i in stride(from: w, to: events, by: 4) {
                _ = try await writer.create(
                    ConfigMap(
                        metadata: ObjectMeta(name: "cm-\(i)", namespace: "default"),
                        data: ["key": "value-\(i)", "pool": "default"]))
            }
        }
    }
    try await group.waitForAll()
}
var decoded = 0
let watchTime = try await clock.measure {
    for try await event in client.watch(
        ConfigMap.self, namespace: "default", resourceVersion: start, allowBookmarks: false, timeoutSeconds: 60)
    {
        if case .added = event { decoded += 1 }
        if decoded == events { break }
    }
}
print("watch: \(decoded) ADDED events replayed and decoded: \(rate(decoded, watchTime))")
try await server.stop()
