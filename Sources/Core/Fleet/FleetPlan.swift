/// One fleet machine serving several clusters with one keepalived, one proxy and one FRR: what of
/// each cluster is served, what is refused and why, and the single `NodePlan.Inputs` the node
/// plans from. Decided here, once, so no tenant can take another's address, VRRP group or
/// settings, or break the shared config for everyone:
///
/// - **Settings only the fleet owns** (raw `haproxy`/`nginx` lines, which reach every frontend
///   and backend; `keepalived` alerts; `vrrp.advertInterval`; `bgp`) come from the fleet file. A
///   cluster's config that sets one is not applied there: the refusal names the JSON path, the
///   rest of the cluster is served.
/// - **Pools**: the dynamic ranges of different clusters must not overlap (networks may be the
///   same segment). A cluster whose config overlaps another's is refused whole; its last admitted
///   inputs keep serving if it had any.
/// - **VIPs and VRRP groups** (VRIDs per family) belong to one cluster each. A second claimant is
///   refused per VIP; the one that held it in the previous plan keeps it, else the cluster listed
///   first. Listener and backend names derive from the VIP, so unique VIPs make unique names.
/// - **Limits** per cluster (VIPs, listeners): what is over is refused, keeping what was served.
///
/// Names in the merged inputs carry the cluster: pool `blue.default`, Service namespace
/// `blue/shop` (`pool(_:_:)`, `key(_:_:)`, and `owner(of:)` back), so two clusters' `default`
/// pools and `shop/web` Services stay apart in every map the planners key by them.
package struct FleetPlan: Sendable {
    /// One cluster as a single-cluster actor would plan it.
    package struct Member: Sendable {
        package var cluster: ClusterName
        package var limits: FleetLimits
        package var inputs: NodePlan.Inputs
        package init(cluster: ClusterName, limits: FleetLimits = FleetLimits(), inputs: NodePlan.Inputs) {
            self.cluster = cluster
            self.limits = limits
            self.inputs = inputs
        }
    }

    /// Why something of a cluster is not served or not applied: for that cluster's Events.
    package enum Refusal: Sendable, Hashable, CustomStringConvertible {
        /// The cluster's config sets what only the fleet owns (not applied; the fleet's is).
        case fleetSetting(path: String)
        /// A pool's range overlaps another cluster's pool: the cluster's config is refused whole.
        case poolOverlap(pool: PoolName, other: ClusterName, otherPool: PoolName)
        /// The VIP is served for another cluster.
        case vipTaken(IPAddress, by: ClusterName)
        /// The VIP's VRRP group (its VRID in the family) is another cluster's.
        case vridTaken(IPAddress, vrid: Int, by: ClusterName)
        /// Over the cluster's VIP limit.
        case vipLimit(IPAddress, limit: Int)
        /// Over the cluster's listener limit.
        case portLimit(IPAddress, limit: Int)

        /// The VIP refused, for per-VIP refusals.
        package var vip: IPAddress? {
            switch self {
            case .fleetSetting, .poolOverlap: nil
            case .vipTaken(let a, _), .vridTaken(let a, _, _), .vipLimit(let a, _), .portLimit(let a, _): a
            }
        }

        /// The Event reason a cluster sees.
        package var reason: String {
            switch self {
            case .fleetSetting: "FleetSettingRefused"
            case .poolOverlap: "FleetPoolOverlap"
            case .vipTaken: "FleetVIPTaken"
            case .vridTaken: "FleetVRIDTaken"
            case .vipLimit, .portLimit: "FleetLimitReached"
            }
        }

        package var description: String {
            switch self {
            case .fleetSetting(let path):
                "\(path): only the fleet sets this on shared LB machines; not applied (the fleet file's settings are)"
            case .poolOverlap(let pool, let other, let otherPool):
                "pool \"\(pool)\": its range overlaps pool \"\(otherPool)\" of cluster \"\(other)\" on the shared LB machines; this config is refused"
            case .vipTaken(let a, let other):
                "\(a) is served for cluster \"\(other)\" on the shared LB machines"
            case .vridTaken(let a, let vrid, let other):
                "\(a): its VRRP group's VRID \(vrid) is cluster \"\(other)\"'s on the shared LB machines (set vrrp.vridOffset to a range the fleet gives you)"
            case .vipLimit(let a, let limit):
                "\(a) not served: the cluster's limit of \(limit) VIPs on the shared LB machines is reached"
            case .portLimit(let a, let limit):
                "\(a) not served: the cluster's limit of \(limit) listeners on the shared LB machines is reached"
            }
        }
    }

    /// What became of one cluster.
    package struct Verdict: Sendable, Hashable {
        /// Its current inputs are refused whole and its last admitted ones are served instead.
        package var servingLastAdmitted = false
        /// Nothing of it is served (refused whole, nothing admitted before).
        package var refusedWhole = false
        package var refusals: [Refusal] = []
        /// The VIPs served for it.
        package var vips: Set<IPAddress> = []
        /// Its VRRP groups in the merged plan.
        package var groups: Set<VRRPGroupID> = []
        package init() {}
    }

    /// Who holds what: the tie-break of the next plan (a holder keeps what it has).
    package struct Claims: Sendable, Hashable {
        package var vips: [IPAddress: ClusterName] = [:]
        package var groups: [VRRPGroupID: ClusterName] = [:]
        package init() {}
    }

    /// What the node plans from; nil when no cluster is served.
    package var merged: NodePlan.Inputs?
    package var verdicts: [ClusterName: Verdict]
    package var claims: Claims
    /// Each served cluster's inputs as admitted (pass back as `lastAdmitted`).
    package var admitted: [ClusterName: Member]

    // MARK: names

    /// A cluster's pool in the merged inputs: `cluster.pool` (cluster names hold no '.').
    package static func pool(_ cluster: ClusterName, _ pool: PoolName) -> PoolName {
        PoolName(unchecked: cluster.rawValue + "." + pool.rawValue)
    }

    /// A cluster's Service (or Gateway) key in the merged inputs: namespace `cluster/namespace`.
    package static func key(_ cluster: ClusterName, _ key: ServiceKey) -> ServiceKey {
        if let ns = key.gatewayNamespace { return .gateway(namespace: cluster.rawValue + "/" + ns, name: key.name) }
        return ServiceKey(namespace: cluster.rawValue + "/" + key.namespace, name: key.name)
    }

    /// The cluster and its own name of a merged pool.
    package static func owner(of pool: PoolName) -> (cluster: String, pool: PoolName)? {
        guard let dot = pool.rawValue.firstIndex(of: ".") else { return nil }
        return (
            String(pool.rawValue[..<dot]),
            PoolName(unchecked: String(pool.rawValue[pool.rawValue.index(after: dot)...]))
        )
    }

    /// The cluster and its own key of a merged Service key.
    package static func owner(of key: ServiceKey) -> (cluster: String, key: ServiceKey)? {
        let gateway = key.gatewayNamespace
        let ns = gateway ?? key.namespace
        guard let slash = ns.firstIndex(of: "/") else { return nil }
        let own = String(ns[ns.index(after: slash)...])
        return (
            String(ns[..<slash]),
            gateway != nil ? .gateway(namespace: own, name: key.name) : ServiceKey(namespace: own, name: key.name)
        )
    }

    // MARK: planning

    /// Plans the fleet: `members` in the fleet file's order, `settings` the fleet's own,
    /// `previous` the last plan's claims, `lastAdmitted` its admitted inputs.
    package static func make(
        members: [Member], settings: UserConfig, previous: Claims = Claims(), lastAdmitted: [ClusterName: Member] = [:]
    ) -> FleetPlan {
        var verdicts: [ClusterName: Verdict] = [:]
        for m in members { verdicts[m.cluster] = Verdict() }

        // Whole-config decisions, those admitted before first (they keep their pools).
        let order =
            members.filter { lastAdmitted[$0.cluster] != nil } + members.filter { lastAdmitted[$0.cluster] == nil }
        var ranges: [(cluster: ClusterName, pool: Pool)] = []
        var chosen: [Member] = []
        for m in order {
            verdicts[m.cluster]!.refusals += fleetSettings(m.inputs.config)
            let overlaps = overlapping(m.inputs.config.pools, of: m.cluster, with: ranges)
            var serve = m
            if !overlaps.isEmpty {
                verdicts[m.cluster]!.refusals += overlaps
                if let last = lastAdmitted[m.cluster],
                    overlapping(last.inputs.config.pools, of: m.cluster, with: ranges).isEmpty
                {
                    serve = last
                    verdicts[m.cluster]!.servingLastAdmitted = true
                } else {
                    verdicts[m.cluster]!.refusedWhole = true
                    continue
                }
            }
            ranges += serve.inputs.config.pools.map { (m.cluster, $0) }
            chosen.append(serve)
        }
        // Back to the file's order: the tie-break for first claims made at once.
        let rank = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($0.element.cluster, $0.offset) })
        chosen.sort { rank[$0.cluster]! < rank[$1.cluster]! }

        // VRRP groups, then VIPs: the previous holder keeps a claim, else the first listed.
        var groupClaimants: [VRRPGroupID: [ClusterName]] = [:]
        var vipClaimants: [IPAddress: [ClusterName]] = [:]
        for m in chosen {
            for g in Set(m.inputs.document.groups.map { VRRPGroupID(family: $0.family, vrid: $0.vrid) }) {
                groupClaimants[g, default: []].append(m.cluster)
            }
            for v in m.inputs.document.vips { vipClaimants[v.address, default: []].append(m.cluster) }
        }
        var claims = Claims()
        for (g, who) in groupClaimants {
            claims.groups[g] = who.first { previous.groups[g] == $0 } ?? who[0]
        }
        for (a, who) in vipClaimants {
            claims.vips[a] = who.first { previous.vips[a] == $0 } ?? who[0]
        }

        var admitted: [ClusterName: Member] = [:]
        var servedVIPs: [(cluster: ClusterName, vip: AssignmentDocument.VIP)] = []
        var servedGroups: [(cluster: ClusterName, group: VRRPPlan.Group)] = []
        for m in chosen {
            var verdict = verdicts[m.cluster]!
            // Previously served VIPs first, so a limit never trades an old VIP for a new one.
            let vips = m.inputs.document.vips.sorted {
                let a = previous.vips[$0.address] == m.cluster
                let b = previous.vips[$1.address] == m.cluster
                return a != b ? a : $0.address < $1.address
            }
            var listeners = 0
            for vip in vips {
                if let holder = claims.vips[vip.address], holder != m.cluster {
                    verdict.refusals.append(.vipTaken(vip.address, by: holder))
                    continue
                }
                if let vrid = vip.vrid {
                    let id = VRRPGroupID(family: vip.family, vrid: vrid)
                    if let holder = claims.groups[id], holder != m.cluster {
                        verdict.refusals.append(.vridTaken(vip.address, vrid: vrid, by: holder))
                        continue
                    }
                }
                if let limit = m.limits.vips, verdict.vips.count >= limit {
                    verdict.refusals.append(.vipLimit(vip.address, limit: limit))
                    continue
                }
                let ports = Set(vip.services.flatMap { $0.ports.map { PortKey($0.proto, $0.port) } }).count
                if let limit = m.limits.ports, listeners + ports > limit {
                    verdict.refusals.append(.portLimit(vip.address, limit: limit))
                    continue
                }
                listeners += ports
                verdict.vips.insert(vip.address)
                servedVIPs.append((m.cluster, vip))
            }
            for g in m.inputs.document.groups
            where claims.groups[VRRPGroupID(family: g.family, vrid: g.vrid)] == m.cluster {
                verdict.groups.insert(VRRPGroupID(family: g.family, vrid: g.vrid))
                servedGroups.append((m.cluster, g))
            }
            verdicts[m.cluster] = verdict
            admitted[m.cluster] = m
        }
        // Claims of VIPs not served are not held: a refused claimant never blocks a later one.
        claims.vips = claims.vips.filter { a, c in verdicts[c]?.vips.contains(a) == true }

        guard let first = chosen.first else {
            return FleetPlan(merged: nil, verdicts: verdicts, claims: claims, admitted: admitted)
        }
        var merged = first.inputs
        var config = settings
        config.pools = chosen.flatMap { m in m.inputs.config.pools.map { renamed($0, pool(m.cluster, $0.name)) } }
            .sorted { $0.name < $1.name }
        merged.config = config
        merged.eligible = chosen.contains { $0.inputs.eligible }
        let vipsByCluster = Dictionary(grouping: servedVIPs, by: \.cluster)
        let groupsByCluster = Dictionary(grouping: servedGroups, by: \.cluster)
        var docVIPs: [AssignmentDocument.VIP] = []
        var groups: [VRRPPlan.Group] = []
        var nodes: Set<String> = []
        merged.endpoints = EndpointMap()
        merged.tlsPools = []
        merged.interfaces = [:]
        merged.unicastPeers = [:]
        merged.lingering = [:]
        merged.deferred = []
        merged.serviceCertificates = [:]
        merged.gatewayCertificates = [:]
        var digest: UInt64?
        for m in chosen {
            let c = m.cluster
            let i = m.inputs
            docVIPs += (vipsByCluster[c] ?? []).map { renamed($0.vip, c) }
            groups += (groupsByCluster[c] ?? []).map { g in
                var copy = g.group
                copy.pool = pool(c, copy.pool)
                return copy
            }
            nodes.formUnion(i.document.nodes)
            for (k, v) in i.endpoints.endpoints { merged.endpoints.endpoints[renamed(k, c)] = v }
            for (k, v) in i.endpoints.healthPorts { merged.endpoints.healthPorts[renamed(k, c)] = v }
            for (k, v) in i.endpoints.localNodes { merged.endpoints.localNodes[key(c, k)] = v }
            merged.tlsPools.formUnion(i.tlsPools.map { pool(c, $0) })
            for (p, iface) in i.interfaces { merged.interfaces[pool(c, p)] = iface }
            merged.unicastPeers.merge(i.unicastPeers) { a, _ in a }
            let held = verdicts[c]!.groups
            for (g, addresses) in i.lingering
            where claims.groups[VRRPGroupID(family: g.family, vrid: g.vrid)] == nil
                || held.contains(VRRPGroupID(family: g.family, vrid: g.vrid))
            {
                var copy = g
                copy.pool = pool(c, g.pool)
                merged.lingering[copy] = addresses
            }
            merged.deferred.formUnion(i.deferred.filter { held.contains($0) })
            for (k, path) in i.serviceCertificates { merged.serviceCertificates[key(c, k)] = path }
            for (s, path) in i.gatewayCertificates { merged.gatewayCertificates[renamed(s, c)] = path }
            if let d = i.certificateDigest { digest = (digest ?? 0) &* 1_099_511_628_211 ^ d }
        }
        merged.certificateDigest = digest
        merged.document = AssignmentDocument(vips: docVIPs, nodes: Array(nodes), groups: groups)
        return FleetPlan(merged: merged, verdicts: verdicts, claims: claims, admitted: admitted)
    }

    /// What of the node's plan (planned from `merged`) is `member`'s to report in its cluster: its
    /// VRRP groups (those it holds, and its own lingering ones) for its node record, its announced
    /// VIPs, and its Services not routed, by their own keys.
    package func share(of node: NodePlan, for member: Member) -> NodePlan {
        let verdict = verdicts[member.cluster] ?? Verdict()
        let lingering = Set(member.inputs.lingering.keys.map { VRRPGroupID(family: $0.family, vrid: $0.vrid) })
        var own = node
        own.vrrpGroups = node.vrrpGroups.intersection(verdict.groups.union(lingering))
        own.announced = node.announced.intersection(verdict.vips)
        own.unrouted = [:]
        for (key, reasons) in node.unrouted {
            if let o = Self.owner(of: key), o.cluster == member.cluster.rawValue { own.unrouted[o.key] = reasons }
        }
        return own
    }

    /// The fleet-owned settings a cluster's config sets (each refused by its JSON path).
    static func fleetSettings(_ config: UserConfig) -> [Refusal] {
        let none = UserConfig.empty
        var paths: [String] = []
        if config.haproxy != none.haproxy { paths.append("haproxy") }
        if config.nginx != none.nginx { paths.append("nginx") }
        if config.keepalived != none.keepalived { paths.append("keepalived") }
        if config.vrrp.advertIntervalCentiseconds != none.vrrp.advertIntervalCentiseconds {
            paths.append("vrrp.advertInterval")
        }
        if config.bgp != nil { paths.append("bgp") }
        return paths.map { .fleetSetting(path: $0) }
    }

    /// `pools`' ranges that overlap another cluster's pool already taken.
    static func overlapping(
        _ pools: [Pool], of cluster: ClusterName, with taken: [(cluster: ClusterName, pool: Pool)]
    ) -> [Refusal] {
        pools.compactMap { p in
            taken.first { $0.cluster != cluster && $0.pool.family == p.family && $0.pool.range.overlaps(p.range) }
                .map { .poolOverlap(pool: p.name, other: $0.cluster, otherPool: $0.pool.name) }
        }
    }

    static func renamed(_ p: Pool, _ name: PoolName) -> Pool {
        var copy = Pool(
            name: name, network: p.network, range: p.range, interface: p.interface,
            highAvailability: p.highAvailability, backends: p.backends)
        copy.announce = p.announce
        copy.communities = p.communities
        copy.localPreference = p.localPreference
        return copy
    }

    static func renamed(_ vip: AssignmentDocument.VIP, _ c: ClusterName) -> AssignmentDocument.VIP {
        var copy = vip
        copy.pool = pool(c, vip.pool)
        copy.services = vip.services.map { e in
            var entry = e
            entry.key = key(c, e.key)
            if var g = e.gateway {
                for l in g.listeners.indices {
                    g.listeners[l].certificates = g.listeners[l].certificates.map { renamed($0, c) }
                    for h in g.listeners[l].http.indices {
                        g.listeners[l].http[h].action.backends = g.listeners[l].http[h].action.backends.map {
                            renamed($0, c)
                        }
                    }
                    for r in g.listeners[l].l4.indices {
                        g.listeners[l].l4[r].backends = g.listeners[l].l4[r].backends.map { renamed($0, c) }
                    }
                }
                entry.gateway = g
            }
            return entry
        }
        return copy
    }

    static func renamed(_ b: WeightedBackend, _ c: ClusterName) -> WeightedBackend {
        var copy = b
        copy.service = key(c, b.service)
        return copy
    }

    static func renamed(_ s: SecretRef, _ c: ClusterName) -> SecretRef {
        SecretRef(namespace: c.rawValue + "/" + s.namespace, name: s.name)
    }

    static func renamed(_ k: EndpointMap.Key, _ c: ClusterName) -> EndpointMap.Key {
        EndpointMap.Key(service: key(c, k.service), port: k.port, proto: k.proto)
    }
}
