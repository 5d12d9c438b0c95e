/// Renders keepalived.conf for one LB node from the published VRRP groups: VRRPv3 with the
/// configured (fractional) advert interval, one instance per group, the group's node as master
/// and the others in rendezvous order below it (distinct priorities), HAProxy health tracked, and
/// the original's email settings as keepalived's own SMTP alerts.
package struct KeepalivedRenderer: Sendable {
    package struct Options: Sendable, Hashable {
        /// This node's name (must be one of the document's nodes to take part).
        package var node: String
        /// The interface each pool's VIPs live on (from the pool, or detected by the actor).
        package var interfaces: [PoolName: InterfaceName]
        /// The file keepalived tracks for the local proxy's health ("0" healthy, anything else:
        /// FAULT, so a backup takes the VIPs); the actor's probe writes it. nil = no tracking
        /// (kube-proxy backend).
        package var healthFile: SafePath?
        /// Unicast peers by node name (empty = multicast).
        package var unicastPeers: [String: IPAddress] = [:]
        package var unicastSource: IPAddress?
        /// Render every instance (at the lowest priority) even when the document does not list
        /// this node: an ineligible node keeps its instances in FAULT so its VIPs move with a
        /// priority-0 advert instead of a master-down timeout.
        package var participateWhenAbsent = false
        /// False while the node must hold no VIP (it never starts an instance as MASTER then).
        package var eligibleForMaster = true
        /// Track files of externalTrafficPolicy Local groups (kube-proxy mode): "0" while this node
        /// runs a ready endpoint of the group's Services, else FAULT (another node holds the VIP).
        package var localTrackFiles: [VRRPGroupID: SafePath] = [:]

        package init(node: String, interfaces: [PoolName: InterfaceName]) {
            self.node = node
            self.interfaces = interfaces
        }
    }

    /// Why a group could not be rendered (reported, the rest still renders).
    package struct UnrenderedGroup: Sendable, Hashable, CustomStringConvertible {
        package let vrid: Int
        package let family: IPFamily
        package let reason: String
        package var description: String { "VRRP group \(family)/\(vrid): \(reason)" }
    }

    package let options: Options
    package init(options: Options) { self.options = options }

    /// A VRRP group's VIPs beyond the few keepalived carries (its anchors): the actor binds them
    /// while one of the anchors is on this node (keepalived holds the instance as MASTER) and
    /// removes them the moment none is. keepalived's one thread adds addresses one by one and
    /// sends no advert meanwhile: with thousands of VIPs in its config a reload or a takeover left
    /// gaps longer than the master-down interval (docs/architecture.md, "keepalived at thousands
    /// of VIPs").
    package struct Followers: Sendable, Hashable {
        package var id: VRRPGroupID
        package var interface: InterfaceName
        /// The VIPs keepalived carries for the group (never empty).
        package var anchors: [IPAddress]
        /// The rest, sorted.
        package var addresses: [IPAddress]
    }

    /// The config text, the groups that could not be rendered, the groups rendered, and the VIPs
    /// of each rendered group that the actor binds itself (`Followers`; groups with at most
    /// `anchorsPerInstance` VIPs have none).
    package func render(_ document: AssignmentDocument, config: UserConfig) -> (
        text: String, skipped: [UnrenderedGroup], groups: [VRRPPlan.Group], followers: [Followers]
    ) {
        var out = ConfigText()
        out.block("global_defs")
        out.line("router_id \(Self.safeNodeName(options.node))")
        out.line("vrrp_version 3")
        out.line("enable_script_security")
        out.line("script_user root")
        out.line("max_auto_priority 50")
        out.line("vrrp_garp_master_refresh 60")
        // While VIPs are added or removed, two nodes' configs differ for a moment; without this a
        // backup rejects the master's adverts ("unexpected ip number count"), takes the VIPs too,
        // and clients' ARP follows the wrong node. Adverts from the established master are taken.
        out.line("vrrp_skip_check_adv_addr")
        if !options.unicastPeers.isEmpty {
            out.line("vrrp_check_unicast_src")  // only the configured peers are heard
        }
        let ka = config.keepalived
        if !ka.notificationEmails.isEmpty, let server = ka.smtpServer {
            out.line("notification_email {")
            for e in ka.notificationEmails { out.line("    \(e)") }
            out.line("}")
            if let from = ka.emailFrom { out.line("notification_email_from \(from)") }
            switch server.host {
            case .address(let a): out.line("smtp_server \(a)" + (server.port.map { " \($0)" } ?? ""))
            case .name(let n): out.line("smtp_server \(n)" + (server.port.map { " \($0)" } ?? ""))
            }
            out.line("smtp_connect_timeout \(ka.smtpTimeoutSeconds)")
        }
        out.close()
        if let file = options.healthFile {
            // weight 0: a non-zero value puts every instance tracking it in FAULT (VIPs released).
            out.block("track_file proxy_health")
            out.line("file \"\(file.rawValue)\"")
            out.line("weight 0")
            out.line("init_file 1")
            out.close()
        }
        for (id, file) in options.localTrackFiles.sorted(by: { $0.key < $1.key }) {
            out.block("track_file local_\(id.family == .ipv4 ? 4 : 6)_\(id.vrid)")
            out.line("file \"\(file.rawValue)\"")
            out.line("weight 0")
            out.line("init_file 1")
            out.close()
        }
        var skipped: [UnrenderedGroup] = []
        var rendered: [VRRPPlan.Group] = []
        let nodes = document.nodes
        guard nodes.contains(options.node) || options.participateWhenAbsent else {
            return (out.text, skipped, rendered, [])
        }
        var followers: [Followers] = []
        let advert = config.vrrp.advertIntervalCentiseconds
        let advertText = advert % 100 == 0 ? "\(advert / 100)" : String(format2(advert))
        for group in document.groups {
            let vips = document.vips.filter { $0.vrid == group.vrid && $0.family == group.family }.map(\.address)
            guard !vips.isEmpty else { continue }
            guard let pool = config.pool(named: group.pool), pool.highAvailability, pool.announce == .vrrp else {
                continue
            }
            guard let iface = pool.interface ?? options.interfaces[group.pool] else {
                skipped.append(
                    UnrenderedGroup(
                        vrid: group.vrid, family: group.family, reason: "no interface known for pool \"\(group.pool)\"")
                )
                continue
            }
            rendered.append(group)
            let order = group.priorityOrder(nodes: nodes)
            let rank = order.firstIndex(of: options.node) ?? order.count
            out.block("vrrp_instance VI_\(group.family == .ipv4 ? 4 : 6)_\(group.vrid)")
            // The group's preferred node has priority 255 (keepalived's address owner): a new
            // instance there is MASTER at once, ~20 ms after the reload, where `state MASTER` at a
            // lower priority still starts as BACKUP and waits out the master-down interval (~320
            // ms at advert 0.1 s; measured, docs/architecture.md "keepalived"). It has the highest
            // priority, so it would preempt anyway; tracked files still put it in FAULT.
            let owner = rank == 0 && options.eligibleForMaster
            out.line(owner ? "state MASTER" : "state BACKUP")
            out.line("interface \(iface)")
            out.line("virtual_router_id \(group.vrid)")
            // Backups 240, 230, …: a backup's master-down skew is (256 - priority) / 256 × advert,
            // so high priorities take over sooner (6 ms at 0.1 s for the first backup instead of 26 ms).
            out.line("priority \(owner ? 255 : max(1, 250 - 10 * rank))")
            out.line("advert_int \(advertText)")
            if let source = options.unicastSource, !options.unicastPeers.isEmpty {
                out.line("unicast_src_ip \(source)")
                out.line("unicast_peer {")
                for (node, peer) in options.unicastPeers.sorted(by: { $0.key < $1.key })
                where node != options.node && peer.family == group.family {
                    out.line("    \(peer)")
                }
                out.line("}")
            }
            let local = group.local != nil ? options.localTrackFiles[group.id] : nil
            if options.healthFile != nil || local != nil {
                out.line("track_file {")
                if options.healthFile != nil { out.line("    proxy_health") }
                if local != nil { out.line("    local_\(group.family == .ipv4 ? 4 : 6)_\(group.vrid)") }
                out.line("}")
            }
            // keepalived carries the group's first few VIPs (they also fit in an advert: 89 IPv6
            // at MTU 1500); the actor binds the rest while one of these is here (`Followers`).
            let sorted = vips.sorted()
            let anchors = Array(sorted.prefix(Self.anchorsPerInstance))
            out.line("virtual_ipaddress {")
            for a in anchors {
                out.line("    \(a)/\(a.family == .ipv4 ? 32 : 128) dev \(iface)")
            }
            out.line("}")
            if sorted.count > anchors.count {
                followers.append(
                    Followers(
                        id: group.id, interface: iface, anchors: anchors,
                        addresses: Array(sorted.dropFirst(anchors.count))))
            }
            out.close()
        }
        return (out.text, skipped, rendered, followers)
    }

    /// VIPs per instance keepalived carries (the rest are `Followers`).
    package static let anchorsPerInstance = 16

    /// Backups in rendezvous order for the group (stable, independent of list order).
    static func backupOrder(_ group: VRRPPlan.Group, nodes: [String]) -> [String] {
        nodes.map {
            ($0, VRRPPlan.mix(AssignmentShards.fnv1a(Array("\(group.family.rawValue)/\(group.vrid)|\($0)".utf8))))
        }
        .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        .map(\.0)
    }

    /// Node names are DNS subdomains in Kubernetes; anything else is replaced rather than spliced.
    static func safeNodeName(_ name: String) -> String {
        let ok =
            !name.isEmpty && name.count <= 253
            && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x2D }
        return ok ? name : "k8slb-node"
    }

    private func format2(_ centiseconds: Int) -> String {
        let whole = centiseconds / 100
        let frac = centiseconds % 100
        return "\(whole)." + (frac < 10 ? "0\(frac)" : "\(frac)")
    }
}
