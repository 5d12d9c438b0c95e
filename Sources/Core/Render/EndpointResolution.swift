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
        package init(addresses: [IPAddress], ready: Bool) {
            self.addresses = addresses
            self.ready = ready
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

extension EndpointMap {
    /// The ready endpoints of every Service port in `document`. A Service port matches a slice
    /// port by name and protocol (EndpointSlices name their ports after the Service's ports and
    /// carry the resolved target port, so named targetPorts come out right; each slice may give a
    /// different number for the same name). Not-ready and terminating endpoints are left out.
    package static func resolve(_ document: AssignmentDocument, slices: [ServiceKey: [EndpointSliceInput]]) -> EndpointMap {
        var out: [Key: [EndpointAddress]] = [:]
        for vip in document.vips {
            for entry in vip.services {
                guard let list = slices[entry.key] else { continue }
                for port in entry.ports {
                    let key = Key(service: entry.key, port: port.port, proto: port.proto)
                    if out[key] != nil { continue }
                    var found = Set<EndpointAddress>()
                    for slice in list {
                        guard let match = slice.ports.first(where: { $0.proto == port.proto && ($0.name ?? "") == (port.name ?? "") }) else { continue }
                        for ep in slice.endpoints where ep.ready {
                            for a in ep.addresses { found.insert(EndpointAddress(address: a, port: match.port)) }
                        }
                    }
                    out[key] = found.sorted()
                }
            }
        }
        return EndpointMap(out)
    }
}
