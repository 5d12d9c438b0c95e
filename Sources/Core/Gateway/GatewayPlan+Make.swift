extension GatewayPlan {
    /// The plan for `i`: pure and deterministic.
    package static func make(_ i: Inputs) -> GatewayPlan {
        var plan = GatewayPlan()
        let ours = Set(i.classes.filter { $0.value.controllerName == GatewayAPI.controllerName }.keys)
        let supported = supportedVersion(i.bundleVersion)
        for name in ours.sorted() {
            defer { if let supported { plan.classes[name]?.append(supported) } }
            plan.classes[name] =
                i.engine == .kubeproxy
                ? [
                    condition(
                        "Accepted", false, "Unsupported",
                        "the kubeproxy backend runs no proxy: Gateways need the haproxy or nginx backend", 0)
                ]
                : [condition("Accepted", true, "Accepted", "k8slb serves Gateways of this class", 0)]
        }
        guard i.engine != .kubeproxy else { return plan }
        let grants = ReferenceGrants(i.grants)
        var states: [ServiceKey: [ListenerState]] = [:]
        var gatewayObjects: [ServiceKey: Object<GatewaySpec>] = [:]
        for gw in i.gateways.sorted(by: { ($0.namespace, $0.name) < ($1.namespace, $1.name) })
        where ours.contains(gw.spec.gatewayClassName) {
            let key = ServiceKey.gateway(namespace: gw.namespace, name: gw.name)
            gatewayObjects[key] = gw
            states[key] = listeners(gw, i, grants)
        }
        // Routes attach to listeners: oldest first, so precedence ties go to the oldest route.
        let order: (Object<HTTPRouteSpec>, Object<HTTPRouteSpec>) -> Bool = {
            ($0.created, $0.namespace, $0.name) < ($1.created, $1.namespace, $1.name)
        }
        for route in i.httpRoutes.sorted(by: order) {
            let compiled = HTTPRouteCompiler.compile(route, i, grants)
            attach(
                &plan, &states, RouteID(kind: .http, namespace: route.namespace, name: route.name), route.generation,
                parents: route.spec.parentRefs ?? [], routeNamespace: route.namespace, hostnames: compiled.hostnames,
                problem: compiled.problem, resolved: compiled.resolved, i: i
            ) { state, hosts in
                state.http += compiled.entries(
                    for: hosts, created: route.created, route: "\(route.namespace)/\(route.name)")
            }
        }
        for (kind, routes) in [(RouteKindName.tls, i.tlsRoutes), (.tcp, i.tcpRoutes), (.udp, i.udpRoutes)] {
            for route in routes.sorted(by: { ($0.created, $0.namespace, $0.name) < ($1.created, $1.namespace, $1.name) }
            ) {
                let compiled = L4RouteCompiler.compile(route, kind: kind, i, grants)
                attach(
                    &plan, &states, RouteID(kind: kind, namespace: route.namespace, name: route.name), route.generation,
                    parents: route.spec.parentRefs ?? [], routeNamespace: route.namespace,
                    hostnames: compiled.hostnames,
                    problem: compiled.problem, resolved: compiled.resolved, i: i
                ) { state, hosts in
                    var entry = L4RouteEntry(
                        hostnames: hosts.compactMap { $0 }, backends: compiled.backends,
                        invalidWeight: compiled.invalidWeight)
                    entry.route = "\(route.namespace)/\(route.name)"
                    state.l4.append(entry)
                }
            }
        }
        for (key, gw) in gatewayObjects {
            plan.gateways[key] = result(key, gw, states[key] ?? [], i)
        }
        return plan
    }

    /// SupportedVersion from the CRDs' bundle version: v1.5 and v1.6 are served (what k8slb
    /// implements: v1.6); others are reported (k8slb still serves what it knows).
    static func supportedVersion(_ version: String?) -> APICondition? {
        guard let version else { return nil }
        let parts = version.dropFirst(version.hasPrefix("v") ? 1 : 0).split(separator: ".").compactMap { Int($0) }
        let implemented = "v\(implementedVersion.major).\(implementedVersion.minor)"
        guard parts.count >= 2, parts[0] == implementedVersion.major,
            (oldestSupportedMinor...implementedVersion.minor).contains(parts[1])
        else {
            return condition(
                "SupportedVersion", false, "UnsupportedVersion",
                "the installed Gateway API CRDs are \(version); k8slb implements \(implemented) (and serves v1.\(oldestSupportedMinor) CRDs)",
                0)
        }
        return condition(
            "SupportedVersion", true, "SupportedVersion", "Gateway API \(version) (k8slb implements \(implemented))", 0)
    }

    // MARK: listeners

    /// A listener while routes attach to it.
    struct ListenerState: Sendable {
        var spec: GatewaySpec.Listener
        var kind: GatewayEntry.Kind?
        var hostname: GatewayHostname?
        var certificates: [SecretRef] = []
        var allowedKinds: [RouteKindName] = []
        var namespaces: AllowedNamespaces = .same
        /// Accepted (False: its reason, message).
        var accepted: (Bool, String, String) = (true, "Accepted", "accepted")
        var resolved: (Bool, String, String) = (true, "ResolvedRefs", "every reference resolved")
        var conflicted: (Bool, String, String) = (false, "NoConflicts", "no conflicts")
        var attached = 0
        var http: [PrecedenceEntry] = []
        var l4: [L4RouteEntry] = []

        /// Serves routes: accepted, not conflicted, references resolved.
        var serves: Bool { kind != nil && accepted.0 && !conflicted.0 && resolved.0 }
    }

    enum AllowedNamespaces: Sendable {
        case same, all
        case selector(LabelSelector?)
    }

    static func listeners(_ gw: Object<GatewaySpec>, _ i: Inputs, _ grants: ReferenceGrants) -> [ListenerState] {
        var out: [ListenerState] = []
        for l in gw.spec.listeners {
            var s = ListenerState(spec: l)
            func refuse(_ reason: String, _ message: String) { s.accepted = (false, reason, message) }
            if (try? ResourceName(parsing: l.name)) == nil {
                refuse("UnsupportedValue", "listener name \(l.name.quotedForMessage) is not a valid section name")
            }
            if !(1...65535).contains(l.port) { refuse("PortUnavailable", "port \(l.port) is not 1-65535") }
            if let h = l.hostname {
                do { s.hostname = try GatewayHostname(parsing: h) } catch {
                    refuse("UnsupportedValue", "hostname: \(error.description)")
                }
            }
            switch l.protocol {
            case "HTTP": s.kind = .http
            case "HTTPS": s.kind = .https
            case "TLS": s.kind = .tls
            case "TCP": s.kind = .tcp
            case "UDP": s.kind = .udp
            default:
                refuse(
                    "UnsupportedProtocol",
                    "protocol \(l.protocol.quotedForMessage) is not one k8slb serves (HTTP, HTTPS, TLS, TCP, UDP)")
            }
            if s.kind == .udp && !i.engine.proxiesUDP {
                refuse("UnsupportedProtocol", "UDP listeners need the nginx backend (HAProxy has no UDP proxy)")
            }
            if i.engine == .nginx, s.kind == .http || s.kind == .https {
                refuse(
                    "UnsupportedProtocol",
                    "HTTP and HTTPS listeners need the haproxy backend (the nginx backend serves TLS passthrough, TCP and UDP listeners)"
                )
            }
            let mode = l.tls?.mode ?? "Terminate"
            switch s.kind {
            case .https:
                if mode != "Terminate" {
                    refuse("UnsupportedValue", "an HTTPS listener terminates TLS (tls.mode Terminate)")
                }
                certificates(&s, gw, grants, i)
            case .tls:
                if l.tls?.mode != "Passthrough" {
                    refuse(
                        "UnsupportedValue",
                        "a TLS listener passes TLS through to its TLSRoutes (tls.mode Passthrough); k8slb does not terminate TLS for TLSRoutes"
                    )
                }
            default: break
            }
            allowedRoutes(&s, l)
            if s.kind != nil {
                s.accepted = s.accepted.0 ? (true, "Accepted", "accepted") : s.accepted
            }
            out.append(s)
        }
        conflicts(&out)
        return out
    }

    /// An HTTPS listener's certificateRefs: Secrets (`kubernetes.io/tls`) in the Gateway's
    /// namespace, or elsewhere with a ReferenceGrant.
    static func certificates(
        _ s: inout ListenerState, _ gw: Object<GatewaySpec>, _ grants: ReferenceGrants, _ i: Inputs
    ) {
        let refs = s.spec.tls?.certificateRefs ?? []
        guard !refs.isEmpty else {
            s.resolved = (false, "InvalidCertificateRef", "an HTTPS listener needs a certificateRef")
            return
        }
        var problems: [(String, String)] = []
        for ref in refs {
            guard (ref.group ?? "") == "", (ref.kind ?? "Secret") == "Secret" else {
                problems.append(
                    ("InvalidCertificateRef", "certificateRef \(ref.name.quotedForMessage) is not a Secret"))
                continue
            }
            let ns = ref.namespace ?? gw.namespace
            guard let name = try? ResourceName(parsing: ref.name) else {
                problems.append(
                    ("InvalidCertificateRef", "certificateRef \(ref.name.quotedForMessage) is not a valid name"))
                continue
            }
            if ns != gw.namespace, !grants.allows(from: ("Gateway", gw.namespace), to: ("", "Secret", ns, ref.name)) {
                problems.append(
                    (
                        "RefNotPermitted",
                        "Secret \(ns)/\(ref.name) is in another namespace and no ReferenceGrant there allows it"
                    ))
                continue
            }
            let secret = SecretRef(namespace: ns, name: name)
            guard i.tlsSecrets.contains(secret) else {
                problems.append(
                    ("InvalidCertificateRef", "Secret \(secret) does not exist or is not a kubernetes.io/tls Secret"))
                continue
            }
            s.certificates.append(secret)
        }
        if let first = problems.first {
            s.resolved = (false, first.0, problems.map(\.1).joined(separator: "; "))
        }
    }

    static func allowedRoutes(_ s: inout ListenerState, _ l: GatewaySpec.Listener) {
        let supported: [RouteKindName] =
            switch s.kind {
            case .http, .https: [.http]
            case .tls: [.tls]
            case .tcp: [.tcp]
            case .udp: [.udp]
            case nil: []
            }
        if let kinds = l.allowedRoutes?.kinds, !kinds.isEmpty {
            var allowed: [RouteKindName] = []
            var invalid: [String] = []
            for k in kinds {
                if (k.group ?? GatewayAPI.group) == GatewayAPI.group, let name = RouteKindName(rawValue: k.kind),
                    supported.contains(name)
                {
                    if !allowed.contains(name) { allowed.append(name) }
                } else {
                    invalid.append(k.kind)
                }
            }
            s.allowedKinds = allowed
            if !invalid.isEmpty {
                s.resolved = (
                    false, "InvalidRouteKinds",
                    "route kinds \(invalid.joined(separator: ", ")) are not supported on a \(l.protocol) listener"
                )
            }
        } else {
            s.allowedKinds = supported
        }
        switch l.allowedRoutes?.namespaces?.from ?? "Same" {
        case "All": s.namespaces = .all
        case "Selector":
            let selector = l.allowedRoutes?.namespaces?.selector
            let text =
                (selector?.matchLabels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                + (selector?.matchExpressions ?? []).map { e in
                    switch e.operator {
                    case "In": "\(e.key) in (\((e.values ?? []).joined(separator: ",")))"
                    case "NotIn": "\(e.key) notin (\((e.values ?? []).joined(separator: ",")))"
                    case "Exists": e.key
                    case "DoesNotExist": "!\(e.key)"
                    default: "\u{0}"
                    }
                }
            if let parsed = try? LabelSelector(parsing: text.joined(separator: ",")) {
                s.namespaces = .selector(parsed)
            } else {
                s.namespaces = .selector(nil)
                s.accepted = (
                    false, "UnsupportedValue", "allowedRoutes.namespaces.selector is not a valid label selector"
                )
            }
        default: s.namespaces = .same
        }
    }

    /// Listeners sharing a port: the same kind, distinct host names (a later one that repeats is
    /// conflicted); TCP and UDP listeners own their port.
    static func conflicts(_ listeners: inout [ListenerState]) {
        var byPort: [String: [Int]] = [:]
        for (n, l) in listeners.enumerated() where l.kind != nil && l.accepted.0 {
            byPort["\(l.kind == .udp ? "udp" : "tcp")/\(l.spec.port)", default: []].append(n)
        }
        for (_, members) in byPort where members.count > 1 {
            let first = listeners[members[0]].kind
            var hosts = Set<String>()
            for n in members {
                let l = listeners[n]
                if l.kind != first || l.kind == .tcp || l.kind == .udp {
                    listeners[n].conflicted = (
                        true, "ProtocolConflict",
                        "port \(l.spec.port) is used by another listener with protocol \(listeners[members[0]].spec.protocol)"
                    )
                    continue
                }
                let host = l.hostname?.rawValue ?? ""
                if !hosts.insert(host).inserted {
                    listeners[n].conflicted = (
                        true, "HostnameConflict",
                        "another listener on port \(l.spec.port) has hostname \(host.isEmpty ? "(none)" : host)"
                    )
                }
            }
        }
    }

    // MARK: routes

    /// Attaches a compiled route to the parents it names that are k8slb's Gateways, and records
    /// its status there.
    static func attach(
        _ plan: inout GatewayPlan, _ states: inout [ServiceKey: [ListenerState]], _ id: RouteID, _ generation: Int64,
        parents: [ObjectRef], routeNamespace: String, hostnames: [GatewayHostname]?, problem: (String, String)?,
        resolved: (Bool, String, String), i: Inputs,
        add: (inout ListenerState, [GatewayHostname?]) -> Void
    ) {
        var statuses: [RouteParentStatus] = []
        for ref in parents {
            guard (ref.group ?? GatewayAPI.group) == GatewayAPI.group, (ref.kind ?? "Gateway") == "Gateway" else {
                continue
            }
            let gwNamespace = ref.namespace ?? routeNamespace
            let key = ServiceKey.gateway(namespace: gwNamespace, name: ref.name)
            // Taken out while it changes (so its arrays are not copied on every append), put back
            // at the end of the iteration whatever path it takes.
            guard var listeners = states.removeValue(forKey: key) else { continue }
            defer { states[key] = listeners }
            var parentRef = ObjectRef(group: GatewayAPI.group, kind: "Gateway", name: ref.name, namespace: gwNamespace)
            parentRef.sectionName = ref.sectionName
            parentRef.port = ref.port
            func status(_ accepted: (Bool, String, String)) {
                statuses.append(
                    RouteParentStatus(
                        parentRef: parentRef, controllerName: GatewayAPI.controllerName,
                        conditions: [
                            condition("Accepted", accepted.0, accepted.1, accepted.2, generation),
                            condition("ResolvedRefs", resolved.0, resolved.1, resolved.2, generation),
                        ]))
            }
            if let problem {
                status((false, problem.0, problem.1))
                continue
            }
            var candidates = listeners.indices.filter { n in
                (ref.sectionName == nil || listeners[n].spec.name == ref.sectionName)
                    && (ref.port == nil || listeners[n].spec.port == ref.port)
            }
            if candidates.isEmpty {
                status(
                    (
                        false, "NoMatchingParent",
                        "Gateway \(gwNamespace)/\(ref.name) has no listener \(ref.sectionName.map { "named \($0)" } ?? "on port \(ref.port ?? 0)")"
                    ))
                continue
            }
            candidates = candidates.filter { listeners[$0].serves && listeners[$0].allowedKinds.contains(id.kind) }
            candidates = candidates.filter { n in
                switch listeners[n].namespaces {
                case .same: routeNamespace == gwNamespace
                case .all: true
                case .selector(let s): s?.matches(i.namespaceLabels[routeNamespace] ?? [:]) ?? false
                }
            }
            guard !candidates.isEmpty else {
                status(
                    (
                        false, "NotAllowedByListeners",
                        "no listener of Gateway \(gwNamespace)/\(ref.name) allows this \(id.kind.rawValue) from namespace \(routeNamespace)"
                    ))
                continue
            }
            var attachedAny = false
            for n in candidates {
                let hosts: [GatewayHostname?]
                if id.kind == .tcp || id.kind == .udp {
                    hosts = [nil]
                } else if let routeHosts = hostnames, !routeHosts.isEmpty {
                    hosts = routeHosts.compactMap { h -> GatewayHostname? in
                        guard let listenerHost = listeners[n].hostname else { return h }
                        return GatewayHostname.intersection(listenerHost, h)
                    }
                } else {
                    hosts = [listeners[n].hostname]
                }
                guard !hosts.isEmpty else { continue }
                add(&listeners[n], hosts)
                listeners[n].attached += 1
                attachedAny = true
            }
            status(
                attachedAny
                    ? (true, "Accepted", "attached to Gateway \(gwNamespace)/\(ref.name)")
                    : (false, "NoMatchingListenerHostname", "no listener's hostname intersects the route's hostnames"))
        }
        if !statuses.isEmpty { plan.routes[id] = statuses }
    }

    // MARK: results

    static func result(_ key: ServiceKey, _ gw: Object<GatewaySpec>, _ states: [ListenerState], _ i: Inputs)
        -> GatewayResult
    {
        var accepted: (Bool, String, String) = (true, "Accepted", "accepted")
        var request: AllocationRequest?
        let (annotations, problems) = ServiceAnnotations.parse(gw.spec.infrastructure?.annotations ?? [:])
        var statics = annotations.addresses
        var addressProblems: [String] = []
        for a in gw.spec.addresses ?? [] {
            guard (a.type ?? "IPAddress") == "IPAddress" else {
                addressProblems.append(
                    "address type \((a.type ?? "").quotedForMessage) is not supported (IPAddress only)")
                continue
            }
            do {
                let ip = try IPAddress(parsing: a.value)
                if !statics.contains(ip) { statics.append(ip) }
            } catch { addressProblems.append("spec.addresses: \(error.description)") }
        }
        let hard = problems.filter { !$0.isWarning }
        if !addressProblems.isEmpty {
            accepted = (false, "UnsupportedAddress", addressProblems.joined(separator: "; "))
        } else if !hard.isEmpty {
            accepted = (
                false, "InvalidParameters",
                "infrastructure.annotations: " + hard.map(\.description).joined(separator: "; ")
            )
        } else if !states.contains(where: \.serves) {
            accepted = (false, "ListenersNotValid", "no listener is valid")
        }
        var ports = Set<PortKey>()
        for s in states where s.serves { ports.insert(PortKey(s.kind == .udp ? .udp : .tcp, UInt16(s.spec.port))) }
        if accepted.0 {
            let families = Set(statics.map(\.family))
            request = AllocationRequest(
                service: key, pools: annotations.pools,
                familyPolicy: families.count > 1 ? .requireDualStack : .singleStack,
                staticAddresses: statics.sorted(), ports: ports, sharingKey: annotations.sharingKey)
        }
        var listeners: [GatewayEntry.Listener] = []
        var statuses: [GatewayStatus.ListenerStatus] = []
        for s in states {
            let kinds = s.allowedKinds.map { RouteKind(kind: $0.rawValue) }
            statuses.append(
                GatewayStatus.ListenerStatus(
                    name: s.spec.name, supportedKinds: kinds, attachedRoutes: s.attached,
                    conditions: [
                        condition("Accepted", s.accepted.0, s.accepted.1, s.accepted.2, gw.generation),
                        condition("ResolvedRefs", s.resolved.0, s.resolved.1, s.resolved.2, gw.generation),
                        condition("Conflicted", s.conflicted.0, s.conflicted.1, s.conflicted.2, gw.generation),
                    ]))
            guard s.serves, let kind = s.kind else { continue }
            listeners.append(
                GatewayEntry.Listener(
                    name: s.spec.name, port: UInt16(s.spec.port), kind: kind, hostname: s.hostname,
                    certificates: s.certificates,
                    http: s.http.sorted(by: PrecedenceEntry.precedes).map(\.entry), l4: s.l4))
        }
        listeners.sort { ($0.port, $0.name) < ($1.port, $1.name) }
        return GatewayResult(
            key: key, generation: gw.generation, request: request,
            entry: GatewayEntry(generation: gw.generation, listeners: listeners),
            accepted: accepted, listeners: statuses)
    }

    /// The Gateway's status once its address is known: addresses, Accepted, Programmed
    /// (`programmed`: every LB node applied this generation), and each listener's Programmed.
    package static func status(_ r: GatewayResult, addresses: [IPAddress], allocationProblem: String?, programmed: Bool)
        -> GatewayStatus
    {
        let g = r.generation
        var conditions = [condition("Accepted", r.accepted.status, r.accepted.reason, r.accepted.message, g)]
        let programmedCondition: APICondition
        if !r.accepted.status {
            programmedCondition = condition("Programmed", false, "Invalid", r.accepted.message, g)
        } else if addresses.isEmpty {
            programmedCondition = condition(
                "Programmed", false, "AddressNotAssigned", allocationProblem ?? "no address assigned yet", g)
        } else if !programmed {
            programmedCondition = condition(
                "Programmed", false, "Pending", "waiting for every LB node to apply generation \(g)", g)
        } else {
            programmedCondition = condition("Programmed", true, "Programmed", "served by every LB node", g)
        }
        conditions.append(programmedCondition)
        let listeners = r.listeners.map { l -> GatewayStatus.ListenerStatus in
            var l = l
            let ok = l.conditions.allSatisfy { $0.type == "Conflicted" ? $0.status == "False" : $0.status == "True" }
            l.conditions.append(
                ok
                    ? (programmedCondition.status == "True"
                        ? condition("Programmed", true, "Programmed", "served", g)
                        : condition("Programmed", false, "Pending", programmedCondition.message, g))
                    : condition("Programmed", false, "Invalid", "not served: see its other conditions", g))
            return l
        }
        return GatewayStatus(
            addresses: addresses.map { .init(type: "IPAddress", value: $0.description) }, conditions: conditions,
            listeners: listeners)
    }
}

/// An HTTP route entry with what decides its precedence.
struct PrecedenceEntry: Sendable {
    var entry: HTTPRouteEntry
    var created: String
    var route: String
    var rule: Int
    var match: Int

    /// Gateway API's precedence within one host name: an Exact path before a prefix, the longest
    /// prefix, a method, the most header matches, the most query matches; then the oldest route,
    /// the route's namespace/name, the rule's and the match's order.
    static func precedes(_ a: PrecedenceEntry, _ b: PrecedenceEntry) -> Bool {
        func key(_ e: PrecedenceEntry) -> (Int, Int, Int, Int, Int) {
            let m = e.entry.match
            switch m.path {
            case .exact(let p): return (0, -p.rawValue.count, m.method == nil ? 1 : 0, -m.headers.count, -m.query.count)
            case .prefix(let p): return (1, -p.trimmed.count, m.method == nil ? 1 : 0, -m.headers.count, -m.query.count)
            }
        }
        let ka = key(a)
        let kb = key(b)
        if ka != kb { return ka < kb }
        return (a.created, a.route, a.rule, a.match) < (b.created, b.route, b.rule, b.match)
    }
}

/// ReferenceGrants: who may reference what across namespaces.
struct ReferenceGrants: Sendable {
    let grants: [GatewayPlan.Object<ReferenceGrantSpec>]
    init(_ grants: [GatewayPlan.Object<ReferenceGrantSpec>]) { self.grants = grants }

    /// Whether an object of `from.kind` in `from.namespace` may reference `to` (group, kind, namespace, name).
    func allows(
        from: (kind: String, namespace: String), to: (group: String, kind: String, namespace: String, name: String)
    ) -> Bool {
        grants.contains { g in
            g.namespace == to.namespace
                && g.spec.from.contains {
                    $0.group == GatewayAPI.group && $0.kind == from.kind && $0.namespace == from.namespace
                }
                && g.spec.to.contains {
                    $0.group == to.group && $0.kind == to.kind && ($0.name == nil || $0.name == to.name)
                }
        }
    }
}
