/// Every frontend an LB node's proxy serves, decided once (pure) from the assignment document,
/// the endpoints and the usable certificates: per VIP:port its mode, TLS and certificate, which
/// Services it routes by host name, each route's backend with its servers and options, and every
/// Service port that is not routed with a typed reason. `HAProxyRenderer` and `NginxRenderer`
/// only print a plan; what an engine cannot express is decided here (`ProxyBackend`'s
/// capabilities), not discovered while printing.
///
/// The rules (docs/architecture.md, "The proxy plan"):
/// - A port's mode and TLS come from `PortPolicy` (the original's rules); TLS termination is off
///   when its certificate (the Service's Secret, else the pool's bundle) is not usable.
/// - Several Services on one VIP:port (`loadbalancer/hostnames`) are routed by name. The first by
///   namespace/name fixes how the port is proxied; a sharer that needs another way, allows
///   other sources, claims a name an earlier one has, or is a second sharer without names, is not
///   routed. The sharer without names gets what matches no name; without one, those are refused.
/// - Port 80 of a VIP redirects to HTTPS when its port 443 terminates TLS for HTTP, every Service
///   there wants the redirect, and no Service uses TCP port 80 of that VIP.
package struct ProxyPlan: Sendable, Equatable {
    /// In the order Services and ports appear in the document (VIP by VIP).
    package var frontends: [Frontend]
    /// Service ports the proxy does not serve, and why.
    package var unrouted: [Unrouted]

    /// A certificate TLS terminates with.
    package enum Certificate: Sendable, Hashable {
        /// The pool's bundle in the certificate directory (`<pool>.pem`; nginx also `<pool>.key`).
        case pool(PoolName)
        /// The bundle the actor wrote for the Service's `loadbalancer/tls-secret` (cert and key).
        case secret(SafePath)
    }

    /// What the plan may use: the pools whose bundle checked out, and the Services whose Secret
    /// did (with the file written for it).
    package struct Certificates: Sendable, Hashable {
        package var pools: Set<PoolName>
        package var services: [ServiceKey: SafePath]
        /// Gateway listeners' certificate Secrets that checked out, with their bundle files.
        package var secrets: [SecretRef: SafePath]
        package init(
            pools: Set<PoolName> = [], services: [ServiceKey: SafePath] = [:], secrets: [SecretRef: SafePath] = [:]
        ) {
            self.pools = pools
            self.services = services
            self.secrets = secrets
        }
    }

    /// One VIP:port.
    package struct Frontend: Sendable, Equatable {
        package var vip: IPAddress
        package var port: UInt16
        package var proto: TransportProtocol
        /// Layer 7 (HTTP) rather than layer 4.
        package var http: Bool
        package var terminateTLS: Bool
        /// Claimed by several Services: routed by host name (TLS SNI, HTTP Host).
        package var sharedByName: Bool
        /// Sorted by Service; one unless `sharedByName`.
        package var routes: [Route]
        /// The route taking what matches no name (the sharer without host names).
        package var fallback: Int?
        /// The sources allowed (`loadBalancerSourceRanges`; every route allows the same).
        package var sourceRanges: [IPNetwork]
        /// Plain HTTP on port 80 of this VIP answers with a redirect to HTTPS.
        package var redirectsPort80: Bool
        /// The VIP carries several Services.
        package var vipHasSeveralServices: Bool
        /// A Gateway's listeners on this port (then `routes` is empty).
        package var gateway: GatewayFrontend? = nil

        /// `<vip>_<port>`: the name printers build identifiers from (never user text).
        package var identifier: String { vip.identifier + "_" + String(port) }
    }

    /// One Service behind a frontend.
    package struct Route: Sendable, Equatable {
        /// The names it answers (empty: everything, or the fallback of a shared port).
        package var hostnames: [HostName]
        package var certificate: Certificate?
        package var sslRedirect: Bool
        package var backend: Backend
    }

    /// Where a route's traffic goes: the Service port's ready endpoints and how to reach them.
    package struct Backend: Sendable, Equatable {
        package var service: ServiceKey
        package var port: AssignmentDocument.Port
        /// On a port shared by name: a suffix from the Service's key that tells its backend apart.
        package var nameSuffix: String?
        package var family: IPFamily
        package var http: Bool
        /// The frontend terminates TLS (X-Forwarded-Proto).
        package var terminateTLS: Bool
        package var servers: [EndpointAddress]
        package var healthCheck: Bool
        /// NodePort backends of externalTrafficPolicy Local Services: kube-proxy's health port.
        package var nodeHealthPort: UInt16?
        package var tlsToBackend: Bool
        package var proxyProtocol: ProxyProtocolVersion?
        package var affinitySeconds: Int?
        package var forwardedHeaders: Bool
        /// Checks by an HTTP GET instead of a TCP connect (static roles, the balanced
        /// control-plane VIP); nil for Services.
        package var httpCheck: HTTPCheck? = nil
        /// Check every this many milliseconds, down after `fall` failures (static roles); nil: 2 s,
        /// fall 3, rise 2.
        package var checkTiming: CheckTiming? = nil
    }

    /// `GET path` expecting 200, over TLS (not verified: a health check) when `tls`.
    package struct HTTPCheck: Sendable, Hashable {
        package let path: String
        package let tls: Bool

        /// `path`: absolute, letters, digits and `/ . _ - ~ ? = & %` only (it is printed into
        /// haproxy.cfg).
        package init(path: String, tls: Bool) throws(AddressParseError) {
            guard path.hasPrefix("/"), path.utf8.count <= 200,
                path.utf8.allSatisfy({ $0.isASCIIAlphanumeric || "/._-~?=&%".utf8.contains($0) })
            else { throw AddressParseError(path, "not a check path (absolute; letters, digits and / . _ - ~ ? = & %)") }
            self.path = path
            self.tls = tls
        }
    }

    /// Health check timing.
    package struct CheckTiming: Sendable, Hashable {
        package var intervalMilliseconds: Int
        package var fall: Int
        package var rise: Int
        package init(intervalMilliseconds: Int, fall: Int, rise: Int) {
            self.intervalMilliseconds = intervalMilliseconds
            self.fall = fall
            self.rise = rise
        }
    }

    /// A Service port not served, and why.
    package struct Unrouted: Sendable, Hashable, CustomStringConvertible {
        package var service: ServiceKey
        package var reason: UnroutedReason
        package var description: String { "\(service): \(reason)" }
    }
}

