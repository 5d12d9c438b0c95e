import Core
import Foundation
import Glibc
import TestSupport
import Testing

/// The proxy itself: k8slb's generated config (the real actor on an LB node, HAProxy or nginx)
/// against a hand-written one for the same daemon on the same node (HAProxy: minimal; nginx: with
/// upstream keep-alive, as one would write it), for the same backend, in HTTP and TCP mode,
/// and both against going straight to the backend — interleaved (A B C … per round, K8SLB_PROXY_ROUNDS
/// rounds of K8SLB_PROXY_SECONDS, default 1 of 2 s in the test suite; the benchmark runs 7 of 4 s) so the machine's drift hits every variant alike;
/// medians compared, the spread printed. The backend is nginx; wrk runs in the client namespace.
/// K8SLB_PROXY_ONLY=haproxy|nginx runs one of the two; K8SLB_PROXY_AA=1 makes nginx's
/// hand-written side a copy of k8slb's config (an A/A run, for the noise floor).
@Suite(.serialized, .benchmark, .needs(.root("ip", "haproxy", "keepalived", "nginx", "wrk").and(built: "k8slb-actor")))
struct ProxyBenchmarkTests {
    struct Variant {
        let name: String
        let url: String
    }

    static func wrk(_ h: ActorHarness, _ wrk: String, _ url: String, seconds: Int) throws -> (
        rps: Double, p99ms: Double
    ) {
        let out = try h.topo.exec("cl", [wrk, "-t1", "-c16", "-d\(seconds)s", "--latency", url]).output
        var rps = 0.0
        var p99 = 0.0
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.first == "Requests/sec:", f.count > 1 { rps = Double(f[1]) ?? 0 }
            if f.first == "99%", f.count > 1 {
                let v = String(f[1])
                p99 =
                    v.hasSuffix("ms")
                    ? Double(v.dropLast(2)) ?? 0
                    : v.hasSuffix("us")
                        ? (Double(v.dropLast(2)) ?? 0) / 1000
                        : v.hasSuffix("s") ? (Double(v.dropLast(1)) ?? 0) * 1000 : 0
            }
        }
        return (rps, p99)
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? 0 : s[s.count / 2]
    }

    /// A hand-written config for the same two VIPs, in the same daemon as the actor's backend.
    static func handWritten(_ backend: String, work: String) -> String {
        if backend == "nginx" {
            // What an operator would write by hand: HTTP/1.1 keep-alive to the server, a plain
            // stream proxy for TCP.
            return """
                include /etc/nginx/modules-enabled/*.conf;
                worker_processes auto;
                pid \(work)/hand-nginx.pid;
                error_log stderr error;
                events { worker_connections 4096; }
                http {
                    access_log off;
                    upstream http_be { server 192.0.2.21:8080; keepalive 32; }
                    server {
                        listen 192.0.2.61:80;
                        location / { proxy_pass http://http_be; proxy_http_version 1.1; proxy_set_header Connection ""; }
                    }
                }
                stream {
                    upstream tcp_be { server 192.0.2.21:8080; }
                    server { listen 192.0.2.63:80; proxy_pass tcp_be; }
                }

                """
        }
        return """
            global
                maxconn 8000
            defaults
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend http_in
                mode http
                bind 192.0.2.61:80
                default_backend http_be
            backend http_be
                mode http
                server s1 192.0.2.21:8080
            frontend tcp_in
                mode tcp
                bind 192.0.2.63:80
                default_backend tcp_be
            backend tcp_be
                mode tcp
                server s1 192.0.2.21:8080

            """
    }

    @Test(arguments: ProcessInfo.processInfo.environment["K8SLB_PROXY_ONLY"].map { [$0] } ?? ["haproxy", "nginx"])
    func generatedConfigAgainstHandWrittenAndDirect(backend: String) async throws {
        guard let tools = ActorHarness.tools() else { return }
        guard let wrk = which("wrk"), let nginx = which("nginx") else {
            if requireIntegration { Issue.record("wrk and nginx are required when CI=true") }
            return
        }
        let rounds = Int(ProcessInfo.processInfo.environment["K8SLB_PROXY_ROUNDS"] ?? "1") ?? 1
        let seconds = Int(ProcessInfo.processInfo.environment["K8SLB_PROXY_SECONDS"] ?? "2") ?? 2
        try await ActorHarness.with(tools) { h in
            try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
            try h.topo.host("be", addresses: ["192.0.2.21/24"])
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            // The backend: nginx answering a small body, keep-alive.
            let nginxConf = h.work.appendingPathComponent("nginx.conf").path
            try """
            worker_processes 1;
            pid \(h.work.path)/be-nginx.pid;
            error_log stderr error;
            events { worker_connections 4096; }
            http {
                access_log off;
                keepalive_requests 100000;
                server {
                    listen 192.0.2.21:8080 backlog=4096;
                    location / { return 200 "backend\\n"; }
                }
            }

            """.write(toFile: nginxConf, atomically: true, encoding: .utf8)
            try h.topo.spawn("be", [nginx, "-c", nginxConf, "-g", "daemon off;"], listening: 8080)
            // k8slb: the real actor, one node, an HTTP and a TCP Service.
            // The pool covers only k8slb's VIPs: the actor removes stray /32s inside its pools, and the
            // hand-written config's VIPs are outside.
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.48/29","range":"192.0.2.50-192.0.2.54"}},"vrrp":{"advertInterval":0.1}}"#
            )
            var vips: [AssignmentDocument.VIP] = []
            for (name, address, port) in [("web", "192.0.2.50", "http"), ("raw", "192.0.2.52", "tcp")] {
                let key = ServiceKey(namespace: "default", name: name)
                try await h.createService(key, ports: [(port, 80)])
                try await h.setSlice(key, name: "\(name)-1", addresses: ["192.0.2.21"], ports: [(port, "TCP", 8080)])
                vips.append(
                    .init(
                        address: try IPAddress(parsing: address), pool: .default,
                        services: [.init(key: key, ports: [.init(name: port, port: 80, targetPort: .number(8080))])]))
            }
            let plan = VRRPPlan.make(
                vips: vips.map { ($0.address, $0.pool) }, nodes: ["lb-a"], previous: [], vridOffset: 0)
            for i in vips.indices { vips[i].vrid = plan.vridOf[vips[i].address] }
            try await h.publish(AssignmentDocument(vips: vips, nodes: ["lb-a"], groups: plan.groups))
            try h.startActor("lb-a", backend: backend)
            // The hand-written config beside it, on VIPs of its own.
            for a in ["192.0.2.61", "192.0.2.63"] {
                try h.topo.sh(["-n", h.topo.ns("lb-a"), "addr", "add", "\(a)/32", "dev", "eth0"])
            }
            let hand = h.work.appendingPathComponent("hand.cfg").path
            try Self.handWritten(backend, work: h.work.path).write(toFile: hand, atomically: true, encoding: .utf8)
            if backend == "nginx" && ProcessInfo.processInfo.environment["K8SLB_PROXY_AA"] != nil {
                // An A/A run: the "hand-written" side is a copy of k8slb's own nginx.conf on the
                // other VIPs, so the ratios show what two identical configs differ by here.
                let gen = h.work.appendingPathComponent("lb-a/nginx.conf").path
                _ = await eventually(.seconds(10)) { FileManager.default.fileExists(atPath: gen) }
                var text = try String(contentsOfFile: gen, encoding: .utf8)
                text = text.replacingOccurrences(of: "192.0.2.50:", with: "192.0.2.61:").replacingOccurrences(
                    of: "192.0.2.52:", with: "192.0.2.63:"
                )
                .replacingOccurrences(of: "lb-a/nginx", with: "hand-nginx").replacingOccurrences(
                    of: "8405", with: "8406")
                try FileManager.default.createDirectory(
                    atPath: h.work.path + "/hand-nginx-body", withIntermediateDirectories: true)
                try text.write(toFile: hand, atomically: true, encoding: .utf8)
            }
            if backend == "nginx" {
                try h.topo.spawn("lb-a", [nginx, "-c", hand, "-g", "daemon off;"], listening: 80)
            } else {
                try h.topo.spawn("lb-a", [tools.haproxy, "-db", "-f", hand], listening: 80)
            }
            let variants = [
                Variant(name: "k8slb http", url: "http://192.0.2.50/"),
                Variant(name: "hand-written http", url: "http://192.0.2.61/"),
                Variant(name: "direct", url: "http://192.0.2.21:8080/"),
                Variant(name: "k8slb tcp", url: "http://192.0.2.52/"),
                Variant(name: "hand-written tcp", url: "http://192.0.2.63/"),
            ]
            for v in variants {
                #expect(
                    await eventually(.seconds(20)) {
                        try h.topo.exec("cl", [tools.curl, "-s", "-m", "1", v.url]).output == "backend\n"
                    }, "\(v.name) serves")
            }
            var rps: [String: [Double]] = [:]
            var p99: [String: [Double]] = [:]
            for round in 0..<rounds {
                // Each round starts one variant later: none is always the first after a pause.
                for v in variants[(round % variants.count)...] + variants[..<(round % variants.count)] {
                    let r = try Self.wrk(h, wrk, v.url, seconds: seconds)
                    rps[v.name, default: []].append(r.rps)
                    p99[v.name, default: []].append(r.p99ms)
                }
            }
            for v in variants {
                let r = rps[v.name] ?? []
                print(
                    String(
                        format: "proxy (%@): %@: median %.0f req/s (spread %.0f-%.0f), p99 %.2f ms (%d rounds of %d s)",
                        backend, v.name,
                        Self.median(r), r.min() ?? 0, r.max() ?? 0, Self.median(p99[v.name] ?? []), rounds, seconds))
            }
            for mode in ["http", "tcp"] {
                let k = Self.median(rps["k8slb \(mode)"] ?? [])
                let hw = Self.median(rps["hand-written \(mode)"] ?? [])
                let d = Self.median(rps["direct"] ?? [])
                let kp = Self.median(p99["k8slb \(mode)"] ?? [])
                let hp = Self.median(p99["hand-written \(mode)"] ?? [])
                print(
                    String(
                        format:
                            "proxy (%@): %@: k8slb / hand-written = %.2f (req/s), p99 %.2f vs %.2f ms; k8slb / direct = %.2f",
                        backend, mode, k / hw, kp, hp, k / d))
                #expect(k > 0 && hw > 0, "both configs served under load")
            }
        }
    }
}
