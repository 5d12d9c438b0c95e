/// Renders keepalived.conf for the control-plane VIPs (`k8slb-actor control-plane`): one VRRP
/// instance per VIP, every one starting as BACKUP (a node that starts, restarts or joins never
/// puts the VIP up before it has heard the current holder), base priority 1 plus the value the
/// actor writes into the VIP's track file (`ControlPlanePriority`), unicast to the peers when given.
package struct ControlPlaneKeepalivedRenderer: Sendable {
    package let config: ControlPlaneConfig
    /// The directory of the track files keepalived reads the priorities from (the actor writes them).
    package let trackDirectory: SafePath

    package init(config: ControlPlaneConfig, trackDirectory: SafePath) {
        self.config = config
        self.trackDirectory = trackDirectory
    }

    /// Instance names: `CP_<family>_<vrid>`, distinct from the Service actor's `VI_…`.
    package static func instanceName(_ vip: ControlPlaneConfig.VIP) -> String {
        "CP_\(suffix(vip))"
    }

    private static func suffix(_ vip: ControlPlaneConfig.VIP) -> String {
        "\(vip.address.family == .ipv4 ? 4 : 6)_\(vip.vrid)"
    }

    /// The track file of `vip`'s instance: one per VIP, as each follows its own health.
    package func trackFile(_ vip: ControlPlaneConfig.VIP) -> String {
        trackDirectory.rawValue + "/priority-" + Self.suffix(vip)
    }

    package func render() -> String {
        var out = ConfigText()
        out.block("global_defs")
        out.line("router_id \(KeepalivedRenderer.safeNodeName(config.node))")
        out.line("vrrp_version 3")
        out.line("max_auto_priority 50")
        out.line("vrrp_garp_master_refresh 60")
        if !config.peers.isEmpty { out.line("vrrp_check_unicast_src") }
        out.close()
        let vips = config.vips.filter { $0.announce == .vrrp }.sorted {
            ($0.address.family, $0.vrid) < ($1.address.family, $1.vrid)
        }
        for vip in vips {
            out.block("track_file priority_\(Self.suffix(vip))")
            out.line("file \"\(trackFile(vip))\"")
            out.line("weight 1")
            out.close()
        }
        let advert = config.advertIntervalCentiseconds
        let advertText = "\(advert / 100)." + (advert % 100 < 10 ? "0\(advert % 100)" : "\(advert % 100)")
        for vip in vips {
            out.block("vrrp_instance \(Self.instanceName(vip))")
            out.line("state BACKUP")
            out.line("interface \(vip.interface)")
            out.line("virtual_router_id \(vip.vrid)")
            out.line("priority 1")
            out.line("advert_int \(advertText)")
            if let source = config.ownAddress {
                out.line("unicast_src_ip \(source)")
                out.line("unicast_peer {")
                for peer in config.peers.sorted(by: { $0.name < $1.name })
                where peer.name != config.node && peer.address.family == vip.address.family {
                    out.line("    \(peer.address)")
                }
                out.line("}")
            }
            out.line("track_file {")
            out.line("    priority_\(Self.suffix(vip))")
            out.line("}")
            out.line("virtual_ipaddress {")
            out.line("    \(vip.address)/\(vip.address.family == .ipv4 ? 32 : 128) dev \(vip.interface)")
            out.line("}")
            out.close()
        }
        return out.text
    }
}
