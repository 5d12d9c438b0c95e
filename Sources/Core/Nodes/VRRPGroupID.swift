/// A VRRP group as the wire knows it: family and VRID (`4/11`, `6/3`).
package struct VRRPGroupID: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let family: IPFamily
    package let vrid: Int

    package init(family: IPFamily, vrid: Int) {
        self.family = family
        self.vrid = vrid
    }

    /// `4/11` or `6/11`; nil for anything else.
    package init?(text: Substring) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let v = Int(parts[1]), (1...255).contains(v) else { return nil }
        switch parts[0] {
        case "4": family = .ipv4
        case "6": family = .ipv6
        default: return nil
        }
        vrid = v
    }

    package var description: String { "\(family == .ipv4 ? 4 : 6)/\(vrid)" }
    package static func < (a: Self, b: Self) -> Bool { (a.family, a.vrid) < (b.family, b.vrid) }
}

extension VRRPPlan.Group {
    package var id: VRRPGroupID { VRRPGroupID(family: family, vrid: vrid) }
}

/// Which VRRP groups each LB node's keepalived runs, as the nodes publish it (a Lease per node,
/// annotation `k8slb.io/vrrp-groups`, e.g. `4/11,4/12,6/11`). A node holding a group's VIPs keeps
/// that group's instance after the group leaves the assignments until no other node lists it, so
/// its priority-0 advert finds no backup with a stale instance to take the VIP over.
package enum NodeGroupsRecord {
    package static let annotation = "k8slb.io/vrrp-groups"
    package static let label = "k8slb.io/node-groups"

    /// The Lease holding `node`'s record.
    package static func leaseName(node: String) -> String { "k8slb-groups-\(node)" }

    package static func format(_ groups: Set<VRRPGroupID>) -> String {
        groups.sorted().map(\.description).joined(separator: ",")
    }

    /// The groups in `text`; malformed entries are ignored.
    package static func parse(_ text: String) -> Set<VRRPGroupID> {
        Set(text.split(separator: ",").compactMap { VRRPGroupID(text: $0) })
    }

    /// The annotation listing the Gateway generations the node's proxy applied
    /// (`namespace/name=generation,…`): the watcher sets a Gateway Programmed once every LB node
    /// lists its generation.
    package static let gatewaysAnnotation = "k8slb.io/gateways"

    /// The annotation listing the VIPs live on the node (bound on its interface: VRRP master,
    /// bound without VRRP, or announced by BGP): the watcher's `k8slb.io/Serving` condition.
    package static let liveAnnotation = "k8slb.io/live-vips"

    package static func formatLive(_ vips: Set<IPAddress>) -> String {
        vips.sorted().map(\.description).joined(separator: ",")
    }

    /// The VIPs in `text`; malformed entries are ignored.
    package static func parseLive(_ text: String) -> Set<IPAddress> {
        Set(text.split(separator: ",").compactMap { try? IPAddress(parsing: $0) })
    }

    package static func formatGateways(_ applied: [ServiceKey: Int64]) -> String {
        applied.sorted { $0.key < $1.key }.compactMap { k, g in k.gatewayNamespace.map { "\($0)/\(k.name)=\(g)" } }
            .joined(separator: ",")
    }

    /// Gateway key → generation; malformed entries are ignored.
    package static func parseGateways(_ text: String) -> [ServiceKey: Int64] {
        var out: [ServiceKey: Int64] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=")
            let name = parts.first?.split(separator: "/") ?? []
            guard parts.count == 2, name.count == 2, let g = Int64(parts[1]) else { continue }
            out[.gateway(namespace: String(name[0]), name: String(name[1]))] = g
        }
        return out
    }
}

/// The instances a node keeps after their group left the assignments (only where it holds the
/// group's VIPs): the bookkeeping of ordered removal, pure.
package struct LingeringGroups: Sendable, Equatable {
    package struct Entry: Sendable, Equatable {
        package let group: VRRPPlan.Group
        package let addresses: [IPAddress]
        /// When the group left the assignments (seconds on the caller's clock).
        package let since: Double
    }

    package private(set) var entries: [VRRPGroupID: Entry] = [:]

    package init() {}

    /// Groups of `previous` missing from `current` whose VIPs are live here start lingering; a
    /// lingering group whose VRID is back in `current` stops (the new group takes over).
    package mutating func update(
        previous: AssignmentDocument?, current: AssignmentDocument, live: Set<IPAddress>, now: Double
    ) {
        let present = Set(current.groups.map(\.id))
        for id in entries.keys where present.contains(id) { entries[id] = nil }
        guard let previous else { return }
        for g in previous.groups where !present.contains(g.id) && entries[g.id] == nil {
            let addresses = previous.vips.filter { $0.family == g.family && $0.vrid == g.vrid }.map(\.address)
            if !live.isDisjoint(with: addresses) {
                entries[g.id] = Entry(group: g, addresses: addresses.sorted(), since: now)
            }
        }
    }

    /// Drops every group no other node still runs (`records`: node → its published groups; a node
    /// without a record counts as still running it until `timeout` has passed).
    package mutating func release(others: [String], records: [String: Set<VRRPGroupID>], now: Double, timeout: Double) {
        for (id, e) in entries {
            let stillThere = others.contains { node in records[node].map { $0.contains(id) } ?? true }
            if !stillThere || now - e.since >= timeout { entries[id] = nil }
        }
    }

    /// For the keepalived render: group → its addresses.
    package var instances: [VRRPPlan.Group: [IPAddress]] {
        Dictionary(uniqueKeysWithValues: entries.values.map { ($0.group, $0.addresses) })
    }
}

/// New VRRP groups a node that is not their preferred node holds back for a moment. Every node
/// creates a new group's instance in BACKUP and the first whose master-down timer expires takes
/// the VIPs — if that is a backup (its actor applied first), the preferred node preempts it a
/// moment later: two moves, and a request in flight fails. Held back for `delay`, the preferred
/// node takes the new VIPs alone. (The VIPs are new, so nothing already served waits.)
package struct DeferredGroups: Sendable, Equatable {
    package private(set) var until: [VRRPGroupID: Double] = [:]

    package init() {}

    /// Groups of `current` new since `previous` (nil: start-up, nothing deferred) whose
    /// preferred node is not `node` are held back until `now + delay`; expired or vanished
    /// groups are released.
    package mutating func update(
        previous: AssignmentDocument?, current: AssignmentDocument, node: String, now: Double, delay: Double
    ) {
        let present = Set(current.groups.map(\.id))
        until = until.filter { present.contains($0.key) && $0.value > now }
        guard let previous else { return }
        let before = Set(previous.groups.map(\.id))
        for g in current.groups where !before.contains(g.id) && g.node != node && until[g.id] == nil {
            until[g.id] = now + delay
        }
    }

    package var ids: Set<VRRPGroupID> { Set(until.keys) }
    /// When the next held-back group is released.
    package var nextRelease: Double? { until.values.min() }
}
