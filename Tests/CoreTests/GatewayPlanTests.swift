import Testing

@testable import Core

/// GatewayPlan's rules, without daemons: host name intersection, precedence, listener conflicts,
/// ReferenceGrants, weights.
@Suite struct GatewayPlanTests {
    static func host(_ s: String) -> GatewayHostname { try! GatewayHostname(parsing: s) }
    static func object<S>(
        _ name: String, _ spec: S, namespace: String = "default", created: String = "2026-01-01T00:00:00Z"
    ) -> GatewayPlan.Object<S> {
        GatewayPlan.Object(namespace: namespace, name: name, generation: 1, created: created, spec: spec)
    }

    static func inputs(_ listeners: [GatewaySpec.Listener], routes: [GatewayPlan.Object<HTTPRouteSpec>] = [])
        -> GatewayPlan.Inputs
    {
        var i = GatewayPlan.Inputs()
        i.classes["k8slb"] = GatewayClassSpec(controllerName: GatewayAPI.controllerName)
        i.classes["other"] = GatewayClassSpec(controllerName: "example.com/other")
        i.gateways = [
            object("gw", GatewaySpec(gatewayClassName: "k8slb", listeners: listeners)),
            object("theirs", GatewaySpec(gatewayClassName: "other", listeners: listeners)),
        ]
        i.httpRoutes = routes
        for name in ["a", "b", "c"] {
            i.services[ServiceKey(namespace: "default", name: name)] = [
                .init(name: "http", port: 80, targetPort: .number(8080))
            ]
        }
        return i
    }

