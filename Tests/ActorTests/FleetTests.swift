import Core
import Foundation
import KubeClient
import TestAPIServer
import TestSupport
import Testing

/// One LB fleet for three clusters (issue 24): three test API servers, two LB machines as namespaces
/// running one `k8slb-actor --fleet` each (real keepalived and HAProxy), a worker node per cluster
/// (a namespace answering on the Services' nodePort: the pools' backends are NodePorts) and
/// a client probing the clusters' VIPs every 50 ms throughout. Every cluster calls its Service
/// `default/web` and its pool `default`: the fleet keeps them apart.
///
/// Then, one at a time, each with the other cluster probed: green's config overlapping blue's
/// pool, green asking for blue's VIP, and green setting raw HAProxy lines only the fleet may set:
/// each is refused for green with an Event in green, blue sees no failed request (and green keeps
/// what it had), red is never touched and sees no failed request at all. Green's API server down
/// for 30 s: green keeps serving, nothing moves, and on its return nothing moves either. Last,
/// failover: the machine holding the VIPs loses its link and the other serves every cluster.
@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3"))) struct FleetTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static let nodes = ["lb-a", "lb-b"]
    static let web = ServiceKey(namespace: "default", name: "web")
    /// The Services' nodePort on each cluster's worker node.
    static let nodePort: UInt16 = 30080

    /// A cluster beside the harness's own: its API server, client and kubeconfig.
    final class Cluster: Sendable {
        let server: TestAPIServer
        let client: KubeClient
        let kubeconfig: String
        init(work: URL, name: String) async throws {
            server = TestAPIServer(windowSize: 20_000, bookmarkInterval: .milliseconds(500))
            let port = try await server.start()
            client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"))
            kubeconfig = work.appendingPathComponent("\(name).kubeconfig").path
            try writeKubeconfig(port: port, token: "actor", to: kubeconfig)
        }

        func put(_ name: String, _ data: [String: String]) async throws {
            try await ActorHarness.put(client, name, data)
        }

        func publish(_ document: AssignmentDocument) async throws {
            try await ActorHarness.publish(document, to: client)
        }

        func events(kind: String, name: String) async throws -> [(reason: String, message: String)] {
            try await client.listAll(Event.self).items
                .filter { $0.involvedObject.kind == kind && $0.involvedObject.name == name }
                .map { ($0.reason ?? "", $0.message ?? "") }
        }
    }

    /// `vips` (address, Service on port 80, at `nodePort` on the nodes) in pool default, VRRP
    /// groups over the two machines above `offset`; `noCheck`: the Services' backends unchecked.
    static func document(
        _ vips: [(String, ServiceKey)], offset: Int, noCheck: Bool = false, nodePort: UInt16? = FleetTests.nodePort
    ) -> AssignmentDocument {
        let plan = VRRPPlan.make(
            vips: vips.map { (ip($0.0), .default) }, nodes: nodes, previous: [], vridOffset: offset)
        return AssignmentDocument(
            vips: vips.map {
                var entry = AssignmentDocument.ServiceEntry(
                    key: $0.1, ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
                entry.noCheck = noCheck
                entry.ports[0].nodePort = nodePort
                return .init(address: ip($0.0), pool: .default, services: [entry], vrid: plan.vridOf[ip($0.0)])
            }, nodes: nodes, groups: plan.groups)
    }

    /// A fleet file the actor cannot use stops it at start, with every error and its JSON path;
    /// `--fleet` with kube-proxy backends is refused (it forwards only inside its own cluster).
    @Test func badFleetFileOrKubeProxyStopsTheActorWithTheReason() throws {
        guard let binary = ActorHarness.binary else {
            Issue.record("k8slb-actor not built")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-fleet-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("fleet.json").path
        try #"{"clusters": [{"name": "Blue", "kubeconfig": "/etc/k"}, {"name": "green"}], "settings": {"pools": {}}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try run(binary, ["run", "--fleet", file, "--run-dir", dir.path, "--metrics-address", ""])
        #expect(bad.status != 0)
        for text in ["clusters[0].name", "lower-case", "clusters[1].kubeconfig", "settings.pools"] {
            #expect(bad.output.contains(text), "\(text) in: \(bad.output)")
        }
        let proxyless = try run(binary, ["run", "--fleet", file, "--backend", "kubeproxy"])
        #expect(proxyless.status != 0 && proxyless.output.contains("--fleet needs a proxy"), "\(proxyless.output)")
    }

    @Test func threeClustersOneFleetIsolatedThroughConflictsOutageAndFailover() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            let green = try await Cluster(work: h.work, name: "green")
            let red = try await Cluster(work: h.work, name: "red")
            defer { for c in [green, red] { Task { try? await c.server.stop() } } }
            try await h.addLBNodes(Self.nodes)
            // Each cluster's worker node (its own namespace) answers on the Service's nodePort; the
            // fleet machines are outside the clusters and send traffic there ("backends": "nodeports").
            let workers = [("blue", "192.0.2.21"), ("green", "192.0.2.22"), ("red", "192.0.2.23")]
            for (name, address) in workers {
                try h.topo.host(name, addresses: ["\(address)/24"])
                let dir = h.work.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try "\(name)\n".write(to: dir.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
                try h.topo.spawn(
                    name,
                    [
                        tools.python, "-m", "http.server", "\(Self.nodePort)", "--bind", "0.0.0.0", "--directory",
                        dir.path,
                    ],
                    listening: Int(Self.nodePort))
            }
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            // Blue: the harness's cluster. Green and red: the same segment, their own ranges and
            // VRIDs. Red is never touched: whatever green does, it must not notice.
            let blueConfig =
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.59","backends":"nodeports"}}}"#
            let greenConfig =
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.60-192.0.2.69","backends":"nodeports"}},"vrrp":{"vridOffset":100}}"#
            try await h.writeConfig(blueConfig)
            try await green.put("global", ["config": greenConfig])
            try await red.put(
                "global",
                [
                    "config":
                        #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.70-192.0.2.79","backends":"nodeports"}},"vrrp":{"vridOffset":200}}"#
                ])
            for c in [green, red] {
                for (i, node) in Self.nodes.enumerated() {
                    _ = try await c.client.create(
                        Node(
                            metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                            addresses: [.init(type: "InternalIP", address: "192.0.2.\(11 + i)")]))
                }
            }
            // Every cluster calls its worker node `worker` and its Service `default/web`.
            for ((_, address), client) in zip(workers, [h.client, green.client, red.client]) {
                var worker = Node(
                    metadata: ObjectMeta(name: "worker"), addresses: [.init(type: "InternalIP", address: address)])
                worker.status?.conditions = [Condition(type: "Ready", status: "True")]
                _ = try await client.create(worker)
                _ = try await client.create(ActorHarness.service(Self.web, ports: [("http", 80)]))
            }
            let greenDocument = Self.document([("192.0.2.60", Self.web)], offset: 100)
            try await h.publish(Self.document([("192.0.2.50", Self.web)], offset: 0))
            try await green.publish(greenDocument)
            try await red.publish(Self.document([("192.0.2.70", Self.web)], offset: 200))

            let fleet = h.work.appendingPathComponent("fleet.json").path
            try #"""
            {"clusters": [{"name": "blue", "kubeconfig": "\#(h.kubeconfig)", "limits": {"vips": 10}},
                          {"name": "green", "kubeconfig": "\#(green.kubeconfig)"},
                          {"name": "red", "kubeconfig": "\#(red.kubeconfig)"}],
             "settings": {"vrrp": {"advertInterval": 0.1}}}
            """#.write(toFile: fleet, atomically: true, encoding: .utf8)
            for node in Self.nodes { try h.startActor(node, extra: ["--fleet", fleet]) }

            // Every cluster served through its VIP, each by its own backend.
            func get(_ vip: String) throws -> String {
                try h.topo.exec("cl", [tools.curl, "-s", "-m", "1", "http://\(vip)/"]).output
            }
            let served = await eventually(.seconds(20)) {
                try get("192.0.2.50") == "blue\n" && get("192.0.2.60") == "green\n" && get("192.0.2.70") == "red\n"
            }
            guard served else {
                Issue.record("the fleet never served the three clusters:\n\(h.actorLogs())")
                return
            }
            print(
                "fleet: blue, green and red served through 192.0.2.50, .60 and .70 by one keepalived and one HAProxy per machine"
            )

            // The probe: the three VIPs every 50 ms, one line per request, for the whole test.
            let probeLog = h.work.appendingPathComponent("probe.log").path
            try h.topo.spawn(
                "cl",
                [
                    "/bin/sh", "-c",
                    "while :; do for v in 50 60 70; do r=$(\(tools.curl) -s -m 1 http://192.0.2.$v/) || r=FAIL; echo \"$v ${r:-EMPTY}\"; done; sleep 0.05; done > \(probeLog)",
                ])
            func probe() -> (blue: [String], green: [String], red: [String]) {
                let lines = ((try? String(contentsOfFile: probeLog, encoding: .utf8)) ?? "").split(separator: "\n")
                    .map(String.init)
                return (
                    lines.filter { $0.hasPrefix("50 ") }, lines.filter { $0.hasPrefix("60 ") },
                    lines.filter { $0.hasPrefix("70 ") }
                )
            }
            func failures(_ lines: ArraySlice<String>, _ want: String) -> Int { lines.filter { $0 != want }.count }
            try await Task.sleep(for: .seconds(1))

            // 1. Green's pool overlaps blue's: refused whole (Event on green's ConfigMap); green
            //    keeps its last admitted config and VIP; blue sees nothing.
            var mark = probe()
            try await green.put(
                "global",
                [
                    "config":
                        #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.55-192.0.2.69","backends":"nodeports"}},"vrrp":{"vridOffset":100}}"#
                ])
            let overlap = await eventually(.seconds(10)) {
                try await green.events(kind: "ConfigMap", name: "global").contains { $0.reason == "FleetPoolOverlap" }
            }
            #expect(overlap, "FleetPoolOverlap Event in green:\n\(h.actorLogs())")
            try await Task.sleep(for: .seconds(2))
            var now = probe()
            let overlapBlue = failures(now.blue[mark.blue.count...], "50 blue")
            let overlapGreen = failures(now.green[mark.green.count...], "60 green")
            #expect(
                overlapBlue == 0 && overlapGreen == 0, "overlap: failures blue \(overlapBlue), green \(overlapGreen)")
            #expect(try await h.client.listAll(Event.self).items.allSatisfy { !$0.reason!.hasPrefix("Fleet") })
            print(
                "fleet: green's overlapping pool refused (Event in green); requests during it: blue \(now.blue.count - mark.blue.count) with \(overlapBlue) failed, green \(now.green.count - mark.green.count) with \(overlapGreen) failed"
            )
            try await green.put("global", ["config": greenConfig])

            // 2. Green asks for blue's address (a static IP in the shared network): refused for
            //    green's Service, with an Event there; blue keeps it.
            let grab = ServiceKey(namespace: "default", name: "grab")
            _ = try await green.client.create(ActorHarness.service(grab, ports: [("http", 80)]))
            mark = probe()
            try await green.publish(Self.document([("192.0.2.60", Self.web), ("192.0.2.50", grab)], offset: 100))
            let taken = await eventually(.seconds(10)) {
                try await green.events(kind: "Service", name: "grab").contains { $0.reason == "FleetVIPTaken" }
            }
            #expect(taken, "FleetVIPTaken Event on green's default/grab:\n\(h.actorLogs())")
            // Blue's VIP is live on a machine, but not green's: no VIPActive for green's Service.
            try await Task.sleep(for: .seconds(1))
            #expect(try await !green.events(kind: "Service", name: "grab").contains { $0.reason == "VIPActive" })
            try await Task.sleep(for: .seconds(2))
            now = probe()
            let grabBlue = failures(now.blue[mark.blue.count...], "50 blue")
            #expect(grabBlue == 0 && failures(now.green[mark.green.count...], "60 green") == 0)
            print(
                "fleet: green's claim on 192.0.2.50 refused (FleetVIPTaken on default/grab in green); blue failed \(grabBlue)"
            )
            try await green.publish(greenDocument)

            // 3. Raw HAProxy lines that would reach every cluster's frontends: refused for green.
            mark = probe()
            try await green.put(
                "global",
                [
                    "config":
                        #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.60-192.0.2.69","backends":"nodeports"}},"vrrp":{"vridOffset":100},"haproxy":{"httpfront":["http-request deny"],"tcpfront":["tcp-request connection reject"]}}"#
                ])
            let refusedLines = await eventually(.seconds(10)) {
                try await green.events(kind: "ConfigMap", name: "global").contains {
                    $0.reason == "FleetSettingRefused"
                }
            }
            #expect(refusedLines, "FleetSettingRefused Event in green:\n\(h.actorLogs())")
            try await Task.sleep(for: .seconds(2))
            now = probe()
            let rawBlue = failures(now.blue[mark.blue.count...], "50 blue")
            let rawGreen = failures(now.green[mark.green.count...], "60 green")
            #expect(rawBlue == 0 && rawGreen == 0, "raw lines: failures blue \(rawBlue), green \(rawGreen)")
            let cfg =
                (try? String(contentsOfFile: h.work.appendingPathComponent("lb-a/haproxy.cfg").path, encoding: .utf8))
                ?? ""
            #expect(!cfg.isEmpty && !cfg.contains("reject") && !cfg.contains("deny"))
            // Each cluster's Service goes to its own worker node's nodePort.
            for (_, address) in workers {
                #expect(cfg.contains("\(address):\(Self.nodePort)"), "\(address) in haproxy.cfg")
            }
            print(
                "fleet: green's raw haproxy lines refused (FleetSettingRefused in green); failures blue \(rawBlue), green \(rawGreen)"
            )
            try await green.put("global", ["config": greenConfig])
            try await Task.sleep(for: .seconds(1))

            // 4. Green's API server down for 30 s: every request refused, watches ended.
            let holdersBefore = try (
                h.holders("192.0.2.50", among: Self.nodes), h.holders("192.0.2.60", among: Self.nodes)
            )
            mark = probe()
            green.server.addRule(.init(segments: [], status: 503, message: "test: API server down"))
            green.server.store.closeAllWatches()
            try await Task.sleep(for: .seconds(30))
            let metricsText = try h.metrics("lb-a")
            let unreachable =
                try h.metric("lb-a", #"k8slb_fleet_cluster_reachable{cluster="green"}"#) == 0
                && h.metric("lb-a", #"k8slb_fleet_cluster_reachable{cluster="blue"}"#) == 1
            #expect(unreachable, "reachability metric:\n\(metricsText)")
            #expect(h.log("lb-a").contains("fleet: cluster unreachable"))
            // The per-cluster view of the health endpoint.
            let verbose = try run(
                tools.curl, ["-s", "-m", "2", "http://127.0.0.1:\(h.metricsPort("lb-a") ?? 0)/readyz?verbose"]
            ).output
            #expect(
                verbose.contains("[+]cluster blue: reachable; 1 VIPs served")
                    && verbose.contains("[-]cluster green: unreachable for")
                    && verbose.contains("[+]cluster red: reachable; 1 VIPs served") && verbose.hasSuffix("ok\n"),
                "\(verbose)")
            print("fleet: /readyz?verbose while green is down:\n\(verbose)")
            now = probe()
            let downBlue = failures(now.blue[mark.blue.count...], "50 blue")
            let downGreen = failures(now.green[mark.green.count...], "60 green")
            #expect(downBlue == 0 && downGreen == 0, "green's API down: failures blue \(downBlue), green \(downGreen)")
            let holdersDown = try (
                h.holders("192.0.2.50", among: Self.nodes), h.holders("192.0.2.60", among: Self.nodes)
            )
            green.server.clearRules()
            let back = await eventually(.seconds(20)) { h.log("lb-a").contains("fleet: cluster reachable again") }
            #expect(back, "green reachable again:\n\(h.actorLogs())")
            try await Task.sleep(for: .seconds(2))
            now = probe()
            let holdersAfter = try (
                h.holders("192.0.2.50", among: Self.nodes), h.holders("192.0.2.60", among: Self.nodes)
            )
            #expect(
                holdersBefore == holdersDown && holdersDown == holdersAfter,
                "VIPs moved: \(holdersBefore) \(holdersDown) \(holdersAfter)")
            let outage = (
                now.blue.count - mark.blue.count, failures(now.blue[mark.blue.count...], "50 blue"),
                now.green.count - mark.green.count, failures(now.green[mark.green.count...], "60 green")
            )
            #expect(outage.1 == 0 && outage.3 == 0)
            print(
                "fleet: green's API server down 30 s and back: blue \(outage.0) requests, \(outage.1) failed; green \(outage.2) requests, \(outage.3) failed; holders unchanged (\(holdersAfter.0), \(holdersAfter.1))"
            )

            // Red, never touched, saw none of it.
            let redFailures = failures(now.red[...], "70 red")
            #expect(redFailures == 0 && now.red.count > 100, "red: \(now.red.count) requests, \(redFailures) failed")
            print(
                "fleet: red, untouched, through all of green's conflicts and outage: \(now.red.count) requests, \(redFailures) failed"
            )

            // 5. Failover: the holder of blue's VIP loses its link; the other machine serves all.
            let holder = holdersAfter.0.first ?? "lb-a"
            let other = Self.nodes.first { $0 != holder }!
            mark = probe()
            let clock = ContinuousClock()
            let cut = clock.now
            _ = try h.topo.exec(holder, [tools.ip, "link", "set", "eth0", "down"])
            let moved = await eventually(.seconds(5)) {
                try ["192.0.2.50", "192.0.2.60", "192.0.2.70"].allSatisfy {
                    try h.holders($0, among: [other]) == [other]
                }
            }
            #expect(moved, "every cluster's VIP on \(other):\n\(h.actorLogs())")
            let all = await eventually(.seconds(5)) {
                try get("192.0.2.50") == "blue\n" && get("192.0.2.60") == "green\n" && get("192.0.2.70") == "red\n"
            }
            #expect(all)
            print("fleet: every cluster served from \(other) \(clock.now - cut) after \(holder) lost its link")
            try await Task.sleep(for: .seconds(2))
            now = probe()
            print(
                "fleet: \(holder) lost its link; \(other) serves every cluster (requests meanwhile: blue \(now.blue.count - mark.blue.count), \(failures(now.blue[mark.blue.count...], "50 blue")) failed; green \(now.green.count - mark.green.count), \(failures(now.green[mark.green.count...], "60 green")) failed; red \(now.red.count - mark.red.count), \(failures(now.red[mark.red.count...], "70 red")) failed)"
            )
        }
    }
}
