/// How one Service port is proxied, resolved from the original's rules (docs/architecture.md, "Compatibility"):
/// - TLS termination: `loadbalancer/ssl: "true"`, or port 443, or a port name starting `https`;
///   `"false"` turns it off.
/// - Mode: `loadbalancer/mode: http` or `false`/`tcp`; otherwise HTTP when TLS is terminated or the
///   port name starts with `http`, else TCP.
/// - Redirect: with TLS terminated, port 80 of the same VIP redirects to HTTPS unless
///   `loadbalancer/sslredirect: "false"` or the Service uses port 80 itself.
package struct PortPolicy: Sendable, Hashable {
    package var terminateTLS: Bool
    package var http: Bool
    package var tlsToBackend: Bool
    package var healthCheck: Bool

    package static func resolve(_ entry: AssignmentDocument.ServiceEntry, _ port: AssignmentDocument.Port) -> PortPolicy
    {
        let name = port.name ?? ""
        let tls: Bool =
            switch entry.ssl {
            case .on: true
            case .off: false
            case .auto: port.port == 443 || name.hasPrefix("https")
            }
        let http: Bool =
            switch entry.mode {
            case .http: true
            case .tcp: false
            case .auto: tls || name.hasPrefix("http")
            }
        return PortPolicy(
            terminateTLS: tls && port.proto == .tcp, http: http && port.proto == .tcp,
            tlsToBackend: entry.sslBackend == .on, healthCheck: !entry.noCheck)
    }
}

/// A ready endpoint of a Service port, resolved by the actor from EndpointSlices (named
/// targetPorts included).
package struct EndpointAddress: Sendable, Hashable, Comparable {
    package let address: IPAddress
    package let port: UInt16

    package init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    package static func < (a: EndpointAddress, b: EndpointAddress) -> Bool { (a.address, a.port) < (b.address, b.port) }

    /// The HAProxy server name: derived from the address only (never from user text).
    package var serverName: String { "ep_" + address.identifier + "_" + String(port) }
}

extension Array where Element == EndpointAddress {
    /// In ascending order already.
    var isSorted: Bool { indices.dropFirst().allSatisfy { self[$0 - 1] <= self[$0] } }
}

/// Which endpoints serve which Service port.
package struct EndpointMap: Sendable, Hashable {
    package struct Key: Sendable, Hashable {
        package let service: ServiceKey
        package let port: UInt16
        package let proto: TransportProtocol
        package init(service: ServiceKey, port: UInt16, proto: TransportProtocol) {
            self.service = service
            self.port = port
            self.proto = proto
        }
    }

    package var endpoints: [Key: [EndpointAddress]] = [:]
    /// NodePort backends of externalTrafficPolicy Local Services: the port to check nodes on
    /// (kube-proxy's `healthCheckNodePort`, `/healthz`).
    package var healthPorts: [Key: UInt16] = [:]
    /// The nodes running a ready endpoint of each Service (EndpointSlice `nodeName`).
    package var localNodes: [ServiceKey: Set<String>] = [:]

    package init(_ endpoints: [Key: [EndpointAddress]] = [:]) { self.endpoints = endpoints }

    package func ready(_ service: ServiceKey, _ port: AssignmentDocument.Port) -> [EndpointAddress] {
        let found = endpoints[Key(service: service, port: port.port, proto: port.proto)] ?? []
        // Mostly sorted already (EndpointResolution sorts): then shared, not copied.
        return found.isSorted ? found : found.sorted()
    }

    /// The node health check port for a NodePort backend of an ETP Local Service, else nil.
    package func healthCheckPort(_ service: ServiceKey, _ port: AssignmentDocument.Port) -> UInt16? {
        // Empty unless NodePort backends are on: no hashing of 20,000 keys at 10,000 Services.
        healthPorts.isEmpty ? nil : healthPorts[Key(service: service, port: port.port, proto: port.proto)]
    }
}

extension IPAddress {
    /// `a.b.c.d:port` or `[v6]:port`.
    package func withPort(_ port: UInt16) -> String {
        family == .ipv6 ? "[" + description + "]:" + String(port) : description + ":" + String(port)
    }

    /// A token safe in config identifiers: digits and letters, '_' for separators.
    var identifier: String {
        let text = description
        return String(unsafeUninitializedCapacity: text.utf8.count) { buffer in
            var i = 0
            for b in text.utf8 {
                buffer[i] = b.isASCIIAlphanumeric ? b : UInt8(ascii: "_")
                i += 1
            }
            return i
        }
    }
}
