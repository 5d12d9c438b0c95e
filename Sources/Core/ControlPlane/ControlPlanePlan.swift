/// What a control-plane node's HAProxy serves and what each VIP's holder follows (pure): balanced
/// VIPs and static roles become `ProxyPlan` frontends, printed by the same `HAProxyRenderer` as
/// Services' (one proxy plan for every front end); a direct VIP follows the local apiserver, any
/// other VIP follows the local HAProxy (`/vip/<address>` answers 200 while one of its backends
/// has a server up).
package struct ControlPlanePlan: Sendable, Equatable {
    /// TCP: balanced VIPs and TCP roles (HAProxy).
    package var proxy: ProxyPlan
    /// UDP roles (nginx: HAProxy has no UDP proxy).
    package var udp: ProxyPlan
    /// Per VIP: the HAProxy backends whose servers its holder needs (empty: it follows the
    /// local apiserver's `/readyz`).
    package var backendsOf: [IPAddress: [String]]
    /// VIPs that are not direct and carry only UDP roles: their holder needs a running nginx.
    package var followsNginx: Set<IPAddress>

    /// Whether `vip`'s holder follows the local HAProxy rather than the local apiserver.
    package func followsProxy(_ vip: IPAddress) -> Bool { !(backendsOf[vip] ?? []).isEmpty }

    /// What a VIP's holder must have ready on its node.
    package enum Follows: String, Sendable, Hashable {
        /// The local kube-apiserver's `/readyz` (direct VIPs).
        case apiserver = "local kube-apiserver ready"
        /// The local HAProxy with a target up (balanced VIPs, TCP roles).
        case haproxy = "local HAProxy has a ready target"
        /// A running nginx (VIPs with only UDP roles).
        case nginx = "local nginx running"
    }

    package func follows(_ vip: IPAddress) -> Follows {
        if followsProxy(vip) { return .haproxy }
        return followsNginx.contains(vip) ? .nginx : .apiserver
    }

    /// The namespace the plan's backends are named under (never an API object).
    package static let namespace = "control-plane"

    package static func make(_ config: ControlPlaneConfig) -> ControlPlanePlan {
        var frontends: [ProxyPlan.Frontend] = []
        let apiserverCheck = try? ProxyPlan.HTTPCheck(path: "/readyz", tls: true)
        let probe = config.probe
        let checkTiming = ProxyPlan.CheckTiming(
            intervalMilliseconds: max(100, probe.intervalMilliseconds * 5), fall: 2, rise: 2)
        for vip in config.vips {
            guard case .balanced(let port) = vip.serve else { continue }
            let targets = config.peers.filter { $0.address.family == vip.address.family }.map {
                EndpointAddress(address: $0.address, port: UInt16(probe.port))
            }
            frontends.append(
                frontend(
                    vip.address, port, .tcp, name: "apiserver", servers: targets.sorted(), check: apiserverCheck,
                    timing: checkTiming, proxyProtocol: nil, sticky: nil))
        }
        var udp: [ProxyPlan.Frontend] = []
        for role in config.roles where role.proto == .udp {
            udp.append(
                frontend(
                    role.vip, role.port, .udp, name: role.name, servers: role.targets, check: nil, timing: nil,
                    proxyProtocol: nil, sticky: role.stickySeconds))
        }
        udp.sort { ($0.vip, $0.port) < ($1.vip, $1.port) }
        for role in config.roles where role.proto == .tcp {
            let check: ProxyPlan.HTTPCheck?
            switch role.check {
            case .http(let c): check = c
            case .tcp, .none: check = nil
            }
            var f = frontend(
                role.vip, role.port, .tcp, name: role.name, servers: role.targets, check: check, timing: checkTiming,
                proxyProtocol: role.proxyProtocol, sticky: role.stickySeconds)
            if case .none = role.check { f.routes[0].backend.healthCheck = false }
            frontends.append(f)
        }
        frontends.sort { ($0.vip, $0.port) < ($1.vip, $1.port) }
        var backendsOf: [IPAddress: [String]] = [:]
        for f in frontends { backendsOf[f.vip, default: []].append("be_" + f.identifier) }
        for i in frontends.indices {
            frontends[i].vipHasSeveralServices = (backendsOf[frontends[i].vip]?.count ?? 0) > 1
        }
        for i in udp.indices { udp[i].vipHasSeveralServices = udp.filter { $0.vip == udp[i].vip }.count > 1 }
        var followsNginx = Set(udp.map(\.vip)).subtracting(backendsOf.keys)
        // A direct VIP follows its apiserver even when roles ride on it.
        for vip in config.vips where vip.serve == .direct {
            backendsOf[vip.address] = nil
            followsNginx.remove(vip.address)
        }
        return ControlPlanePlan(
            proxy: ProxyPlan(frontends: frontends, unrouted: []), udp: ProxyPlan(frontends: udp, unrouted: []),
            backendsOf: backendsOf, followsNginx: followsNginx)
    }

    private static func frontend(
        _ vip: IPAddress, _ port: UInt16, _ proto: TransportProtocol, name: String, servers: [EndpointAddress],
        check: ProxyPlan.HTTPCheck?, timing: ProxyPlan.CheckTiming?, proxyProtocol: ProxyProtocolVersion?, sticky: Int?
    ) -> ProxyPlan.Frontend {
        let backend = ProxyPlan.Backend(
            service: ServiceKey(namespace: namespace, name: name),
            port: .init(name: name, proto: proto, port: port, targetPort: .number(port)), nameSuffix: nil,
            family: vip.family, http: false, terminateTLS: false, servers: servers, healthCheck: true,
            nodeHealthPort: nil, tlsToBackend: false, proxyProtocol: proxyProtocol, affinitySeconds: sticky,
            forwardedHeaders: false, httpCheck: check, checkTiming: timing)
        return ProxyPlan.Frontend(
            vip: vip, port: port, proto: proto, http: false, terminateTLS: false, sharedByName: false,
            routes: [.init(hostnames: [], certificate: nil, sslRedirect: false, backend: backend)], fallback: nil,
            sourceRanges: [], redirectsPort80: false, vipHasSeveralServices: false)
    }

    /// haproxy.cfg: the plan printed by `HAProxyRenderer` (its monitor on `proxyMonitorPort`, the
    /// stats socket in `runDirectory`), then the per-VIP health frontend on `proxyHealthPort`.
    package func haproxyConfig(runDirectory: SafePath) -> String {
        var options = HAProxyRenderer.Options()
        options.statsSocket = runDirectory.rawValue + "/haproxy.sock"
        options.healthPort = ControlPlaneConfig.proxyMonitorPort
        options.maxConnections = 4000
        var text = HAProxyRenderer(options: options).render(proxy, config: .empty, vips: backendsOf.count).text
        var out = ConfigText()
        out.section("frontend k8slb_control_plane_health")
        out.line("mode http")
        out.line("bind 127.0.0.1:\(ControlPlaneConfig.proxyHealthPort)")
        for (vip, backends) in backendsOf.sorted(by: { $0.key < $1.key }) {
            for b in backends {
                out.line("http-request return status 200 if { path /vip/\(vip) } { nbsrv(\(b)) gt 0 }")
            }
        }
        out.line("http-request return status 503")
        text += "\n" + out.text
        return text
    }

    /// nginx.conf for the UDP roles (nil: none), with the temporary directories nginx needs in
    /// `runDirectory` (the actor makes them the workers' own).
    package func nginxConfig(runDirectory: SafePath) -> (text: String, temporaryDirectories: [String])? {
        guard !udp.frontends.isEmpty else { return nil }
        var options = NginxRenderer.Options()
        options.runDirectory = runDirectory.rawValue
        options.healthPort = ControlPlaneConfig.nginxHealthPort
        options.workerConnections = 1024
        let renderer = NginxRenderer(options: options)
        return (renderer.render(udp, config: .empty, vips: udp.frontends.count), renderer.temporaryDirectories(.empty))
    }
}
