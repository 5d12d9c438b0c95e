/// Gateway API for the watcher, in one pure step: which GatewayClasses and Gateways are k8slb's,
/// what each Gateway asks of the allocator, how its listeners and the routes attached to them
/// compile into a `GatewayEntry` for the actors, and every status condition (GatewayClass,
/// Gateway, listener, route parent) with the spec's reasons. Invalid or conflicting input is
/// refused where it is (a listener, a route's parent, a backendRef) with its reason; everything
/// else keeps serving.
package struct GatewayPlan: Sendable {
    /// An object's identity and spec.
    package struct Object<Spec: Sendable>: Sendable {
        package var namespace: String
        package var name: String
        package var generation: Int64
        /// RFC 3339 creation time (route precedence: the oldest wins a tie).
        package var created: String
        package var spec: Spec

        package init(namespace: String, name: String, generation: Int64, created: String, spec: Spec) {
            self.namespace = namespace
            self.name = name
            self.generation = generation
            self.created = created
            self.spec = spec
        }
    }

    /// The route kinds k8slb serves.
    package enum RouteKindName: String, Sendable, Hashable, CaseIterable, Comparable {
        case http = "HTTPRoute"
        case tls = "TLSRoute"
        case tcp = "TCPRoute"
        case udp = "UDPRoute"

        package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// A route, for its status.
    package struct RouteID: Sendable, Hashable, Comparable, CustomStringConvertible {
        package var kind: RouteKindName
        package var namespace: String
        package var name: String
        package init(kind: RouteKindName, namespace: String, name: String) {
            self.kind = kind
            self.namespace = namespace
            self.name = name
        }
        package var description: String { "\(kind.rawValue) \(namespace)/\(name)" }
        package static func < (a: Self, b: Self) -> Bool {
            (a.kind, a.namespace, a.name) < (b.kind, b.namespace, b.name)
        }
    }

    /// The Gateway API release k8slb implements, and the oldest whose CRDs it serves.
    package static let implementedVersion = (major: 1, minor: 6)
    package static let oldestSupportedMinor = 5

    package struct Inputs: Sendable {
        package var classes: [String: GatewayClassSpec] = [:]
        package var gateways: [Object<GatewaySpec>] = []
        package var httpRoutes: [Object<HTTPRouteSpec>] = []
        package var tlsRoutes: [Object<L4RouteSpec>] = []
        package var tcpRoutes: [Object<L4RouteSpec>] = []
        package var udpRoutes: [Object<L4RouteSpec>] = []
        package var grants: [Object<ReferenceGrantSpec>] = []
        /// Every Service's ports (backendRefs name a Service port).
        package var services: [ServiceKey: [AssignmentDocument.Port]] = [:]
        /// The `kubernetes.io/tls` Secrets that exist.
        package var tlsSecrets: Set<SecretRef> = []
        /// Namespaces' labels (`allowedRoutes.namespaces.from: Selector`).
        package var namespaceLabels: [String: [String: String]] = [:]
        /// What serves the Gateways: the actors' data plane.
        package var engine: ProxyBackend = .haproxy
        /// The installed CRDs' `gateway.networking.k8s.io/bundle-version` (nil: unknown).
        package var bundleVersion: String?

        package init() {}
    }

    /// What the plan decided for one of k8slb's Gateways.
    package struct GatewayResult: Sendable {
        package var key: ServiceKey
        package var generation: Int64
        /// What to allocate (nil: the Gateway is not accepted, e.g. a bad annotation).
        package var request: AllocationRequest?
        /// Published for the actors (listeners that are valid and not conflicted, with their routes).
        package var entry: GatewayEntry
        /// Gateway-level Accepted.
        package var accepted: (status: Bool, reason: String, message: String)
        package var listeners: [GatewayStatus.ListenerStatus]
    }

    package var classes: [String: [APICondition]] = [:]
    package var gateways: [ServiceKey: GatewayResult] = [:]
    package var routes: [RouteID: [RouteParentStatus]] = [:]
}

extension GatewayPlan {
    /// A condition with this plan's time; callers keep the old transition time when nothing changed
    /// (`APICondition.merging`).
    static func condition(_ type: String, _ ok: Bool, _ reason: String, _ message: String, _ generation: Int64)
        -> APICondition
    {
        APICondition(
            type: type, status: ok ? "True" : "False", reason: reason, message: message, observedGeneration: generation,
            lastTransitionTime: "")
    }
}

extension APICondition {
    /// `new` with `old`'s transition time when the status did not change (and `now` otherwise), as
    /// the API conventions ask.
    package static func merging(_ new: [APICondition], old: [APICondition]?, now: String) -> [APICondition] {
        new.map { c in
            var c = c
            if let o = old?.first(where: { $0.type == c.type }), o.status == c.status, !o.lastTransitionTime.isEmpty {
                c.lastTransitionTime = o.lastTransitionTime
            } else {
                c.lastTransitionTime = now
            }
            return c
        }
    }
}
