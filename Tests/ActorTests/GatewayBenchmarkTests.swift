import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestAPIServer
import TestSupport
import Testing

/// Gateway API figures for `scripts/bench` (real watcher, two actors, HAProxy, curl):
/// - HTTPRoute created → the first request it routes (K8SLB_GW_TRIALS, default 20);
/// - a route's backendRefs and weights changed 10 times under a steady client: failed requests and
///   HAProxy reloads (target: none: backend changes go through the Runtime API);
/// - the Gateway's VIP after its holder loses its link (K8SLB_GW_FAILOVER trials, default 5).
@Suite(
    .serialized, .benchmark,
    .needs(
        .root("ip", "haproxy", "keepalived", "curl", "python3", "kubectl").and(built: "k8slb-actor", "k8slb-watcher")))
struct GatewayBenchmarkTests {
    enum RouteKind: CustomResourceKind {
        static let apiVersion = GatewayAPI.apiVersion, kind = "HTTPRoute", plural = "httproutes", namespaced = true
    }
    typealias Route = CustomResource<RouteKind, HTTPRouteSpec, RouteStatus>

    static func stats(_ values: [Double]) -> String {
        let s = values.sorted()
        guard !s.isEmpty else { return "no trials" }
        let p99 = s[min(s.count - 1, Int((Double(s.count) * 0.99).rounded(.up)) - 1)]
        return "median \(Int(s[s.count / 2])) ms, p99 \(Int(p99)) ms, worst \(Int(s.last!)) ms"
    }

    @Test func routeCreatedToFirstRequestChangesUnderLoadAndFailover() async throws {
        guard let tools = ActorHarness.tools() else { return }
        let env = ProcessInfo.processInfo.environment
        let trials = Int(env["K8SLB_GW_TRIALS"] ?? "20") ?? 20
        let failovers = Int(env["K8SLB_GW_FAILOVER"] ?? "5") ?? 5
        try await ActorHarness.with(tools) { h in
            guard let c = try await GatewayTests.cluster(tools, h) else { return }
            try c.apply(
                """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: web, namespace: default}
                spec:
                  gatewayClassName: k8slb
                  listeners: [{name: http, port: 80, protocol: HTTP}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: base, namespace: default}
                spec:
                  parentRefs: [{name: web}]
                  hostnames: [base.example.com]
                  rules: [{backendRefs: [{name: one, port: 80}]}]
                """)
            guard let status = try await GatewayTests.programmed(c, "web") else {
                Issue.record("Gateway never Programmed")
                return
            }
            let vip = ((status["addresses"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
            func served(_ host: String, _ want: String) throws -> Bool {
                try c.json("http://\(vip)/x", ["-H", "Host: \(host)", "-m", "0.5"])?["backend"] as? String == want
            }
            for _ in 0..<50 where (try? served("base.example.com", "one")) != true {
                try await Task.sleep(for: .milliseconds(100))
            }

            // Created → first request.
            var times: [Double] = []
            for n in 0..<trials {
                let route = Route(
                    metadata: ObjectMeta(name: "r\(n)", namespace: "default"),
                    spec: HTTPRouteSpec(
                        parentRefs: [ObjectRef(name: "web")], hostnames: ["r\(n).example.com"],
                        rules: [
                            .init(
                                matches: [.init(path: .init(value: "/x"))],
                                backendRefs: [ObjectRef(name: "two", port: 80)])
                        ]))
                let start = Date()
                _ = try await h.client.create(route)
                var done: Double?
                while done == nil && Date().timeIntervalSince(start) < 5 {
                    if (try? served("r\(n).example.com", "two")) == true {
                        done = Date().timeIntervalSince(start) * 1000
                    }
                }
                if let done { times.append(done) } else { Issue.record("route r\(n) never served") }
                try await Task.sleep(for: .milliseconds(300))
            }
            print("gateway: HTTPRoute created → first request routed by it: \(trials) trials, \(Self.stats(times))")

            // Backend and weight changes under a steady client.
            func reloads() throws -> Double {
                try ["lb-a", "lb-b"].reduce(0) {
                    $0 + (try h.metric($1, "k8slb_proxy_applies_total{result=\"reload\"}"))
                }
            }
            let before = try reloads()
            let log = h.work.appendingPathComponent("load.log")
            let load = try Child.start(
                [
                    tools.ip, "netns", "exec", h.topo.ns("cl"), tools.python, "-c",
                    """
                    import urllib.request, time
                    ok = failed = 0; end = time.time() + 6
                    while time.time() < end:
                        try:
                            urllib.request.urlopen(urllib.request.Request("http://\(vip)/x", headers={"Host": "base.example.com"}), timeout=2).read(); ok += 1
                        except Exception as e:
                            failed += 1; print("error", e, flush=True)
                    print("ok", ok, "failed", failed, flush=True)
                    """,
                ], output: .file(log.path))
            try await Task.sleep(for: .milliseconds(500))
            for n in 0..<10 {
                var route = try await h.client.get(Route.self, namespace: "default", name: "base")
                route.spec.rules = [
                    .init(
                        backendRefs: n % 2 == 0
                            ? [ObjectRef(name: "two", port: 80)]
                            : [
                                ObjectRef(name: "one", port: 80, weight: 1 + n),
                                ObjectRef(name: "two", port: 80, weight: 10 - n),
                            ])
                ]
                _ = try await h.client.update(route)
                try await Task.sleep(for: .milliseconds(400))
            }
            _ = load.waitUntilExit()
            let result =
                ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init)
                ?? ""
            let changeReloads = Int(try reloads() - before)
            print(
                "gateway: 10 backendRef/weight changes under load: \(result); HAProxy reloads on 2 nodes: \(changeReloads)"
            )
            #expect(result.hasSuffix("failed 0"), "\(result)")

            // Failover: the Gateway's VIP moves with its LB node. The probe sends no Host header:
            // a route for any host answers it.
            let fallback = Route(
                metadata: ObjectMeta(name: "any-host", namespace: "default"),
                spec: HTTPRouteSpec(
                    parentRefs: [ObjectRef(name: "web")],
                    rules: [.init(backendRefs: [ObjectRef(name: "one", port: 80)])]))
            _ = try await h.client.create(fallback)
            for _ in 0..<50 where (try? c.json("http://\(vip)/"))?["backend"] as? String != "one" {
                try await Task.sleep(for: .milliseconds(100))
            }
            var outages: [Double] = []
            for _ in 0..<failovers {
                guard let holder = try h.holders(vip, among: ["lb-a", "lb-b"]).first else { break }
                let probe = try ConnectProbe.start(
                    ip: tools.ip, python: tools.python, namespace: h.topo.ns("cl"), host: vip, port: 80,
                    seconds: 2.5, every: 5)
                try await Task.sleep(for: .milliseconds(500))
                let down = ConnectProbe.now()
                try h.topo.sh(["-n", h.topo.ns(holder), "link", "set", "eth0", "down"])
                outages.append(ConnectProbe.outage(ConnectProbe.results(probe), after: down) * 1000)
                try h.topo.sh(["-n", h.topo.ns(holder), "link", "set", "eth0", "up"])
                // Back to normal (the preferred node takes its VIP back) before the next trial.
                try await Task.sleep(for: .seconds(2))
            }
            print(
                "gateway failover: \(outages.count) trials, worst \(String(format: "%.3f", (outages.max() ?? 0) / 1000)) s, median \(String(format: "%.3f", (outages.sorted().dropFirst(outages.count / 2).first ?? 0) / 1000)) s"
            )
            #expect(outages.count == failovers)
        }
    }
}
