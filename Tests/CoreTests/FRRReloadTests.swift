import Foundation
import Testing

@testable import Core

/// FRRReload: the vtysh commands between two configs FRRRenderer printed (FRRReloadTests in
/// DataPlaneTests runs them against real FRR and checks the sessions stay up).
@Suite struct FRRReloadTests {
    static func config(pools: String, peers: String, node: String = "lb-a", labels: [String: String] = [:]) throws
        -> String
    {
        let c = try UserConfig.parse(#"{"pools": {"# + pools + #"}, "bgp": {"asn": 64513, "peers": ["# + peers + "]}}")
            .config
        return try #require(FRRRenderer(options: .init(node: node, labels: labels)).render(c))
    }

    static let edge = #""edge": {"network": "203.0.113.0/24", "range": "203.0.113.10-203.0.113.20", "announce": "bgp"}"#
    static let edge6 =
        #""edge6": {"network": "2001:db8:ffff::/64", "range": "2001:db8:ffff::10-2001:db8:ffff::20", "announce": "bgp"}"#
    static let peer1 = #"{"address": "192.0.2.1", "asn": 64512, "bfd": {"rx": 80, "tx": 80, "multiplier": 3}}"#
    static let peer2 = #"{"address": "192.0.2.2", "asn": 64512, "holdTime": 9, "keepalive": 3}"#

    @Test func sameConfigNoCommands() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer1)
        #expect(FRRReload.commands(from: a, to: a) == [])
    }

    @Test func parsesWhatTheRendererPrints() throws {
        let a = try Self.config(pools: Self.edge + "," + Self.edge6, peers: Self.peer1 + "," + Self.peer2)
        let tree = try #require(FRRReload.parse(a))
        let router = try #require(tree.first { $0.line == "router bgp 64513" })
        #expect(
            router.children.filter { $0.exit == "exit-address-family" }.map(\.line) == [
                "address-family ipv4 unicast", "address-family ipv6 unicast",
            ])
        let bfd = try #require(tree.first { $0.line == "bfd" })
        #expect(bfd.children.map(\.line) == ["profile k8slb-80-80-3"] && bfd.children[0].children.count == 3)
    }

    @Test func aPoolAddedAddsItsPrefixListAndRouteMapEntriesOnly() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer1)
        let b = try Self.config(pools: Self.edge + "," + Self.edge6, peers: Self.peer1)
        let commands = try #require(FRRReload.commands(from: a, to: b))
        #expect(commands.first == "ipv6 prefix-list k8slb-edge6 seq 5 permit 2001:db8:ffff::/64 ge 128")
        #expect(
            commands.contains("route-map k8slb-vips permit 20") && commands.contains("route-map k8slb-out permit 20"))
        // The IPv6 address family is new; no neighbor line is removed, nothing is reset.
        #expect(commands.contains("address-family ipv6 unicast"))
        #expect(!commands.contains { $0.hasPrefix("no ") }, "\(commands)")
        // And back: the pool's statements go, after the contexts.
        let back = try #require(FRRReload.commands(from: b, to: a))
        #expect(back.suffix(1) == ["no ipv6 prefix-list k8slb-edge6 seq 5 permit 2001:db8:ffff::/64 ge 128"])
        #expect(back.contains("no route-map k8slb-vips permit 20") && back.contains("no address-family ipv6 unicast"))
    }

    @Test func aPeerAddedAndRemovedTouchesOnlyThatPeer() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer1)
        let b = try Self.config(pools: Self.edge, peers: Self.peer1 + "," + Self.peer2)
        let added = try #require(FRRReload.commands(from: a, to: b))
        #expect(
            added == [
                "router bgp 64513", "neighbor 192.0.2.2 remote-as 64512", "neighbor 192.0.2.2 timers 3 9",
                "neighbor 192.0.2.2 timers connect 1", "address-family ipv4 unicast", "neighbor 192.0.2.2 activate",
                "neighbor 192.0.2.2 route-map k8slb-in in", "neighbor 192.0.2.2 route-map k8slb-out out",
                "exit-address-family", "exit",
            ], "\(added)")
        let removed = try #require(FRRReload.commands(from: b, to: a))
        #expect(removed == ["router bgp 64513", "no neighbor 192.0.2.2", "exit"], "\(removed)")
    }

    @Test func aChangedSettingIsReplacedInPlace() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer2)
        let b = try Self.config(
            pools: Self.edge, peers: #"{"address": "192.0.2.2", "asn": 64512, "holdTime": 30, "keepalive": 10}"#)
        #expect(
            FRRReload.commands(from: a, to: b) == ["router bgp 64513", "neighbor 192.0.2.2 timers 10 30", "exit"])
        // BFD timers: a new profile, the neighbor pointed at it, the old profile removed.
        let c = try Self.config(pools: Self.edge, peers: Self.peer1)
        let d = try Self.config(
            pools: Self.edge,
            peers: #"{"address": "192.0.2.1", "asn": 64512, "bfd": {"rx": 50, "tx": 50, "multiplier": 3}}"#)
        let commands = try #require(FRRReload.commands(from: c, to: d))
        #expect(
            commands == [
                "bfd", "profile k8slb-50-50-3", "detect-multiplier 3", "receive-interval 50", "transmit-interval 50",
                "exit", "no profile k8slb-80-80-3", "exit",
                "router bgp 64513", "neighbor 192.0.2.1 bfd profile k8slb-50-50-3", "exit",
            ], "\(commands)")
    }

    @Test func anotherASNForAPeerReAddsIt() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer2)
        let b = try Self.config(
            pools: Self.edge, peers: #"{"address": "192.0.2.2", "asn": 64600, "holdTime": 9, "keepalive": 3}"#)
        let commands = try #require(FRRReload.commands(from: a, to: b))
        #expect(commands.prefix(2) == ["router bgp 64513", "no neighbor 192.0.2.2"])
        #expect(
            commands.contains("neighbor 192.0.2.2 remote-as 64600") && commands.contains("neighbor 192.0.2.2 activate"))
        #expect(
            commands.firstIndex(of: "neighbor 192.0.2.2 remote-as 64600")! < commands.firstIndex(
                of: "neighbor 192.0.2.2 activate")!)
    }

    @Test func whatCannotChangeInPlaceRestarts() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer1)
        let otherAS = a.replacingOccurrences(of: "router bgp 64513", with: "router bgp 64514")
        #expect(FRRReload.commands(from: a, to: otherAS) == nil)
        #expect(FRRReload.commands(from: a, to: a.replacingOccurrences(of: "traditional", with: "datacenter")) == nil)
        // Not of FRRRenderer's shape: an unclosed context, a stray exit.
        #expect(FRRReload.commands(from: a, to: "router bgp 64513\n neighbor 192.0.2.1 remote-as 1\n") == nil)
        #expect(FRRReload.commands(from: "exit\n", to: a) == nil)
    }

    @Test func aHostnameIsSetNotRemoved() throws {
        let a = try Self.config(pools: Self.edge, peers: Self.peer1, node: "lb-a")
        let b = try Self.config(pools: Self.edge, peers: Self.peer1, node: "lb-b")
        #expect(FRRReload.commands(from: a, to: b) == ["hostname lb-b"])
    }
}
