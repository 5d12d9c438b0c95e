import Core
import DataPlane
import Foundation
import Glibc
import TestSupport
import Testing

/// FRR config changes applied in place (FRRReload's commands through vtysh, no frr-reload.py):
/// a router namespace and an LB-node namespace, each with real FRR (zebra, bfdd, bgpd); the node's
/// config changes pool by pool and peer by peer while its session with the router stays up.
@Suite(.serialized, .needs(.root("ip", "vtysh"))) struct FRRReloadTests {
    static let routerConfig = """
        frr defaults traditional
        hostname router
        ip prefix-list VIPS seq 5 permit 203.0.113.0/24 ge 32
        ip prefix-list VIPS seq 10 permit 198.51.100.0/24 ge 32
        route-map LB-IN permit 10
         match ip address prefix-list VIPS
        exit
        route-map DENY-ALL deny 10
        exit
        router bgp 64512
         bgp router-id 192.0.2.1
         no bgp default ipv4-unicast
         neighbor 192.0.2.11 remote-as 64513
         neighbor 192.0.2.11 timers connect 1
         address-family ipv4 unicast
          neighbor 192.0.2.11 activate
          neighbor 192.0.2.11 route-map LB-IN in
          neighbor 192.0.2.11 route-map DENY-ALL out
         exit-address-family
        exit

        """

    static func nodeConfig(pools: [String], peers: [String]) throws -> String {
        let c = try UserConfig.parse(
            #"{"pools": {"# + pools.joined(separator: ",") + #"}, "bgp": {"asn": 64513, "peers": ["#
                + peers.joined(separator: ",") + "]}}"
        ).config
        return try #require(FRRRenderer(options: .init(node: "lb-a")).render(c))
    }

    static let edge = #""edge": {"network": "203.0.113.0/24", "range": "203.0.113.10-203.0.113.20", "announce": "bgp"}"#
    static let edge2 =
        #""edge2": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.20", "announce": "bgp"}"#
    static let router = #"{"address": "192.0.2.1", "asn": 64512, "bfd": {"rx": 100, "tx": 100, "multiplier": 3}}"#
    static let routerFasterBFD =
        #"{"address": "192.0.2.1", "asn": 64512, "bfd": {"rx": 50, "tx": 50, "multiplier": 3}}"#
    static let absent = #"{"address": "192.0.2.9", "asn": 64600, "holdTime": 9, "keepalive": 3}"#

    @Test func changesApplyInPlaceWithoutResettingTheSession() async throws {
        guard getuid() == 0, let ip = which("ip"), let vtysh = which("vtysh"),
            FileManager.default.fileExists(
                atPath: "/usr/lib/frr/bgpd")
        else {
            if requireIntegration {
                Issue.record("root, iproute2 and FRR (vtysh, /usr/lib/frr) are required when CI=true")
            }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-frr-reload-\(topo.id)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try topo.bridge()
        try topo.host("router", addresses: ["192.0.2.1/24"])
        try topo.host("lb-a", addresses: ["192.0.2.11/24"])

        let routerFRR = FRRProcess(
            paths: .init(vtysh: vtysh, directory: work.appendingPathComponent("router").path),
            launcher: [ip, "netns", "exec", topo.ns("router")])
        let node = FRRProcess(
            paths: .init(vtysh: vtysh, directory: work.appendingPathComponent("node").path),
            launcher: [ip, "netns", "exec", topo.ns("lb-a")])
        defer {
            node.stopBlocking()
            routerFRR.stopBlocking()
        }
        try routerFRR.applyBlocking(Self.routerConfig)
        try node.applyBlocking(try Self.nodeConfig(pools: [Self.edge], peers: [Self.router]))

        /// The router's view of the session with the node: (established, times established).
        func session() async -> (up: Bool, established: Int) {
            let json = await routerFRR.show("show bgp neighbors 192.0.2.11 json") ?? ""
            let up = json.contains(#""bgpState":"Established""#)
            let count = json.firstMatch(#""connectionsEstablished":(\d+)"#).flatMap { Int($0) } ?? -1
            return (up, count)
        }
        func waitFor(_ what: String, _ seconds: Double = 15, _ condition: () async -> Bool) async {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if await condition() { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("timed out waiting for \(what)")
        }
        /// The VIP routes the router learned from the node.
        func learned() async -> String { await routerFRR.show("show ip route bgp") ?? "" }
        func nodeRunning() async -> String { await node.show("show running-config") ?? "" }

        await waitFor("the session") { await session().up }
        let first = await session()
        #expect(first.up && first.established == 1)
        // A VIP of the pool on the node's lo is announced.
        _ = try topo.exec("lb-a", [ip, "addr", "add", "203.0.113.10/32", "dev", "lo"])
        _ = try topo.exec("lb-a", [ip, "addr", "add", "198.51.100.10/32", "dev", "lo"])
        await waitFor("203.0.113.10 at the router") { await learned().contains("203.0.113.10/32") }
        let before = await learned()
        #expect(!before.contains("198.51.100.10/32"), "edge2 is not a pool yet")

        // 1. A pool added: its prefix-list and route-map entries; its VIP announced.
        try node.applyBlocking(try Self.nodeConfig(pools: [Self.edge, Self.edge2], peers: [Self.router]))
        await waitFor("198.51.100.10 at the router") { await learned().contains("198.51.100.10/32") }
        // 2. A peer added (it never answers), then removed again.
        try node.applyBlocking(try Self.nodeConfig(pools: [Self.edge, Self.edge2], peers: [Self.router, Self.absent]))
        let withPeer = await nodeRunning()
        #expect(withPeer.contains("neighbor 192.0.2.9 remote-as 64600"))
        try node.applyBlocking(try Self.nodeConfig(pools: [Self.edge, Self.edge2], peers: [Self.router]))
        let withoutPeer = await nodeRunning()
        #expect(!withoutPeer.contains("192.0.2.9"))
        // 3. Faster BFD for the router's session: a new profile, the neighbor moved onto it.
        try node.applyBlocking(try Self.nodeConfig(pools: [Self.edge, Self.edge2], peers: [Self.routerFasterBFD]))
        let running = await nodeRunning()
        #expect(running.contains("profile k8slb-50-50-3") && !running.contains("profile k8slb-100-100-3"), "\(running)")
        #expect(running.contains("neighbor 192.0.2.1 bfd profile k8slb-50-50-3"))
        // 4. The pool removed again: its VIP withdrawn.
        try node.applyBlocking(try Self.nodeConfig(pools: [Self.edge], peers: [Self.routerFasterBFD]))
        await waitFor("198.51.100.10 withdrawn") { await !learned().contains("198.51.100.10/32") }
        let after = await learned()
        #expect(after.contains("203.0.113.10/32"))

        let last = await session()
        print(
            "FRR reload: 4 changes applied in place (\(node.reloads) vtysh reloads, \(node.configRestarts) restarts); the session with the router: established \(last.established) time(s), up \(last.up)"
        )
        #expect(node.reloads == 5 && node.configRestarts == 0, "\(node.lastReloadFailure ?? "")")
        #expect(last.up && last.established == 1, "no session reset")

        // What FRR cannot take in place (another AS number) restarts it with the new config.
        let otherAS = try Self.nodeConfig(pools: [Self.edge], peers: [Self.routerFasterBFD])
            .replacingOccurrences(of: "router bgp 64513", with: "router bgp 64514")
        try node.applyBlocking(otherAS)
        #expect(node.configRestarts == 1)
        // The daemons read the new config as they start: bgpd's part shows once it answers vtysh.
        await waitFor("bgpd running as AS 64514") { await nodeRunning().contains("router bgp 64514") }
    }
}

extension String {
    /// The first capture group of `pattern`.
    fileprivate func firstMatch(_ pattern: String) -> String? {
        guard let r = range(of: pattern, options: .regularExpression) else { return nil }
        let match = String(self[r])
        guard let digits = match.split(separator: ":").last else { return nil }
        return String(digits)
    }
}
