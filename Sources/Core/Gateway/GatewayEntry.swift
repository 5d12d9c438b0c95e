/// A Gateway as the actors serve it, compiled by the watcher (`GatewayPlan`) from the Gateway and
/// the routes attached to it: its listeners, each with its routes in precedence order and every
/// value typed. Published in the assignment document inside the Gateway's entry on its VIP
/// (`ServiceEntry.gateway`), so the actors need no Gateway API access of their own.
package struct GatewayEntry: Sendable, Hashable, Codable {
    /// The Gateway's `metadata.generation` this was compiled from (actors report what they applied).
    package var generation: Int64
    /// Sorted by port, then name.
    package var listeners: [Listener]

    package init(generation: Int64, listeners: [Listener]) {
        self.generation = generation
        self.listeners = listeners
    }

    /// Every Service port the routes send traffic to.
    package var backends: [WeightedBackend] {
        listeners.flatMap { l in l.http.flatMap(\.action.backends) + l.l4.flatMap(\.backends) }
    }

    package enum Kind: String, Sendable, Hashable, Codable {
        case http = "HTTP"
        /// HTTPS, TLS terminated with `certificates`.
        case https = "HTTPS"
        /// TLS passthrough, routed by SNI.
        case tls = "TLS"
        case tcp = "TCP"
        case udp = "UDP"
    }

    package struct Listener: Sendable, Hashable, Codable {
        package var name: String
        package var port: UInt16
        package var kind: Kind
        package var hostname: GatewayHostname?
        /// HTTPS: the Secrets (`kubernetes.io/tls`) it terminates with, the first the default.
        package var certificates: [SecretRef]
        /// HTTP and HTTPS: one entry per (host name, match), in precedence order.
        package var http: [HTTPRouteEntry]
        /// TLS, TCP, UDP: the routes' backends (TLS: by SNI host names).
        package var l4: [L4RouteEntry]

        package init(
            name: String, port: UInt16, kind: Kind, hostname: GatewayHostname? = nil, certificates: [SecretRef] = [],
            http: [HTTPRouteEntry] = [], l4: [L4RouteEntry] = []
        ) {
            self.name = name
            self.port = port
            self.kind = kind
            self.hostname = hostname
            self.certificates = certificates
            self.http = http
            self.l4 = l4
        }

        package var proto: TransportProtocol { kind == .udp ? .udp : .tcp }
    }
}

/// A Secret a listener terminates TLS with.
package struct SecretRef: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    package var namespace: String
    package var name: ResourceName
    package init(namespace: String, name: ResourceName) {
        self.namespace = namespace
        self.name = name
    }
    package var description: String { "\(namespace)/\(name)" }
    package static func < (a: SecretRef, b: SecretRef) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// One way a request reaches an HTTPRoute rule: the host names (nil: any) and one of the rule's
/// matches, with what the rule does.
package struct HTTPRouteEntry: Sendable, Hashable, Codable {
    package var hostname: GatewayHostname?
    package var match: HTTPMatch
    package var action: HTTPAction

    package init(hostname: GatewayHostname?, match: HTTPMatch, action: HTTPAction) {
        self.hostname = hostname
        self.match = match
        self.action = action
    }
}

package struct HTTPMatch: Sendable, Hashable, Codable {
    package enum Path: Sendable, Hashable, Codable {
        case exact(HTTPPath)
        /// Element-wise prefix: `/a` matches `/a`, `/a/` and `/a/b`, not `/ab`.
        case prefix(HTTPPath)
    }

    package var path: Path
    package var headers: [NameValue]
    package var query: [NameValue]
    package var method: HTTPMethod?

    package init(
        path: Path = .prefix(try! HTTPPath(parsing: "/")), headers: [NameValue] = [], query: [NameValue] = [],
        method: HTTPMethod? = nil
    ) {
        self.path = path
        self.headers = headers
        self.query = query
        self.method = method
    }
}

package struct NameValue: Sendable, Hashable, Codable {
    package var name: HeaderName
    package var value: HeaderValue
    package init(name: HeaderName, value: HeaderValue) {
        self.name = name
        self.value = value
    }
}

