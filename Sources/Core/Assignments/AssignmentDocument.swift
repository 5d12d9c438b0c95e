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
            VIP(
                address: address, pool: pool, services: services.map(\.normalized).sorted { $0.key < $1.key },
                vrid: vrid)
        }
    }

    /// One Service on a VIP: its ports, the proxy settings from its annotations (`proxy`, whose
    /// fields read as the entry's own: `entry.ssl`) and what its spec says about traffic.
    @dynamicMemberLookup
    package struct ServiceEntry: Sendable, Hashable {
        package var key: ServiceKey
        package var ports: [Port]
        /// From the `loadbalancer/*` annotations.
        package var proxy = ProxySettings()
        /// `spec.loadBalancerSourceRanges`; empty means everyone.
        package var sourceRanges: [IPNetwork] = []
        /// `sessionAffinity: ClientIP`: stickiness timeout in seconds (nil: none).
        package var affinitySeconds: Int?
        /// `externalTrafficPolicy: Local`.
        package var localTraffic: Bool = false
        /// `spec.healthCheckNodePort` (ETP Local; NodePort backends probe it).
        package var healthCheckNodePort: UInt16?
        /// A Gateway's listeners and compiled routes (its key is `ServiceKey.gateway`); nil for a
        /// Service.
        package var gateway: GatewayEntry?

        package init(key: ServiceKey, ports: [Port]) {
            self.key = key
            self.ports = ports
        }

        package subscript<T>(dynamicMember path: WritableKeyPath<ProxySettings, T>) -> T {
            get { proxy[keyPath: path] }
            set { proxy[keyPath: path] = newValue }
        }

        var normalized: ServiceEntry {
            var copy = self
            copy.ports.sort { ($0.port, $0.proto) < ($1.port, $1.proto) }
            copy.sourceRanges.sort { ($0.address, $0.prefixLength) < ($1.address, $1.prefixLength) }
            copy.proxy.hostnames.sort { $0.rawValue < $1.rawValue }
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

        package init(
            name: String? = nil, proto: TransportProtocol = .tcp, port: UInt16, targetPort: TargetPort,
            nodePort: UInt16? = nil
        ) {
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
    enum CodingKeys: String, CodingKey {
        case version = "v"
        case vips, nodes, groups
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard version <= Self.formatVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .version, in: c,
                debugDescription:
                    "assignment format \(version) is newer than this build understands (\(Self.formatVersion))")
        }
        self.init(
            vips: try c.decode([VIP].self, forKey: .vips),
            nodes: try c.decodeIfPresent([String].self, forKey: .nodes) ?? [],
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
    enum CodingKeys: String, CodingKey {
        case address = "ip"
        case pool
        case services = "svc"
        case vrid
    }
}

extension AssignmentDocument.ServiceEntry: Codable {
    /// The spec-derived keys; the annotation-derived ones are `ProxySettings.documentFields`.
    enum CodingKeys: String, CodingKey {
        case namespace = "ns"
        case name = "n"
        case ports = "p"
        case sourceRanges = "src"
        case affinitySeconds = "af"
        case localTraffic = "lt"
        case healthCheckNodePort = "hc"
        case gateway = "gw"
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            key: ServiceKey(
                namespace: try c.decode(String.self, forKey: .namespace),
                name: try c.decode(String.self, forKey: .name)),
            ports: try c.decode([AssignmentDocument.Port].self, forKey: .ports))
        proxy = try ProxySettings(from: decoder.container(keyedBy: WireKey.self))
        let ranges = try c.decodeIfPresent([String].self, forKey: .sourceRanges) ?? []
        for text in ranges {
            do { sourceRanges.append(try IPNetwork(parsing: text)) } catch {
                throw DecodingError.dataCorruptedError(
                    forKey: .sourceRanges, in: c, debugDescription: error.description)
            }
        }
        affinitySeconds = try c.decodeIfPresent(Int.self, forKey: .affinitySeconds)
        localTraffic = try c.decodeIfPresent(Bool.self, forKey: .localTraffic) ?? false
        healthCheckNodePort = try c.decodeIfPresent(UInt16.self, forKey: .healthCheckNodePort)
        gateway = try c.decodeIfPresent(GatewayEntry.self, forKey: .gateway)
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key.namespace, forKey: .namespace)
        try c.encode(key.name, forKey: .name)
        try c.encode(ports, forKey: .ports)
        var wire = encoder.container(keyedBy: WireKey.self)
        try proxy.encode(to: &wire)
        if !sourceRanges.isEmpty { try c.encode(sourceRanges.map(\.description), forKey: .sourceRanges) }
        try c.encodeIfPresent(affinitySeconds, forKey: .affinitySeconds)
        if localTraffic { try c.encode(true, forKey: .localTraffic) }
        try c.encodeIfPresent(healthCheckNodePort, forKey: .healthCheckNodePort)
        try c.encodeIfPresent(gateway, forKey: .gateway)
    }
}

extension AssignmentDocument.Port: Codable {
    enum CodingKeys: String, CodingKey {
        case name = "n"
        case proto = "pr"
        case port = "p"
        case targetPort = "t"
        case nodePort = "np"
    }

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
