/// What one Service asks of the allocator, built from its spec and annotations.
package struct AllocationRequest: Sendable, Hashable {
    package var service: ServiceKey
    /// Pools in preference order: one, or one per family (`loadbalancer/pool`, default `default`).
    package var pools: [PoolName]
    package var familyPolicy: IPFamilyPolicy
    /// Static addresses (`loadbalancer/ip`, else `spec.loadBalancerIP`), at most one per family.
    package var staticAddresses: [IPAddress]
    /// Ports the Service exposes on its IP; sharers must not overlap.
    package var ports: Set<PortKey>
    package var sharingKey: SharingKey?
    /// `loadbalancer/hostnames`: sharers may use the same TCP port when their names are disjoint
    /// (and at most one of them has none: it gets what matches no name).
    package var hostnames: Set<HostName>

    package init(
        service: ServiceKey, pools: [PoolName] = [.default], familyPolicy: IPFamilyPolicy = .singleStack,
        staticAddresses: [IPAddress] = [], ports: Set<PortKey> = [], sharingKey: SharingKey? = nil,
        hostnames: Set<HostName> = []
    ) {
        self.service = service
        self.pools = pools
        self.familyPolicy = familyPolicy
        self.staticAddresses = staticAddresses
        self.ports = ports
        self.sharingKey = sharingKey
        self.hostnames = hostnames
    }
}

/// One address held by a Service, with the pool it came from.
package struct AddressAssignment: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let address: IPAddress
    package let pool: PoolName

    package init(address: IPAddress, pool: PoolName) {
        self.address = address
        self.pool = pool
    }

    package var description: String { "\(address) (pool \(pool))" }
    package static func < (a: AddressAssignment, b: AddressAssignment) -> Bool { a.address < b.address }
}
