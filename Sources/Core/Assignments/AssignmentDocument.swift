import Foundation

/// What the watcher publishes and every actor reads: all VIPs with the Services behind them.
///
/// Deterministic: VIPs sorted by address, Services by key, ports by (port, protocol); encoding
/// uses sorted keys, so equal documents give byte-identical JSON. Compact: short keys, defaults
/// omitted. Past one ConfigMap's size it shards (see `AssignmentShards`).
package struct AssignmentDocument: Sendable, Hashable {
    /// The format version; actors refuse a document with a higher major version.
    package static let formatVersion = 1

    package var vips: [VIP]
    /// The LB nodes (names, sorted): the VRRP peer set.
    package var nodes: [String]
    /// VRRP groups (see `VRRPPlan`); each VIP names its group by `vrid` within its family.
    package var groups: [VRRPPlan.Group]

    package init(vips: [VIP], nodes: [String] = [], groups: [VRRPPlan.Group] = []) {
        self.vips = vips.map(\.normalized).sorted { $0.address < $1.address }
        self.nodes = nodes.sorted()
        self.groups = groups.sorted()
    }

    /// One external address and the Services it carries.
    package struct VIP: Sendable, Hashable {
        package var address: IPAddress
        package var pool: PoolName
        package var services: [ServiceEntry]
        /// The VRRP group (virtual router id within the family); nil without LB nodes.
        package var vrid: Int?

        package var family: IPFamily { address.family }

        package init(address: IPAddress, pool: PoolName, services: [ServiceEntry], vrid: Int? = nil) {
            self.address = address
            self.pool = pool
            self.services = services
            self.vrid = vrid
        }

        var normalized: VIP {
            VIP(address: address, pool: pool, services: services.map(\.normalized).sorted { $0.key < $1.key }, vrid: vrid)
        }
    }

    /// One Service on a VIP: its ports and the proxy settings from its annotations.
    package struct ServiceEntry: Sendable, Hashable {
        package var key: ServiceKey
        package var ports: [Port]
        package var ssl: Toggle = .auto
        package var mode: ProxyMode = .auto
        package var sslBackend: Toggle = .auto
        package var sslRedirect: Bool = true
        package var noCheck: Bool = false
        /// `spec.loadBalancerSourceRanges`; empty means everyone.
        package var sourceRanges: [IPNetwork] = []
        /// `loadbalancer/proxy-protocol`: PROXY header towards the pods.
        package var proxyProtocol: ProxyProtocolVersion?
        /// `loadbalancer/forwarded-headers` (HTTP mode; default on).
        package var forwardedHeaders: Bool = true
        /// `loadbalancer/tls-secret`: terminates TLS with this Secret instead of the pool's bundle.
        package var tlsSecret: ResourceName?
        /// `loadbalancer/hostnames`: names routed to this Service on a shared VIP:port (sorted).
        package var hostnames: [HostName] = []
        /// `sessionAffinity: ClientIP`: stickiness timeout in seconds (nil: none).
        package var affinitySeconds: Int?
        /// `externalTrafficPolicy: Local`.
        package var localTraffic: Bool = false
        /// `spec.healthCheckNodePort` (ETP Local; NodePort backends probe it).
        package var healthCheckNodePort: UInt16?

        package init(key: ServiceKey, ports: [Port]) {
            self.key = key
            self.ports = ports
        }

        var normalized: ServiceEntry {
            var copy = self
            copy.ports.sort { ($0.port, $0.proto) < ($1.port, $1.proto) }
            copy.sourceRanges.sort { ($0.address, $0.prefixLength) < ($1.address, $1.prefixLength) }
            copy.hostnames.sort { $0.rawValue < $1.rawValue }
            return copy
        }
    }

    /// A Service port.
    package struct Port: Sendable, Hashable {
        package var name: String?
        package var proto: TransportProtocol
        package var port: UInt16
        package var targetPort: TargetPort
        package var nodePort: UInt16?

        package init(name: String? = nil, proto: TransportProtocol = .tcp, port: UInt16, targetPort: TargetPort, nodePort: UInt16? = nil) {
            self.name = name
            self.proto = proto
            self.port = port
            self.targetPort = targetPort
            self.nodePort = nodePort
        }
    }

    /// A Service's `targetPort`: a number, or a container port name resolved by the actor.
    package enum TargetPort: Sendable, Hashable {
        case number(UInt16)
        case name(String)
    }
}

// MARK: - Codable (compact, stable keys)

extension AssignmentDocument: Codable {
    enum CodingKeys: String, CodingKey { case version = "v", vips, nodes, groups }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard version <= Self.formatVersion else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: c,
                debugDescription: "assignment format \(version) is newer than this build understands (\(Self.formatVersion))")
        }
        self.init(vips: try c.decode([VIP].self, forKey: .vips), nodes: try c.decodeIfPresent([String].self, forKey: .nodes) ?? [],
                  groups: try c.decodeIfPresent([VRRPPlan.Group].self, forKey: .groups) ?? [])
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatVersion, forKey: .version)
        try c.encode(vips, forKey: .vips)
        if !nodes.isEmpty { try c.encode(nodes, forKey: .nodes) }
        if !groups.isEmpty { try c.encode(groups, forKey: .groups) }
    }
}

