/// VRRP groups for the published VIPs: what the actors turn into keepalived instances.
///
/// A group is the VIPs of one pool and family whose preferred LB node is the same. The preferred
/// node comes from rendezvous hashing (each node scores `fnv1a(vip|node)`, highest wins), so a node
/// joining or leaving moves only the VIPs it wins or held. Each group gets a VRID (1-255 per
/// family, above the configured offset) that is kept for as long as the group exists: VRIDs come
/// from the previous plan (published in the document), never from list order.
package struct VRRPPlan: Sendable, Hashable {
    package struct Group: Sendable, Hashable, Codable, Comparable {
        package var vrid: Int
        package var family: IPFamily
        package var pool: PoolName
        /// The node that should be master.
        package var node: String
        /// One VIP of externalTrafficPolicy Local Services (kube-proxy mode): held only by a node
        /// running one of their ready endpoints (the actors track that per instance).
        package var local: IPAddress?

        package init(vrid: Int, family: IPFamily, pool: PoolName, node: String, local: IPAddress? = nil) {
            self.vrid = vrid
            self.family = family
            self.pool = pool
            self.node = node
            self.local = local
        }

        enum CodingKeys: String, CodingKey {
            case vrid
            case family = "f"
            case pool
            case node = "n"
            case local = "l"
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                vrid: try c.decode(Int.self, forKey: .vrid), family: try c.decode(IPFamily.self, forKey: .family),
                pool: try c.decode(PoolName.self, forKey: .pool), node: try c.decode(String.self, forKey: .node))
            if let text = try c.decodeIfPresent(String.self, forKey: .local) {
                do { local = try IPAddress(parsing: text) } catch {
                    throw DecodingError.dataCorruptedError(forKey: .local, in: c, debugDescription: error.description)
                }
            }
        }

        package func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(vrid, forKey: .vrid)
            try c.encode(family, forKey: .family)
            try c.encode(pool, forKey: .pool)
            try c.encode(node, forKey: .node)
            try c.encodeIfPresent(local?.description, forKey: .local)
        }

        package static func < (a: Group, b: Group) -> Bool { (a.family, a.vrid) < (b.family, b.vrid) }

        var key: GroupKey { GroupKey(family: family, pool: pool, node: node, local: local) }
    }

    struct GroupKey: Hashable {
        let family: IPFamily
        let pool: PoolName
        let node: String
        var local: IPAddress? = nil
    }

    /// Groups, sorted by family and VRID.
    package var groups: [Group]
    /// The VRID of each VIP's group.
    package var vridOf: [IPAddress: Int]
    /// VIPs left without a group because the family's VRID space is full.
    package var unplaced: [IPAddress]

    /// Nodes ranked for `address`, most preferred first (rendezvous hashing; ties by name).
    package static func ranking(of address: IPAddress, nodes: [String]) -> [String] {
        let text = address.description
        return nodes.map { ($0, mix(AssignmentShards.fnv1a(Array("\(text)|\($0)".utf8)))) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            .map(\.0)
    }

    /// MurmurHash3's fmix64: FNV-1a alone mixes the last bytes (the node name) too weakly into
    /// the high bits the ranking compares.
    static func mix(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Plans groups for `vips` over `nodes`, keeping the VRIDs of `previous` groups that still exist.
    /// `reserved`: VRIDs not to hand to a new group (groups that just vanished). `local`: VIPs
    /// that get an instance of their own (externalTrafficPolicy Local in kube-proxy mode).
    package static func make(
        vips: [(address: IPAddress, pool: PoolName)], nodes: [String], previous: [Group], vridOffset: Int,
        reserved: Set<VRRPGroupID> = [], local: Set<IPAddress> = []
    ) -> VRRPPlan {
        guard !nodes.isEmpty else { return VRRPPlan(groups: [], vridOf: [:], unplaced: []) }
        let lowest = vridOffset + 1
        var members: [GroupKey: [IPAddress]] = [:]
        for vip in vips {
            let node = ranking(of: vip.address, nodes: nodes)[0]
            members[
                GroupKey(
                    family: vip.address.family, pool: vip.pool, node: node,
                    local: local.contains(vip.address) ? vip.address : nil),
                default: []
            ].append(vip.address)
        }
        var vrids: [GroupKey: Int] = [:]
        var used: [IPFamily: Set<Int>] = [:]
        for r in reserved { used[r.family, default: []].insert(r.vrid) }
        for g in previous
        where members[g.key] != nil && (lowest...255).contains(g.vrid) && !(used[g.family]?.contains(g.vrid) ?? false) {
            vrids[g.key] = g.vrid
            used[g.family, default: []].insert(g.vrid)
        }
        var unplaced: [IPAddress] = []
        let newKeys = members.keys.filter { vrids[$0] == nil }
            .sorted {
                ($0.family, $0.pool, $0.node, $0.local?.value ?? 0) < (
                    $1.family, $1.pool, $1.node, $1.local?.value ?? 0
                )
            }
        for key in newKeys {
            guard let free = (lowest...255).first(where: { !(used[key.family]?.contains($0) ?? false) }) else {
                unplaced += members[key]!
                continue
            }
            vrids[key] = free
            used[key.family, default: []].insert(free)
        }
        var vridOf: [IPAddress: Int] = [:]
        for (key, addresses) in members { if let v = vrids[key] { for a in addresses { vridOf[a] = v } } }
        let groups = vrids.map {
            Group(vrid: $0.value, family: $0.key.family, pool: $0.key.pool, node: $0.key.node, local: $0.key.local)
        }.sorted()
        return VRRPPlan(groups: groups, vridOf: vridOf, unplaced: unplaced.sorted())
    }
}
