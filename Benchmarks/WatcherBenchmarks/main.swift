// Watcher benchmark: `swift build -c release && .build/release/WatcherBenchmarks`.
// Runs the real k8slb-watcher binary (beside this one) against the in-process test API server and
// measures Service created → status.loadBalancer.ingress written, with 0, 1,000 and 10,000
// Services already present, and the watcher's resident memory.
import Foundation
import KubeClient
import Synchronization
import TestAPIServer

let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let watcherPath = binDir.appendingPathComponent("k8slb-watcher").path
guard FileManager.default.isExecutableFile(atPath: watcherPath) else {
    print("build k8slb-watcher first (swift build -c release)")
    exit(1)
}
let server = TestAPIServer(windowSize: 50_000)
let port = try await server.start()
let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"), lanes: 8)
_ = try await client.create(
    ConfigMap(
        metadata: ObjectMeta(name: "global", namespace: "k8slb-system"),
        data: ["config": #"{"pools":{"default":{"network":"2001:db8::/64","range":"2001:db8::/64"}}}"#]))
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-wbench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
let kubeconfig = dir.appendingPathComponent("kubeconfig").path
try """
apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: "http://127.0.0.1:\(port)"}}]
users: [{name: t, user: {token: bench}}]
contexts: [{name: t, context: {cluster: t, user: t}}]
current-context: t
""".write(toFile: kubeconfig, atomically: true, encoding: .utf8)
let watcher = Process()
watcher.executableURL = URL(fileURLWithPath: watcherPath)
watcher.arguments = ["run", "--kubeconfig", kubeconfig, "--metrics-address", "", "--log-level", "error"]
try watcher.run()
defer {
    kill(watcher.processIdentifier, SIGTERM)
    watcher.waitUntilExit()
    try? FileManager.default.removeItem(at: dir)
}

func service(_ name: String) -> Service {
    var spec = Service.Spec(
        type: "LoadBalancer", ports: [.init(name: "http", port: 80, targetPort: .int(8080))], selector: ["app": name])
    spec.allocateLoadBalancerNodePorts = false  // 10,000 Services would exhaust the 2,768 node ports
    return Service(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
}

/// Records when each Service first shows an ingress IP.
final class Arrivals: Sendable {
    let seen = Mutex<[String: ContinuousClock.Instant]>([:])
    func count(prefix: String) -> Int { seen.withLock { $0.keys.filter { $0.hasPrefix(prefix) }.count } }
}
let arrivals = Arrivals()
let rv = try await client.list(Service.self, namespace: "default").metadata.resourceVersion
let watchTask = Task {
    for try await event in client.watch(Service.self, namespace: "default", resourceVersion: rv, allowBookmarks: false)
    {
        if case .modified(let s) = event, s.status?.loadBalancer?.ingress?.first?.ip != nil {
            let now = ContinuousClock.now
            arrivals.seen.withLock { if $0[s.metadata.name!] == nil { $0[s.metadata.name!] = now } }
        }
    }
}

/// A field of /proc/PID/status in KiB (VmRSS: all resident; RssAnon: private heap and stacks;
/// RssFile: shared library code mapped from disk).
func rss(_ pid: Int32, _ field: String = "VmRSS") -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = s.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
    else { return -1 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

var present = 0
for target in [0, 1_000, 10_000] {
    // Fill up to `target` Services and wait until all have IPs.
    let from = present
    let fillStart = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<8 {
            group.addTask {
                for i in stride(from: from + w, to: target, by: 8) { _ = try await client.create(service("bg-\(i)")) }
            }
        }
        try await group.waitForAll()
    }
    present = target
    while arrivals.count(prefix: "bg-") < target { try await Task.sleep(for: .milliseconds(100)) }
    if target > from {
        let seconds =
            Double((ContinuousClock.now - fillStart).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - fillStart).components.seconds)
        print(
            "\(from) → \(target) Services created 8 at a time: the last status at \(String(format: "%.1f", seconds)) s (\(Int(Double(target - from) / seconds)) Services/s)"
        )
    }
    try await Task.sleep(for: .seconds(1))
    // 100 samples, one at a time.
    var latencies: [Duration] = []
    for i in 0..<100 {
        let name = "probe-\(target)-\(i)"
        let start = ContinuousClock.now
        _ = try await client.create(service(name))
        while true {
            if let t = arrivals.seen.withLock({ $0[name] }) {
                latencies.append(t - start)
                break
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
    latencies.sort()
    func ms(_ d: Duration) -> String {
        String(format: "%.1f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
    }
    print(
        "\(target) Services present: create → status p50 \(ms(latencies[49])), p99 \(ms(latencies[98])), max \(ms(latencies[99]))"
            + "; watcher RSS \(rss(watcher.processIdentifier) / 1024) MiB (anon \(rss(watcher.processIdentifier, "RssAnon") / 1024) MiB, file \(rss(watcher.processIdentifier, "RssFile") / 1024) MiB)"
    )
}
watchTask.cancel()
try await server.stop()
