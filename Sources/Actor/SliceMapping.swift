import Core
import KubeClient

/// EndpointSlice (API model) → `EndpointSliceInput` (typed): addresses parsed, FQDN slices and
/// ports without a number skipped, `ready` unset read as ready (the API's own rule).
enum SliceMapping {
    static func input(_ slice: EndpointSlice, service: ServiceKey) -> EndpointSliceInput? {
        guard slice.addressType != "FQDN" else { return nil }
        var ports: [EndpointSliceInput.Port] = []
        for p in slice.ports ?? [] {
            guard let number = p.port, let port = UInt16(exactly: number), port > 0 else { continue }
            let proto = TransportProtocol(rawValue: p.protocol ?? "TCP") ?? .tcp
            ports.append(.init(name: p.name, proto: proto, port: port))
        }
        var endpoints: [EndpointSliceInput.Endpoint] = []
        for ep in slice.endpoints ?? [] {
            let addresses = ep.addresses.compactMap { try? IPAddress(parsing: $0) }
            let ready = (ep.conditions?.ready ?? true) && !(ep.conditions?.terminating ?? false)
            endpoints.append(.init(addresses: addresses, ready: ready, nodeName: ep.nodeName))
        }
        return EndpointSliceInput(service: service, ports: ports, endpoints: endpoints)
    }
}