/// A Gateway's listeners on one VIP:port, with the backends their routes use (servers resolved).
package struct GatewayFrontend: Sendable, Equatable {
    package var key: ServiceKey
    /// The listeners' kind (all listeners on a port have the same: conflicts are refused).
    package var kind: GatewayEntry.Kind
    package var listeners: [GatewayEntry.Listener]
    /// One per distinct set of weighted backends the routes use, in first-use order.
    package var pools: [BackendPool]

    /// Servers of one or more Service ports, each with its share (weights already combined).
    package struct BackendPool: Sendable, Equatable {
        /// The rule (or L4 route) it serves: stable across backend changes.
        package var id: String
        package var backends: [WeightedBackend]
        package var invalidWeight: UInt32
        /// Each endpoint with its weight (1-256, proportional to its Service's weight divided among
        /// that Service's endpoints); `failShare` the weight of the 500 answer.
        package var servers: [(endpoint: EndpointAddress, weight: Int)]
        package var failShare: Int

        package static func == (a: BackendPool, b: BackendPool) -> Bool {
            a.id == b.id && a.backends == b.backends && a.invalidWeight == b.invalidWeight && a.failShare == b.failShare
                && a.servers.map(\.endpoint) == b.servers.map(\.endpoint)
                && a.servers.map(\.weight) == b.servers.map(\.weight)
        }
    }

    /// The pool of a rule (or L4 route).
    package func pool(_ id: String) -> BackendPool? { pools.first { $0.id == id } }

    /// A TLS passthrough port's routing: each SNI name and the pool suffix it goes to (exact names
    /// before wildcards, the longest first), and the pool of routes without names.
    package func sniRoutes() -> (names: [(GatewayHostname, String)], fallback: String?) {
        var names: [(GatewayHostname, String)] = []
        var fallback: String?
        for l in listeners {
            for e in l.l4 where pool(e.route) != nil {
                let suffix = Self.suffix(e.route)
                if e.hostnames.isEmpty {
                    fallback = fallback ?? suffix
                } else {
                    names += e.hostnames.map { ($0, suffix) }
                }
            }
        }
        names.sort { a, b in
            if a.0.isWildcard != b.0.isWildcard { return !a.0.isWildcard }
            return a.0.rawValue.count > b.0.rawValue.count
        }
        return (names, fallback)
    }

    /// A pool's name suffix: a digest of its id (never user text in a config).
    package static func suffix(_ id: String) -> String {
        String(AssignmentShards.fnv1a(Array(id.utf8)) & 0xffff_ffff, radix: 16)
    }
}

