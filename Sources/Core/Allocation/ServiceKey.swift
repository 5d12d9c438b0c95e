/// A Service's identity: `namespace/name`.
package struct ServiceKey: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    package let namespace: String
    package let name: String

    package init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    package var description: String { "\(namespace)/\(name)" }

    package static func < (a: ServiceKey, b: ServiceKey) -> Bool {
        (a.namespace, a.name) < (b.namespace, b.name)
    }
}

/// A transport protocol of a Service port.
package enum TransportProtocol: String, Sendable, Hashable, Comparable, Codable, CaseIterable {
    case tcp = "TCP"
    case udp = "UDP"
    case sctp = "SCTP"

    package static func < (a: TransportProtocol, b: TransportProtocol) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A port a Service listens on at its external IP: what two sharers must not both use.
package struct PortKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let proto: TransportProtocol
    package let port: UInt16

    package init(_ proto: TransportProtocol, _ port: UInt16) {
        self.proto = proto
        self.port = port
    }

    package var description: String { "\(port)/\(proto.rawValue)" }

    package static func < (a: PortKey, b: PortKey) -> Bool { (a.port, a.proto) < (b.port, b.proto) }
}

/// The Service's `spec.ipFamilyPolicy`.
package enum IPFamilyPolicy: String, Sendable, Hashable, Codable {
    case singleStack = "SingleStack"
    case preferDualStack = "PreferDualStack"
    case requireDualStack = "RequireDualStack"
}
