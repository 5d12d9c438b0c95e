/// A validated IP pool: every address in `network` may be asked for statically, addresses of
/// `range` are handed out dynamically (lowest free first).
package struct Pool: Sendable, Hashable {
    package let name: PoolName
    /// All valid addresses of the pool (static and dynamic).
    package let network: IPRange
    /// The dynamic part, inside `network`.
    package let range: IPRange
    /// The interface to bind on; nil means the actor picks the one whose route covers the pool.
    package let interface: InterfaceName?
    /// Whether keepalived floats the pool's VIPs between LB nodes (our key `ha`, default true).
    package let highAvailability: Bool
    /// Where the proxy sends the pool's traffic (our key `backends`, default `pods`).
    package let backends: PoolBackends
    /// VRRP (default) or BGP (our key `announce`).
    package var announce: Announcement = .vrrp
    /// BGP communities on the pool's announcements (`communities`).
    package var communities: [BGPCommunity] = []
    /// BGP LOCAL_PREF on the pool's announcements (`localPref`; iBGP peers use it).
    package var localPreference: UInt32?

    /// The pool's address family (network and range agree).
    package var family: IPFamily { network.family }

    package init(
        name: PoolName, network: IPRange, range: IPRange, interface: InterfaceName? = nil,
        highAvailability: Bool = true, backends: PoolBackends = .pods
    ) {
        self.name = name
        self.network = network
        self.range = range
        self.interface = interface
        self.highAvailability = highAvailability
        self.backends = backends
    }

    /// Addresses never handed out: when `network` is a CIDR block, its subnet address (and for
    /// IPv4 its broadcast address), which routers and hosts treat specially.
    package var reservedAddresses: [IPAddress] {
        guard let cidr = network.asNetwork else { return [] }
        switch family {
        case .ipv4 where cidr.prefixLength <= 30:
            return [network.start, network.end]
        case .ipv6 where cidr.prefixLength <= 126:
            return [network.start]
        default:
            return []
        }
    }

    /// True when `address` may be assigned from this pool.
    package func admits(_ address: IPAddress) -> Bool {
        network.contains(address) && !reservedAddresses.contains(address)
    }

    /// How many addresses the pool can hand out dynamically (range minus reserved addresses).
    package var dynamicSize: UInt128 {
        let reservedInRange = reservedAddresses.filter { range.contains($0) }.count
        return (range.count ?? UInt128.max) - UInt128(reservedInRange)
    }
}

/// Where a pool's traffic goes from the proxy.
package enum PoolBackends: String, Sendable, Hashable, CaseIterable {
    /// The Services' ready endpoints (EndpointSlices): LB nodes must reach the pod network.
    case pods
    /// The cluster's ready Nodes at each Service port's `nodePort` (LB machines outside the
    /// cluster, or without a route to pods); with `externalTrafficPolicy: Local`, only Nodes whose
    /// `healthCheckNodePort` answers `/healthz`.
    case nodeports
}