/// Why a Service port is not served by the proxy (the actor reports it as a `NotRouted` Event).
package enum UnroutedReason: Sendable, Hashable, CustomStringConvertible {
    /// The shared port is proxied as `first` (TLS termination, HTTP); this Service needs `needs`.
    case proxiedDifferently(place: String, first: PortPolicy, needs: PortPolicy)
    /// Another sharer already takes what matches no name.
    case secondFallback(place: String, holder: ServiceKey)
    /// Names another sharer already answers.
    case hostnamesTaken(place: String, names: [HostName])
    /// Sharers must allow the same sources: one frontend checks them before routing.
    case sourceRangesDiffer(place: String, holder: ServiceKey)
    /// nginx routes a shared layer-4 port only as TLS passthrough (SNI from the ClientHello).
    case sharedStreamNotPassthrough(place: String)
    /// An HTTPS Gateway listener none of whose certificate Secrets is usable on this node.
    case noCertificate(place: String)
    /// The engine has no proxy for this protocol.
    case protocolNotProxied(place: String, proto: TransportProtocol, engine: ProxyBackend)

    package var description: String {
        switch self {
        case .proxiedDifferently(let place, let first, let needs):
            "\(place) is shared by host name and proxied as \(Self.describe(first)) there; this Service needs \(Self.describe(needs))"
        case .secondFallback(let place, let holder):
            "\(place) already has a Service for names no other sharer answers (\(holder))"
        case .hostnamesTaken(let place, let names):
            "host name(s) \(names.map(\.rawValue).sorted().joined(separator: ", ")) on \(place) are already routed to another Service"
        case .sourceRangesDiffer(let place, let holder):
            "\(place) is shared by host name with \(holder), whose loadBalancerSourceRanges differ; sharers of a port must allow the same sources"
        case .sharedStreamNotPassthrough(let place):
            "\(place) is shared by host name; nginx routes shared stream ports only as TLS passthrough"
        case .noCertificate(let place):
            "HTTPS listener \(place) is not served: none of its certificate Secrets is usable on this node (missing, not kubernetes.io/tls, or not readable: Secrets outside k8slb-system need the actor's --tls-secrets service-namespace)"
        case .protocolNotProxied(let place, let proto, let engine):
            "\(proto.rawValue) port \(place) is not proxied: \(engine == .haproxy ? "HAProxy" : "nginx") has no \(proto.rawValue) proxy (the nginx backend proxies UDP; kube-proxy mode serves every protocol)"
        }
    }

    private static func describe(_ p: PortPolicy) -> String {
        (p.terminateTLS ? "terminated TLS" : "no TLS termination") + (p.http ? ", HTTP" : ", TCP")
    }
}

extension ProxyBackend {
    /// Proxies UDP (nginx's stream module).
    var proxiesUDP: Bool { self == .nginx }
    /// Sends a PROXY protocol header from an HTTP proxy (nginx can only at layer 4).
    var proxyProtocolOverHTTP: Bool { self == .haproxy }
    /// Routes a shared layer-4 port only by the ClientHello's SNI, without terminating TLS.
    var sharesStreamPortsOnlyAsPassthrough: Bool { self == .nginx }
}