extension AssignmentDocument.VIP: Codable {
    enum CodingKeys: String, CodingKey { case address = "ip", pool, services = "svc", vrid }
}

extension AssignmentDocument.ServiceEntry: Codable {
    enum CodingKeys: String, CodingKey {
        case namespace = "ns", name = "n", ports = "p", ssl, mode, sslBackend = "sb", sslRedirect = "sr",
             noCheck = "nc", sourceRanges = "src", proxyProtocol = "pp", forwardedHeaders = "fh", tlsSecret = "ts",
             hostnames = "hn", affinitySeconds = "af", localTraffic = "lt", healthCheckNodePort = "hc"
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(key: ServiceKey(namespace: try c.decode(String.self, forKey: .namespace),
                                  name: try c.decode(String.self, forKey: .name)),
                  ports: try c.decode([AssignmentDocument.Port].self, forKey: .ports))
        ssl = try c.decodeIfPresent(Toggle.self, forKey: .ssl) ?? .auto
        mode = try c.decodeIfPresent(ProxyMode.self, forKey: .mode) ?? .auto
        sslBackend = try c.decodeIfPresent(Toggle.self, forKey: .sslBackend) ?? .auto
        sslRedirect = try c.decodeIfPresent(Bool.self, forKey: .sslRedirect) ?? true
        noCheck = try c.decodeIfPresent(Bool.self, forKey: .noCheck) ?? false
        let ranges = try c.decodeIfPresent([String].self, forKey: .sourceRanges) ?? []
        for text in ranges {
            do { sourceRanges.append(try IPNetwork(parsing: text)) } catch {
                throw DecodingError.dataCorruptedError(forKey: .sourceRanges, in: c, debugDescription: error.description)
            }
        }
        proxyProtocol = try c.decodeIfPresent(ProxyProtocolVersion.self, forKey: .proxyProtocol)
        forwardedHeaders = try c.decodeIfPresent(Bool.self, forKey: .forwardedHeaders) ?? true
        tlsSecret = try c.decodeIfPresent(ResourceName.self, forKey: .tlsSecret)
        for text in try c.decodeIfPresent([String].self, forKey: .hostnames) ?? [] {
            do { hostnames.append(try HostName(parsing: text)) } catch {
                throw DecodingError.dataCorruptedError(forKey: .hostnames, in: c, debugDescription: error.description)
            }
        }
        affinitySeconds = try c.decodeIfPresent(Int.self, forKey: .affinitySeconds)
        localTraffic = try c.decodeIfPresent(Bool.self, forKey: .localTraffic) ?? false
        healthCheckNodePort = try c.decodeIfPresent(UInt16.self, forKey: .healthCheckNodePort)
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key.namespace, forKey: .namespace)
        try c.encode(key.name, forKey: .name)
        try c.encode(ports, forKey: .ports)
        if ssl != .auto { try c.encode(ssl, forKey: .ssl) }
        if mode != .auto { try c.encode(mode, forKey: .mode) }
        if sslBackend != .auto { try c.encode(sslBackend, forKey: .sslBackend) }
        if !sslRedirect { try c.encode(false, forKey: .sslRedirect) }
        if noCheck { try c.encode(true, forKey: .noCheck) }
        if !sourceRanges.isEmpty { try c.encode(sourceRanges.map(\.description), forKey: .sourceRanges) }
        try c.encodeIfPresent(proxyProtocol, forKey: .proxyProtocol)
        if !forwardedHeaders { try c.encode(false, forKey: .forwardedHeaders) }
        try c.encodeIfPresent(tlsSecret, forKey: .tlsSecret)
        if !hostnames.isEmpty { try c.encode(hostnames.map(\.rawValue), forKey: .hostnames) }
        try c.encodeIfPresent(affinitySeconds, forKey: .affinitySeconds)
        if localTraffic { try c.encode(true, forKey: .localTraffic) }
        try c.encodeIfPresent(healthCheckNodePort, forKey: .healthCheckNodePort)
    }
}

extension AssignmentDocument.Port: Codable {
    enum CodingKeys: String, CodingKey { case name = "n", proto = "pr", port = "p", targetPort = "t", nodePort = "np" }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        proto = try c.decodeIfPresent(TransportProtocol.self, forKey: .proto) ?? .tcp
        port = try c.decode(UInt16.self, forKey: .port)
        if let n = try? c.decode(UInt16.self, forKey: .targetPort) {
            targetPort = .number(n)
        } else {
            targetPort = .name(try c.decode(String.self, forKey: .targetPort))
        }
        nodePort = try c.decodeIfPresent(UInt16.self, forKey: .nodePort)
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        if proto != .tcp { try c.encode(proto, forKey: .proto) }
        try c.encode(port, forKey: .port)
        switch targetPort {
        case .number(let n): try c.encode(n, forKey: .targetPort)
        case .name(let s): try c.encode(s, forKey: .targetPort)
        }
        try c.encodeIfPresent(nodePort, forKey: .nodePort)
    }
}
