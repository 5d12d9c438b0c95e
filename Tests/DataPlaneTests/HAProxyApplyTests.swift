import Core
import DataPlane
import Foundation
import Glibc
import Netlink
import Spawn
import TestSupport
import Testing

@Suite(.serialized, .needs(.root("ip", "haproxy", "curl", "python3"))) struct HAProxyApplyTests {
    /// The workers' stats socket (HAProxy leaves the file behind): removed at the end of each test.
    static let statsSocket = "/tmp/k8slb-stats-\(ProcessInfo.processInfo.processIdentifier).sock"

    static func config(servers: [(String, UInt16)], raw: [String] = []) throws -> String {
        let entry = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "web"),
            ports: [.init(name: "web", port: 80, targetPort: .number(8080))])
        let doc = AssignmentDocument(vips: [
            .init(address: try IPAddress(parsing: "192.0.2.50"), pool: .default, services: [entry])
        ])
        let endpoints = EndpointMap([
            .init(service: entry.key, port: 80, proto: .tcp):
                try servers.map { EndpointAddress(address: try IPAddress(parsing: $0.0), port: $0.1) }
        ])
        let rawJSON = raw.map { "\"\($0)\"" }.joined(separator: ",")
        let config = try UserConfig.parse(
            #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"haproxy":{"defaults":[\#(rawJSON)]}}"#
        ).config
        var options = HAProxyRenderer.Options()
        options.statsSocket = statsSocket
        return HAProxyRenderer(options: options).render(doc, endpoints: endpoints, config: config)
    }

    @Test func startReloadRejectAndHitlessUnderLoad() throws {
        guard getuid() == 0, let ip = which("ip"), let haproxy = which("haproxy"), let curl = which("curl"),
            let python = which("python3")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, haproxy, curl and python3 are required when CI=true")
            }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        defer { unlink(Self.statsSocket) }
        try topo.bridge()
        try topo.host("lb", addresses: ["192.0.2.11/24"])
        try topo.host("be", addresses: ["192.0.2.21/24", "192.0.2.22/24"])
        try topo.host("cl", addresses: ["192.0.2.100/24"])
        _ = try topo.exec("lb", ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind"])
        // The VIP, through our netlink wrapper, inside the LB namespace.
        try inNamespace(topo.ns("lb")) {
            try NetlinkSocket().add(try IPAddress(parsing: "192.0.2.50"), interface: "eth0")
        }
        // Two backends answering with their name.
        let web = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-web-\(topo.id)")
        defer { try? FileManager.default.removeItem(at: web) }
        for (name, addr) in [("one", "192.0.2.21"), ("two", "192.0.2.22")] {
            let dir = web.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "backend-\(name)\n".write(
                to: dir.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try topo.spawn(
                "be", [python, "-m", "http.server", "8080", "--bind", addr, "--directory", dir.path], listening: 8080)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-hap-\(topo.id)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let proxy = HAProxyProcess(
            paths: .init(binary: haproxy, directory: dir.path), launcher: [ip, "netns", "exec", topo.ns("lb")])
        defer { proxy.stopBlocking() }

        func get() throws -> String {
            try topo.exec("cl", [curl, "-s", "--max-time", "2", "http://192.0.2.50/"]).output
        }
        // Backends take a moment to listen.
        var ready = false
        for _ in 0..<50 where !ready {
            ready =
                (try? topo.exec("cl", [curl, "-s", "--max-time", "1", "http://192.0.2.21:8080/"]).output)
                == "backend-one\n"
            if !ready { usleep(100_000) }
        }
        #expect(ready, "backend did not come up")

        let one = try Self.config(servers: [("192.0.2.21", 8080)])
        #expect(try proxy.applyBlocking(one) == .started)
        #expect(try get() == "backend-one\n")
        #expect(try proxy.applyBlocking(one) == .unchanged, "same config: no write, no reload")

        let both = try Self.config(servers: [("192.0.2.21", 8080), ("192.0.2.22", 8080)])
        guard case .reloaded = try proxy.applyBlocking(both) else {
            Issue.record("expected a reload")
            return
        }
        var seen = Set<String>()
        for _ in 0..<10 { seen.insert(try get()) }
        #expect(seen == ["backend-one\n", "backend-two\n"])

        // A config haproxy rejects is refused before it touches anything; the old one serves.
        #expect(throws: HAProxyProcess.ApplyError.self) {
            try proxy.applyBlocking(try Self.config(servers: [("192.0.2.21", 8080)], raw: ["no-such-directive 1"]))
        }
        #expect(try get().hasPrefix("backend-"))

        // Hitless: a client loop while reloading 8 times.
        let loop =
            "ok=0; bad=0; for i in $(seq 300); do c=$(\(curl) -s -o /dev/null -w '%{http_code}' --max-time 2 http://192.0.2.50/); if [ \"$c\" = 200 ]; then ok=$((ok+1)); else bad=$((bad+1)); fi; done; echo $ok $bad"
        let client = try Child.start([ip, "netns", "exec", topo.ns("cl"), "sh", "-c", loop], output: .capture)
        for i in 0..<8 {
            usleep(150_000)
            _ = try proxy.applyBlocking(i % 2 == 0 ? one : both)
        }
        let counts = client.capturedOutput().split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(counts.count == 2 && counts[1] == 0 && counts[0] == 300, "ok/failed during reloads: \(counts)")
    }

    /// The master is SIGKILLed: supervision restarts it from the config on disk and the VIP serves
    /// again within a second.
    @Test func killedMasterIsRestartedAndServesWithinASecond() throws {
        guard getuid() == 0, let ip = which("ip"), let haproxy = which("haproxy"), let curl = which("curl"),
            let python = which("python3")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, haproxy, curl and python3 are required when CI=true")
            }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        defer { unlink(Self.statsSocket) }
        try topo.bridge()
        try topo.host("lb", addresses: ["192.0.2.11/24", "192.0.2.50/32"])
        try topo.host("be", addresses: ["192.0.2.21/24"])
        try topo.host("cl", addresses: ["192.0.2.100/24"])
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-sup-\(topo.id)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try "backend-one\n".write(to: work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try topo.spawn(
            "be", [python, "-m", "http.server", "8080", "--bind", "192.0.2.21", "--directory", work.path],
            listening: 8080)
        let proxy = HAProxyProcess(
            paths: .init(binary: haproxy, directory: work.path), launcher: [ip, "netns", "exec", topo.ns("lb")])
        defer { proxy.stopBlocking() }
        let startClock = ContinuousClock.now
        #expect(try proxy.applyBlocking(try Self.config(servers: [("192.0.2.21", 8080)])) == .started)
        print("timeline: cold start took \(ContinuousClock.now - startClock)")
        func ok() -> Bool {
            (try? topo.exec("cl", [curl, "-s", "--max-time", "0.5", "http://192.0.2.50/"]).output) == "backend-one\n"
        }
        var up = false
        for _ in 0..<50 where !up {
            up = ok()
            if !up { usleep(100_000) }
        }
        #expect(up)
        guard let master = proxy.masterPID else {
            Issue.record("no master")
            return
        }
        let killed = ContinuousClock.now
        kill(master, SIGKILL)  // by PID: the master this test started
        var back: Duration?
        var firstOK: Duration?
        var newMaster: Duration?
        var firstFail: Duration?
        while ContinuousClock.now - killed < .seconds(5) {
            let serving = ok()
            if !serving && firstFail == nil { firstFail = ContinuousClock.now - killed }
            if serving && firstOK == nil && firstFail != nil { firstOK = ContinuousClock.now - killed }
            if newMaster == nil, let m = proxy.masterPID, m != master { newMaster = ContinuousClock.now - killed }
            if serving, newMaster != nil {
                back = ContinuousClock.now - killed
                break
            }
            usleep(10_000)
        }
        print(
            "timeline: first failure \(firstFail.map { "\($0)" } ?? "none"), new master \(newMaster.map { "\($0)" } ?? "none"), first ok after failure \(firstOK.map { "\($0)" } ?? "none")"
        )
        print("haproxy master SIGKILL: serving again after \(back.map { "\($0)" } ?? "never")")
        #expect(back != nil && back! < .seconds(1), "serving again within 1 s")
        #expect(proxy.restarts == 1)
    }
}
