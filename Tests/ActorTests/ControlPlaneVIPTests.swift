import DataPlane
import Foundation
import Glibc
import Spawn
import TestSupport
import Testing

/// The control-plane VIP (`k8slb-actor control-plane`, docs/control-plane.md) on three
/// "control-plane node" namespaces, each running nginx as a TLS "kube-apiserver" whose `/readyz`
/// answers 200, or 500 while a file exists; a client namespace requests the VIP every 20 ms; a
/// sampler reads every node's addresses every 20 ms. No Kubernetes API anywhere.
@Suite(.serialized) struct ControlPlaneVIPTests {
    static let vip = "192.0.2.10"
    static let nodes = ["cp1", "cp2", "cp3"]
    static func address(_ node: String) -> String { "192.0.2.1\(nodes.firstIndex(of: node)! + 1)" }
    /// Rounds per failover figure (scripts/bench: 20).
    static let rounds = Int(ProcessInfo.processInfo.environment["K8SLB_CP_ROUNDS"] ?? "") ?? 5

    struct Tools {
        let ip: String, keepalived: String, nginx: String, openssl: String, python: String, curl: String, binary: String
    }

    static func tools() -> Tools? {
        guard getuid() == 0, let ip = which("ip"), let keepalived = which("keepalived"), let nginx = which("nginx"),
            let openssl = which("openssl"), let python = which("python3"), let curl = which("curl"),
            let binary = builtExecutable("k8slb-actor")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, keepalived, nginx, openssl, python3, curl and k8slb-actor are required")
            }
            return nil
        }
        return Tools(
            ip: ip, keepalived: keepalived, nginx: nginx, openssl: openssl, python: python, curl: curl, binary: binary)
    }

    /// The three nodes, their apiservers and (started one by one) their control-plane actors.
    final class Cluster: @unchecked Sendable {  // the sampler thread only reads `tools` and `topo`
        let tools: Tools
        let topo: Topology
        let work: String
        var actors: [String: Child] = [:]

        init(_ tools: Tools) throws {
            self.tools = tools
            topo = Topology(ip: tools.ip)
            work = "/tmp/k8slb-cp-\(topo.id)"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            try makeTestCertificates(openssl: tools.openssl, dir: work, [("apiserver", "cp.test")])
            try topo.bridge()
            for node in ControlPlaneVIPTests.nodes {
                try topo.host(node, addresses: ["\(ControlPlaneVIPTests.address(node))/24"])
            }
            try topo.host("client", addresses: ["192.0.2.100/24"])
        }

        @discardableResult
        func startAPIServer(_ node: String) throws -> Child {
            try ControlPlaneVIPTests.startAPIServer(node, in: topo, work: work, nginx: tools.nginx)
        }

        /// The control-plane actor on `node`, from a config file like the one in docs/control-plane.md.
        func startActor(_ node: String) throws {
            actors[node] = try ControlPlaneVIPTests.startControlPlaneActor(
                node, peers: ControlPlaneVIPTests.nodes.map { ($0, ControlPlaneVIPTests.address($0)) },
                vip: ControlPlaneVIPTests.vip, vrid: 51, in: topo, work: work, binary: tools.binary,
                keepalived: tools.keepalived)
        }

        func setReady(_ node: String, _ ready: Bool) {
            let file = "\(work)/\(node)/unready"
            if ready { unlink(file) } else { _ = FileManager.default.createFile(atPath: file, contents: Data()) }
        }

        /// Nodes whose (up) eth0 holds the VIP.
        func holders() -> [String] {
            ControlPlaneVIPTests.nodes.filter {
                Child.run([tools.ip, "-n", topo.ns($0), "-o", "addr", "show", "dev", "eth0", "up"]).output.contains(
                    " \(ControlPlaneVIPTests.vip)/32 ")
            }
        }

        /// Waits until exactly one node holds the VIP and it stays there for `settle`; that node.
        func steadyHolder(within seconds: Double = 10, settle: Double = 0.5) -> String? {
            let end = Date().addingTimeInterval(seconds)
            var since: (String, Date)?
            while Date() < end {
                let h = holders()
                if h.count == 1 {
                    if since?.0 != h[0] { since = (h[0], Date()) }
                    if Date().timeIntervalSince(since!.1) >= settle { return h[0] }
                } else {
                    since = nil
                }
                usleep(20_000)
            }
            return nil
        }

        /// The client's HTTPS request through the VIP, checking the certificate: the node's name.
        func curlThroughVIP() -> String {
            Child.run([
                tools.ip, "netns", "exec", topo.ns("client"), tools.curl, "-sS", "--max-time", "2", "--cacert",
                "\(work)/ca.crt", "--resolve", "cp.test:6443:\(ControlPlaneVIPTests.vip)", "https://cp.test:6443/",
            ]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func probe(seconds: Double) throws -> Child {
            try ConnectProbe.start(
                ip: tools.ip, python: tools.python, namespace: topo.ns("client"), host: ControlPlaneVIPTests.vip,
                port: 6080, seconds: seconds, every: 20)
        }

        func tearDown() {
            topo.tearDown()
            try? FileManager.default.removeItem(atPath: work)
        }
    }

    /// Every node's addresses every 20 ms from a thread of its own: the largest number of nodes
    /// seen holding the VIP at once, and how many samples had none.
    final class Sampler: @unchecked Sendable {
        private let lock = NSLock()
        private var stopped = false
        private(set) var samples = 0
        private(set) var mostAtOnce = 0
        private(set) var twoHolderSamples: [String] = []
        private var thread: Thread?

        func start(_ cluster: Cluster) {
            let t = Thread { [self] in
                while !lock.withLock({ stopped }) {
                    let h = cluster.holders()
                    lock.withLock {
                        samples += 1
                        mostAtOnce = max(mostAtOnce, h.count)
                        if h.count > 1 { twoHolderSamples.append(h.joined(separator: "+")) }
                    }
                    usleep(20_000)
                }
            }
            thread = t
            t.start()
        }

        func stop() -> (samples: Int, mostAtOnce: Int, twoHolders: [String]) {
            lock.withLock { stopped = true }
            usleep(60_000)
            return lock.withLock { (samples, mostAtOnce, twoHolderSamples) }
        }
    }

    /// nginx as node `node`'s kube-apiserver (in its namespace): TLS on 6443 with
    /// `work`/apiserver.crt (`/readyz`: 500 while `work`/`node`/unready exists), plain HTTP on
    /// 6080 answering the node's name (what the client probe reads).
    @discardableResult
    static func startAPIServer(_ node: String, in topo: Topology, work: String, nginx: String) throws -> Child {
        let dir = "\(work)/\(node)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let readyz = """
            location = /readyz { if (-f \(dir)/unready) { return 500 "unready\\n"; } return 200 "ok\\n"; }
            """
        try """
        daemon off;
        worker_processes 1;
        pid \(dir)/nginx.pid;
        error_log \(dir)/error.log;
        events { worker_connections 512; }
        http {
            access_log off;
            client_body_temp_path \(dir)/body; proxy_temp_path \(dir)/proxy; fastcgi_temp_path \(dir)/fastcgi;
            uwsgi_temp_path \(dir)/uwsgi; scgi_temp_path \(dir)/scgi;
            server {
                listen 6443 ssl;
                ssl_certificate \(work)/apiserver.crt;
                ssl_certificate_key \(work)/apiserver.key;
                \(readyz)
                location / { return 200 "\(node)\\n"; }
            }
            server { listen 6080; \(readyz) location / { return 200 "\(node)\\n"; } }
        }
        """.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        return try topo.spawn(node, [nginx, "-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log"], listening: 6443)
    }

    /// Writes node `node`'s control-plane config (VIP `vip`, VRID `vrid`, unicast to `peers`) and
    /// starts `k8slb-actor control-plane` inside its namespace.
    @discardableResult
    static func startControlPlaneActor(
        _ node: String, peers: [(String, String)], vip: String, vrid: Int, in topo: Topology, work: String,
        binary: String, keepalived: String, moreVIPs: String = "", roles: String = "", haproxy: String? = nil
    ) throws -> Child {
        let dir = "\(work)/\(node)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let peerList = peers.map { "\"\($0.0)\": \"\($0.1)\"" }.joined(separator: ", ")
        try """
        {
          "node": "\(node)",
          "peers": {\(peerList)},
          "vips": [{"address": "\(vip)", "interface": "eth0", "vrid": \(vrid)}\(moreVIPs)],\(roles)
          "vrrp": {"advertInterval": 0.1},
          "apiserver": {"port": 6443, "caFile": "\(work)/ca.crt", "interval": 0.1, "timeout": 0.2, "fall": 2, "rise": 2}
        }
        """.write(toFile: "\(dir)/control-plane.json", atomically: true, encoding: .utf8)
        return try topo.spawn(
            node,
            [
                binary, "control-plane", "--config", "\(dir)/control-plane.json", "--run-dir", "\(dir)/cp-run",
                "--keepalived", keepalived, "--metrics-address", "127.0.0.1:9092",
            ] + (haproxy.map { ["--haproxy", $0] } ?? []))
    }

    static func with(_ body: (Cluster) throws -> Void) throws {
        guard let tools = tools() else { return }
        let cluster = try Cluster(tools)
        defer { cluster.tearDown() }
        try body(cluster)
    }

    /// "median X ms, p99 Y ms, worst Z ms" of `values` (seconds).
    static func summary(_ values: [Double]) -> String {
        let ms = values.map { Int(($0 * 1000).rounded()) }.sorted()
        guard !ms.isEmpty else { return "no rounds" }
        let p99 = ms[min(ms.count - 1, Int((Double(ms.count) * 0.99).rounded(.up)) - 1)]
        return "median \(ms[ms.count / 2]) ms, p99 \(p99) ms, worst \(ms.last!) ms (\(ms.count) rounds)"
    }

    /// `rounds` failovers away from the holder: each round starts the client probe, `fail`s the
    /// holder, reads the probe, `restore`s the old holder and waits for one holder to settle.
    /// Returns the seconds until another node answered, per round, and the holder at the end;
    /// nil (an Issue recorded) when no single holder settled. `noMoveBack`: the expectation that
    /// the restored node did not take the VIP back.
    static func failoverRounds(
        _ c: Cluster, from start: String, probeSeconds: Double, cause: String, settled: String, noMoveBack: String?,
        fail: (String) throws -> Void, restore: (String) throws -> Void
    ) throws -> (times: [Double], holder: String)? {
        var holder = start
        var times: [Double] = []
        let limit = probeSeconds - 0.2
        for _ in 0..<rounds {
            let probe = try c.probe(seconds: probeSeconds)
            usleep(200_000)
            let t0 = ConnectProbe.now()
            try fail(holder)
            let r = ConnectProbe.results(probe)
            try restore(holder)
            let moved = movedAway(r, from: holder, after: t0)
            #expect(moved != nil, "no other node served within \(limit) s of \(holder)'s \(cause)")
            times.append(moved ?? limit)
            guard let next = c.steadyHolder() else {
                Issue.record("no single holder after \(settled): \(c.holders())")
                return nil
            }
            if let noMoveBack { #expect(next != holder, "\(noMoveBack)") }
            holder = next
        }
        return (times, holder)
    }

    /// Seconds from `t0` until the first successful probe answered by a node other than `from`
    /// (nil: never within the results).
    static func movedAway(_ r: [(t: Int64, ok: Bool, body: String)], from: String, after t0: Int64) -> Double? {
        r.first { $0.t > t0 && $0.ok && $0.body != from }.map { Double($0.t - t0) / 1e9 }
    }

    @Test(.needs(.root("ip", "keepalived", "nginx", "openssl", "python3", "curl").and(built: "k8slb-actor")))
    func bootstrapOneNodeThenTwoJoiningNeverTwoHolders() throws {
        try Self.with { c in
            let sampler = Sampler()
            sampler.start(c)
            // The first control-plane node, as during `kubeadm init`: the actor before the apiserver.
            try c.startActor("cp1")
            let early = c.steadyHolder(within: 5, settle: 0.3)
            #expect(early == "cp1", "with no apiserver ready anywhere, the only node holds the VIP")
            let started = Date()
            try c.startAPIServer("cp1")
            var served = ""
            while Date().timeIntervalSince(started) < 5 {
                served = c.curlThroughVIP()
                if served == "cp1" { break }
                usleep(20_000)
            }
            let upAfter = Date().timeIntervalSince(started)
            #expect(served == "cp1", "the VIP serves cp1's apiserver over TLS: \(served)")
            // Two nodes join, each starting its actor before its apiserver is ready.
            for node in ["cp2", "cp3"] {
                c.setReady(node, false)
                try c.startAPIServer(node)
                try c.startActor(node)
                usleep(600_000)
                c.setReady(node, true)
            }
            usleep(1_000_000)
            let after = c.holders()
            let s = sampler.stop()
            print(
                "control-plane bootstrap: VIP on cp1 before its apiserver started; served over TLS \(String(format: "%.3f", upAfter)) s after it started; cp2 and cp3 joined; holders now \(after); \(s.samples) samples, at most \(s.mostAtOnce) holder at once"
            )
            #expect(after == ["cp1"], "joining ready nodes do not take the VIP from a ready holder")
            #expect(s.mostAtOnce == 1, "never on two nodes: \(s.twoHolders.prefix(5))")
            #expect(s.samples > 100)
        }
    }

    @Test(.needs(.root("ip", "keepalived", "nginx", "openssl", "python3", "curl").and(built: "k8slb-actor")))
    func followsAHealthyAPIServer() throws {
        try Self.with { c in
            for node in Self.nodes { try c.startAPIServer(node) }
            for node in Self.nodes { try c.startActor(node) }
            guard var holder = c.steadyHolder() else {
                Issue.record("no single holder: \(c.holders())")
                return
            }
            #expect(c.curlThroughVIP() == holder)

            // 1. The holder loses its link.
            guard
                let link = try Self.failoverRounds(
                    c, from: holder, probeSeconds: 1.5, cause: "link going down", settled: "the link came back",
                    noMoveBack: "the returning node does not take the VIP back",
                    fail: { try c.topo.sh(["-n", c.topo.ns($0), "link", "set", "eth0", "down"]) },
                    restore: { try c.topo.sh(["-n", c.topo.ns($0), "link", "set", "eth0", "up"]) })
            else { return }
            print("control-plane failover, holder loses its link → served by another node: \(Self.summary(link.times))")
            #expect((link.times.max() ?? 9) <= 0.5)

            // 2. The holder's apiserver answers /readyz with 500, its link stays up.
            guard
                let readyz = try Self.failoverRounds(
                    c, from: link.holder, probeSeconds: 2, cause: "/readyz failing", settled: "/readyz recovered",
                    noMoveBack: "a recovered apiserver does not take the VIP back from a ready holder",
                    fail: { c.setReady($0, false) }, restore: { c.setReady($0, true) })
            else { return }
            print(
                "control-plane failover, holder's /readyz answers 500 → served by another node: \(Self.summary(readyz.times))"
            )
            #expect((readyz.times.max() ?? 9) <= 1.0)

            // 3. The holder's apiserver port is blocked (a hung apiserver): the probe times out.
            let table = "k8slbtest"
            guard
                let blocked = try Self.failoverRounds(
                    c, from: readyz.holder, probeSeconds: 2, cause: "apiserver port being blocked",
                    settled: "the port was unblocked", noMoveBack: nil,
                    fail: { node in
                        for args in [
                            ["add", "table", "inet", table],
                            ["add", "chain", "inet", table, "in", "{ type filter hook input priority 0; }"],
                            ["add", "rule", "inet", table, "in", "tcp", "dport", "6443", "drop"],
                        ] {
                            let r = try c.topo.exec(node, ["nft"] + args)
                            #expect(r.status == 0, "nft \(args.joined(separator: " ")): \(r.output)")
                        }
                    },
                    restore: { _ = try c.topo.exec($0, ["nft", "delete", "table", "inet", table]) })
            else { return }
            print(
                "control-plane failover, holder's apiserver port blocked → served by another node: \(Self.summary(blocked.times))"
            )
            #expect((blocked.times.max() ?? 9) <= 1.0)
            holder = blocked.holder

            // 4. Every apiserver unready (etcd lost quorum): the VIP stays on exactly one node.
            let sampler = Sampler()
            sampler.start(c)
            for node in Self.nodes { c.setReady(node, false) }
            usleep(2_000_000)
            let stayed = c.holders()
            let s = sampler.stop()
            print(
                "control-plane, every apiserver unready for 2 s: holders \(stayed) (was \(holder)); \(s.samples) samples, at most \(s.mostAtOnce) at once"
            )
            #expect(stayed == [holder], "the VIP stays where it was")
            #expect(s.mostAtOnce == 1)
            // One recovers (not the holder): the VIP is there within 1 s.
            let recovering = Self.nodes.first { $0 != holder }!
            let recoverProbe = try c.probe(seconds: 2)
            usleep(200_000)
            let t1 = ConnectProbe.now()
            c.setReady(recovering, true)
            let r = ConnectProbe.results(recoverProbe)
            let there = r.first { $0.t > t1 && $0.ok && $0.body == recovering }.map { Double($0.t - t1) / 1e9 }
            print(
                "control-plane, \(recovering)'s apiserver recovers first → VIP served by it after \(there.map { String(format: "%.3f", $0) } ?? "never") s"
            )
            #expect((there ?? 9) <= 1.0)
            for node in Self.nodes { c.setReady(node, true) }
        }
    }

    /// Balanced serving: HAProxy on 192.0.2.20:8443 spreads TLS connections over every ready
    /// apiserver (`/readyz` checked over TLS); one apiserver killed → no failed new request once
    /// the check marks it down. A static role on the same VIP (port 80 → two fixed targets).
    @Test(.needs(.root("ip", "keepalived", "haproxy", "nginx", "openssl", "python3", "curl").and(built: "k8slb-actor")))
    func balancedSpreadsOverReadyAPIServersAndServesRoles() throws {
        guard let haproxy = which("haproxy") else {
            if requireIntegration { Issue.record("haproxy is required when CI=true") }
            return
        }
        try Self.with { c in
            try c.topo.host("be", addresses: ["192.0.2.21/24"])
            for (port, body) in [(8081, "one"), (8082, "two")] {
                let dir = "\(c.work)/be\(port)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try "\(body)\n".write(toFile: "\(dir)/index.html", atomically: true, encoding: .utf8)
                try c.topo.spawn(
                    "be", [c.tools.python, "-m", "http.server", "\(port)", "--bind", "0.0.0.0", "--directory", dir],
                    listening: port)
            }
            let echo =
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(2048)\n s.sendto(b'udp '+d,a)\n"
            try c.topo.spawn("be", [c.tools.python, "-c", echo])
            var apiservers: [String: Child] = [:]
            for node in Self.nodes { apiservers[node] = try c.startAPIServer(node) }
            let balanced =
                #", {"address": "192.0.2.20", "interface": "eth0", "vrid": 52, "serve": "balanced", "port": 8443}"#
            let roles = """
                 "roles": [{"name": "web", "vip": "192.0.2.20", "port": 80, "targets": ["192.0.2.21:8081", "192.0.2.21:8082"]},
                  {"name": "dns", "vip": "192.0.2.20", "port": 5353, "protocol": "udp", "targets": ["192.0.2.21:5353"]}],
                """
            for node in Self.nodes {
                c.actors[node] = try Self.startControlPlaneActor(
                    node, peers: Self.nodes.map { ($0, Self.address($0)) }, vip: Self.vip, vrid: 51, in: c.topo,
                    work: c.work, binary: c.tools.binary, keepalived: c.tools.keepalived, moreVIPs: balanced,
                    roles: roles, haproxy: haproxy)
            }
            func holders() -> [String] {
                Self.nodes.filter {
                    Child.run([c.tools.ip, "-n", c.topo.ns($0), "-o", "addr", "show", "dev", "eth0", "up"]).output
                        .contains(" 192.0.2.20/32 ")
                }
            }
            var h: [String] = []
            for _ in 0..<250 {
                h = holders()
                if h.count == 1 { break }
                usleep(20_000)
            }
            #expect(h.count == 1, "the balanced VIP is held by one node: \(h)")
            /// `count` new TLS connections through the VIP, one after the other: the answering nodes.
            func requests(_ count: Int) -> [String] {
                let script = """
                    for i in $(seq \(count)); do
                      curl -s --max-time 1 --cacert \(c.work)/ca.crt --resolve cp.test:8443:192.0.2.20 https://cp.test:8443/ || echo FAIL
                    done
                    """
                return Child.run([c.tools.ip, "netns", "exec", c.topo.ns("client"), "sh", "-c", script]).output
                    .split(separator: "\n").map(String.init)
            }
            var spread: [String] = []
            for _ in 0..<100 {
                spread = requests(30)
                if Set(spread) == Set(Self.nodes) { break }  // the checks have marked every server up
                usleep(200_000)
            }
            let counts = Dictionary(grouping: spread, by: { $0 }).mapValues(\.count)
            print(
                "control-plane balanced: 30 TLS requests through 192.0.2.20:8443 answered by \(counts.sorted { $0.key < $1.key })"
            )
            #expect(Set(spread) == Set(Self.nodes), "spread over every ready apiserver")

            // cp2's apiserver dies (nginx's fast shutdown: master and workers gone at once; a
            // SIGKILLed master would leave its worker serving); while the check has not marked it
            // down, HAProxy's retries send a refused connection elsewhere; after it, no request
            // goes there at all.
            let killed = Date()
            if let p = apiservers["cp2"] {
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
            }
            let during = requests(20)
            usleep(1_200_000)
            let after = requests(30)
            let failedDuring = during.filter { $0 == "FAIL" }.count
            let failedAfter = after.filter { $0 == "FAIL" }.count
            print(
                "control-plane balanced: cp2's apiserver killed; in the \(String(format: "%.1f", Date().timeIntervalSince(killed))) s after: \(during.count - failedDuring) ok, \(failedDuring) failed while the check had not marked it down; then \(after.count - failedAfter) ok, \(failedAfter) failed, answered by \(Set(after).sorted())"
            )
            #expect(failedAfter == 0 && !after.contains("cp2"))
            #expect(Set(after) == ["cp1", "cp3"])

            // The static role on the same VIP: port 80 → two fixed targets.
            var bodies: Set<String> = []
            for _ in 0..<10 {
                let r = Child.run([
                    c.tools.ip, "netns", "exec", c.topo.ns("client"), c.tools.curl, "-s", "--max-time", "1",
                    "http://192.0.2.20/",
                ])
                bodies.insert(r.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            print("control-plane role web (192.0.2.20:80 → 192.0.2.21:8081, :8082): answers \(bodies.sorted())")
            #expect(bodies == ["one", "two"])
            // A UDP role (nginx): a datagram to 192.0.2.20:5353 comes back from the target.
            let ask =
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\ns.sendto(b'ping',('192.0.2.20',5353))\ntry:\n print(s.recvfrom(2048)[0].decode())\nexcept Exception as e:\n print('FAIL',e)\n"
            var reply = ""
            for _ in 0..<20 {
                reply = Child.run([c.tools.ip, "netns", "exec", c.topo.ns("client"), c.tools.python, "-c", ask]).output
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if reply == "udp ping" { break }
                usleep(200_000)
            }
            print("control-plane role dns (udp 192.0.2.20:5353 → 192.0.2.21:5353): reply \(reply)")
            #expect(reply == "udp ping")
            if reply != "udp ping", let node = h.first {
                let conf =
                    (try? String(contentsOfFile: "\(c.work)/\(node)/cp-run/nginx/nginx.conf", encoding: .utf8))
                    ?? "none"
                let ss = Child.run([c.tools.ip, "netns", "exec", c.topo.ns(node), "ss", "-ulnp"]).output
                let files = Child.run(["/usr/bin/find", "\(c.work)/\(node)"]).output
                let alive = c.actors.mapValues(\.isRunning)
                print("\(node) nginx.conf:\n\(conf)\nss -ulnp:\n\(ss)\nfiles:\n\(files)\nactors running: \(alive)")
            }
        }
    }

    /// The control-plane VIP announced by BGP (FRR on each node, a router namespace with FRR, a
    /// client behind the router): every ready node's /32 is a next hop (ECMP, requests spread);
    /// an unready node withdraws its /32; with every node unready the fallback /31 (announced by
    /// all) keeps the VIP reachable; the first node to recover takes all of it.
    @Test(.needs(.root("ip", "keepalived", "nginx", "openssl", "python3", "curl", "vtysh").and(built: "k8slb-actor")))
    func bgpEveryReadyNodeAnnouncesAndTheFallbackKeepsTheVIP() throws {
        guard which("vtysh") != nil, FileManager.default.isExecutableFile(atPath: "/usr/lib/frr/bgpd") else {
            if requireIntegration { Issue.record("FRR (vtysh, /usr/lib/frr/bgpd) is required when CI=true") }
            return
        }
        try Self.with { c in
            let topo = c.topo
            let ip = c.tools.ip
            try topo.host("router", addresses: ["192.0.2.1/24"])
            try topo.client("bcl", behind: "router", links: [("198.51.100.1/24", "198.51.100.2/24")])
            _ = try topo.exec(
                "router", ["sh", "-c", "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1"])
            for node in Self.nodes {
                try topo.sh(["-n", topo.ns(node), "route", "add", "198.51.100.0/24", "via", "192.0.2.1"])
            }
            let routerConfig = """
                frr defaults traditional
                hostname router
                ip prefix-list CP seq 5 permit 203.0.113.0/24 ge 31
                route-map CP-IN permit 10
                 match ip address prefix-list CP
                exit
                route-map DENY-ALL deny 10
                exit
                router bgp 64512
                 bgp router-id 192.0.2.1
                 neighbor CP peer-group
                 neighbor CP remote-as 64513
                 neighbor CP bfd
                 neighbor CP timers connect 1
                \(Self.nodes.map { " neighbor \(Self.address($0)) peer-group CP" }.joined(separator: "\n"))
                 address-family ipv4 unicast
                  maximum-paths 8
                  neighbor CP route-map CP-IN in
                  neighbor CP route-map DENY-ALL out
                 exit-address-family
                exit

                """
            let router = FRRProcess(
                paths: .init(directory: "\(c.work)/router-frr"), launcher: [ip, "netns", "exec", topo.ns("router")])
            defer { router.stopBlocking() }
            try router.applyBlocking(routerConfig)
            for node in Self.nodes { try c.startAPIServer(node) }
            let bgp = #" "bgp": {"asn": 64513, "peers": [{"address": "192.0.2.1", "asn": 64512, "bfd": {}}]},"#
            for node in Self.nodes {
                c.actors[node] = try Self.startControlPlaneActor(
                    node, peers: Self.nodes.map { ($0, Self.address($0)) }, vip: Self.vip, vrid: 51, in: topo,
                    work: c.work, binary: c.tools.binary, keepalived: c.tools.keepalived,
                    moreVIPs: #", {"address": "203.0.113.10", "announce": "bgp"}"#, roles: bgp)
            }
            /// The router's next hops for `prefix` (exactly that prefix), by node name.
            func hops(_ prefix: String) -> [String] {
                let out = Child.run([ip, "-n", topo.ns("router"), "-4", "route", "show", "exact", prefix]).output
                let words = out.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
                return words.indices.filter { words[$0] == "via" && $0 + 1 < words.count }
                    .compactMap { i in Self.nodes.first { Self.address($0) == words[i + 1] } }.sorted()
            }
            func waitFor(_ seconds: Double, _ done: () -> Bool) -> Double? {
                let start = Date()
                while Date().timeIntervalSince(start) < seconds {
                    if done() { return Date().timeIntervalSince(start) }
                    usleep(10_000)
                }
                return nil
            }
            func answers(_ n: Int) throws -> [String] {
                let p = try ConnectProbe.start(
                    ip: ip, python: c.tools.python, namespace: topo.ns("bcl"), host: "203.0.113.10", port: 6080,
                    seconds: Double(n) * 0.02, every: 20)
                return ConnectProbe.results(p).map { $0.ok ? $0.body : "FAIL" }
            }
            let converged = waitFor(30) { hops("203.0.113.10/32") == Self.nodes }
            print(
                "control-plane bgp: router next hops for 203.0.113.10/32 \(hops("203.0.113.10/32")), /31 \(hops("203.0.113.10/31")) (\(converged.map { String(format: "%.1f", $0) } ?? "never") s after start)"
            )
            #expect(converged != nil, "every ready node announces the VIP")
            let spread = try answers(60)
            print(
                "control-plane bgp: 60 new connections answered by \(Dictionary(grouping: spread, by: { $0 }).mapValues(\.count).sorted { $0.key < $1.key })"
            )
            #expect(!spread.contains("FAIL") && Set(spread).count >= 2, "ECMP spreads new connections")

            c.setReady("cp2", false)
            let withdrawn = waitFor(5) { hops("203.0.113.10/32") == ["cp1", "cp3"] }
            let after = try answers(30)
            print(
                "control-plane bgp: cp2's /readyz 500 → its /32 withdrawn at the router after \(withdrawn.map { String(format: "%.3f", $0) } ?? "never") s; then \(Set(after).sorted())"
            )
            #expect((withdrawn ?? 9) <= 1.0)
            #expect(!after.contains("cp2") && !after.contains("FAIL"))

            for node in Self.nodes { c.setReady(node, false) }
            let fallback = waitFor(5) { hops("203.0.113.10/32").isEmpty && hops("203.0.113.10/31") == Self.nodes }
            let none = try answers(30)
            print(
                "control-plane bgp: every apiserver unready → /32 gone, /31 via \(hops("203.0.113.10/31")) after \(fallback.map { String(format: "%.3f", $0) } ?? "never") s; the VIP still answers: \(none.filter { $0 != "FAIL" }.count) of \(none.count)"
            )
            #expect(fallback != nil)
            #expect(!none.contains("FAIL"), "the fallback keeps the VIP reachable")

            c.setReady("cp3", true)
            let back = waitFor(5) { hops("203.0.113.10/32") == ["cp3"] }
            let recovered = try answers(30)
            print(
                "control-plane bgp: cp3 recovers → its /32 at the router after \(back.map { String(format: "%.3f", $0) } ?? "never") s; answers \(Set(recovered).sorted())"
            )
            #expect((back ?? 9) <= 1.0)
            #expect(Set(recovered) == ["cp3"])
            for node in Self.nodes { c.setReady(node, true) }
            for (_, p) in c.actors where p.isRunning {
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
            }
        }
    }
}
