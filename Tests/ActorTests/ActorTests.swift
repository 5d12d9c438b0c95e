import Core
import DataPlane
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// The real `k8slb-actor` on simulated LB nodes, fed through the test API server.
@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3").and(built: "k8slb-actor")))
struct ActorTests {
    static let web = ServiceKey(namespace: "default", name: "web")

    static func document(_ vips: [(String, PoolName, [AssignmentDocument.ServiceEntry])], nodes: [String]) throws
        -> AssignmentDocument
    {
        let list = try vips.map {
            AssignmentDocument.VIP(address: try IPAddress(parsing: $0.0), pool: $0.1, services: $0.2)
        }
        let plan = VRRPPlan.make(vips: list.map { ($0.address, $0.pool) }, nodes: nodes, previous: [], vridOffset: 0)
        return AssignmentDocument(
            vips: list.map {
                var v = $0
                v.vrid = plan.vridOf[v.address]
                return v
            }, nodes: nodes, groups: plan.groups)
    }

    /// 1,000 EndpointSlice changes while a client keeps requesting through the VIP: no request
    /// fails, the changes go through the Runtime API (at most 10 reloads), and at the end the
    /// running servers and the file both hold exactly the final endpoints. The Service's
    /// targetPort is a name: the port comes from the slice.
    @Test(.benchmark) func endpointChurnUnderLoadWithoutReloads() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            let dynamic = (23...28).map { "192.0.2.\($0)" }
            try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
            try h.topo.host("be", addresses: ["192.0.2.21/24", "192.0.2.22/24"] + dynamic.map { "\($0)/24" })
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            try "backend\n".write(to: h.work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try h.topo.spawn(
                "be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", h.work.path],
                listening: 8080)

            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            try await h.createService(Self.web, ports: [("http", 80)])
            let entry = AssignmentDocument.ServiceEntry(
                key: Self.web, ports: [.init(name: "http", port: 80, targetPort: .name("web"))])
            try await h.publish(try Self.document([("192.0.2.50", .default, [entry])], nodes: ["lb-a"]))
            var current: Set<String> = []
            func update() async throws {
                try await h.setSlice(
                    Self.web, name: "web-1",
                    addresses: ["192.0.2.21", "192.0.2.22"] + dynamic.filter(current.contains),
                    ports: [("http", "TCP", 8080)])
            }
            try await update()
            try h.startActor("lb-a")

