/// Connections that survive a planned move (pure; the actor applies the ruleset with `nft -f`).
///
/// When a VIP moves because we chose to (the holder's actor gets SIGTERM, or its node becomes
/// ineligible), the old holder first publishes the VIPs it hands over in its record
/// (`k8slb.io/draining-vips`) and keeps its proxy's established connections open for the drain
/// period. While a fresh record lists a VIP as draining:
///
/// - the **new holder** forwards the VIP's TCP packets that start no connection (not a bare SYN)
///   and belong to no connection it knows (conntrack `new`, picked up mid-stream) to the old
///   holder, unchanged (`dup to OLD device IF`, then drop): a packet of a connection the old
///   holder still has. New connections (a SYN) stay here from the first packet on.
/// - the **old holder** delivers packets for a VIP that match an established transparent socket
///   (`socket transparent 1`, the proxy's accepted connections inherit its `transparent` bind)
///   locally, although the VIP left its interface: a firewall mark and a routing table with
///   `local 0.0.0.0/0 dev lo` (as TPROXY setups do). Replies leave from the VIP directly.
///
/// The old holder's delivery rules are in place on every LB node all the time (they match only
/// packets for VIPs with an established transparent socket here, which are local anyway while
/// the node holds them); the forwarding rules exist only while a peer drains, so conntrack runs
/// on an LB node only then. IPv4 and TCP; the old holder must be on the VIP's link (its address
/// inside the pool's network): packets are sent to its MAC, not routed.
package enum Handover {
    /// The conntrack mark of connections forwarded to the old holder.
    package static let forwardMark: UInt32 = 0x4b38
    /// The firewall mark of packets the old holder delivers to its own sockets.
    package static let deliverMark: UInt32 = 0x4b39
    /// The routing table with the `local` default route for marked packets.
    package static let table: UInt32 = 4242
    /// The priority of the rule sending marked packets to that table.
    package static let rulePriority: UInt32 = 100
    /// The annotation on the node's record listing the VIPs it hands over.
    package static let drainingAnnotation = "k8slb.io/draining-vips"
    package static let nftTable = "k8slb_handover"

    /// One VIP this node forwards old connections of.
    package struct Forward: Sendable, Hashable, Comparable {
        package var vip: IPAddress
        /// The old holder's address (on the VIP's link).
        package var target: IPAddress
        package var interface: InterfaceName

        package init(vip: IPAddress, target: IPAddress, interface: InterfaceName) {
            self.vip = vip
            self.target = target
            self.interface = interface
        }

        package static func < (a: Self, b: Self) -> Bool { a.vip < b.vip }
    }

    /// What this node's ruleset holds.
    package struct Plan: Sendable, Equatable {
        /// VIPs whose established connections this node delivers locally (every IPv4 VRRP VIP).
        package var deliver: [IPAddress]
        package var forward: [Forward]
    }

    /// The plan: `draining` is each other node's fresh record (node → VIPs it hands over),
    /// `addresses` the nodes' addresses.
    package static func plan(
        node: String, document: AssignmentDocument, config: UserConfig, interfaces: [PoolName: InterfaceName],
        draining: [String: Set<IPAddress>], addresses: [String: IPAddress]
    ) -> Plan {
        var deliver: [IPAddress] = []
        var forward: [Forward] = []
        for vip in document.vips where vip.family == .ipv4 {
            guard let pool = config.pool(named: vip.pool), pool.announce == .vrrp, pool.highAvailability else {
                continue
            }
            deliver.append(vip.address)
            guard let interface = pool.interface ?? interfaces[vip.pool] else { continue }
            // The node handing this VIP over (the first by name, should two claim it).
            for (other, vips) in draining.sorted(by: { $0.key < $1.key })
            where other != node && vips.contains(vip.address) {
                guard let target = addresses[other], target.family == .ipv4, pool.network.contains(target) else {
                    continue
                }
                forward.append(Forward(vip: vip.address, target: target, interface: interface))
                break
            }
        }
        return Plan(deliver: deliver.sorted(), forward: forward.sorted())
    }

    /// The nftables ruleset (`nft -f -`): replaces the table atomically.
    package static func ruleset(_ plan: Plan) -> String {
        var out = "add table ip \(nftTable)\ndelete table ip \(nftTable)\ntable ip \(nftTable) {\n"
        if !plan.deliver.isEmpty {
            out += "    set deliver {\n        type ipv4_addr\n        elements = { "
            out += plan.deliver.map(\.description).joined(separator: ", ") + " }\n    }\n"
        }
        out += "    chain prerouting {\n        type filter hook prerouting priority -150; policy accept;\n"
        if !plan.deliver.isEmpty {
            out += "        ip daddr @deliver socket transparent 1 meta mark set \(hex(deliverMark))\n"
        }
        for f in plan.forward {
            out +=
                "        ip daddr \(f.vip) tcp flags & (syn | ack) != syn ct state new ct mark set \(hex(forwardMark))\n"
            out +=
                "        ip daddr \(f.vip) ct mark \(hex(forwardMark)) dup to \(f.target) device \"\(f.interface)\"\n"
        }
        if !plan.forward.isEmpty {
            out += "        ct mark \(hex(forwardMark)) drop\n"
        }
        out += "    }\n}\n"
        return out
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
}
