/// Assigns external IPs to Services from the configured pools. A value type with no I/O.
///
/// Rules (docs/config.md, "Allocation rules"):
/// - dynamic requests get the lowest free address of the pool's `range`; static requests
///   (`loadbalancer/ip`, `spec.loadBalancerIP`) any non-reserved address of its `network`;
/// - a Node's address (`setNodeAddresses`) is never handed out, dynamically or statically; a
///   Service holding one when its Node appears is reported (`setNodeAddresses`) and moved by its
///   next `assign` (a static request fails with `.nodeAddress` and must be released);
/// - an address may be shared by Services whose ports/protocols are disjoint, when they all asked
///   for it statically or all carry the same `sharing-key` (two different keys never share); a
///   TCP port may be used by several sharers whose `hostnames` are disjoint, at most one of them
///   with none (name-based virtual hosting: the proxy routes by SNI and Host);
/// - releasing one sharer keeps the address for the others;
/// - RequireDualStack/PreferDualStack take one address per family, from one pool per family;
/// - re-assigning an unchanged request returns what the Service holds; a changed request keeps
///   every held address that still fits, and a failed change keeps the old assignment;
/// - changing or removing pools never moves an assignment: `reconfigure` reports the ones left
///   outside their pool, and they stay held until their Service changes or goes away.
///
/// Cost: O(log n) per operation in the number of free intervals (plus the Service's sharers);
/// memory proportional to assigned addresses, never to range size.
package struct IPAllocator: Sendable {
    private var pools: [PoolName: PoolState] = [:]
    private var services: [ServiceKey: Record] = [:]
    private var holdings: [IPAddress: Holding] = [:]
    /// Distinct addresses held per pool name (removed pools included), kept as addresses come and go.
    private var inUse: [PoolName: Int] = [:]
    /// Every Node's addresses, with the Node's name: never handed out.
    private var nodeAddresses: [IPAddress: String] = [:]

    private struct PoolState: Sendable {
        var pool: Pool
        /// Dynamic addresses nobody holds.
        var free: IntervalSet
        /// Addresses of this pool held under each sharing key.
        var shared: [SharingKey: Set<IPAddress>] = [:]
    }

    private struct Record: Sendable {
        /// The request the Service's ports and sharing key come from.
        var request: AllocationRequest
        /// False when restored addresses did not answer `request`: the next `assign` recomputes.
        var answersRequest: Bool
        var addresses: [AddressAssignment]
    }

    /// How one Service holds one address (derived from its record; never stored twice).
    private struct Holder: Sendable, Hashable {
        var ports: Set<PortKey>
        var sharingKey: SharingKey?
        var isStatic: Bool
        var hostnames: Set<HostName> = []

        /// Ports both use that their host names do not tell apart.
        func clashes(with other: Holder) -> Set<PortKey> {
            ports.intersection(other.ports).filter { port in
                guard port.proto == .tcp else { return true }
                // Same TCP port: fine when the names are disjoint and not both "everything else".
                if hostnames.isEmpty && other.hostnames.isEmpty { return true }
                return !hostnames.isDisjoint(with: other.hostnames)
            }
        }
    }

    private struct Holding: Sendable {
        var pool: PoolName
        /// Usually one Service; sharers are few.
        var holders: [ServiceKey]
    }

    private func holder(_ service: ServiceKey, at address: IPAddress) -> Holder {
        let request = services[service]!.request
        return Holder(
            ports: request.ports, sharingKey: request.sharingKey,
            isStatic: request.staticAddresses.contains(address), hostnames: request.hostnames)
    }

    /// An allocator over `pools` with nothing assigned.
    package init(pools: [Pool]) {
        for pool in pools { self.pools[pool.name] = PoolState(pool: pool, free: Self.dynamicSet(pool)) }
    }

    // MARK: queries

    /// What `service` holds, sorted by address; empty when nothing.
    package func addresses(of service: ServiceKey) -> [AddressAssignment] {
        services[service]?.addresses ?? []
    }

    /// The Services holding `address`, sorted.
    package func holders(of address: IPAddress) -> [ServiceKey] {
        holdings[address].map { $0.holders.sorted() } ?? []
    }

    /// Every Service that holds something, sorted.
    package var assignedServices: [ServiceKey] { services.keys.sorted() }

    /// Number of distinct addresses in use.
    package var assignedAddressCount: Int { holdings.count }

    /// Size and use of one pool's dynamic range.
    package struct PoolUsage: Sendable, Hashable {
        package let pool: PoolName
        package let family: IPFamily
        /// Assignable addresses of the range.
        package let dynamicSize: UInt128
        /// Assignable addresses of the range nobody holds.
        package let dynamicFree: UInt128
        /// Distinct addresses of the pool's network in use (static ones included).
        package let inUse: Int
    }

    /// Usage of every pool, sorted by name.
    package var usage: [PoolUsage] {
        pools.values.sorted { $0.pool.name < $1.pool.name }.map {
            PoolUsage(
                pool: $0.pool.name, family: $0.pool.family, dynamicSize: $0.pool.dynamicSize,
                dynamicFree: $0.free.count, inUse: inUse[$0.pool.name] ?? 0)
        }
    }

    /// Assignments whose address is no longer admitted by its pool (pool removed or shrunk).
    package var orphans: [Orphan] {
        holdings.compactMap { address, h -> Orphan? in
            guard !(pools[h.pool]?.pool.admits(address) ?? false) else { return nil }
            return Orphan(
                address: address, pool: h.pool, services: h.holders.sorted(),
                poolExists: pools[h.pool] != nil)
        }.sorted { $0.address < $1.address }
    }

    /// An address held outside the pool it was assigned from.
    package struct Orphan: Sendable, Hashable, CustomStringConvertible {
        package let address: IPAddress
        package let pool: PoolName
        package let services: [ServiceKey]
        package let poolExists: Bool

        package var description: String {
            let why =
                poolExists ? "is no longer inside pool \"\(pool)\"" : "belongs to pool \"\(pool)\", which was removed"
            return
                "IP \(address) of \(services.map(\.description).joined(separator: ", ")) \(why); kept until the Service changes or is deleted"
        }
    }

    // MARK: assign

    /// Gives `request.service` addresses that satisfy `request`, keeping what it holds where it
    /// still fits. On error nothing changes.
    @discardableResult
    package mutating func assign(_ request: AllocationRequest) throws(AllocationError) -> [AddressAssignment] {
        if let record = services[request.service], record.answersRequest, record.request == request {
            return record.addresses
        }
        let targets = try resolve(request)
        let current = services[request.service]?.addresses ?? []
        let me = request.service
        var chosen: [AddressAssignment] = []
        for target in targets {
            let holder = Holder(
                ports: request.ports, sharingKey: request.sharingKey, isStatic: target.staticAddress != nil,
                hostnames: request.hostnames)
            guard let state = pools[target.pool] else { throw .unknownPool(target.pool) }
            if let address = target.staticAddress {
                guard state.pool.network.contains(address) else { throw .outsideNetwork(address, pool: target.pool) }
                guard state.pool.admits(address) else { throw .reservedAddress(address, pool: target.pool) }
                if let node = nodeAddresses[address] { throw .nodeAddress(address, node: node) }
                try checkSharing(address, holder, excluding: me)
                chosen.append(AddressAssignment(address: address, pool: target.pool))
                continue
            }
            // Keep a held address of this family and pool when it still fits.
            if let kept = current.first(where: { $0.address.family == state.pool.family && $0.pool == target.pool }),
                state.pool.admits(kept.address), nodeAddresses[kept.address] == nil,
                (try? checkSharing(kept.address, holder, excluding: me)) != nil
            {
                chosen.append(kept)
                continue
            }
            if let key = request.sharingKey, let address = sharedCandidate(state, key, holder, excluding: me),
                nodeAddresses[address] == nil
            {
                chosen.append(AddressAssignment(address: address, pool: target.pool))
                continue
            }
            guard let value = state.free.min else { throw .poolExhausted(target.pool) }
            chosen.append(
                AddressAssignment(address: IPAddress(family: state.pool.family, value: value)!, pool: target.pool))
        }
        release(request.service)
        let sorted = chosen.sorted()
        services[me] = Record(request: request, answersRequest: true, addresses: sorted)
        for assignment in sorted { take(assignment, me, request.sharingKey) }
        return sorted
    }

    /// Loads an assignment that already exists (a Service's status at start-up) before any new
    /// allocation. Addresses outside their pool are kept (see `orphans`), never moved. Throws when
    /// an address is held by a Service this one may not share with; nothing changes then.
    @discardableResult
    package mutating func restore(_ request: AllocationRequest, addresses: [IPAddress]) throws(AllocationError)
        -> [AddressAssignment]
    {
        let me = request.service
        let unique = Array(Set(addresses)).sorted()
        var assigned: [AddressAssignment] = []
        for address in unique {
            let isStatic = request.staticAddresses.contains(address)
            let holder = Holder(
                ports: request.ports, sharingKey: request.sharingKey, isStatic: isStatic, hostnames: request.hostnames)
            try checkSharing(address, holder, excluding: me)
            let pool = holdings[address]?.pool ?? owningPool(of: address, preferring: request.pools)
            assigned.append(AddressAssignment(address: address, pool: pool))
        }
        release(me)
        services[me] = Record(request: request, answersRequest: satisfies(assigned, request), addresses: assigned)
        for assignment in assigned { take(assignment, me, request.sharingKey) }
        return assigned
    }

    /// Releases everything `service` holds. Returns the addresses nobody holds any more.
    @discardableResult
    package mutating func release(_ service: ServiceKey) -> [IPAddress] {
        guard let record = services.removeValue(forKey: service) else { return [] }
        var freed: [IPAddress] = []
        for assignment in record.addresses {
            let address = assignment.address
            guard var holding = holdings[address], let i = holding.holders.firstIndex(of: service) else { continue }
            holding.holders.remove(at: i)
            if let key = record.request.sharingKey,
                !holding.holders.contains(where: { services[$0]?.request.sharingKey == key })
            {
                pools[holding.pool]?.shared[key]?.remove(address)
                if pools[holding.pool]?.shared[key]?.isEmpty == true { pools[holding.pool]?.shared[key] = nil }
            }
            if holding.holders.isEmpty {
                holdings[address] = nil
                inUse[holding.pool, default: 1] -= 1
                if inUse[holding.pool] == 0 { inUse[holding.pool] = nil }
                freeAddress(address)
                freed.append(address)
            } else {
                holdings[address] = holding
            }
        }
        return freed.sorted()
    }

    // MARK: Node addresses

    /// A Service holding a Node's address.
    package struct NodeAddressConflict: Sendable, Hashable {
        package var service: ServiceKey
        package var address: IPAddress
        package var node: String
    }

    /// Replaces the Nodes' addresses (every Node's InternalIP and ExternalIP, with its name):
    /// they leave the free sets, and addresses no Node has any more come back. Returns the
    /// Services holding a Node's address, sorted: their next `assign` moves them (a dynamic one
    /// gets another address; a static one fails with `.nodeAddress`).
    @discardableResult
    package mutating func setNodeAddresses(_ addresses: [IPAddress: String]) -> [NodeAddressConflict] {
        let old = nodeAddresses
        nodeAddresses = addresses
        for address in old.keys where addresses[address] == nil && holdings[address] == nil {
            freeAddress(address)
        }
        for address in addresses.keys where old[address] == nil {
            for name in pools.keys where pools[name]!.pool.range.contains(address) {
                pools[name]!.free.remove(address.value)
            }
        }
        var conflicts: [NodeAddressConflict] = []
        for (address, node) in addresses {
            for service in holdings[address]?.holders ?? [] {
                services[service]?.answersRequest = false
                conflicts.append(NodeAddressConflict(service: service, address: address, node: node))
            }
        }
        return conflicts.sorted { ($0.service, $0.address) < ($1.service, $1.address) }
    }

    // MARK: reconfigure

    /// Replaces the pools. Nothing is moved; returns the assignments now outside their pool.
    @discardableResult
    package mutating func reconfigure(pools newPools: [Pool]) -> [Orphan] {
        var states: [PoolName: PoolState] = [:]
        for pool in newPools { states[pool.name] = PoolState(pool: pool, free: Self.dynamicSet(pool)) }
        for address in nodeAddresses.keys {
            for name in states.keys where states[name]!.pool.range.contains(address) {
                states[name]!.free.remove(address.value)
            }
        }
        for (address, holding) in holdings {
            for name in states.keys where states[name]!.pool.range.contains(address) {
                states[name]!.free.remove(address.value)
            }
            for service in holding.holders {
                if let key = services[service]?.request.sharingKey {
                    states[holding.pool]?.shared[key, default: []].insert(address)
                }
            }
        }
        pools = states
        return orphans
    }

    // MARK: internals

    private struct Target {
        var pool: PoolName
        var staticAddress: IPAddress?
    }

    /// Which pool (and static address) each family of the request comes from.
    private func resolve(_ request: AllocationRequest) throws(AllocationError) -> [Target] {
        var byFamily: [(IPFamily, PoolName)] = []
        for name in request.pools {
            guard let state = pools[name] else { throw .unknownPool(name) }
            if let other = byFamily.first(where: { $0.0 == state.pool.family }) {
                throw .duplicateFamily(state.pool.family, pools: [other.1, name])
            }
            byFamily.append((state.pool.family, name))
        }
        for address in request.staticAddresses where !byFamily.contains(where: { $0.0 == address.family }) {
            if request.pools.count == 1, let only = byFamily.first {
                throw .outsideNetwork(address, pool: only.1)
            }
            throw .noPoolForFamily(address.family, pools: request.pools)
        }
        let families: [(IPFamily, PoolName)]
        switch request.familyPolicy {
        case .singleStack:
            // The family of the static address if one was given, else the first listed pool's.
            if let first = request.staticAddresses.first {
                families = byFamily.filter { $0.0 == first.family }
            } else {
                families = Array(byFamily.prefix(1))
            }
        case .preferDualStack:
            families = byFamily
        case .requireDualStack:
            for family in IPFamily.allCases where !byFamily.contains(where: { $0.0 == family }) {
                throw .noPoolForFamily(family, pools: request.pools)
            }
            families = byFamily
        }
        return families.map { family, pool in
            Target(pool: pool, staticAddress: request.staticAddresses.first { $0.family == family })
        }
    }

    /// Throws unless `candidate` may hold `address` beside its current holders (other than `me`).
    private func checkSharing(_ address: IPAddress, _ candidate: Holder, excluding me: ServiceKey)
        throws(AllocationError)
    {
        guard let holding = holdings[address] else { return }
        let others = holding.holders.filter { $0 != me }.sorted()
        guard !others.isEmpty else { return }
        let refusing = others.filter { !Self.mayShare(holder($0, at: address), candidate) }
        if !refusing.isEmpty { throw .addressInUse(address, by: refusing) }
        for key in others {
            let other = holder(key, at: address)
            let clash = other.clashes(with: candidate)
            guard !clash.isEmpty else { continue }
            let names = other.hostnames.intersection(candidate.hostnames)
            if !names.isEmpty, clash.allSatisfy({ $0.proto == .tcp }) {
                throw .hostnameConflict(address, with: key, hostnames: names.map(\.rawValue).sorted())
            }
            throw .portConflict(address, with: key, ports: clash.sorted())
        }
    }

    /// The sharing consent rule, ports aside: the same sharing key, or both asked statically
    /// (the original's rule) unless they carry different keys.
    private static func mayShare(_ a: Holder, _ b: Holder) -> Bool {
        if let ka = a.sharingKey, let kb = b.sharingKey { return ka == kb }
        return a.isStatic && b.isStatic
    }

    /// The lowest address of the pool already shared under `key` that `candidate` fits beside.
    private func sharedCandidate(_ state: PoolState, _ key: SharingKey, _ candidate: Holder, excluding me: ServiceKey)
        -> IPAddress?
    {
        guard let addresses = state.shared[key] else { return nil }
        return addresses.sorted().first { address in
            state.pool.admits(address) && (try? checkSharing(address, candidate, excluding: me)) != nil
        }
    }

    private mutating func take(_ assignment: AddressAssignment, _ service: ServiceKey, _ sharingKey: SharingKey?) {
        let address = assignment.address
        if holdings[address] == nil {
            holdings[address] = Holding(pool: assignment.pool, holders: [])
            inUse[assignment.pool, default: 0] += 1
            for name in pools.keys where pools[name]!.pool.range.contains(address) {
                pools[name]!.free.remove(address.value)
            }
        }
        holdings[address]!.holders.append(service)
        if let sharingKey {
            pools[holdings[address]!.pool]?.shared[sharingKey, default: []].insert(address)
        }
    }

    private mutating func freeAddress(_ address: IPAddress) {
        guard nodeAddresses[address] == nil else { return }
        for name in pools.keys {
            let pool = pools[name]!.pool
            if pool.range.contains(address) && pool.admits(address) { pools[name]!.free.insert(address.value) }
        }
    }

    /// The pool an address belongs to: a listed pool admitting it, else any pool whose network
    /// holds it, else the first listed pool (an orphan).
    private func owningPool(of address: IPAddress, preferring names: [PoolName]) -> PoolName {
        if let name = names.first(where: { pools[$0]?.pool.network.contains(address) == true }) { return name }
        if let state = pools.values.first(where: { $0.pool.network.contains(address) }) { return state.pool.name }
        return names.first ?? .default
    }

    /// True when restored addresses answer the request: one per resolved family, static ones equal.
    private func satisfies(_ assigned: [AddressAssignment], _ request: AllocationRequest) -> Bool {
        guard let targets = try? resolve(request), targets.count == assigned.count else { return false }
        return targets.allSatisfy { target in
            let family = pools[target.pool]!.pool.family
            guard let held = assigned.first(where: { $0.address.family == family }) else { return false }
            return target.staticAddress == nil || target.staticAddress == held.address
        }
    }

    /// The pool's range minus its reserved addresses.
    private static func dynamicSet(_ pool: Pool) -> IntervalSet {
        var set = IntervalSet(pool.range.start.value...pool.range.end.value)
        for reserved in pool.reservedAddresses { set.remove(reserved.value) }
        return set
    }
}
