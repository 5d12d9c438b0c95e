import Core
import DataPlane
import Foundation
import Glibc
import Logging
import Netlink
import TestSupport
import Testing

@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3"))) struct FailoverTests {
    /// The VRRP advertisement interval measured: the product's default (what an operator gets),
    /// unless K8SLB_FAILOVER_ADVERT asks for another (seconds).
    static let advert =
        ProcessInfo.processInfo.environment["K8SLB_FAILOVER_ADVERT"]
        ?? String(format: "%.2f", Double(VRRPSettings.defaultAdvertIntervalCentiseconds) / 100)
    /// Two LB nodes (real HAProxy + real keepalived from our renderers), one VIP: the master's link
    /// goes down; the VIP moves and the client-visible outage stays well under a second.
    /// What the two-node scenarios share.
    final class TwoNodes {
        let topo: Topology
        let work: URL
        var proxies: [HAProxyProcess] = []
        var keepaliveds: [String: KeepalivedProcess] = [:]
        /// Each node's binder of the VIPs beyond keepalived's anchors (what the actor runs).
        var followers: [String: (worker: NetlinkWorker, binder: VRRPFollowers)] = [:]
        let preferred: String
        let curl: String
        let ip: String

        init(topo: Topology, work: URL, preferred: String, curl: String, ip: String) {
            self.topo = topo
            self.work = work
            self.preferred = preferred
            self.curl = curl
            self.ip = ip
        }

        func holders() throws -> [String] {
            try ["lb-a", "lb-b"].filter {
                try topo.exec($0, [ip, "-o", "addr", "show", "dev", "eth0"]).output.contains("192.0.2.50/32")
            }
        }

        var vipCount = 1

        /// VIPs (/32 and /128 from the test's ranges) on each node: addresses on any interface,
        /// and IPv6 followers (local routes).
        func vipsHeld() throws -> [String: Set<String>] { try vipsByInterface().mapValues { Set($0.keys) } }

        /// Each node's VIPs with the interface each is on (`route`: an IPv6 follower).
        func vipsByInterface() throws -> [String: [String: String]] {
            var out: [String: [String: String]] = [:]
            for node in ["lb-a", "lb-b"] {
                let text = try topo.exec(node, [ip, "-o", "addr", "show"]).output
                var held: [String: String] = [:]
                for line in text.split(separator: "\n") {
                    let f = line.split(separator: " ", omittingEmptySubsequences: true)
                    guard f.count >= 4, f[2] == "inet" || f[2] == "inet6" else { continue }
                    let a = String(f[3])
                    guard a.hasPrefix("192.0.2.") || a.hasPrefix("2001:db8:") else { continue }
                    if a.hasSuffix("/32") || a.hasSuffix("/128") { held[a] = String(f[1]) }
                }
                // IPv6 followers: local routes (VRRPFollowers), `route` here.
                for a in try topo.vipRoutes(node) where a.hasPrefix("2001:db8:") { held["\(a)/128"] = "route" }
                out[node] = held
            }
            return out
        }

        func stop() {
            for k in keepaliveds.values { k.stopBlocking() }
            for f in followers.values {
                f.binder.setBlocking([])
                f.binder.stop()
                f.worker.stop()
            }
            for p in proxies { p.stopBlocking() }
            try? FileManager.default.removeItem(at: work)
        }
    }

    /// Two LB nodes (real HAProxy + supervised keepalived from our renderers), a backend and a
    /// client; returns once the preferred node holds the VIP alone for a second.
    static func twoNodes(_ topo: Topology, vips: Int? = nil) throws -> TwoNodes? {
        guard getuid() == 0, let ip = which("ip"), let haproxy = which("haproxy"), let keepalived = which("keepalived"),
            let curl = which("curl"), let python = which("python3")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, haproxy, keepalived, curl and python3 are required when CI=true")
            }
            return nil
        }
        try topo.bridge()
        let nodes = ["lb-a", "lb-b"]
        try topo.host("lb-a", addresses: ["192.0.2.11/24", "2001:db8::11/64"])
        try topo.host("lb-b", addresses: ["192.0.2.12/24", "2001:db8::12/64"])
        try topo.host("be", addresses: ["192.0.2.21/24"])
        try topo.host("cl", addresses: ["192.0.2.100/24", "2001:db8::100/64"])
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-fo-\(topo.id)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try "backend\n".write(to: work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        // A threaded server with a deep accept queue: the probe opens a connection every 2 ms,
        // and `python -m http.server`'s backlog of 5 drops SYNs at that rate.
        let server =
            "import http.server\nclass H(http.server.BaseHTTPRequestHandler):\n protocol_version='HTTP/1.0'\n def do_GET(self):\n"
            + "  b=b'backend\\n';self.send_response(200);self.send_header('Content-Length',str(len(b)));self.end_headers();self.wfile.write(b)\n"
            + " def log_message(self,*a): pass\nhttp.server.ThreadingHTTPServer.request_queue_size=1024\n"
            + "http.server.ThreadingHTTPServer(('192.0.2.21',8080),H).serve_forever()\n"
        try topo.spawn("be", [python, "-c", server], listening: 8080)
        let vip = try IPAddress(parsing: "192.0.2.50")
        let entry = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "web"),
            ports: [.init(name: "web", port: 80, targetPort: .number(8080))])
        // K8SLB_FAILOVER_VIPS (default 1): the probed IPv4 VIP plus N-1 IPv6 VIPs (pool v6), to
        // measure failover with many VIPs (the benchmark runs 1,000).
        let count = vips ?? max(1, Int(ProcessInfo.processInfo.environment["K8SLB_FAILOVER_VIPS"] ?? "1") ?? 1)
        let v6 = try PoolName(parsing: "v6")
        var vips: [(address: IPAddress, pool: PoolName)] = [(vip, .default)]
        for i in 1..<count { vips.append((try IPAddress(parsing: "2001:db8::1:\(String(i, radix: 16))"), v6)) }
        let plan = VRRPPlan.make(vips: vips, nodes: nodes, previous: [], vridOffset: 0)
        let doc = AssignmentDocument(
            vips: vips.map {
                .init(address: $0.address, pool: $0.pool, services: [entry], vrid: plan.vridOf[$0.address])
            },
            nodes: nodes, groups: plan.groups)
        let advert = Self.advert
        let config = try UserConfig.parse(
            #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"},"v6":{"network":"2001:db8::/64","range":"2001:db8::1:0/112"}},"vrrp":{"advertInterval":\#(advert)}}"#
        ).config
        let endpoints = EndpointMap([
            .init(service: entry.key, port: 80, proto: .tcp): [
                .init(address: try IPAddress(parsing: "192.0.2.21"), port: 8080)
            ]
        ])
        let preferred = plan.groups.first { $0.family == .ipv4 }?.node ?? ""
        let cluster = TwoNodes(topo: topo, work: work, preferred: preferred, curl: curl, ip: ip)
        cluster.vipCount = count
        // A failure while starting the daemons must not leave the ones already started running.
        do { try start(cluster) } catch {
            cluster.stop()
            throw error
        }
        func start(_ cluster: TwoNodes) throws {
            for node in nodes {
                _ = try topo.exec(
                    node,
                    [
                        "sh", "-c",
                        "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind; echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind",
                    ])
                let dir = work.appendingPathComponent(node)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                var options = HAProxyRenderer.Options()
                options.statsSocket = dir.appendingPathComponent("stats.sock").path
                // As the actor does: maxconn fitted to the open-file limit (thousands of VIPs).
                var limit = rlimit()
                if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { options.fileLimit = Int(limit.rlim_cur) }
                let proxy = HAProxyProcess(
                    paths: .init(binary: haproxy, directory: dir.path), launcher: [ip, "netns", "exec", topo.ns(node)])
                cluster.proxies.append(proxy)
                try proxy.applyBlocking(
                    HAProxyRenderer(options: options).render(doc, endpoints: endpoints, config: config))
                let ns = topo.ns(node)
                let ka = KeepalivedProcess(
                    paths: .init(binary: keepalived, directory: dir.path), launcher: [ip, "netns", "exec", ns]
                ) {
                    // What the actor does when keepalived dies: remove its VIPs at once.
                    _ = try? inNamespace(ns) { try NetlinkSocket().remove(vip, interface: "eth0") }
                }
                cluster.keepaliveds[node] = ka
                let renderer = KeepalivedRenderer(
                    options: .init(
                        node: node,
                        interfaces: [
                            .default: try InterfaceName(parsing: "eth0"), v6: try InterfaceName(parsing: "eth0"),
                        ]))
                let rendered = renderer.render(doc, config: config)
                let worker = try NetlinkWorker(namespace: ns)
                let binder = VRRPFollowers(netlink: worker, logger: Logger(label: "followers-\(node)"), namespace: ns)
                cluster.followers[node] = (worker, binder)
                try ka.applyBlocking(rendered.text)
                binder.setBlocking(rendered.followers)
            }
        }
        var stable = 0
        for _ in 0..<(150 + count / 4) where stable < 10 {
            stable = (try? cluster.holders()) == [cluster.preferred] ? stable + 1 : 0
            usleep(100_000)
        }
        #expect(stable >= 10, "the preferred node \(cluster.preferred) holds the VIP alone")
        #expect((try? topo.exec("cl", [curl, "-s", "--max-time", "1", "http://192.0.2.50/"]).output) == "backend\n")
        return cluster
    }

    /// Two LB nodes (real HAProxy + real keepalived from our renderers), one VIP: the master's link
    /// goes down; the VIP moves and the client-visible outage stays well under a second.
    @Test(.benchmark) func vipMovesWhenTheMasterLosesItsLink() throws {
        guard let ip = which("ip") else {
            if requireIntegration { Issue.record("iproute2 is required when CI=true") }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        guard let cluster = try Self.twoNodes(topo) else { return }
        defer { cluster.stop() }
        let master = cluster.preferred
        func holders() throws -> [String] { try cluster.holders() }
        // Trials (K8SLB_FAILOVER_TRIALS, default 1; the benchmark script runs 20): probe every
        // ~10 ms for 4 s, take the master's link down after 1 s, measure, bring it back, let the
        // preferred node preempt again.
        let trials = Int(ProcessInfo.processInfo.environment["K8SLB_FAILOVER_TRIALS"] ?? "1") ?? 1
        var outages: [Double] = []
        let peer = "v\(master.prefix(5))\(topo.id.prefix(4))"
        for trial in 1...trials {
            // A new connection every 2 ms, each with a 100 ms timeout, in parallel (ConnectProbe).
            guard let python = which("python3") else { return }
            let client = try ConnectProbe.start(
                ip: ip, python: python, namespace: topo.ns("cl"), host: "192.0.2.50", port: 80, seconds: 4, every: 2)
            usleep(1_000_000)
            let down = ConnectProbe.now()
            try topo.sh(["-n", topo.ns("sw"), "link", "set", peer, "down"])
            let samples = ConnectProbe.results(client)
            let lastOKBefore = samples.last { $0.t < down && $0.ok }?.t
            let firstOKAfter = samples.first { $0.t > down && $0.ok }?.t
            #expect(lastOKBefore != nil && firstOKAfter != nil, "probe saw service before and after")
            let outage = ConnectProbe.outage(samples, after: down)
            outages.append(outage)
            print(
                "failover trial \(trial): client-visible outage \(String(format: "%.3f", outage)) s after the master's link went down (\(samples.count) probes, \(samples.filter { !$0.ok }.count) failed)"
            )
            let now = try holders()
            #expect(now.contains { $0 != master }, "the other node took the VIP: \(now)")
            // Recover: link up, the preferred node takes the VIP back (preemption).
            try topo.sh(["-n", topo.ns("sw"), "link", "set", peer, "up"])
            var back = 0
            for _ in 0..<100 where back < 5 {
                back = (try? holders()) == [master] ? back + 1 : 0
                usleep(100_000)
            }
            #expect(back >= 5, "the preferred node took the VIP back")
            // After recovery: every VIP on exactly one node (no dual masters, no flapping).
            var duplicateSamples = 0
            var lastDuplicates = 0
            var total = 0
            for _ in 0..<30 {
                let held = try cluster.vipsHeld()
                let a = held["lb-a"] ?? []
                let b = held["lb-b"] ?? []
                lastDuplicates = a.intersection(b).count
                total = a.union(b).count
                if lastDuplicates > 0 { duplicateSamples += 1 }
                usleep(100_000)
            }
            print(
                "failover trial \(trial): after recovery \(total) of \(cluster.vipCount) VIPs held, on both nodes in \(duplicateSamples) of 30 samples over 3 s (last: \(lastDuplicates))"
            )
            #expect(lastDuplicates == 0, "VIPs on both nodes after recovery: \(lastDuplicates)")
            #expect(total == cluster.vipCount, "VIPs held after recovery: \(total) of \(cluster.vipCount)")
        }
        let worst = outages.max() ?? 0
        print(
            "failover: \(outages.count) trials, worst \(String(format: "%.3f", worst)) s, median \(String(format: "%.3f", outages.sorted()[outages.count / 2])) s"
        )
        #expect(worst < 1.5, "worst outage \(worst) s")
    }

    /// keepalived on the master is SIGKILLed (main and VRRP processes, by PID): the supervisor
    /// removes the VIP there at once, so the backup's takeover never leaves a duplicate IP for
    /// more than a second; keepalived is restarted.
    /// No flapping with both cores saturated: busy loops on every core (and the probing client)
    /// for K8SLB_SATURATION_SECONDS (CI: 10 s; the benchmark 120 s, and 600 s by hand) while two nodes hold the
    /// VIPs; every 100 ms: is each VIP on exactly one node, and did any move?
    @Test(.benchmark) func noFlappingWithTheCPUsSaturated() throws {
        guard let ip = which("ip") else {
            if requireIntegration { Issue.record("iproute2 is required when CI=true") }
            return
        }
        let seconds = Double(ProcessInfo.processInfo.environment["K8SLB_SATURATION_SECONDS"] ?? "10") ?? 10
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        guard let cluster = try Self.twoNodes(topo) else { return }
        defer { cluster.stop() }
        let burners = try CPUBurners()
        defer { burners.stop() }
        var samples = 0
        var dual = 0
        var none = 0
        var moves = 0
        var last = try cluster.vipsHeld()
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            usleep(100_000)
            let now = try cluster.vipsHeld()
            samples += 1
            let a = now["lb-a"] ?? []
            let b = now["lb-b"] ?? []
            dual += a.intersection(b).count
            none += max(0, cluster.vipCount - a.union(b).count)
            moves += a.subtracting(last["lb-a"] ?? []).count + b.subtracting(last["lb-b"] ?? []).count
            last = now
        }
        print(
            "saturation: \(Int(seconds)) s with \(burners.processes.count) busy loops on \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cluster.vipCount) VIPs, advert \(Self.advert) s: \(samples) samples, VIP-samples on both nodes \(dual), on neither \(none), VIPs that moved \(moves)"
        )
        #expect(dual == 0 && none == 0 && moves == 0, "no flapping under saturation")
    }

    /// 40 VIPs, so each VRRP group has more than keepalived's 16 anchors: the followers (bound by
    /// `VRRPFollowers`, as the actor does) are on their group's master only, leave a node whose
    /// link is down with its anchors, come up on the node that takes the group, and go back with
    /// the preferred node's preemption.
    @Test func followersMoveWithTheirAnchors() throws {
        guard let ip = which("ip") else {
            if requireIntegration { Issue.record("iproute2 is required when CI=true") }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        // K8SLB_FOLLOWERS_VIPS: more (the benchmark moves thousands).
        let total = Int(ProcessInfo.processInfo.environment["K8SLB_FOLLOWERS_VIPS"] ?? "") ?? 40
        let slack = Double(total) / 200
        guard let cluster = try Self.twoNodes(topo, vips: total) else { return }
        defer { cluster.stop() }
        let followed = cluster.followers.values.map { $0.binder }.count
        #expect(followed == 2)
        /// Waits until `done` holds for the held VIPs (up to `seconds`); the last sample.
        func settle(_ seconds: Double, _ done: ([String: Set<String>]) -> Bool) -> [String: Set<String>] {
            let start = ContinuousClock.now
            var held: [String: Set<String>] = [:]
            while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
                held = (try? cluster.vipsHeld()) ?? [:]
                if done(held) { break }
                usleep(50_000)
            }
            return held
        }
        func exactlyOnce(_ held: [String: Set<String>]) -> Bool {
            let a = held["lb-a"] ?? []
            let b = held["lb-b"] ?? []
            return a.union(b).count == total && a.isDisjoint(with: b)
        }
        let initial = settle(10 + slack, exactlyOnce)
        #expect(exactlyOnce(initial), "\(total) VIPs each on one node: \(initial.mapValues(\.count))")
        let (down, other) =
            (initial["lb-a"] ?? []).count >= (initial["lb-b"] ?? []).count ? ("lb-a", "lb-b") : ("lb-b", "lb-a")
        #expect((initial[down] ?? []).count > KeepalivedRenderer.anchorsPerInstance, "a group with followers")
        // IPv6 followers are local routes, not addresses, and reachable: the node's NDP responder
        // answers for them on eth0 (the client resolves the VIP's MAC, no route but the link).
        let byInterface = try cluster.vipsByInterface()
        let routed = (byInterface[down] ?? [:]).filter { $0.value == "route" }.keys.sorted()
        #expect(!routed.isEmpty, "\(down)'s IPv6 followers are routed: \(byInterface[down] ?? [:])")
        #expect(
            (byInterface[down] ?? [:]).filter { $0.key.contains(":") && $0.value == "lo" }.isEmpty,
            "no IPv6 follower is an address")
        let follower = routed.first.map { String($0.split(separator: "/")[0]) } ?? "2001:db8::1:1"
        let answered = cluster.followers[down]?.binder.answered(on: "eth0") ?? []
        #expect(answered.contains(try IPAddress(parsing: follower)), "\(down) answers for \(follower)")
        func fetch(_ address: String) -> String {
            (try? topo.exec("cl", [cluster.curl, "-s", "-g", "--max-time", "2", "http://[\(address)]/"]).output) ?? ""
        }
        #expect(fetch(follower) == "backend\n", "the IPv6 follower \(follower) serves through \(down)")
        let peer = "v\(down.prefix(5))\(topo.id.prefix(4))"
        try topo.sh(["-n", topo.ns("sw"), "link", "set", peer, "down"])
        let linkDown = ContinuousClock.now
        let moved = settle(5 + slack) { ($0[other] ?? []).count == total && ($0[down] ?? []).isEmpty }
        print(
            "followers: \(down)'s link down: after \(ContinuousClock.now - linkDown) \(down) holds \((moved[down] ?? []).count), \(other) \((moved[other] ?? []).count) of \(total)"
        )
        #expect((moved[other] ?? []).count == total, "\(other) took every VIP")
        #expect((moved[down] ?? []).isEmpty, "\(down) let go of its followers with its anchors")
        // The client's neighbour entry still names the old node's MAC: the new holder's
        // unsolicited advertisement (or its answer once the entry goes stale) moves it.
        #expect(fetch(follower) == "backend\n", "the IPv6 follower \(follower) serves through \(other)")
        #expect(
            cluster.followers[down]?.binder.answered(on: "eth0").contains(try IPAddress(parsing: follower)) == false)
        try topo.sh(["-n", topo.ns("sw"), "link", "set", peer, "up"])
        let back = settle(10 + slack) { exactlyOnce($0) && $0 == initial }
        print("followers: link up: \(back.mapValues(\.count)) (before: \(initial.mapValues(\.count)))")
        #expect(back == initial, "each group's VIPs back on its preferred node, each on one node")
    }

    @Test func killedKeepalivedLeavesNoDuplicateVIP() throws {
        guard let ip = which("ip") else {
            if requireIntegration { Issue.record("iproute2 is required when CI=true") }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        guard let cluster = try Self.twoNodes(topo) else { return }
        defer { cluster.stop() }
        let master = cluster.preferred
        guard let ka = cluster.keepaliveds[master], !ka.pids.isEmpty else {
            Issue.record("no keepalived pids")
            return
        }
        let killed = ContinuousClock.now
        for pid in ka.pids { kill(pid, SIGKILL) }  // by PID: the processes this test started
        var goneFromOld: Duration?
        var otherHolds: Duration?
        var bothSince: ContinuousClock.Instant?
        var duplicate: Duration = .zero
        while ContinuousClock.now - killed < .seconds(3) {
            let now = (try? cluster.holders()) ?? []
            let t = ContinuousClock.now
            if now.count == 2 {
                bothSince = bothSince ?? t
            } else if let since = bothSince {
                duplicate += t - since
                bothSince = nil
            }
            if goneFromOld == nil, !now.contains(master) { goneFromOld = t - killed }
            if otherHolds == nil, now.contains(where: { $0 != master }) { otherHolds = t - killed }
            usleep(10_000)
        }
        if let since = bothSince { duplicate += ContinuousClock.now - since }
        print(
            "keepalived SIGKILL: VIP gone from the old master after \(goneFromOld.map { "\($0)" } ?? "never"), backup holds it after \(otherHolds.map { "\($0)" } ?? "never"), duplicate for \(duplicate)"
        )
        #expect(goneFromOld != nil && goneFromOld! < .seconds(1))
        #expect(otherHolds != nil)
        #expect(duplicate < .seconds(1), "duplicate VIP for \(duplicate)")
        #expect(ka.restarts >= 1, "keepalived restarted")
        #expect(
            (try? cluster.topo.exec("cl", [cluster.curl, "-s", "--max-time", "1", "http://192.0.2.50/"]).output)
                == "backend\n")
    }
}
