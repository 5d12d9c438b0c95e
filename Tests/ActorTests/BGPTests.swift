import Core
import DataPlane
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// BGP pools with the real actor and real FRR in network namespaces: a router namespace running
/// FRR (bgpd with multipath, bfdd) peers with two LB-node namespaces; the client sits behind the
/// router; the backend is on the LB segment.
@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3", "vtysh").and(built: "k8slb-actor")))
struct BGPTests {
    static let vip4 = "203.0.113.10", vip6 = "2001:db8:ffff::10"
    static let nodes = ["lb-a", "lb-b"]

    /// BFD timers of the test (and the benchmark: K8SLB_BFD_MS, K8SLB_BFD_MULT).
    static var bfdMilliseconds: Int {
        Int(ProcessInfo.processInfo.environment["K8SLB_BFD_MS"] ?? "") ?? BFDSettings.default.receiveMilliseconds
    }
    static var bfdMultiplier: Int {
        Int(ProcessInfo.processInfo.environment["K8SLB_BFD_MULT"] ?? "") ?? BFDSettings.default.multiplier
    }

    static var config: String {
        #"""
        {"pools": {"edge": {"network": "203.0.113.0/24", "range": "203.0.113.10-203.0.113.20", "announce": "bgp"},
                   "edge6": {"network": "2001:db8:ffff::/64", "range": "2001:db8:ffff::10-2001:db8:ffff::20", "announce": "bgp"}},
         "bgp": {"asn": 64513, "peers": [
            {"address": "192.0.2.1", "asn": 64512, "bfd": {"rx": \#(bfdMilliseconds), "tx": \#(bfdMilliseconds), "multiplier": \#(bfdMultiplier)}},
            {"address": "2001:db8::1", "asn": 64512, "bfd": {"rx": \#(bfdMilliseconds), "tx": \#(bfdMilliseconds), "multiplier": \#(bfdMultiplier)}}]}}
        """#
    }

    /// The router's own FRR config (what an operator's top-of-rack would have; a minimal FRR 8.4 router config).
    static var routerConfig: String {
        """
        frr defaults traditional
        hostname router
        ip prefix-list VIPS seq 5 permit 203.0.113.0/24 ge 32
        ipv6 prefix-list VIPS6 seq 5 permit 2001:db8:ffff::/48 ge 128
        route-map LB-IN permit 10
         match ip address prefix-list VIPS
        exit
        route-map LB-IN6 permit 10
         match ipv6 address prefix-list VIPS6
        exit
        route-map DENY-ALL deny 10
        exit
        router bgp 64512
         bgp router-id 192.0.2.1
         bgp log-neighbor-changes
         neighbor LB peer-group
         neighbor LB remote-as 64513
         neighbor LB bfd
         neighbor LB bfd profile lb
         neighbor LB timers connect 1
         neighbor 192.0.2.11 peer-group LB
         neighbor 192.0.2.12 peer-group LB
         neighbor LB6 peer-group
         neighbor LB6 remote-as 64513
         neighbor LB6 bfd
         neighbor LB6 bfd profile lb
         neighbor LB6 timers connect 1
         neighbor 2001:db8::11 peer-group LB6
         neighbor 2001:db8::12 peer-group LB6
         address-family ipv4 unicast
          maximum-paths 8
          neighbor LB route-map LB-IN in
          neighbor LB route-map DENY-ALL out
          no neighbor LB6 activate
         exit-address-family
         address-family ipv6 unicast
          maximum-paths 8
          neighbor LB6 activate
          neighbor LB6 route-map LB-IN6 in
          neighbor LB6 route-map DENY-ALL out
         exit-address-family
        exit
        bfd
         profile lb
          detect-multiplier \(bfdMultiplier)
          receive-interval \(bfdMilliseconds)
          transmit-interval \(bfdMilliseconds)
         exit
        exit

        """
    }

    /// The scenario: router (FRR), two LB nodes with actors, a backend answering with the peer
    /// address it sees (which LB node proxied), a client behind the router.
    final class Scenario {
        let h: ActorHarness
        let tools: ActorHarness.Tools
        let router: FRRProcess

        init(_ h: ActorHarness, _ tools: ActorHarness.Tools) async throws {
            self.h = h
            self.tools = tools
            let topo = h.topo
            try topo.host("router", addresses: ["192.0.2.1/24", "2001:db8::1/64"])
            for (i, node) in BGPTests.nodes.enumerated() {
                try topo.host(node, addresses: ["192.0.2.\(11 + i)/24", "2001:db8::\(11 + i)/64"])
                try topo.sh(["-n", topo.ns(node), "route", "add", "default", "via", "192.0.2.1"])
                try topo.sh(["-n", topo.ns(node), "-6", "route", "add", "default", "via", "2001:db8::1"])
            }
            try topo.host("be", addresses: ["192.0.2.21/24"])
            // The client behind the router (its own link; the only way to the VIPs is the routes).
            try topo.client(
                "cl", behind: "router",
                links: [("198.51.100.1/24", "198.51.100.2/24"), ("2001:db8:2::1/64", "2001:db8:2::2/64")])
            for ns in [topo.ns("be")] {
                try topo.sh(["-n", ns, "route", "add", "198.51.100.0/24", "via", "192.0.2.1"])
            }
            // Forwarding and L4 hashing over the next hops (`fib-multipath-hash-policy` 1).
            _ = try topo.exec(
                "router",
                [
                    "sh", "-c",
                    "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1",
                ])
            for node in BGPTests.nodes {
                _ = try topo.exec(
                    node,
                    [
                        "sh", "-c",
                        "sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.eth0.keep_addr_on_down=1",
                    ])
            }
            let echo =
                "import http.server,sys\nclass H(http.server.BaseHTTPRequestHandler):\n protocol_version='HTTP/1.0'\n def do_GET(self):\n"
                + "  b=(self.client_address[0]+' \\n').encode();self.send_response(200);self.send_header('Content-Length',str(len(b)));self.end_headers();self.wfile.write(b)\n"
                + " def log_message(self,*a): pass\nhttp.server.ThreadingHTTPServer.request_queue_size=1024\nhttp.server.ThreadingHTTPServer(('0.0.0.0',8080),H).serve_forever()\n"
            try topo.spawn("be", [tools.python, "-c", echo], listening: 8080)

            // The router's FRR, started with its config (FRRProcess serves the test as it serves the actor).
            let dir = h.work.appendingPathComponent("router-frr").path
            router = FRRProcess(paths: .init(directory: dir), launcher: [tools.ip, "netns", "exec", topo.ns("router")])
            try router.applyBlocking(BGPTests.routerConfig)

            try await h.writeConfig(BGPTests.config)
            var vips: [AssignmentDocument.VIP] = []
            for (name, address, pool) in [("web", BGPTests.vip4, "edge"), ("web6", BGPTests.vip6, "edge6")] {
                let key = ServiceKey(namespace: "default", name: name)
                try await h.createService(key, ports: [("http", 80)])
                try await h.setSlice(key, name: "\(name)-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
                vips.append(
                    .init(
                        address: try IPAddress(parsing: address), pool: try PoolName(parsing: pool),
                        services: [.init(key: key, ports: [.init(name: "http", port: 80, targetPort: .number(8080))])]))
            }
            try await h.publish(AssignmentDocument(vips: vips, nodes: BGPTests.nodes))
            for node in BGPTests.nodes { try h.startActor(node) }
        }

        func stop() { router.stopBlocking() }

        /// The router's next hops for `vip` (kernel FIB).
        func nextHops(_ vip: String) throws -> [String] {
            let out = try h.topo.exec("router", [tools.ip, vip.contains(":") ? "-6" : "-4", "route", "show", vip])
                .output
            var hops: [String] = []
            for token in out.split(whereSeparator: { $0 == " " || $0 == "\n" }).enumerated()
            where token.element == "via" {
                let all = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
                if token.offset + 1 < all.count { hops.append(String(all[token.offset + 1])) }
            }
            return hops.sorted()
        }

        /// Runs the probe in the client namespace for `seconds`.
        func probe(_ vip: String, seconds: Double, every ms: Double = 5) throws -> Child {
            try ConnectProbe.start(
                ip: tools.ip, python: tools.python, namespace: h.topo.ns("cl"), host: vip, port: 80, seconds: seconds,
                every: ms)
        }

        static func results(_ p: Child) -> [(t: Int64, ok: Bool, node: String)] {
            ConnectProbe.results(p).map { ($0.t, $0.ok, $0.body) }
        }

        static func now() -> Int64 { ConnectProbe.now() }

        /// Both LB nodes are next hops for both VIPs.
        func converged() async -> Bool {
            await eventually(.seconds(30)) {
                try self.nextHops(BGPTests.vip4).count == 2 && self.nextHops(BGPTests.vip6).count == 2
            }
        }
    }

    static func with(_ body: (Scenario) async throws -> Void) async throws {
        guard let tools = ActorHarness.tools() else { return }
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/frr/bgpd") else {
            if requireIntegration { Issue.record("FRR (/usr/lib/frr/bgpd) is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            let s = try await Scenario(h, tools)
            defer { s.stop() }
            try await body(s)
        }
    }

    /// The router learns each VIP with one next hop per LB node (IPv4 and IPv6), and new
    /// connections from many source ports spread over both nodes.
    @Test func ecmpOverEveryLBNode() async throws {
        try await Self.with { s in
            let ok = await s.converged()
            #expect(
                ok,
                "router next hops v4 \((try? s.nextHops(Self.vip4)) ?? []), v6 \((try? s.nextHops(Self.vip6)) ?? []); actor log:\n\(s.h.log("lb-a"))"
            )
            guard ok else { return }
            print(
                "bgp: router next hops for \(Self.vip4): \(try s.nextHops(Self.vip4)); for \(Self.vip6): \(try s.nextHops(Self.vip6))"
            )
            let bgp = try s.h.topo.exec(
                "router",
                [
                    "vtysh", "--vty_socket", s.h.work.appendingPathComponent("router-frr").path, "-c",
                    "show ip route \(Self.vip4)/32 json",
                ]
            ).output
            #expect(bgp.contains("\"internalNextHopActiveNum\":2"), "FRR's view: \(bgp)")
            for vip in [Self.vip4, Self.vip6] {
                let p = try s.probe(vip, seconds: 2, every: 5)
                let r = Scenario.results(p)
                var perNode: [String: Int] = [:]
                for x in r where x.ok { perNode[x.node, default: 0] += 1 }
                let failed = r.filter { !$0.ok }.count
                print(
                    "bgp: \(r.count) new connections to \(vip): per LB node \(perNode.sorted { $0.key < $1.key }), \(failed) failed"
                )
                #expect(failed == 0)
                let fair = Double(r.count) / 2
                #expect(perNode.count == 2 && perNode.values.allSatisfy { Double($0) >= fair / 3 }, "spread \(perNode)")
            }
            #expect(
                await eventually(.seconds(10)) {
                    try s.h.metric("lb-a", #"k8slb_bgp_session_up{peer="192.0.2.1"}"#) == 1
                })
            #expect(try s.h.metric("lb-a", #"k8slb_bgp_prefixes_announced{peer="192.0.2.1"}"#) == 1)
            #expect(try s.h.metric("lb-a", #"k8slb_bfd_up{peer="192.0.2.1"}"#) == 1)
            // The BGP/BFD metrics the alerts and the dashboard use (MonitoringTests checks the rest).
            let scraped = Monitoring.sampleNames(try s.h.metrics("lb-a"))
            let bgpNames = try Monitoring.usedMetricNames().filter {
                $0.hasPrefix("k8slb_bgp_") || $0.hasPrefix("k8slb_bfd_")
            }
            #expect(bgpNames.count == 3 && bgpNames.isSubset(of: scraped), "\(bgpNames.subtracting(scraped))")
            let announced = try s.h.metric("lb-a", #"k8slb_vip_master{vip="\#(Self.vip4)",announce="bgp"}"#)
            #expect(announced == 1, "a BGP VIP is held (announced) on every node")
            let events = try await s.h.events(ServiceKey(namespace: "default", name: "web"))
            #expect(events.filter { $0.reason == "VIPAnnounced" }.count == 2, "one VIPAnnounced per node: \(events)")
        }
    }

    /// An LB node's link goes down: BFD detects it, the router drops that next hop, and new
    /// connections succeed again (the outage is printed; K8SLB_BGP_TRIALS repeats it).
    @Test(.benchmark) func linkDownFailsOverWithBFD() async throws {
        try await Self.with { s in
            let ok = await s.converged()
            #expect(ok, "not converged")
            guard ok else { return }
            let trials = Int(ProcessInfo.processInfo.environment["K8SLB_BGP_TRIALS"] ?? "1") ?? 1
            if ProcessInfo.processInfo.environment["K8SLB_BGP_DEBUG"] != nil {
                print(await s.router.show("show bfd peers") ?? "-")
            }
            var outages: [Double] = []
            let peer = "vlb-a\(s.h.topo.id.prefix(4))"
            for trial in 1...trials {
                let p = try s.probe(Self.vip4, seconds: 3, every: 2)
                try await Task.sleep(for: .milliseconds(700))
                let down = Scenario.now()
                try s.h.topo.sh(["-n", s.h.topo.ns("sw"), "link", "set", peer, "down"])
                // When the router's FIB loses lb-a (BFD down → bgpd → zebra → kernel).
                var routeChanged: Double?
                for _ in 0..<300 where routeChanged == nil {
                    if (try? s.nextHops(Self.vip4)) == ["192.0.2.12"] {
                        routeChanged = Double(Scenario.now() - down) / 1e9
                    }
                    usleep(3_000)
                }
                let r = Scenario.results(p)
                let lastFail = r.last { !$0.ok && $0.t > down }?.t
                let firstOKAfter = lastFail.flatMap { lf in r.first { $0.ok && $0.t > lf }?.t }
                let outage = Double((firstOKAfter ?? down) - down) / 1e9
                outages.append(outage)
                let hops = try s.nextHops(Self.vip4)
                print(
                    "bgp failover trial \(trial): outage for new connections \(String(format: "%.3f", outage)) s (\(r.filter { !$0.ok }.count) of \(r.count) attempts failed); the router's route lost lb-a after \(routeChanged.map { String(format: "%.3f s", $0) } ?? "never"); next hops now \(hops)"
                )
                #expect(hops == ["192.0.2.12"], "lb-a's next hop removed")
                #expect(outage < 1.0, "outage \(outage) s")
                try s.h.topo.sh(["-n", s.h.topo.ns("sw"), "link", "set", peer, "up"])
                #expect(await s.converged(), "lb-a back as a next hop")
                try await Task.sleep(for: .seconds(1))
            }
            let sorted = outages.sorted()
            print(
                "bgp failover: \(trials) trials, BFD \(Self.bfdMilliseconds) ms x \(Self.bfdMultiplier): worst \(String(format: "%.3f", sorted.last ?? 0)) s, median \(String(format: "%.3f", sorted[sorted.count / 2])) s"
            )
        }
    }

    /// No flapping with both cores saturated: busy loops on every core for K8SLB_SATURATION_SECONDS
    /// (CI: 8 s; the benchmark 120 s); every 100 ms the router must still have both next hops
    /// for the VIP, and its BFD sessions must not have gone down.
    @Test(.benchmark) func noBFDFlapsWithTheCPUsSaturated() async throws {
        try await Self.with { s in
            let ok = await s.converged()
            #expect(ok, "not converged")
            guard ok else { return }
            let seconds = Double(ProcessInfo.processInfo.environment["K8SLB_SATURATION_SECONDS"] ?? "8") ?? 8
            func downs() async -> Int {
                // Session-down counters of the router's BFD sessions.
                let text = await s.router.show("show bfd peers counters json") ?? "[]"
                let list = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
                return list.reduce(0) { $0 + (($1["session-down"] as? Int) ?? 0) }
            }
            let downsBefore = await downs()
            let burners = try CPUBurners()
            defer { burners.stop() }
            var samples = 0
            var degraded = 0
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(seconds) {
                try await Task.sleep(for: .milliseconds(100))
                samples += 1
                if (try? s.nextHops(Self.vip4).count) != 2 { degraded += 1 }
            }
            burners.stop()
            let flaps = await downs() - downsBefore
            print(
                "bgp saturation: \(Int(seconds)) s with \(burners.processes.count) busy loops on \(ProcessInfo.processInfo.activeProcessorCount) cores, BFD \(Self.bfdMilliseconds) ms x \(Self.bfdMultiplier): \(samples) samples, \(degraded) with a next hop missing, \(flaps) BFD session-down events"
            )
            #expect(degraded == 0 && flaps == 0, "flapping under saturation")
        }
    }

    /// SIGTERM to an actor under steady client load: its routes are withdrawn before its proxy
    /// stops, so no new connection fails; the proxy hung on the other node: that node withdraws
    /// within the health check's fall time and announces again once it answers.
    @Test func sigtermAndHungProxyWithdrawFirst() async throws {
        try await Self.with { s in
            let ok = await s.converged()
            #expect(ok, "not converged")
            guard ok else { return }
            let p = try s.probe(Self.vip4, seconds: 6, every: 5)
            try await Task.sleep(for: .seconds(1))
            let term = Scenario.now()
            s.h.stopActor("lb-a")
            let exited = Scenario.now()
            let r = Scenario.results(p)
            let failed = r.filter { !$0.ok }
            let onA = r.filter { $0.ok && $0.node == "192.0.2.11" && $0.t > term }.last
            print(
                "bgp SIGTERM: actor exited after \(String(format: "%.2f", Double(exited - term) / 1e9)) s; \(r.count) new connections, \(failed.count) failed\(failed.map { String(format: " (started %.3f s after the signal)", Double($0.t - term) / 1e9) }.joined()); last one served by lb-a \(onA.map { String(format: "%.3f s", Double($0.t - term) / 1e9) } ?? "before the signal") after it"
            )
            // At most one: the routers withdraw lb-a while it still serves, but a handshake that is
            // in flight at the very moment the router's FIB switches has its SYN answered by lb-a
            // and its next packet hashed to lb-b (a RST; measured before, 0-1 per switch).
            // Without per-flow state shared between the nodes no ECMP withdrawal avoids that race.
            #expect(failed.count <= 1, "new connections failed during the rolling restart: \(failed.count)")
            #expect(try s.nextHops(Self.vip4) == ["192.0.2.12"])
            let log = s.h.log("lb-a")
            let withdrawn = log.range(of: "BGP VIPs withdrawn")?.lowerBound
            let drained = log.range(of: "proxy")?.lowerBound
            #expect(withdrawn != nil, "the actor logs the withdrawal before draining")
            _ = drained

            // lb-b's HAProxy hangs (SIGSTOP): it withdraws; it comes back: it announces again.
            let pids = try String(
                contentsOfFile: s.h.work.appendingPathComponent("lb-b/haproxy.pid").path, encoding: .utf8
            )
            .split(whereSeparator: \.isNewline).compactMap { Int32($0) }
            let workers = try s.h.topo.exec("lb-b", ["pgrep", "-P", "\(pids.first ?? 0)"]).output.split(
                whereSeparator: \.isNewline
            ).compactMap { Int32($0) }
            for pid in pids + workers { kill(pid, SIGSTOP) }
            let stopped = ContinuousClock.now
            let gone = await eventually(.seconds(5)) { try s.nextHops(Self.vip4).isEmpty }
            let took = ContinuousClock.now - stopped
            for pid in pids + workers { kill(pid, SIGCONT) }
            print("bgp: lb-b's HAProxy hung: route withdrawn after \(took)")
            #expect(gone, "a node whose proxy does not answer withdraws")
            #expect(
                await eventually(.seconds(10)) { try s.nextHops(Self.vip4) == ["192.0.2.12"] },
                "announced again once the proxy answers")
        }
    }

    /// A config with a bad peer is refused with its JSON path; the running one keeps serving.
    @Test func badPeerConfigKeepsTheLastGoodOne() async throws {
        try await Self.with { s in
            let ok = await s.converged()
            #expect(ok, "not converged")
            guard ok else { return }
            for (bad, path) in [
                (#""asn": 4294967296"#, "bgp.peers[0].asn"),
                (#""asn": 64512, "families": ["ipv5"]"#, "bgp.peers[0].families[0]"),
                (#""asn": 64512, "password": "x\ny""#, "bgp.peers[0].password"),
            ] {
                let text =
                    #"{"pools": {"edge": {"network": "203.0.113.0/24", "range": "203.0.113.10-203.0.113.20", "announce": "bgp"}}, "bgp": {"asn": 64513, "peers": [{"address": "192.0.2.1", "#
                    + bad + "}]}}"
                do throws(ConfigValidationError) {
                    _ = try UserConfig.parse(text)
                    Issue.record("accepted: \(bad)")
                } catch {
                    #expect(error.errors.contains { $0.path == path }, "\(error.errors.map(\.description))")
                    print("bgp: refused: \(error.errors.map(\.description).joined(separator: "; "))")
                }
                try await s.h.writeConfig(text)
                #expect(await eventually(.seconds(5)) { try s.h.metric("lb-a", "k8slb_config_stale") == 1 })
                let hops = (try? s.nextHops(Self.vip4)) ?? []
                #expect(hops.count == 2, "still announced by both nodes")
            }
            let p = try s.probe(Self.vip4, seconds: 1, every: 10)
            let results = Scenario.results(p)
            #expect(!results.isEmpty && results.allSatisfy { $0.ok })
        }
    }
}
