extension ProxyPlan {
    /// The plan of `engine` for `document`: pure, deterministic (same inputs, same plan).
    package static func make(
        _ document: AssignmentDocument, endpoints: EndpointMap, certificates: Certificates,
        engine: ProxyBackend
    ) -> ProxyPlan {
        var plan = ProxyPlan(frontends: [], unrouted: [])
        for vip in document.vips {
            plan.add(vip, endpoints: endpoints, certificates: certificates, engine: engine)
        }
        return plan
    }

    /// One Service port as this engine would proxy it, before sharing is decided.
    private struct Candidate {
        let entry: AssignmentDocument.ServiceEntry
        let port: AssignmentDocument.Port
        let policy: PortPolicy
        let certificate: Certificate?
    }

    private mutating func add(
        _ vip: AssignmentDocument.VIP, endpoints: EndpointMap, certificates: Certificates, engine: ProxyBackend
    ) {
        // The VIP's ports in the order they appear (Service by Service), grouped by port and
        // protocol: one group per frontend.
        // A VIP has a handful of ports: linear searches, no hashing (10,000 VIPs per sync).
        var groups: [[Candidate]] = []
        var keys: [PortKey] = []
        var tcpPorts: [UInt16] = []
        for entry in vip.services {
            if let gateway = entry.gateway {
                addGateway(vip, entry.key, gateway, endpoints: endpoints, certificates: certificates, engine: engine)
                continue
            }
            for port in entry.ports {
                if port.proto == .sctp || (port.proto == .udp && !engine.proxiesUDP) {
                    let place = vip.address.withPort(port.port)
                    unrouted.append(
                        Unrouted(
                            service: entry.key,
                            reason: .protocolNotProxied(place: place, proto: port.proto, engine: engine)))
                    continue
                }
                if port.proto == .tcp { tcpPorts.append(port.port) }
                var policy = PortPolicy.resolve(entry, port)
                var certificate: Certificate?
                if policy.terminateTLS {
                    certificate = Self.certificate(vip, entry, certificates)
                    if certificate == nil { policy.terminateTLS = false }
                }
                // nginx's HTTP proxy cannot send a PROXY header: such ports go through stream.
                if entry.proxyProtocol != nil && !engine.proxyProtocolOverHTTP { policy.http = false }
                let key = PortKey(port.proto, port.port)
                let candidate = Candidate(entry: entry, port: port, policy: policy, certificate: certificate)
                if let i = keys.firstIndex(of: key) {
                    groups[i].append(candidate)
                } else {
                    keys.append(key)
                    groups.append([candidate])
                }
            }
        }
        for group in groups {
            if group.count == 1 {
                let c = group[0]
                frontends.append(
                    frontend(
                        vip, c.port, c.policy, routes: [route(vip, c, endpoints: endpoints, suffix: nil)],
                        fallback: nil,
                        shared: false, sourceRanges: c.entry.sourceRanges, tcpPorts: tcpPorts))
            } else {
                shared(vip, group, endpoints: endpoints, engine: engine, tcpPorts: tcpPorts)
            }
        }
    }

    /// Several Services on one VIP:port, told apart by host name.
    private mutating func shared(
        _ vip: AssignmentDocument.VIP, _ group: [Candidate], endpoints: EndpointMap, engine: ProxyBackend,
        tcpPorts: [UInt16]
    ) {
        let sorted = group.sorted { $0.entry.key < $1.entry.key }
        let first = sorted[0].policy
        let place = vip.address.withPort(sorted[0].port.port)
        var routes: [Route] = []
        var claimed = Set<HostName>()
        var fallback: Int?
        var ranges: (holder: ServiceKey, ranges: [IPNetwork])?
        for c in sorted {
            func refuse(_ reason: UnroutedReason) { unrouted.append(Unrouted(service: c.entry.key, reason: reason)) }
            if engine.sharesStreamPortsOnlyAsPassthrough,
                c.port.proto == .udp || (!c.policy.http && (c.policy.terminateTLS || c.entry.proxyProtocol != nil))
            {
                refuse(.sharedStreamNotPassthrough(place: place))
                continue
            }
            guard c.policy.terminateTLS == first.terminateTLS, c.policy.http == first.http else {
                refuse(.proxiedDifferently(place: place, first: first, needs: c.policy))
                continue
            }
            if let r = ranges, r.ranges != c.entry.sourceRanges {
                refuse(.sourceRangesDiffer(place: place, holder: r.holder))
                continue
            }
            if c.entry.hostnames.isEmpty {
                if let f = fallback {
                    refuse(.secondFallback(place: place, holder: routes[f].backend.service))
                    continue
                }
                fallback = routes.count
            } else {
                let taken = claimed.intersection(c.entry.hostnames)
                guard taken.isEmpty else {
                    refuse(.hostnamesTaken(place: place, names: taken.sorted { $0.rawValue < $1.rawValue }))
                    continue
                }
                claimed.formUnion(c.entry.hostnames)
            }
            if ranges == nil { ranges = (c.entry.key, c.entry.sourceRanges) }
            let suffix = String(AssignmentShards.fnv1a(Array(c.entry.key.description.utf8)) & 0xffff_ffff, radix: 16)
            routes.append(route(vip, c, endpoints: endpoints, suffix: suffix))
        }
        guard !routes.isEmpty else { return }
        var policy = first
        policy.terminateTLS = first.terminateTLS && routes.contains { $0.certificate != nil }
        frontends.append(
            frontend(
                vip, sorted[0].port, policy, routes: routes, fallback: fallback, shared: true,
                sourceRanges: ranges?.ranges ?? [], tcpPorts: tcpPorts))
    }

