/// Renders one LB node's FRR config (zebra + bgpd + bfdd) for the `"announce": "bgp"` pools.
///
/// The VIPs themselves are not in it: the actor binds each VIP this node can serve on `lo`, and
/// bgpd announces exactly those (`redistribute connected`, filtered to /32 and /128 inside the
/// BGP pools, on `lo` only). Announcing or withdrawing a VIP is an address change (about 0.13 s to
/// the router, measured), never a config change; the config changes only with the `bgp` block,
/// the BGP pools, or the node's labels (peer `nodeSelector`). Every token is rendered from typed
/// values (addresses, numbers, validated names and passwords).
package struct FRRRenderer: Sendable {
    package struct Options: Sendable, Hashable {
        /// This node's name (FRR `hostname`; replaced when not a DNS name).
        package var node: String
        /// This node's labels (which peers it talks to).
        package var labels: [String: String]

        package init(node: String, labels: [String: String] = [:]) {
            self.node = node
            self.labels = labels
        }
    }

    package let options: Options
    package init(options: Options) { self.options = options }

    /// The config; nil when no pool announces by BGP (no FRR runs then).
    package func render(_ config: UserConfig) -> String? {
        let pools = config.pools.filter { $0.announce == .bgp }
        guard let bgp = config.bgp, !pools.isEmpty else { return nil }
        let peers = bgp.peers(forNodeLabels: options.labels)
        var out = ConfigText()
        out.top("frr defaults traditional")
        out.top("hostname \(KeepalivedRenderer.safeNodeName(options.node))")
        out.top("service integrated-vtysh-config")
        // The VIPs of each BGP pool: host routes inside its network.
        for pool in pools {
            let list = Self.prefixListName(pool)
            for (i, block) in Self.blocks(pool.network).enumerated() {
                out.top(
                    "\(pool.family == .ipv4 ? "ip" : "ipv6") prefix-list \(list) seq \(5 * (i + 1)) permit \(block) ge \(pool.family.bitWidth)"
                )
            }
        }
        // What is redistributed: those host routes on lo (the actor's VIPs), with the pool's
        // communities and local preference.
        for (i, pool) in pools.enumerated() {
            out.top("route-map k8slb-vips permit \(10 * (i + 1))")
            out.line("match interface lo")
            out.line("match \(pool.family == .ipv4 ? "ip" : "ipv6") address prefix-list \(Self.prefixListName(pool))")
            if !pool.communities.isEmpty {
                out.line("set community \(pool.communities.map(\.rawValue).joined(separator: " "))")
            }
            if let pref = pool.localPreference { out.line("set local-preference \(pref)") }
            out.top("exit")
        }
        // Towards the peers: only the VIP routes out, nothing in.
        for (i, pool) in pools.enumerated() {
            out.top("route-map k8slb-out permit \(10 * (i + 1))")
            out.line("match \(pool.family == .ipv4 ? "ip" : "ipv6") address prefix-list \(Self.prefixListName(pool))")
            out.top("exit")
        }
        out.top("route-map k8slb-in deny 10")
        out.top("exit")

        Self.routerBGP(
            &out, bgp: bgp, peers: peers, families: [.ipv4, .ipv6].filter { f in pools.contains { $0.family == f } })
        return out.text
    }

    /// `router bgp` with its neighbors (route-maps `k8slb-in`/`k8slb-out`, connected routes through
    /// `k8slb-vips`) and the BFD profiles: shared with the control-plane VIP's FRR config.
    static func routerBGP(_ out: inout ConfigText, bgp: BGPSettings, peers: [BGPPeer], families: [IPFamily]) {
        out.top("router bgp \(bgp.asn)")
        if let id = bgp.routerID { out.line("bgp router-id \(id)") }
        out.line("bgp log-neighbor-changes")
        out.line("no bgp default ipv4-unicast")
        for peer in peers {
            let a = peer.address.description
            out.line("neighbor \(a) remote-as \(peer.asn)")
            if let port = peer.port { out.line("neighbor \(a) port \(port)") }
            if let pw = peer.password { out.line("neighbor \(a) password \(pw.rawValue)") }
            if let k = peer.keepaliveSeconds, let h = peer.holdTimeSeconds {
                out.line("neighbor \(a) timers \(k) \(h)")
            }
            // Reconnect after 1 s, not FRR's 120 s (a peer restarting, a link coming back).
            out.line("neighbor \(a) timers connect 1")
            if let hops = peer.ebgpMultihop { out.line("neighbor \(a) ebgp-multihop \(hops)") }
            if let bfd = peer.bfd {
                out.line("neighbor \(a) bfd")
                out.line("neighbor \(a) bfd profile \(Self.profileName(bfd))")
            }
        }
        for family in families {
            out.line("address-family \(family == .ipv4 ? "ipv4" : "ipv6") unicast")
            out.line(" redistribute connected route-map k8slb-vips")
            for peer in peers where peer.families.contains(family) {
                let a = peer.address.description
                out.line(" neighbor \(a) activate")
                out.line(" neighbor \(a) route-map k8slb-in in")
                out.line(" neighbor \(a) route-map k8slb-out out")
            }
            out.line("exit-address-family")
        }
        out.top("exit")
        let profiles = Set(peers.compactMap(\.bfd)).sorted { Self.profileName($0) < Self.profileName($1) }
        if !profiles.isEmpty {
            out.top("bfd")
            for p in profiles {
                out.line("profile \(Self.profileName(p))")
                out.line(" detect-multiplier \(p.multiplier)")
                out.line(" receive-interval \(p.receiveMilliseconds)")
                out.line(" transmit-interval \(p.transmitMilliseconds)")
                out.line("exit")
            }
            out.top("exit")
        }
    }

    static func prefixListName(_ pool: Pool) -> String { "k8slb-\(pool.name.rawValue)" }

    static func profileName(_ bfd: BFDSettings) -> String {
        "k8slb-\(bfd.receiveMilliseconds)-\(bfd.transmitMilliseconds)-\(bfd.multiplier)"
    }

    /// The fewest CIDR blocks covering `range` exactly.
    static func blocks(_ range: IPRange) -> [IPNetwork] {
        let width = range.family.bitWidth
        var out: [IPNetwork] = []
        var start = range.start.value
        let end = range.end.value
        while true {
            // The largest aligned block at `start` that does not pass `end`.
            var size = start == 0 ? width : min(width, start.trailingZeroBitCount)
            while size > 0 {
                let last = start &+ ((UInt128(1) << size) &- 1)
                if last >= start && last <= end { break }
                size -= 1
            }
            guard let address = IPAddress(family: range.family, value: start),
                let block = IPNetwork(address: address, prefixLength: width - size)
            else { break }
            out.append(block)
            let next = start &+ (size == 128 ? 0 : (UInt128(1) << size))
            if size == width || next == 0 || next > end || next <= start { break }
            start = next
        }
        return out
    }
}
