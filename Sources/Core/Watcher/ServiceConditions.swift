/// The conditions k8slb writes into a LoadBalancer Service's `status.conditions` (its own types,
/// domain-prefixed, merged by type: other controllers' conditions stay). Reasons use Gateway API's
/// words where they fit (`AddressNotAssigned`, `AddressNotUsable`, `UnsupportedAddress`).
package enum ServiceConditions {
    /// Whether the Service has its IP(s).
    package static let ipAllocated = "k8slb.io/IPAllocated"
    /// Whether an LB node holds each of its IPs (from the nodes' records), and which.
    package static let serving = "k8slb.io/Serving"

    /// One condition's content (the watcher adds the transition time and the generation).
    package struct Value: Sendable, Hashable {
        package var type: String
        package var status: Bool
        package var reason: String
        package var message: String
    }

    /// `IPAllocated=True` with the addresses.
    package static func allocated(_ assigned: [AddressAssignment]) -> Value {
        Value(
            type: ipAllocated, status: true, reason: "IPAllocated",
            message: "Assigned " + assigned.map { "\($0.address) from pool \($0.pool)" }.joined(separator: ", "))
    }

    /// `IPAllocated=False` for an allocation failure.
    package static func notAllocated(_ error: AllocationError) -> Value {
        Value(type: ipAllocated, status: false, reason: reason(error), message: error.description)
    }

    /// `IPAllocated=False` before any config is loaded.
    package static func noConfig(_ where: String) -> Value {
        Value(
            type: ipAllocated, status: false, reason: "AddressNotAssigned",
            message: "no k8slb config loaded yet (\(`where`))")
    }

    /// `Serving` for a Service's VIPs and the nodes holding each (VRRP: one is right; BGP: every
    /// node that can serve it announces it). True when every VIP has a holder; False (`Pending`,
    /// Gateway API's word for "not yet programmed") while one has none. A VRRP VIP on two nodes
    /// stays True (it is served) with reason `VIPOnTwoNodes`.
    package static func serving(_ vips: [IPAddress], holders: [IPAddress: [String]], bgp: Bool) -> Value {
        let parts = vips.sorted().map { vip -> String in
            let nodes = (holders[vip] ?? []).sorted()
            if nodes.isEmpty { return "\(vip) on no LB node" }
            return "\(vip) " + (bgp ? "announced by " : "on ") + nodes.joined(separator: ", ")
        }
        let message = parts.joined(separator: "; ")
        if vips.contains(where: { (holders[$0] ?? []).isEmpty }) {
            return Value(type: serving, status: false, reason: "Pending", message: message)
        }
        if !bgp, vips.contains(where: { (holders[$0] ?? []).count > 1 }) {
            return Value(type: serving, status: true, reason: "VIPOnTwoNodes", message: message)
        }
        return Value(type: serving, status: true, reason: "Serving", message: message)
    }

    /// Gateway API's reason for an allocation failure: no address could be found for the request
    /// (`AddressNotAssigned`), the address asked for cannot be used (`AddressNotUsable`), or the
    /// request names a pool or family k8slb does not serve (`UnsupportedAddress`).
    package static func reason(_ error: AllocationError) -> String {
        switch error {
        case .poolExhausted: "AddressNotAssigned"
        case .outsideNetwork, .reservedAddress, .nodeAddress, .addressInUse, .portConflict, .hostnameConflict:
            "AddressNotUsable"
        case .unknownPool, .noPoolForFamily, .duplicateFamily: "UnsupportedAddress"
        }
    }
}