    private func frontend(
        _ vip: AssignmentDocument.VIP, _ port: AssignmentDocument.Port, _ policy: PortPolicy, routes: [Route],
        fallback: Int?,
        shared: Bool, sourceRanges: [IPNetwork], tcpPorts: [UInt16]
    ) -> Frontend {
        let redirect =
            policy.terminateTLS && policy.http && port.port == 443 && routes.allSatisfy(\.sslRedirect)
            && !tcpPorts.contains(80)
        return Frontend(
            vip: vip.address, port: port.port, proto: port.proto, http: policy.http, terminateTLS: policy.terminateTLS,
            sharedByName: shared, routes: routes, fallback: fallback, sourceRanges: sourceRanges,
            redirectsPort80: redirect,
            vipHasSeveralServices: vip.services.count > 1)
    }

    private func route(_ vip: AssignmentDocument.VIP, _ c: Candidate, endpoints: EndpointMap, suffix: String?) -> Route
    {
        let backend = Backend(
            service: c.entry.key, port: c.port, nameSuffix: suffix, family: vip.family, http: c.policy.http,
            terminateTLS: c.policy.terminateTLS, servers: endpoints.ready(c.entry.key, c.port),
            healthCheck: c.policy.healthCheck, nodeHealthPort: endpoints.healthCheckPort(c.entry.key, c.port),
            tlsToBackend: c.policy.tlsToBackend, proxyProtocol: c.entry.proxyProtocol,
            affinitySeconds: c.entry.affinitySeconds, forwardedHeaders: c.entry.forwardedHeaders)
        return Route(
            hostnames: c.entry.hostnames, certificate: c.certificate, sslRedirect: c.entry.sslRedirect, backend: backend
        )
    }

    /// A Gateway's listeners, one frontend per port (the watcher refused conflicting listeners).
    private mutating func addGateway(
        _ vip: AssignmentDocument.VIP, _ key: ServiceKey, _ gateway: GatewayEntry, endpoints: EndpointMap,
        certificates: Certificates, engine: ProxyBackend
    ) {
        var byPort: [PortKey: [GatewayEntry.Listener]] = [:]
        var order: [PortKey] = []
        for l in gateway.listeners {
            let k = PortKey(l.proto, l.port)
            if byPort[k] == nil { order.append(k) }
            byPort[k, default: []].append(l)
        }
        for k in order {
            let listeners = byPort[k]!
            if k.proto == .udp && !engine.proxiesUDP {
                unrouted.append(
                    Unrouted(
                        service: key,
                        reason: .protocolNotProxied(place: vip.address.withPort(k.port), proto: .udp, engine: engine)))
                continue
            }
            if listeners[0].kind == .https,
                !listeners.contains(where: { l in l.certificates.contains { certificates.secrets[$0] != nil } })
            {
                // No certificate of theirs checked out here: nothing to terminate TLS with.
                unrouted.append(Unrouted(service: key, reason: .noCertificate(place: vip.address.withPort(k.port))))
                continue
            }
            var g = GatewayFrontend(key: key, kind: listeners[0].kind, listeners: listeners, pools: [])
            for l in listeners {
                for e in l.http where e.action.redirect == nil {
                    g.addPool(e.action.rule, e.action.backends, e.action.invalidWeight, endpoints)
                }
                for e in l.l4 { g.addPool(e.route, e.backends, e.invalidWeight, endpoints) }
            }
            let http = g.kind == .http || g.kind == .https
            frontends.append(
                Frontend(
                    vip: vip.address, port: k.port, proto: k.proto, http: http, terminateTLS: g.kind == .https,
                    sharedByName: false, routes: [], fallback: nil, sourceRanges: [], redirectsPort80: false,
                    vipHasSeveralServices: vip.services.count > 1, gateway: g))
        }
    }

    /// The certificate a Service terminates TLS with: its Secret's (when it names one, and only
    /// when that Secret checked out), else its pool's.
    private static func certificate(
        _ vip: AssignmentDocument.VIP, _ entry: AssignmentDocument.ServiceEntry, _ c: Certificates
    ) -> Certificate? {
        if entry.tlsSecret != nil { return c.services[entry.key].map { .secret($0) } }
        return c.pools.contains(vip.pool) ? .pool(vip.pool) : nil
    }
}

extension GatewayFrontend {
    /// Adds the pool for `backends` (once): its endpoints, each weighted by its Service's weight
    /// shared among that Service's ready endpoints, scaled to HAProxy's 1-256.
    mutating func addPool(_ id: String, _ backends: [WeightedBackend], _ invalid: UInt32, _ endpoints: EndpointMap) {
        guard pool(id) == nil else { return }
        var raw: [(EndpointAddress, Double)] = []
        for b in backends {
            let ready = endpoints.ready(b.service, b.port)
            guard !ready.isEmpty else { continue }
            let each = Double(b.weight) / Double(ready.count)
            for ep in ready {
                if let i = raw.firstIndex(where: { $0.0 == ep }) { raw[i].1 += each } else { raw.append((ep, each)) }
            }
        }
        let largest = max(raw.map(\.1).max() ?? 0, Double(invalid))
        func scaled(_ w: Double) -> Int { largest > 0 ? max(1, Int((w / largest * 256).rounded())) : 1 }
        pools.append(
            BackendPool(
                id: id,
                backends: backends, invalidWeight: invalid, servers: raw.map { ($0.0, scaled($0.1)) },
                failShare: invalid > 0 ? scaled(Double(invalid)) : 0))
    }
}
