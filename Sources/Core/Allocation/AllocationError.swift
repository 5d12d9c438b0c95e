/// Why a Service could not get (or keep) an address. Each case is a user-facing cause; the
/// watcher puts `description` into the `AllocationFailed` Event.
package enum AllocationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The Service names a pool that does not exist.
    case unknownPool(PoolName)
    /// No free address is left in the pool's range.
    case poolExhausted(PoolName)
    /// A static address lies outside the pool's network.
    case outsideNetwork(IPAddress, pool: PoolName)
    /// A static address is the network's subnet or broadcast address.
    case reservedAddress(IPAddress, pool: PoolName)
    /// The address is a Node's (InternalIP or ExternalIP): a VIP there would take the node's traffic.
    case nodeAddress(IPAddress, node: String)
    /// The address is held by Services this one may not share with.
    case addressInUse(IPAddress, by: [ServiceKey])
    /// The address is shareable, but a holder already uses some of the same ports.
    case portConflict(IPAddress, with: ServiceKey, ports: [PortKey])
    /// The address and port are shared by name, and a holder already answers one of these names.
    case hostnameConflict(IPAddress, with: ServiceKey, hostnames: [String])
    /// No listed pool serves this family (RequireDualStack, or a static address of another family).
    case noPoolForFamily(IPFamily, pools: [PoolName])
    /// Two pools of the same family were listed for one Service.
    case duplicateFamily(IPFamily, pools: [PoolName])

    package var description: String {
        switch self {
        case .unknownPool(let p):
            "pool \"\(p)\" does not exist"
        case .poolExhausted(let p):
            "pool \"\(p)\" is exhausted: no free address in its range"
        case .outsideNetwork(let a, let p):
            "static IP \(a) is outside pool \"\(p)\""
        case .reservedAddress(let a, let p):
            "static IP \(a) is the network or broadcast address of pool \"\(p)\""
        case .nodeAddress(let a, let node):
            "IP \(a) is an address of Node \(node); a VIP there would take the node's own traffic"
        case .addressInUse(let a, let by):
            "IP \(a) is taken by \(by.map(\.description).joined(separator: ", "))"
        case .portConflict(let a, let with, let ports):
            "IP \(a) is shared with \(with), which already uses port(s) \(ports.map(\.description).joined(separator: ", "))"
        case .hostnameConflict(let a, let with, let names):
            "IP \(a) is shared by host name with \(with), which already answers \(names.joined(separator: ", ")); this Service is not routed there"
        case .noPoolForFamily(let f, let pools):
            "no \(f) pool among \(pools.map { "\"\($0)\"" }.joined(separator: ", "))"
        case .duplicateFamily(let f, let pools):
            "pools \(pools.map { "\"\($0)\"" }.joined(separator: ", ")) are both \(f); list one pool per family"
        }
    }

    /// A short machine-readable reason (metric label, Event reason detail).
    package var reason: String {
        switch self {
        case .unknownPool: "UnknownPool"
        case .poolExhausted: "PoolExhausted"
        case .outsideNetwork: "OutsidePool"
        case .reservedAddress: "ReservedAddress"
        case .nodeAddress: "NodeAddress"
        case .addressInUse: "AddressInUse"
        case .portConflict: "PortConflict"
        case .hostnameConflict: "HostnameConflict"
        case .noPoolForFamily: "NoPoolForFamily"
        case .duplicateFamily: "DuplicateFamily"
        }
    }
}
