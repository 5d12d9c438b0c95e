/// Renders keepalived.conf for the control-plane VIPs (`k8slb-actor control-plane`): one VRRP
/// instance per VIP, every one starting as BACKUP (a node that starts, restarts or joins never
/// puts the VIP up before it has heard the current holder), base priority 1 plus the value the
/// actor writes into the track file (`ControlPlanePriority`), unicast to the peers when given.
package struct ControlPlaneKeepalivedRenderer: Sendable {
    package let config: ControlPlaneConfig
    /// The file keepalived reads the priority from (the actor writes it).
    package let trackFile: SafePath

    package init(config: ControlPlaneConfig, trackFile: SafePath) {
        self.config = config
        self.trackFile = trackFile
    }

    /// Instance names: `CP_<family>_<vrid>`, distinct from the Service actor's `VI_…`.
    package static func instanceName(_ vip: ControlPlaneConfig.VIP) -> String {
        "CP_\(vip.address.family == .ipv4 ? 4 : 6)_\(vip.vrid)"
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
        out.block("track_file apiserver_ready")
        out.line("file \"\(trackFile.rawValue)\"")
        out.line("weight 1")
        out.close()
        let advert = config.advertIntervalCentiseconds
        let advertText = "\(advert / 100)." + (advert % 100 < 10 ? "0\(advert % 100)" : "\(advert % 100)")
        for vip in config.vips.sorted(by: { ($0.address.family, $0.vrid) < ($1.address.family, $1.vrid) }) {
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
            out.line("    apiserver_ready")
            out.line("}")
            out.line("virtual_ipaddress {")
            out.line("    \(vip.address)/\(vip.address.family == .ipv4 ? 32 : 128) dev \(vip.interface)")
            out.line("}")
            out.close()
        }
        return out.text
    }
}
