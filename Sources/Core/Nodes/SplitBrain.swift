/// Split brain, resolved: the VRRP groups this node steps down for, decided from what the nodes
/// publish through the API (the side channel VRRP lacks) and the adverts the node hears. Pure;
/// the actor feeds it and removes a stepped-down group's instance from keepalived.
///
/// A node steps down for a group when, for `grace` without a break:
/// - a VIP of the group is live here (netlink),
/// - this node's own record, as the API returns it, lists that VIP (the API has seen our claim:
///   a node that cannot reach the API never steps down), and
/// - a node ranked before this one for the group (the published plan's preferred node first,
///   then the backups in keepalived's priority order) lists one of the group's VIPs in a fresh
///   record.
///
/// It resumes when the group's adverts are heard again (`resumeAdverts` of them since it stepped
/// down: VRRP works, keepalived sorts it out), when no node ranked before it lists the group's
/// VIPs in a fresh record any more (the holder released them, or its record went stale: it may
/// be dead), or when its own record is stale (the API is out of reach: it can no longer tell
/// that the holder is alive, and a VIP on two nodes serves where a VIP on none does not).
package struct SplitBrain: Sendable, Equatable {
    /// What one evaluation works from (times in seconds on the caller's monotonic clock).
    package struct Inputs: Sendable {
        package var node: String
        package var document: AssignmentDocument
        /// VIPs live on this node now.
        package var live: Set<IPAddress>
        /// The VIPs each node's fresh record lists, this node's own included (a node whose record
        /// is missing or stale is absent).
        package var records: [String: Set<IPAddress>]
        /// When this node last saw each node's record change (its own clock).
        package var seen: [String: Double] = [:]
        /// Adverts heard per group since it was stepped down (the actor's listener).
        package var heard: [VRRPGroupID: Int] = [:]
        package var now: Double

        package init(
            node: String, document: AssignmentDocument, live: Set<IPAddress>, records: [String: Set<IPAddress>],
            now: Double
        ) {
            self.node = node
            self.document = document
            self.live = live
            self.records = records
            self.now = now
        }
    }

    /// A group this node stepped down for.
    package struct StepDown: Sendable, Equatable {
        /// The node ranked before this one that holds the group's VIPs.
        package var holder: String
        package var addresses: [IPAddress]
        package var since: Double

        package init(holder: String, addresses: [IPAddress], since: Double) {
            self.holder = holder
            self.addresses = addresses
            self.since = since
        }
    }

    package enum Change: Sendable, Equatable {
        case steppedDown(VRRPGroupID, StepDown)
        case resumed(VRRPGroupID, Reason)
        /// VIPs live here that a node ranked after this one also listed and no longer does (it
        /// stepped down, or its record went): neighbours may still send to its MAC, so this node
        /// announces them again (gratuitous ARP, unsolicited NA).
        case reannounce([IPAddress])
        /// A node ranked after this one newly lists VIPs live here: this node renews its record
        /// now, confirming that it still holds them (the other steps down only on a confirmation
        /// written after its own claim, so a dead node's last record never makes it step down).
        case confirm([IPAddress])
    }

    package enum Reason: String, Sendable, Equatable {
        case advertsHeard = "its adverts are heard again"
        case holderGone = "no node ranked before this one lists its VIPs any more"
        case apiUnreachable = "this node's record is stale (API unreachable)"
        case groupGone = "the group left the assignments"
    }

    package var grace: Double
    package var resumeAdverts: Int
    package private(set) var steppedDown: [VRRPGroupID: StepDown] = [:]
    /// Groups on two nodes, since when (not yet stepped down).
    package private(set) var suspected: [VRRPGroupID: Double] = [:]
    /// VIPs live here that a node ranked after this one lists too.
    package private(set) var contested: Set<IPAddress> = []
    /// VIPs live here and in this node's own record, since when.
    package private(set) var claimed: [IPAddress: Double] = [:]

    package init(grace: Double = 1, resumeAdverts: Int = 3) {
        self.grace = grace
        self.resumeAdverts = resumeAdverts
    }

    package var ids: Set<VRRPGroupID> { Set(steppedDown.keys) }

    /// When a suspected group's grace ends (the caller evaluates again then).
    package var nextDeadline: Double? { suspected.values.min().map { $0 + grace } }

    /// Evaluates every VRRP group; returns what changed.
    package mutating func update(_ i: Inputs) -> [Change] {
        var changes: [Change] = []
        let groups = Dictionary(i.document.groups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var addresses: [VRRPGroupID: [IPAddress]] = [:]
        for v in i.document.vips {
            if let vrid = v.vrid { addresses[VRRPGroupID(family: v.family, vrid: vrid), default: []].append(v.address) }
        }
        let ownRecord = i.records[i.node]

        for id in steppedDown.keys.sorted() {
            let reason: Reason?
            if let g = groups[id], let vips = addresses[id] {
                if ownRecord == nil {
                    reason = .apiUnreachable
                } else if i.heard[id, default: 0] >= resumeAdverts {
                    reason = .advertsHeard
                } else if Self.betterHolder(g, vips: vips, node: i.node, nodes: i.document.nodes, records: i.records)
                    == nil
                {
                    reason = .holderGone
                } else {
                    reason = nil
                }
            } else {
                reason = .groupGone
            }
            if let reason {
                steppedDown[id] = nil
                changes.append(.resumed(id, reason))
            }
        }

        var stillSuspected: Set<VRRPGroupID> = []
        let ownClaims = i.live.intersection(ownRecord ?? [])
        claimed = claimed.filter { ownClaims.contains($0.key) }
        for vip in ownClaims where claimed[vip] == nil { claimed[vip] = i.now }
        if let ownRecord {
            for (id, g) in groups.sorted(by: { $0.key < $1.key }) where steppedDown[id] == nil {
                guard let vips = addresses[id] else { continue }
                let here = vips.filter { i.live.contains($0) && ownRecord.contains($0) }
                // The better-ranked node must have written its record after this node's claim
                // (alive, and still holding the VIP then).
                let claim = here.compactMap { claimed[$0] }.min() ?? i.now
                let confirmed = i.records.filter { i.seen[$0.key].map { $0 > claim } ?? false }
                guard !here.isEmpty,
                    let holder = Self.betterHolder(
                        g, vips: here, node: i.node, nodes: i.document.nodes, records: confirmed)
                else { continue }
                stillSuspected.insert(id)
                let since = suspected[id] ?? i.now
                suspected[id] = since
                if i.now - since >= grace {
                    let s = StepDown(holder: holder, addresses: vips.sorted(), since: i.now)
                    steppedDown[id] = s
                    stillSuspected.remove(id)
                    changes.append(.steppedDown(id, s))
                }
            }
        }
        suspected = suspected.filter { stillSuspected.contains($0.key) }

        var nowContested: Set<IPAddress> = []
        for (id, g) in groups {
            for vip in addresses[id] ?? [] where i.live.contains(vip) {
                let order = g.priorityOrder(nodes: i.document.nodes)
                let rank = order.firstIndex(of: i.node) ?? order.count
                if order.dropFirst(rank + 1).contains(where: { i.records[$0]?.contains(vip) ?? false }) {
                    nowContested.insert(vip)
                }
            }
        }
        let released = contested.subtracting(nowContested).intersection(i.live)
        let challenged = nowContested.subtracting(contested)
        contested = nowContested
        if !released.isEmpty { changes.append(.reannounce(released.sorted())) }
        if !challenged.isEmpty { changes.append(.confirm(challenged.sorted())) }
        return changes
    }

    /// The best-ranked node before `node` whose record lists one of `vips`; nil when none.
    static func betterHolder(
        _ g: VRRPPlan.Group, vips: [IPAddress], node: String, nodes: [String], records: [String: Set<IPAddress>]
    ) -> String? {
        let order = g.priorityOrder(nodes: nodes)
        let rank = order.firstIndex(of: node) ?? order.count
        return order.prefix(rank).first { n in records[n].map { !$0.isDisjoint(with: vips) } ?? false }
    }
}

extension VRRPPlan.Group {
    /// The nodes in keepalived's priority order for this group: the preferred node, then the
    /// backups in rendezvous order (`KeepalivedRenderer` gives them falling priorities).
    package func priorityOrder(nodes: [String]) -> [String] {
        [node] + KeepalivedRenderer.backupOrder(self, nodes: nodes.filter { $0 != node })
    }
}
