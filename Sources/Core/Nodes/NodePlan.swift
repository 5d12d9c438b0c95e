/// What one LB node should run, computed from the newest inputs in one pure step (the actor's
/// sync applies the difference): the proxy config, keepalived's config, the VIPs this node binds
/// itself, and whether it may hold VIPs at all.
package struct NodePlan: Sendable, Equatable {
    /// Everything the plan depends on.
    package struct Inputs: Sendable {
        package var node: String
        /// The node matches the LB selector and is not excluded (NodeEligibility).
        package var eligible: Bool
        package var backend: ProxyBackend
        package var document: AssignmentDocument
        package var config: UserConfig
        package var endpoints: EndpointMap
        /// Pools whose certificate checked out (TLS terminates only for these).
        package var tlsPools: Set<PoolName>
        package var interfaces: [PoolName: InterfaceName]
        /// Unicast VRRP peers by node name (empty: multicast).
        package var unicastPeers: [String: IPAddress] = [:]
        package var haproxy = HAProxyRenderer.Options()
        package var nginx = NginxRenderer.Options()
        /// keepalived's track file (proxy health and eligibility).
        package var trackFile: SafePath?
        /// Instances kept after their group left the assignments (ordered removal): rendered
        /// for keepalived only (the proxy has no frontend for them any more).
        package var lingering: [VRRPPlan.Group: [IPAddress]] = [:]
        /// New groups this node holds back (not their preferred node; `DeferredGroups`).
        package var deferred: Set<VRRPGroupID> = []
        /// Services whose `loadbalancer/tls-secret` checked out, with the bundle written for them.
        package var serviceCertificates: [ServiceKey: SafePath] = [:]
        /// Gateway listeners' Secrets that checked out, with the bundle written for each.
        package var gatewayCertificates: [SecretRef: SafePath] = [:]
        /// A digest of those bundles (nginx reloads when a renewal changes one).
        package var certificateDigest: UInt64?
        /// Where the track files of externalTrafficPolicy Local groups live (kube-proxy mode).
        package var localTrackDirectory: SafePath?
        /// This node's labels (BGP peers' `nodeSelector`).
        package var labels: [String: String] = [:]
        /// The local proxy answers its health endpoint (BGP VIPs are withdrawn otherwise).
        package var proxyHealthy = true

        package init(
            node: String, eligible: Bool, backend: ProxyBackend, document: AssignmentDocument, config: UserConfig,
            endpoints: EndpointMap, tlsPools: Set<PoolName>, interfaces: [PoolName: InterfaceName]
        ) {
            self.node = node
            self.eligible = eligible
            self.backend = backend
            self.document = document
            self.config = config
            self.endpoints = endpoints
            self.tlsPools = tlsPools
            self.interfaces = interfaces
        }
    }

    package enum Proxy: Sendable, Equatable {
        case haproxy(HAProxyRenderer.Rendered)
        case nginx(Nginx)
        case none
    }

    /// nginx's config and what must exist before nginx loads it: the temporary directories,
    /// owned by the workers' user.
    package struct Nginx: Sendable, Equatable {
        package var text: String
        package var temporaryDirectories: [String]
        package var workerUser: String
    }

    package var proxy: Proxy
    package var keepalived: String
    package var skipped: [KeepalivedRenderer.UnrenderedGroup]
    /// The VRRP groups' VIPs beyond keepalived's anchors, which the actor binds while an anchor
    /// is here.
    package var followers: [KeepalivedRenderer.Followers]
    /// VIPs of pools without VRRP (`"ha": false`) this node binds itself: only on their group's
    /// preferred node, and only while the node is eligible.
    package var bindings: [IPAddress: InterfaceName]
    /// False: the node must hold no VIP (its track file says FAULT, so keepalived hands them over).
    package var holdsVIPs: Bool
    /// The VRRP groups keepalived runs with this plan (what the node publishes).
    package var vrrpGroups: Set<VRRPGroupID>
    /// externalTrafficPolicy Local groups (kube-proxy mode): each one's track file, and whether
    /// this node runs a ready endpoint of its Services (`false` puts the instance in FAULT).
    package var localGroups: [LocalGroup] = []
    /// Service ports the proxy does not route (a shared VIP:port they cannot join), and why.
    package var unrouted: [ServiceKey: [String]] = [:]
    /// FRR's config (nil: no pool announces by BGP, no FRR runs).
    package var frr: String?
    /// The BGP VIPs this node announces (bound on `lo`; a subset of `bindings`).
    package var announced: Set<IPAddress> = []

    package struct LocalGroup: Sendable, Hashable {
        package var id: VRRPGroupID
        package var file: SafePath
        package var hasLocalEndpoint: Bool
    }

    package static func make(_ i: Inputs) -> NodePlan {
        let proxy: Proxy
        var unrouted: [ServiceKey: [String]] = [:]
        if i.backend != .kubeproxy {
            let plan = ProxyPlan.make(
                i.document, endpoints: i.endpoints,
                certificates: .init(pools: i.tlsPools, services: i.serviceCertificates, secrets: i.gatewayCertificates),
                engine: i.backend)
            for u in plan.unrouted { unrouted[u.service, default: []].append(u.reason.description) }
            if i.backend == .haproxy {
                var o = i.haproxy
                o.gatewayCertificates = i.gatewayCertificates
                proxy = .haproxy(
                    HAProxyRenderer(options: o).render(plan, config: i.config, vips: i.document.vips.count))
            } else {
                var o = i.nginx
                o.certificateDigest = i.certificateDigest
                let renderer = NginxRenderer(options: o)
                proxy = .nginx(
                    Nginx(
                        text: renderer.render(plan, config: i.config, vips: i.document.vips.count),
                        temporaryDirectories: renderer.temporaryDirectories(i.config),
                        workerUser: NginxRenderer.workerUser(i.config)))
            }
        } else {
            proxy = .none
        }
        var localGroups: [LocalGroup] = []
        if i.backend == .kubeproxy, let dir = i.localTrackDirectory {
            for g in i.document.groups {
                guard let vip = g.local, let file = try? dir.appending("local-\(g.family == .ipv4 ? 4 : 6)-\(g.vrid)")
                else { continue }
                let services = i.document.vips.first { $0.address == vip }?.services ?? []
                let here = services.contains { i.endpoints.localNodes[$0.key]?.contains(i.node) ?? false }
                localGroups.append(LocalGroup(id: g.id, file: file, hasLocalEndpoint: here))
            }
        }
        var k = KeepalivedRenderer.Options(node: i.node, interfaces: i.interfaces)
        for l in localGroups { k.localTrackFiles[l.id] = l.file }
        k.healthFile = i.trackFile
        k.unicastPeers = i.unicastPeers
        k.unicastSource = i.unicastPeers[i.node]
        // An ineligible node keeps its instances (lowest priority) in FAULT, rather than dropping
        // them: leaving MASTER for FAULT sends a priority-0 advert, so a backup takes over at once.
        k.participateWhenAbsent = !i.eligible
        k.eligibleForMaster = i.eligible
        var vrrpDocument = i.document
        if !i.deferred.isEmpty {
            vrrpDocument.groups.removeAll { i.deferred.contains($0.id) }
            vrrpDocument.vips.removeAll { v in
                v.vrid.map { i.deferred.contains(VRRPGroupID(family: v.family, vrid: $0)) } ?? false
            }
        }
        for (g, addresses) in i.lingering.sorted(by: { $0.key < $1.key })
        where !vrrpDocument.groups.contains(where: { $0.id == g.id }) {
            vrrpDocument.groups.append(g)
            for a in addresses where !vrrpDocument.vips.contains(where: { $0.address == a }) {
                vrrpDocument.vips.append(.init(address: a, pool: g.pool, services: [], vrid: g.vrid))
            }
        }
        let (text, skipped, rendered, followers) = KeepalivedRenderer(options: k).render(
            vrrpDocument, config: i.config)

        var bindings: [IPAddress: InterfaceName] = [:]
        var announced = Set<IPAddress>()
        if i.eligible {
            // BGP pools: every node that can serve a VIP announces it (bound on lo): not while the
            // proxy is unhealthy; in kube-proxy mode with externalTrafficPolicy Local, only with a
            // ready endpoint here.
            let lo = try! InterfaceName(parsing: "lo")
            for vip in i.document.vips {
                guard let pool = i.config.pool(named: vip.pool), pool.announce == .bgp else { continue }
                if i.backend != .kubeproxy && !i.proxyHealthy { continue }
                if i.backend == .kubeproxy, !vip.services.isEmpty, vip.services.allSatisfy(\.localTraffic),
                    !vip.services.contains(where: { i.endpoints.localNodes[$0.key]?.contains(i.node) ?? false })
                {
                    continue
                }
                bindings[vip.address] = lo
                announced.insert(vip.address)
            }
            for vip in i.document.vips {
                guard let pool = i.config.pool(named: vip.pool), pool.announce == .vrrp, !pool.highAvailability,
                    let iface = pool.interface ?? i.interfaces[vip.pool]
                else { continue }
                guard i.document.groups.first(where: { $0.family == vip.family && $0.vrid == vip.vrid })?.node == i.node
                else { continue }
                bindings[vip.address] = iface
            }
        }
        let frr = FRRRenderer(options: .init(node: i.node, labels: i.labels)).render(i.config)
        return NodePlan(
            proxy: proxy, keepalived: text, skipped: skipped, followers: followers, bindings: bindings,
            holdsVIPs: i.eligible, vrrpGroups: Set(rendered.map(\.id)), localGroups: localGroups, unrouted: unrouted,
            frr: frr,
            announced: announced)
    }
}
