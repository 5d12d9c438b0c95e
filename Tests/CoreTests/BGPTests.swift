import Foundation
import Testing

@testable import Core

/// BGP pools in Core: the `bgp` block's validation (JSON paths in errors), the FRR config, and
/// which VIPs a node announces.
@Suite struct BGPTests {
    static let good = #"""
        {"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"},
                   "edge": {"network": "203.0.113.8-203.0.113.23", "range": "203.0.113.10-203.0.113.20", "announce": "bgp",
                            "communities": ["64512:100", "no-export"], "localPref": 200},
                   "edge6": {"network": "2001:db8:ffff::/64", "range": "2001:db8:ffff::10-2001:db8:ffff::20", "announce": "bgp"}},
         "bgp": {"asn": 64513, "peers": [
            {"address": "192.0.2.1", "asn": 64512, "password": "s3cr3t!", "bfd": {"rx": 80, "tx": 80, "multiplier": 3}, "holdTime": 9, "keepalive": 3},
            {"address": "2001:db8::1", "asn": 64512, "bfd": true},
            {"address": "198.51.100.1", "asn": 4200000000, "nodeSelector": "rack=b", "ebgpMultihop": 2, "port": 1179}]}}
        """#

    @Test func validBlockParses() throws {
        let c = try UserConfig.parse(Self.good).config
        let bgp = try #require(c.bgp)
        #expect(bgp.asn == 64513 && bgp.peers.count == 3)
        #expect(
            bgp.peers[0].password?.rawValue == "s3cr3t!"
                && bgp.peers[0].bfd == BFDSettings(receiveMilliseconds: 80, transmitMilliseconds: 80, multiplier: 3))
        #expect(bgp.peers[1].bfd == .default && bgp.peers[1].families == [.ipv6])
        #expect(bgp.peers[2].asn == 4_200_000_000 && bgp.peers[2].port == 1179)
        #expect(
            bgp.peers(forNodeLabels: ["rack": "a"]).count == 2 && bgp.peers(forNodeLabels: ["rack": "b"]).count == 3)
        let edge = try #require(c.pool(named: try PoolName(parsing: "edge")))
        #expect(
            edge.announce == .bgp && edge.communities.map(\.rawValue) == ["64512:100", "no-export"]
                && edge.localPreference == 200)
        #expect(c.pool(named: .default)?.announce == .vrrp)
        #expect("\(bgp.peers[0].password!)" == "(password)", "never printed")
    }

    @Test(arguments: [
        (
            #"{"address": "192.0.2.1", "asn": 64512, "families": ["ipv5"]}"#, "bgp.peers[0].families[0]",
            "unknown address family"
        ),
        (#"{"address": "192.0.2.1", "asn": 4294967296}"#, "bgp.peers[0].asn", "1-4294967295"),
        (#"{"address": "192.0.2.1", "asn": 0}"#, "bgp.peers[0].asn", "1-4294967295"),
        (
            #"{"address": "192.0.2.1", "asn": 64512, "password": "a\nneighbor 1.2.3.4 remote-as 1"}"#,
            "bgp.peers[0].password", "no spaces, newlines"
        ),
        (#"{"address": "192.0.2.300", "asn": 64512}"#, "bgp.peers[0].address", "larger than 255"),
        (#"{"address": "192.0.2.1", "asn": 64512, "bfd": {"rx": 5}}"#, "bgp.peers[0].bfd.rx", "10 to 60000"),
        (
            #"{"address": "192.0.2.1", "asn": 64512, "holdTime": 3, "keepalive": 3}"#, "bgp.peers[0].keepalive",
            "shorter than the hold time"
        ),
        (#"{"asn": 64512}"#, "bgp.peers[0].address", "required"),
    ])
    func badPeersAreRefusedWithTheirPath(peer: String, path: String, message: String) {
        let json =
            #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20", "announce": "bgp"}}, "bgp": {"asn": 64513, "peers": ["#
            + peer + "]}}"
        do {
            _ = try UserConfig.parse(json)
            Issue.record("accepted: \(peer)")
        } catch {
            let hit = error.errors.first { $0.path == path }
            #expect(hit != nil && hit!.description.contains(message), "\(error.errors.map(\.description))")
            #expect(
                !error.errors.map(\.description).joined().contains("neighbor 1.2.3.4"), "the password is not echoed")
        }
    }

    @Test func bgpPoolNeedsTheBlockAndAKnownAnnouncement() {
        #expect(throws: ConfigValidationError.self) {
            try UserConfig.parse(
                #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20", "announce": "bgp"}}}"#
            )
        }
        #expect(throws: ConfigValidationError.self) {
            try UserConfig.parse(
                #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20", "announce": "ospf"}}}"#
            )
        }
        #expect(throws: ConfigValidationError.self) {
            try UserConfig.parse(
                #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20", "communities": ["65536:1"]}}}"#
            )
        }
    }

    @Test func frrConfigFromTypedValues() throws {
        let c = try UserConfig.parse(Self.good).config
        let text = try #require(FRRRenderer(options: .init(node: "lb-a", labels: ["rack": "a"])).render(c))
        #expect(text.contains("router bgp 64513"))
        #expect(
            text.contains("neighbor 192.0.2.1 remote-as 64512") && text.contains("neighbor 192.0.2.1 password s3cr3t!"))
        #expect(
            text.contains("neighbor 192.0.2.1 timers 3 9")
                && text.contains("neighbor 192.0.2.1 bfd profile k8slb-80-80-3"))
        #expect(!text.contains("198.51.100.1"), "rack b's peer is not this node's")
        // A start-stop network becomes exact CIDR blocks (203.0.113.8-23 = /29 + /29).
        #expect(text.contains("ip prefix-list k8slb-edge seq 5 permit 203.0.113.8/29 ge 32"))
        #expect(text.contains("ip prefix-list k8slb-edge seq 10 permit 203.0.113.16/29 ge 32"))
        #expect(text.contains("ipv6 prefix-list k8slb-edge6 seq 5 permit 2001:db8:ffff::/64 ge 128"))
        #expect(
            text.contains("match interface lo") && text.contains("set community 64512:100 no-export")
                && text.contains("set local-preference 200"))
        // IPv4 VIPs to the IPv4 peer, IPv6 to the IPv6 one.
        let v4 = text.components(separatedBy: "address-family ipv4 unicast")[1].components(
            separatedBy: "exit-address-family")[0]
        let v6 = text.components(separatedBy: "address-family ipv6 unicast")[1].components(
            separatedBy: "exit-address-family")[0]
        #expect(v4.contains("neighbor 192.0.2.1 activate") && !v4.contains("2001:db8::1"))
        #expect(v6.contains("neighbor 2001:db8::1 activate") && !v6.contains("192.0.2.1 activate"))
        #expect(
            text.contains(
                "profile k8slb-80-80-3\n     detect-multiplier 3\n     receive-interval 80\n     transmit-interval 80"))
        // No BGP pool: no FRR.
        #expect(
            FRRRenderer(options: .init(node: "lb-a")).render(
                try UserConfig.parse(
                    #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"}}}"#
                ).config) == nil)
    }

    @Test func cidrBlocksCoverRangesExactly() throws {
        for (range, blocks) in [
            ("192.0.2.0-192.0.2.255", ["192.0.2.0/24"]),
            ("192.0.2.1-192.0.2.6", ["192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"]),
            ("2001:db8::/64", ["2001:db8::/64"]), ("0.0.0.0-255.255.255.255", ["0.0.0.0/0"]),
        ] {
            #expect(FRRRenderer.blocks(try IPRange(parsing: range)).map(\.description) == blocks, "\(range)")
        }
    }

    @Test func nodeAnnouncesWhatItCanServe() throws {
        let c = try UserConfig.parse(Self.good).config
        let edge = try PoolName(parsing: "edge")
        let web = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "a", name: "web"), ports: [.init(port: 80, targetPort: .number(8080))])
        let doc = AssignmentDocument(
            vips: [
                .init(address: try IPAddress(parsing: "203.0.113.10"), pool: edge, services: [web]),
                .init(address: try IPAddress(parsing: "192.0.2.10"), pool: .default, services: [web], vrid: 1),
            ],
            nodes: ["lb-a", "lb-b"], groups: [.init(vrid: 1, family: .ipv4, pool: .default, node: "lb-a")])
        var i = NodePlan.Inputs(
            node: "lb-b", eligible: true, backend: .haproxy, document: doc, config: c, endpoints: EndpointMap(),
            tlsPools: [], interfaces: [.default: try InterfaceName(parsing: "eth0")])
        let plan = NodePlan.make(i)
        let vip = try IPAddress(parsing: "203.0.113.10")
        #expect(plan.announced == [vip] && plan.bindings[vip]?.rawValue == "lo")
        #expect(plan.frr != nil && !plan.keepalived.contains("203.0.113.10"), "BGP VIPs get no VRRP")
        i.proxyHealthy = false
        #expect(NodePlan.make(i).announced.isEmpty, "an unhealthy proxy withdraws")
        i.proxyHealthy = true
        i.eligible = false
        #expect(NodePlan.make(i).announced.isEmpty, "an ineligible node withdraws")
    }

    /// A Gateway's VIP in a BGP pool is announced like a Service's, and its routes are served.
    @Test func gatewayVIPsAreAnnouncedToo() throws {
        let c = try UserConfig.parse(Self.good).config
        let edge = try PoolName(parsing: "edge")
        var gateway = AssignmentDocument.ServiceEntry(
            key: .gateway(namespace: "a", name: "gw"), ports: [.init(name: "http", port: 80, targetPort: .number(80))])
        let backend = WeightedBackend(
            service: ServiceKey(namespace: "a", name: "web"),
            port: .init(name: "http", port: 80, targetPort: .number(8080)), weight: 1)
        var action = HTTPAction(backends: [backend])
        action.rule = "a/r#0"
        gateway.gateway = GatewayEntry(
            generation: 3,
            listeners: [
                .init(
                    name: "http", port: 80, kind: .http,
                    http: [HTTPRouteEntry(hostname: nil, match: HTTPMatch(), action: action)])
            ])
        let vip = try IPAddress(parsing: "203.0.113.11")
        let doc = AssignmentDocument(
            vips: [.init(address: vip, pool: edge, services: [gateway])], nodes: ["lb-a", "lb-b"])
        let plan = NodePlan.make(
            NodePlan.Inputs(
                node: "lb-b", eligible: true, backend: .haproxy, document: doc, config: c, endpoints: EndpointMap(),
                tlsPools: [], interfaces: [:]))
        #expect(plan.announced == [vip] && plan.bindings[vip]?.rawValue == "lo")
        guard case .haproxy(let rendered) = plan.proxy else {
            Issue.record("HAProxy")
            return
        }
        #expect(
            rendered.text.contains("bind 203.0.113.11:80 transparent")
                && rendered.text.contains("use_backend be_203_0_113_11_80_"))
    }
}