/// What a rule does with a request: its filters, then a redirect or the backends.
package struct HTTPAction: Sendable, Hashable, Codable {
    /// The rule it comes from (`namespace/name#index`): its backend pool keeps this identity, so a
    /// backendRef or weight change is a server change (Runtime API), not a new backend (reload).
    package var rule: String = ""
    package var requestHeaders: HeaderEdits
    package var responseHeaders: HeaderEdits
    package var redirect: Redirect?
    package var rewrite: Rewrite?
    /// The backends and their weights.
    package var backends: [WeightedBackend]
    /// The weight of backendRefs that are not usable (missing Service, not permitted): that share
    /// of requests gets a 500, as the spec says.
    package var invalidWeight: UInt32

    package init(
        requestHeaders: HeaderEdits = .init(), responseHeaders: HeaderEdits = .init(), redirect: Redirect? = nil,
        rewrite: Rewrite? = nil, backends: [WeightedBackend] = [], invalidWeight: UInt32 = 0
    ) {
        self.requestHeaders = requestHeaders
        self.responseHeaders = responseHeaders
        self.redirect = redirect
        self.rewrite = rewrite
        self.backends = backends
        self.invalidWeight = invalidWeight
    }

    package struct HeaderEdits: Sendable, Hashable, Codable {
        package var set: [NameValue] = []
        package var add: [NameValue] = []
        package var remove: [HeaderName] = []
        package init(set: [NameValue] = [], add: [NameValue] = [], remove: [HeaderName] = []) {
            self.set = set
            self.add = add
            self.remove = remove
        }
        package var isEmpty: Bool { self.set.isEmpty && add.isEmpty && remove.isEmpty }
    }

    package enum PathChange: Sendable, Hashable, Codable {
        case full(HTTPPath)
        /// Replaces the part the rule's PathPrefix match matched.
        case prefix(HTTPPath)
    }

    package struct Redirect: Sendable, Hashable, Codable {
        package var scheme: String?
        package var hostname: HostName?
        package var port: UInt16?
        package var path: PathChange?
        package var statusCode: Int
        package init(
            scheme: String? = nil, hostname: HostName? = nil, port: UInt16? = nil, path: PathChange? = nil,
            statusCode: Int = 302
        ) {
            self.scheme = scheme
            self.hostname = hostname
            self.port = port
            self.path = path
            self.statusCode = statusCode
        }
    }

    package struct Rewrite: Sendable, Hashable, Codable {
        package var hostname: HostName?
        package var path: PathChange?
        package init(hostname: HostName? = nil, path: PathChange? = nil) {
            self.hostname = hostname
            self.path = path
        }
    }
}

/// A backend Service port and its weight.
package struct WeightedBackend: Sendable, Hashable, Codable {
    package var service: ServiceKey
    package var port: AssignmentDocument.Port
    package var weight: UInt32
    package init(service: ServiceKey, port: AssignmentDocument.Port, weight: UInt32) {
        self.service = service
        self.port = port
        self.weight = weight
    }
}

/// A TLSRoute (by SNI), TCPRoute or UDPRoute on a listener.
package struct L4RouteEntry: Sendable, Hashable, Codable {
    /// The route it comes from (`namespace/name`): its backend pool's identity.
    package var route: String = ""
    /// TLS: the SNI names (empty: any).
    package var hostnames: [GatewayHostname]
    package var backends: [WeightedBackend]
    package var invalidWeight: UInt32
    package init(hostnames: [GatewayHostname] = [], backends: [WeightedBackend], invalidWeight: UInt32 = 0) {
        self.hostnames = hostnames
        self.backends = backends
        self.invalidWeight = invalidWeight
    }
}

extension ServiceKey {
    /// A Gateway's key beside the Services' (in the allocator and the assignment document): a
    /// namespace never contains ':', so no Service has it.
    package static func gateway(namespace: String, name: String) -> ServiceKey {
        ServiceKey(namespace: "gateway:" + namespace, name: name)
    }

    /// The Gateway's namespace when this is a Gateway's key.
    package var gatewayNamespace: String? {
        namespace.hasPrefix("gateway:") ? String(namespace.dropFirst("gateway:".count)) : nil
    }
}