    @Test func hostnameIntersection() {
        #expect(
            GatewayHostname.intersection(Self.host("*.example.com"), Self.host("a.example.com"))
                == Self.host("a.example.com"))
        #expect(
            GatewayHostname.intersection(Self.host("*.example.com"), Self.host("*.b.example.com"))
                == Self.host("*.b.example.com"))
        #expect(GatewayHostname.intersection(Self.host("a.example.com"), Self.host("b.example.com")) == nil)
        #expect(
            GatewayHostname.intersection(Self.host("*.example.com"), Self.host("example.com")) == nil,
            "a wildcard needs a label")
        #expect(Self.host("*.example.com").covers(Self.host("x.y.example.com")), "any depth")
        #expect(throws: AddressParseError.self) { try GatewayHostname(parsing: "a.*.example.com") }
    }

    @Test func onlyK8slbClassesAndGatewaysArePlanned() {
        let plan = GatewayPlan.make(Self.inputs([.init(name: "http", port: 80, protocol: "HTTP")]))
        #expect(plan.classes.keys.sorted() == ["k8slb"])
        #expect(plan.gateways.keys.map(\.description) == ["gateway:default/gw"])
        #expect(plan.gateways.values.first?.request?.ports == [PortKey(.tcp, 80)])
    }

    @Test func precedenceFollowsTheSpec() {
        func rule(_ path: HTTPRouteSpec.PathMatch, headers: Int = 0, method: String? = nil, backend: String)
            -> HTTPRouteSpec.Rule
        {
            .init(
                matches: [
                    .init(path: path, headers: (0..<headers).map { .init(name: "H\($0)", value: "v") }, method: method)
                ],
                backendRefs: [ObjectRef(name: backend, port: 80)])
        }
        let old = Self.object(
            "old",
            HTTPRouteSpec(
                parentRefs: [ObjectRef(name: "gw")],
                rules: [
                    rule(.init(value: "/a"), backend: "a"), rule(.init(value: "/a/b"), backend: "b"),
                ]), created: "2026-01-01T00:00:00Z")
        let new = Self.object(
            "new",
            HTTPRouteSpec(
                parentRefs: [ObjectRef(name: "gw")],
                rules: [
                    rule(.init(value: "/a"), headers: 1, backend: "c"),
                    rule(.init(type: "Exact", value: "/a"), backend: "c"),
                    rule(.init(value: "/a"), backend: "c"), rule(.init(value: "/a"), method: "GET", backend: "c"),
                ]), created: "2026-01-02T00:00:00Z")
        let plan = GatewayPlan.make(Self.inputs([.init(name: "http", port: 80, protocol: "HTTP")], routes: [new, old]))
        let entries = plan.gateways.values.first?.entry.listeners.first?.http ?? []
        let order = entries.map { e -> String in
            var s: String
            switch e.match.path {
            case .exact(let p): s = "=" + p.rawValue
            case .prefix(let p): s = p.rawValue
            }
            if let m = e.match.method { s += " " + m.rawValue }
            if !e.match.headers.isEmpty { s += " h\(e.match.headers.count)" }
            return s + " " + (e.action.backends.first?.service.name ?? "")
        }
        // Exact first; then the longest prefix; then method; then header count; then the oldest route.
        #expect(order == ["=/a c", "/a/b b", "/a GET c", "/a h1 c", "/a a", "/a c"], "\(order)")
    }

    @Test func conflictsAndUnsupportedListeners() {
        let plan = GatewayPlan.make(
            Self.inputs([
                .init(name: "a", hostname: "x.example.com", port: 80, protocol: "HTTP"),
                .init(name: "b", hostname: "x.example.com", port: 80, protocol: "HTTP"),
                .init(name: "c", port: 80, protocol: "HTTPS", tls: .init(certificateRefs: [ObjectRef(name: "s")])),
                .init(name: "d", port: 53, protocol: "UDP"),
                .init(name: "e", port: 99, protocol: "SCTP"),
            ]))
        let listeners = plan.gateways.values.first?.listeners ?? []
        func reason(_ name: String, _ type: String) -> String? {
            listeners.first { $0.name == name }?.conditions.first { $0.type == type }?.reason
        }
        #expect(reason("a", "Conflicted") == "NoConflicts")
        #expect(reason("b", "Conflicted") == "HostnameConflict")
        #expect(reason("c", "Conflicted") == "ProtocolConflict")
        #expect(reason("c", "ResolvedRefs") == "InvalidCertificateRef")
        #expect(reason("d", "Accepted") == "UnsupportedProtocol", "HAProxy has no UDP")
        #expect(reason("e", "Accepted") == "UnsupportedProtocol")
        let published = plan.gateways.values.first?.entry.listeners.map { $0.name }
        #expect(published == ["a"], "only the valid listener is published")
    }

    @Test func referenceGrantsAndWeights() {
        let cross = Self.object(
            "r",
            HTTPRouteSpec(
                parentRefs: [ObjectRef(name: "gw")],
                rules: [
                    .init(backendRefs: [
                        ObjectRef(name: "a", port: 80, weight: 3),
                        ObjectRef(name: "x", namespace: "other", port: 80, weight: 1),
                        ObjectRef(name: "b", port: 80, weight: 0),
                    ])
                ]))
        var i = Self.inputs([.init(name: "http", port: 80, protocol: "HTTP")], routes: [cross])
        i.services[ServiceKey(namespace: "other", name: "x")] = [
            .init(name: "http", port: 80, targetPort: .number(8080))
        ]
        var plan = GatewayPlan.make(i)
        var action = plan.gateways.values.first?.entry.listeners.first?.http.first?.action
        #expect(
            action?.backends.map(\.service.name) == ["a"] && action?.invalidWeight == 1,
            "weight 0 left out; the ungranted one answers 500")
        #expect(plan.routes.values.first?.first?.conditions.last?.reason == "RefNotPermitted")
        i.grants = [
            Self.object(
                "g",
                ReferenceGrantSpec(
                    from: [.init(kind: "HTTPRoute", namespace: "default")], to: [.init(kind: "Service")]),
                namespace: "other")
        ]
        plan = GatewayPlan.make(i)
        action = plan.gateways.values.first?.entry.listeners.first?.http.first?.action
        #expect(action?.backends.map(\.service.name) == ["a", "x"] && action?.invalidWeight == 0)
        // The pool's servers: Service weights split among their endpoints, scaled to 1-256.
        var doc = AssignmentDocument.ServiceEntry(
            key: .gateway(namespace: "default", name: "gw"), ports: [.init(port: 80, targetPort: .number(80))])
        doc.gateway = plan.gateways.values.first?.entry
        let ep = { (s: String) in EndpointAddress(address: try! IPAddress(parsing: s), port: 8080) }
        let endpoints = EndpointMap([
            .init(service: ServiceKey(namespace: "default", name: "a"), port: 80, proto: .tcp): [
                ep("198.51.100.1"), ep("198.51.100.2"),
            ],
            .init(service: ServiceKey(namespace: "other", name: "x"), port: 80, proto: .tcp): [ep("198.51.100.3")],
        ])
        let proxy = ProxyPlan.make(
            AssignmentDocument(vips: [
                .init(address: try! IPAddress(parsing: "192.0.2.10"), pool: .default, services: [doc])
            ]),
            endpoints: endpoints, certificates: .init(), engine: .haproxy)
        let weights = proxy.frontends.first?.gateway?.pools.first?.servers.map(\.weight) ?? []
        #expect(weights == [256, 256, 171], "a: 3 over 2 endpoints (1.5 each), x: 1: \(weights)")
    }

    /// The reasons the end-to-end tests do not reach: every condition has a test.
    @Test func remainingConditionReasons() throws {
        var i = Self.inputs([.init(name: "http", port: 80, protocol: "HTTP")])
        #expect(GatewayPlan.make(i).classes["k8slb"]?.first?.reason == "Accepted")
        for (version, reason) in [
            ("v1.6.1", "SupportedVersion"), ("v1.5.0", "SupportedVersion"), ("v1.7.0", "UnsupportedVersion"),
            ("v1.3.0", "UnsupportedVersion"),
        ] {
            i.bundleVersion = version
            #expect(GatewayPlan.make(i).classes["k8slb"]?.last?.reason == reason, "\(version)")
        }
        i.engine = .kubeproxy
        #expect(GatewayPlan.make(i).classes["k8slb"]?.first?.reason == "Unsupported")
        #expect(GatewayPlan.make(i).gateways.isEmpty, "no Gateway is served without a proxy")

        func gateway(_ spec: GatewaySpec, routes: [GatewayPlan.Object<HTTPRouteSpec>] = []) -> GatewayPlan
            .GatewayResult?
        {
            var i = Self.inputs([])
            i.gateways = [Self.object("gw", spec)]
            i.httpRoutes = routes
            return GatewayPlan.make(i).gateways.values.first
        }
        let http = GatewaySpec.Listener(name: "http", port: 80, protocol: "HTTP")
        let badPool = gateway(
            GatewaySpec(
                gatewayClassName: "k8slb", listeners: [http],
                infrastructure: .init(annotations: ["loadbalancer/pool": "Bad Pool!"])))
        #expect(badPool?.accepted.reason == "InvalidParameters" && badPool?.request == nil)
        let hostnameAddress = gateway(
            GatewaySpec(
                gatewayClassName: "k8slb", listeners: [http],
                addresses: [.init(type: "Hostname", value: "lb.example.com")]))
        #expect(hostnameAddress?.accepted.reason == "UnsupportedAddress")
        let staticAddress = gateway(
            GatewaySpec(gatewayClassName: "k8slb", listeners: [http], addresses: [.init(value: "192.0.2.15")]))
        #expect(staticAddress?.request?.staticAddresses.map(\.description) == ["192.0.2.15"])
        let invalid = gateway(
            GatewaySpec(
                gatewayClassName: "k8slb",
                listeners: [
                    .init(name: "zero", port: 0, protocol: "HTTP"),
                    .init(
                        name: "kinds", port: 81, protocol: "HTTP",
                        allowedRoutes: .init(kinds: [RouteKind(kind: "TCPRoute")])),
                ]))
        #expect(invalid?.accepted.reason == "ListenersNotValid")
        #expect(
            invalid?.listeners.first { $0.name == "zero" }?.conditions.first { $0.type == "Accepted" }?.reason
                == "PortUnavailable")
        #expect(
            invalid?.listeners.first { $0.name == "kinds" }?.conditions.first { $0.type == "ResolvedRefs" }?.reason
                == "InvalidRouteKinds")

        // Programmed, from the allocation and the nodes' reports.
        let ok = try #require(gateway(GatewaySpec(gatewayClassName: "k8slb", listeners: [http])))
        func programmed(_ addresses: [String], _ applied: Bool) -> String? {
            GatewayPlan.status(
                ok, addresses: addresses.map { try! IPAddress(parsing: $0) },
                allocationProblem: "pool default is exhausted",
                programmed: applied
            ).conditions?.first { $0.type == "Programmed" }?.reason
        }
        #expect(programmed([], false) == "AddressNotAssigned")
        #expect(programmed(["192.0.2.10"], false) == "Pending")
        #expect(programmed(["192.0.2.10"], true) == "Programmed")

        // A backendRef that is not a Service.
        var routes = Self.inputs([http])
        routes.httpRoutes = [
            Self.object(
                "r",
                HTTPRouteSpec(
                    parentRefs: [ObjectRef(name: "gw")],
                    rules: [
                        .init(backendRefs: [ObjectRef(group: "", kind: "ConfigMap", name: "cm")])
                    ]))
        ]
        let resolved = GatewayPlan.make(routes).routes.values.first?.first?.conditions.first {
            $0.type == "ResolvedRefs"
        }
        #expect(resolved?.reason == "InvalidKind" && resolved?.status == "False")
    }
}