            let served = await eventually(.seconds(20)) {
                try h.topo.exec(
                    "cl", [tools.curl, "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}", "http://192.0.2.50/"]
                ).output == "200"
            }
            #expect(served, "the VIP never served; actor log:\n\(h.log("lb-a"))")
            guard served else { return }
            let reloadsBefore = try h.metric("lb-a", #"k8slb_proxy_applies_total{result="reload"}"#)

            let results = h.work.appendingPathComponent("client.txt").path
            let client = try h.topo.spawn(
                "cl",
                [
                    "bash", "-c",
                    "while true; do \(tools.curl) -s -o /dev/null -m 3 -w '%{http_code}\\n' http://192.0.2.50/ >> \(results); done",
                ])
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<1000 {
                let a = dynamic.randomElement(using: &rng)!
                if current.contains(a) { current.remove(a) } else { current.insert(a) }
                try await update()
                try await Task.sleep(for: .milliseconds(4))
            }
            try await Task.sleep(for: .seconds(1))
            kill(client.processIdentifier, SIGKILL)  // our own loop, by PID (bash waits out curl on SIGTERM)
            client.waitUntilExit()
            try await Task.sleep(for: .seconds(3))  // the last curl finishes on its own

            let codes = (try? String(contentsOfFile: results, encoding: .utf8))?.split(separator: "\n") ?? []
            let failed = codes.filter { $0 != "200" }
            print("endpoint churn: 1000 changes, \(codes.count) client requests, \(failed.count) failed")
            #expect(codes.count > 100, "the client made too few requests: \(codes.count)")
            #expect(failed.isEmpty, "failed requests during churn: \(failed.count) (\(Set(failed)))")
            let reloads = try h.metric("lb-a", #"k8slb_proxy_applies_total{result="reload"}"#) - reloadsBefore
            let runtime = try h.metric("lb-a", #"k8slb_proxy_applies_total{result="runtime"}"#)
            print("endpoint churn: \(Int(reloads)) reloads, \(Int(runtime)) Runtime API updates")
            #expect(reloads <= 10, "reloads during churn: \(reloads)")
            #expect(runtime > 0)

            // The final endpoints, in the running workers and in the file.
            let want = Set(
                (["192.0.2.21", "192.0.2.22"] + dynamic.filter(current.contains)).map {
                    "ep_" + $0.replacingOccurrences(of: ".", with: "_") + "_8080"
                })
            let socket = h.work.appendingPathComponent("lb-a/haproxy.sock").path
            let settled = await eventually(.seconds(10)) {
                let state = (try? MasterCLI.send("show servers state be_192_0_2_50_80", socket: socket)) ?? ""
                let running = Set(
                    state.split(separator: "\n").compactMap { line -> String? in
                        let f = line.split(separator: " ")
                        // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
                        guard f.count > 6, f[3].hasPrefix("ep_"), f[6] == "0" else { return nil }
                        return String(f[3])
                    })
                return running == want
            }
            #expect(settled, "running servers differ from the final endpoints \(want.sorted())")
            let file = try String(
                contentsOfFile: h.work.appendingPathComponent("lb-a/haproxy.cfg").path, encoding: .utf8)
            let inFile = Set(
                file.split(separator: "\n").filter { $0.hasPrefix("    server ep_") }.map {
                    String($0.split(separator: " ")[1])
                })
            #expect(inFile == want)
        }
    }

    /// Pool "bad" has an unusable certificate: TLS is off for that pool only (Event on its
    /// Service, metric), pool "good" terminates TLS with its bundle, and later changes to the good
    /// pool still apply.
    @Test func brokenCertificateDisablesTLSForItsPoolOnly() async throws {
        guard let tools = ActorHarness.tools() else { return }
        guard let openssl = which("openssl") else {
            if requireIntegration { Issue.record("openssl is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            try h.topo.host("lb-a", addresses: ["192.0.2.11/24", "198.51.100.11/24"])
            try h.topo.host("be", addresses: ["192.0.2.21/24"])
            try h.topo.host("cl", addresses: ["192.0.2.100/24", "198.51.100.100/24"])
            try "backend\n".write(to: h.work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try h.topo.spawn(
                "be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", h.work.path],
                listening: 8080)
            let certs = h.work.appendingPathComponent("certs").path
            try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
            try makeTestCertificates(openssl: openssl, dir: certs, [("web", "web.example.org")])
            try
                (String(contentsOfFile: "\(certs)/web.crt", encoding: .utf8)
                + String(contentsOfFile: "\(certs)/web.key", encoding: .utf8))
                .write(toFile: "\(certs)/good.pem", atomically: true, encoding: .utf8)
            try "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n".write(
                toFile: "\(certs)/bad.pem", atomically: true, encoding: .utf8)

            try await h.writeConfig(
                #"{"pools":{"good":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"},"bad":{"network":"198.51.100.0/24","range":"198.51.100.50-198.51.100.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            let api = ServiceKey(namespace: "default", name: "api")
            let web2 = ServiceKey(namespace: "default", name: "web2")
            for key in [Self.web, api, web2] { try await h.createService(key, ports: [("https", 443)]) }
            let https = AssignmentDocument.Port(name: "https", port: 443, targetPort: .number(8080))
            let good = try PoolName(parsing: "good")
            let bad = try PoolName(parsing: "bad")
            try await h.publish(
                try Self.document(
                    [
                        ("192.0.2.50", good, [.init(key: Self.web, ports: [https])]),
                        ("198.51.100.50", bad, [.init(key: api, ports: [https])]),
                    ], nodes: ["lb-a"]))
            for key in [Self.web, api, web2] {
                try await h.setSlice(
                    key, name: "\(key.name)-1", addresses: ["192.0.2.21"], ports: [("https", "TCP", 8080)])
            }
            try h.startActor("lb-a", certDir: certs)

            func curl(_ args: [String]) throws -> String {
                try h.topo.exec("cl", [tools.curl, "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}"] + args)
                    .output
            }
            let tls = await eventually(.seconds(20)) {
                try curl([
                    "--cacert", "\(certs)/ca.crt", "--resolve", "web.example.org:443:192.0.2.50",
                    "https://web.example.org/",
                ]) == "200"
            }
            #expect(tls, "pool good does not terminate TLS; actor log:\n\(h.log("lb-a"))")
            // Pool bad still serves, without TLS.
            #expect(await eventually(.seconds(5)) { try curl(["http://198.51.100.50:443/"]) == "200" })
            let events = try await h.events(api)
            #expect(
                events.contains { $0.reason == "CertificateInvalid" && $0.message.contains("pool bad") },
                "events: \(events)")
            #expect(try await h.events(Self.web).allSatisfy { $0.reason != "CertificateInvalid" })
            #expect(try h.metric("lb-a", #"k8slb_certificate_problem{pool="bad"}"#) == 1)
            #expect(try h.metrics("lb-a").contains(#"k8slb_certificate_problem{pool="good"} 0"#))

            // A later change to pool good applies (the bad pool blocks nothing).
            try await h.publish(
                try Self.document(
                    [
                        ("192.0.2.50", good, [.init(key: Self.web, ports: [https])]),
                        ("192.0.2.51", good, [.init(key: web2, ports: [https])]),
                        ("198.51.100.50", bad, [.init(key: api, ports: [https])]),
                    ], nodes: ["lb-a"]))
            #expect(
                await eventually(.seconds(10)) {
                    try curl([
                        "--cacert", "\(certs)/ca.crt", "--resolve", "web.example.org:443:192.0.2.51",
                        "https://web.example.org/",
                    ]) == "200"
                }, "the new VIP in pool good was not served")
        }
    }

    /// UDP (and HTTP) through the nginx backend; then the same node in kubeproxy mode with a pool
    /// without VRRP: the actor binds the VIP itself (kube-proxy would forward; a UDP responder on
    /// the node stands in for it), and SIGTERM removes the VIP.
    @Test func udpThroughNginxAndKubeproxy() async throws {
        guard let tools = ActorHarness.tools() else { return }
        guard let nginx = which("nginx") else {
            if requireIntegration { Issue.record("nginx is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
            try h.topo.host("be", addresses: ["192.0.2.21/24"])
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            try "backend\n".write(to: h.work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try h.topo.spawn(
                "be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", h.work.path],
                listening: 8080)
            let echo =
                "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',int(sys.argv[1])))\n"
                + "while True:\n  d,a=s.recvfrom(2048)\n  s.sendto(sys.argv[2].encode()+b':'+d,a)\n"
            try h.topo.spawn("be", [tools.python, "-c", echo, "5353", "pod"])

            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            let dns = ServiceKey(namespace: "default", name: "dns")
            try await h.createService(dns, ports: [("dns", 53)])
            try await h.createService(Self.web, ports: [("http", 80)])
            let entries: [AssignmentDocument.ServiceEntry] = [
                .init(key: dns, ports: [.init(name: "dns", proto: .udp, port: 53, targetPort: .number(5353))]),
                .init(key: Self.web, ports: [.init(name: "http", port: 80, targetPort: .number(8080))]),
            ]
            try await h.publish(try Self.document([("192.0.2.50", .default, entries)], nodes: ["lb-a"]))
            try await h.setSlice(dns, name: "dns-1", addresses: ["192.0.2.21"], ports: [("dns", "UDP", 5353)])
            try await h.setSlice(Self.web, name: "web-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
            // A VIP left behind by an earlier run (e.g. a SIGKILLed keepalived): removed at start.
            try h.topo.sh(["-n", h.topo.ns("lb-a"), "addr", "add", "192.0.2.59/32", "dev", "eth0"])
            try h.startActor("lb-a", backend: "nginx", extra: ["--nginx", nginx])

            let ask =
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(0.5)\n"
                + "s.sendto(b'ping',('192.0.2.50',53))\nprint(s.recvfrom(2048)[0].decode())\n"
            let udp = await eventually(.seconds(20)) {
                try h.topo.exec("cl", [tools.python, "-c", ask]).output.contains("pod:ping")
            }
            #expect(udp, "no UDP answer through nginx; actor log:\n\(h.log("lb-a"))")
            #expect(try h.holders("192.0.2.59", among: ["lb-a"]).isEmpty, "stale VIP not cleaned up at start")
            #expect(
                await eventually(.seconds(5)) {
                    try h.topo.exec("cl", [tools.curl, "-s", "-m", "1", "http://192.0.2.50/"]).output == "backend\n"
                }, "no HTTP through nginx")

            // SIGTERM: keepalived releases the VIP first, then nginx drains.
            h.stopActor("lb-a")
            #expect(try h.holders("192.0.2.50", among: ["lb-a"]).isEmpty, "VIP left behind after SIGTERM")

            // kubeproxy mode, pool without VRRP: the actor binds the VIP itself.
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60","ha":false}}}"#)
            try h.topo.spawn("lb-a", [tools.python, "-c", echo, "53", "node"])
            try h.startActor("lb-a", backend: "kubeproxy")
            #expect(
                await eventually(.seconds(20)) { try h.holders("192.0.2.50", among: ["lb-a"]) == ["lb-a"] },
                "VIP not bound; log:\n\(h.log("lb-a"))")
            #expect(
                await eventually(.seconds(5)) {
                    try h.topo.exec("cl", [tools.python, "-c", ask]).output.contains("node:ping")
                },
                "no UDP answer from the node holding the VIP")
            #expect(await eventually(.seconds(5)) { try h.metric("lb-a", "k8slb_vips_live") == 1 })
            h.stopActor("lb-a")
            #expect(try h.holders("192.0.2.50", among: ["lb-a"]).isEmpty, "VIP left behind after SIGTERM")
        }
    }

    /// Two LB nodes with their actors: the VIP settles on its preferred node; SIGTERM to that
    /// node's actor releases the VIP first (the other node holds it well within a second, never
    /// both for long) and then stops its proxy; the VIP keeps serving from the other node.
    /// An actor whose node stops being an LB node (its type=loadBalancer label removed while it
    /// keeps running, as when the DaemonSet's selector and the watcher's differ, or during
    /// maintenance) hands its VIPs over within a second, failing at most the request in flight at
    /// that instant, and takes its share back when the label returns. The standard exclude label
    /// does the same.
    @Test func ineligibleNodeHandsItsVIPsOverAndTakesThemBack() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            for node in nodes {
                _ = try await h.client.create(Node(metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"])))
            }
            let doc = try await h.webScenario(nodes: nodes, tools: tools)
            for node in nodes { try h.startActor(node) }
            let preferred = doc.groups[0].node
            let other = nodes.first { $0 != preferred }!
            var stable = 0
            _ = await eventually(.seconds(30)) {
                stable = try h.holders("192.0.2.50", among: nodes) == [preferred] && h.webServes(tools) ? stable + 1 : 0
                return stable >= 10
            }
            #expect(stable >= 10, "VIP not settled on \(preferred)")

            func probe(_ name: String) throws -> (Child, String) {
                let path = h.work.appendingPathComponent(name).path
                let p = try h.topo.spawn(
                    "cl",
                    [
                        "bash", "-c",
                        "while true; do \(tools.curl) -s -o /dev/null -m 2 -w '%{http_code} %{errormsg}\\n' http://192.0.2.50/ >> \(path); sleep 0.01; done",
                    ])
                return (p, path)
            }
            func results(_ p: Child, _ path: String) -> (ok: Int, failed: Int, errors: [String]) {
                kill(p.processIdentifier, SIGKILL)  // our own loop, by PID
                p.waitUntilExit()
                let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
                let failed = lines.filter { !$0.hasPrefix("200 ") }.map(String.init)
                return (lines.count - failed.count, failed.count, failed)
            }
            func relabel(_ node: String, _ labels: [String: String]) async throws {
                var n = try await h.client.get(Node.self, name: node)
                n.metadata.labels = labels
                _ = try await h.client.update(n)
            }
            func moved(to holder: String) throws -> Duration? {
                let start = ContinuousClock.now
                while ContinuousClock.now - start < .seconds(5) {
                    if try h.holders("192.0.2.50", among: nodes) == [holder] { return ContinuousClock.now - start }
                    usleep(10_000)
                }
                return nil
            }

            for (what, labels) in [
                ("type=loadBalancer removed", [String: String]()),
                (
                    "exclude-from-external-load-balancers added",
                    ["type": "loadBalancer", NodeEligibility.excludeLabel: ""]
                ),
            ] {
                let (away, awayPath) = try probe("away-\(what.prefix(4)).txt")
                try await Task.sleep(for: .milliseconds(300))
                try await relabel(preferred, labels)
                let handover = try moved(to: other)
                try await Task.sleep(for: .seconds(1))
                let a = results(away, awayPath)
                let (back, backPath) = try probe("back-\(what.prefix(4)).txt")
                try await relabel(preferred, ["type": "loadBalancer"])
                let takeBack = try moved(to: preferred)
                try await Task.sleep(for: .seconds(1))
                let b = results(back, backPath)
                print(
                    "ineligible node (\(what)): VIP moved to \(other) after \(handover.map { "\($0)" } ?? "never") (\(a.ok) ok, \(a.failed) failed\(a.errors.isEmpty ? "" : ": \(a.errors)")); label back: returned after \(takeBack.map { "\($0)" } ?? "never") (\(b.ok) ok, \(b.failed) failed\(b.errors.isEmpty ? "" : ": \(b.errors)"))"
                )
                #expect(handover != nil && handover! < .seconds(1), "\(preferred) gives the VIP up within 1 s")
                // At most the one request in flight at the move: its connection lives on the old
                // holder, and its next packet, sent to the new one after the gratuitous ARP, is
                // answered with a reset (true of every VIP that moves between nodes; a request whose
                // SYN met the move waits 1 s for its retransmit and succeeds). Seen: 0 in most runs,
                // 1 in a CI run.
                #expect(a.failed <= 1 && a.ok >= 10, "handing over fails at most the one request in flight")
                #expect(takeBack != nil, "it takes its share back")
                #expect(b.failed <= 1 && b.ok > 20, "taking it back fails at most the one request in flight")
            }
        }
    }

    @Test func sigtermHandsTheVIPOverAtOnce() async throws { try await Self.sigtermHandover(unicast: false) }

    /// The same with VRRP by unicast between the nodes' InternalIPs (from the Node objects).
    @Test func sigtermHandsTheVIPOverAtOnceWithUnicastVRRP() async throws {
        try await Self.sigtermHandover(unicast: true)
    }

    /// The actor is SIGKILLed (its HAProxy and keepalived live on, orphaned); the restarted actor
    /// ends those leftovers (by the PIDs in its run directory) before starting its own, and serves.
    @Test func restartedActorEndsLeftoverDaemons() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            try await h.webScenario(nodes: ["lb-a"], tools: tools)
            func serving() throws -> Bool { try h.webServes(tools) }
            func pid(_ file: String) -> Int32? {
                (try? String(contentsOfFile: h.work.appendingPathComponent("lb-a/\(file)").path, encoding: .utf8))
                    .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            func alive(_ pid: Int32) -> Bool {
                !(FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()).isEmpty
            }
            try h.startActor("lb-a")
            #expect(await eventually(.seconds(20)) { try serving() }, "not serving; log:\n\(h.log("lb-a"))")
            guard let haproxy = pid("haproxy.pid"), let keepalived = pid("keepalived.pid") else {
                Issue.record("no pid files in the run directory")
                return
            }
            h.stopActor("lb-a", signal: SIGKILL)
            #expect(
                alive(haproxy) && alive(keepalived), "the daemons outlive a SIGKILLed actor (what this test is about)")
            try h.startActor("lb-a")
            #expect(
                await eventually(.seconds(20)) { !alive(haproxy) && !alive(keepalived) },
                "leftover daemons still running")
            #expect(
                await eventually(.seconds(20)) { try serving() },
                "not serving after the restart; log:\n\(h.log("lb-a"))")
            #expect(pid("haproxy.pid") != haproxy)
        }
    }

    static func sigtermHandover(unicast: Bool) async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            let doc = try await h.webScenario(nodes: nodes, tools: tools)
            if unicast {
                for (node, address) in zip(nodes, ["192.0.2.11", "192.0.2.12"]) {
                    _ = try await h.client.create(
                        Node(
                            metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                            addresses: [.init(type: "InternalIP", address: address)]))
                }
            }
            for node in nodes { try h.startActor(node, extra: unicast ? ["--unicast"] : []) }
            let preferred = doc.groups[0].node
            let other = nodes.first { $0 != preferred }!
            var stable = 0
            _ = await eventually(.seconds(30)) {
                stable = try h.holders("192.0.2.50", among: nodes) == [preferred] ? stable + 1 : 0
                return stable >= 10
            }
            #expect(stable >= 10, "VIP not settled on \(preferred); logs:\n\(h.log("lb-a"))\n\(h.log("lb-b"))")
            if unicast {
                let conf = try String(
                    contentsOfFile: h.work.appendingPathComponent("lb-a/keepalived.conf").path, encoding: .utf8)
                #expect(
                    conf.contains("unicast_src_ip 192.0.2.11") && conf.contains("192.0.2.12"),
                    "unicast peers not rendered:\n\(conf)")
            }
            #expect(
                await eventually(.seconds(10)) { try h.webServes(tools) },
                "not serving before the SIGTERM; log:\n\(h.log(preferred))")

            let p = h.actors[preferred]!
            let sent = ContinuousClock.now
            kill(p.processIdentifier, SIGTERM)
            var handedOver: Duration?
            var both: Duration = .zero
            var last = sent
            while ContinuousClock.now - sent < .seconds(3) {
                let now = try h.holders("192.0.2.50", among: nodes)
                let t = ContinuousClock.now
                if now.count == 2 { both += t - last }
                last = t
                if handedOver == nil, now == [other] { handedOver = t - sent }
                usleep(10_000)
            }
            p.waitUntilExit()
            let exited = ContinuousClock.now - sent
            print(
                "actor SIGTERM (\(unicast ? "unicast" : "multicast") VRRP): VIP on \(other) alone after \(handedOver.map { "\($0)" } ?? "never"), on both nodes for \(both), actor exited after \(exited)"
            )
            #expect(handedOver != nil && handedOver! < .seconds(1), "handover took \(String(describing: handedOver))")
            #expect(both < .milliseconds(500))
            #expect(try h.holders("192.0.2.50", among: nodes) == [other])
            #expect(try h.webServes(tools))
            // Its HAProxy is gone with it (the master socket no longer answers).
            let socket = h.work.appendingPathComponent("\(preferred)/haproxy-master.sock").path
            #expect((try? MasterCLI.send("show proc", socket: socket)) == nil)
        }
    }
}
