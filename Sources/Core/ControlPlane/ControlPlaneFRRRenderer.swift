/// frr.conf for the control-plane VIPs announced by BGP: like the Service actor's
/// (`FRRRenderer.routerBGP`), bgpd redistributes what the actor binds on `lo`, and each VIP's
/// prefix list lets through its own host route (/32, /128: this node is ready) and its fallback
/// (/31, /127: bound while this node is not ready). Routers prefer the most specific route: every
/// ready node takes traffic (ECMP), and only when none is ready do the fallbacks carry it.
package enum ControlPlaneFRRRenderer {
    /// The config; nil when no VIP is announced by BGP.
    package static func render(_ config: ControlPlaneConfig) -> String? {
        let vips = config.vips.filter { $0.announce == .bgp }.sorted { $0.address < $1.address }
        guard let bgp = config.bgp, !vips.isEmpty else { return nil }
        var out = ConfigText()
        out.top("frr defaults traditional")
        out.top("hostname \(KeepalivedRenderer.safeNodeName(config.node))")
        out.top("service integrated-vtysh-config")
        let families = [IPFamily.ipv4, .ipv6].filter { f in vips.contains { $0.address.family == f } }
        for family in families {
            for (i, vip) in vips.filter({ $0.address.family == family }).enumerated() {
                guard let base = IPAddress(family: family, value: vip.address.value & ~UInt128(1)),
                    let block = IPNetwork(address: base, prefixLength: vip.fallbackPrefixLength)
                else { continue }
                out.top(
                    "\(family == .ipv4 ? "ip" : "ipv6") prefix-list k8slb-control-plane-\(family == .ipv4 ? 4 : 6) seq \(5 * (i + 1)) permit \(block) ge \(vip.fallbackPrefixLength)"
                )
            }
        }
        for (i, family) in families.enumerated() {
            out.top("route-map k8slb-vips permit \(10 * (i + 1))")
            out.line("match interface lo")
            out.line(
                "match \(family == .ipv4 ? "ip" : "ipv6") address prefix-list k8slb-control-plane-\(family == .ipv4 ? 4 : 6)"
            )
            out.top("exit")
        }
        for (i, family) in families.enumerated() {
            out.top("route-map k8slb-out permit \(10 * (i + 1))")
            out.line(
                "match \(family == .ipv4 ? "ip" : "ipv6") address prefix-list k8slb-control-plane-\(family == .ipv4 ? 4 : 6)"
            )
            out.top("exit")
        }
        out.top("route-map k8slb-in deny 10")
        out.top("exit")
        FRRRenderer.routerBGP(&out, bgp: bgp, peers: bgp.peers, families: families)
        return out.text
    }
}
