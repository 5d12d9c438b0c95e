/// One EndpointSlice as the actor reads it: already parsed (addresses are typed, never text).
package struct EndpointSliceInput: Sendable, Hashable {
    package struct Port: Sendable, Hashable {
        /// The Service port's name ("" or nil for a Service with one unnamed port).
        package var name: String?
        package var proto: TransportProtocol
        /// The resolved target port (a named targetPort is resolved per pod by Kubernetes).
        package var port: UInt16
        package init(name: String?, proto: TransportProtocol, port: UInt16) {
            self.name = name
            self.proto = proto
            self.port = port
        }
    }

    package struct Endpoint: Sendable, Hashable {
        package var addresses: [IPAddress]
        package var ready: Bool
        /// The node the endpoint runs on (externalTrafficPolicy Local in kubeproxy mode).
        package var nodeName: String?
        package init(addresses: [IPAddress], ready: Bool, nodeName: String? = nil) {
            self.addresses = addresses
            self.ready = ready
            self.nodeName = nodeName
        }
    }

    package var service: ServiceKey
    package var ports: [Port]
    package var endpoints: [Endpoint]

    package init(service: ServiceKey, ports: [Port], endpoints: [Endpoint]) {
        self.service = service
        self.ports = ports
        self.endpoints = endpoints
    }
}

/// A cluster Node as a NodePort backend (pools with `"backends": "nodeports"`).
package struct BackendNode: Sendable, Hashable {
    package var name: String
    /// Its InternalIPs.
    package var addresses: [IPAddress]
    /// The Ready condition is True.
    package var ready: Bool
    /// Labelled node.kubernetes.io/exclude-from-external-load-balancers.
    package var excluded: Bool

    package init(name: String, addresses: [IPAddress], ready: Bool, excluded: Bool) {
        self.name = name
        self.addresses = addresses
        self.ready = ready
        self.excluded = excluded
    }
}

extension EndpointMap {
    /// The ready endpoints of every Service port in `document`. A Service port matches a slice
    /// port by name and protocol (EndpointSlices name their ports after the Service's ports and
    /// carry the resolved target port, so named targetPorts come out right; each slice may give a
    /// different number for the same name). Not-ready and terminating endpoints are left out.
    ///
    /// Pools with `"backends": "nodeports"` (`nodePortPools`) get the ready, not excluded Nodes at
    /// each port's `nodePort` instead (an InternalIP of the VIP's family first), and for
    /// externalTrafficPolicy Local the Service's `healthCheckNodePort` to check them on.
    package static func resolve(
        _ document: AssignmentDocument, slices: [ServiceKey: [EndpointSliceInput]],
        nodes: [BackendNode] = [], nodePortPools: Set<PoolName> = []
    ) -> EndpointMap {
        var out: [Key: [EndpointAddress]] = [:]
        var health: [Key: UInt16] = [:]
        var local: [ServiceKey: Set<String>] = [:]
        let usable = nodes.filter { $0.ready && !$0.excluded }.sorted { $0.name < $1.name }
        for vip in document.vips {
            for entry in vip.services {
                if nodePortPools.contains(vip.pool) {
                    for port in entry.ports {
                        let key = Key(service: entry.key, port: port.port, proto: port.proto)
                        guard out[key] == nil else { continue }
                        guard let nodePort = port.nodePort else {
                            out[key] = []
                            continue
                        }
                        var found = Set<EndpointAddress>()
                        for node in usable {
                            guard
                                let a = node.addresses.first(where: { $0.family == vip.family }) ?? node.addresses.first
                            else { continue }
                            found.insert(EndpointAddress(address: a, port: nodePort))
                        }
                        out[key] = found.sorted()
                        if entry.localTraffic, let hc = entry.healthCheckNodePort { health[key] = hc }
                    }
                    continue
                }
                if let gateway = entry.gateway {
                    // A Gateway's routes name Service ports of their own.
                    for b in gateway.backends {
                        let key = Key(service: b.service, port: b.port.port, proto: b.port.proto)
                        if out[key] == nil { out[key] = Self.ready(b.port, slices[b.service] ?? []) }
                    }
                    continue
                }
                guard let list = slices[entry.key] else { continue }
                if local[entry.key] == nil {
                    local[entry.key] = Set(list.flatMap { $0.endpoints.filter(\.ready).compactMap(\.nodeName) })
                }
                for port in entry.ports {
                    let key = Key(service: entry.key, port: port.port, proto: port.proto)
                    if out[key] != nil { continue }
                    out[key] = Self.ready(port, list)
                }
            }
        }
        var map = EndpointMap(out)
        map.healthPorts = health
        map.localNodes = local
        return map
    }

    /// The ready endpoints of a Service port in its slices: matched by port name and protocol.
    static func ready(_ port: AssignmentDocument.Port, _ slices: [EndpointSliceInput]) -> [EndpointAddress] {
        var found = Set<EndpointAddress>()
        for slice in slices {
            guard
                let match = slice.ports.first(where: { $0.proto == port.proto && ($0.name ?? "") == (port.name ?? "") })
            else { continue }
            for ep in slice.endpoints where ep.ready {
                for a in ep.addresses { found.insert(EndpointAddress(address: a, port: match.port)) }
            }
        }
        return found.sorted()
    }
}
