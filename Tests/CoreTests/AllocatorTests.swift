import PropertyBased
import Testing

@testable import Core

private func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
private func name(_ s: String) -> PoolName { try! PoolName(parsing: s) }
private func svc(_ n: String, _ ns: String = "default") -> ServiceKey { ServiceKey(namespace: ns, name: n) }
private func tcp(_ ports: UInt16...) -> Set<PortKey> { Set(ports.map { PortKey(.tcp, $0) }) }
private func key(_ s: String) -> SharingKey { try! SharingKey(parsing: s) }

private func pool(_ n: String, _ network: String, _ range: String) -> Pool {
    Pool(name: name(n), network: try! IPRange(parsing: network), range: try! IPRange(parsing: range))
}

private let v4 = pool("default", "192.0.2.0/24", "192.0.2.10-192.0.2.12")
private let v6 = pool("v6", "2001:db8::/64", "2001:db8::/64")
private let ext = pool("external", "198.51.100.0/24", "198.51.100.50-198.51.100.51")

private func request(
    _ n: String, pools: [String] = ["default"], policy: IPFamilyPolicy = .singleStack,
    static addresses: [String] = [], ports: Set<PortKey> = tcp(80), sharing: String? = nil
) -> AllocationRequest {
    AllocationRequest(
        service: svc(n), pools: pools.map(name), familyPolicy: policy,
        staticAddresses: addresses.map(ip), ports: ports, sharingKey: sharing.map(key))
}

private func addresses(_ a: [AddressAssignment]) -> [String] { a.map(\.address.description) }

@Suite struct AllocatorScenarioTests {
    /// Nodes' addresses are never VIPs: not handed out dynamically, refused statically, and a
    /// Service already holding one is reported and moved by its next assign; an address no Node
    /// has any more is free again.
    @Test func nodeAddressesAreNeverHandedOut() throws {
        var alloc = IPAllocator(pools: [v4])
        alloc.setNodeAddresses([ip("192.0.2.10"): "node-a"])
        #expect(addresses(try alloc.assign(request("a"))) == ["192.0.2.11"])
        #expect(throws: AllocationError.nodeAddress(ip("192.0.2.10"), node: "node-a")) {
            try alloc.assign(request("s", static: ["192.0.2.10"]))
        }
        #expect(alloc.usage.first?.dynamicFree == 1, "the node's address is not free")
        // A Node appears with a's address: a is reported and moved to the next free address.
        let conflicts = alloc.setNodeAddresses([ip("192.0.2.10"): "node-a", ip("192.0.2.11"): "node-b"])
        #expect(
            conflicts == [.init(service: svc("a"), address: ip("192.0.2.11"), node: "node-b")])
        #expect(addresses(try alloc.assign(request("a"))) == ["192.0.2.12"])
        // A static holder of an address that becomes a Node's cannot be moved: its assign fails.
        var other = IPAllocator(pools: [v4])
        try other.assign(request("s", static: ["192.0.2.200"]))
        #expect(other.setNodeAddresses([ip("192.0.2.200"): "node-c"]).map(\.service) == [svc("s")])
        #expect(throws: AllocationError.nodeAddress(ip("192.0.2.200"), node: "node-c")) {
            try other.assign(request("s", static: ["192.0.2.200"]))
        }
        // The Nodes go away: their addresses are free again (lowest first).
        alloc.setNodeAddresses([:])
        #expect(addresses(try alloc.assign(request("b"))) == ["192.0.2.10"])
        #expect(addresses(try alloc.assign(request("c"))) == ["192.0.2.11"])
        // A pool edit keeps Node addresses out of the new free sets.
        alloc.setNodeAddresses([ip("192.0.2.13"): "node-d"])
        alloc.reconfigure(pools: [pool("default", "192.0.2.0/24", "192.0.2.10-192.0.2.13")])
        #expect(throws: AllocationError.poolExhausted(name("default"))) { try alloc.assign(request("d")) }
    }

    @Test func dynamicTakesLowestFreeAndIsIdempotent() throws {
        var alloc = IPAllocator(pools: [v4])
        #expect(addresses(try alloc.assign(request("a"))) == ["192.0.2.10"])
        #expect(addresses(try alloc.assign(request("b"))) == ["192.0.2.11"])
        // Same request again: same answer, nothing consumed.
        #expect(addresses(try alloc.assign(request("a"))) == ["192.0.2.10"])
        #expect(alloc.usage.first?.dynamicFree == 1)
        // A changed request that still fits keeps its address.
        #expect(addresses(try alloc.assign(request("a", ports: tcp(80, 443)))) == ["192.0.2.10"])
    }

    @Test func exhaustionThenFreedSpaceIsReused() throws {
        var alloc = IPAllocator(pools: [v4])
        for n in ["a", "b", "c"] { try alloc.assign(request(n)) }
        #expect(throws: AllocationError.poolExhausted(name("default"))) { try alloc.assign(request("d")) }
        #expect(alloc.addresses(of: svc("d")).isEmpty)
        #expect(alloc.release(svc("b")) == [ip("192.0.2.11")])
        #expect(addresses(try alloc.assign(request("d"))) == ["192.0.2.11"])
        #expect(
            AllocationError.poolExhausted(name("default")).description
                == "pool \"default\" is exhausted: no free address in its range")
    }

    @Test func staticMustLieInTheNetwork() throws {
        var alloc = IPAllocator(pools: [v4, ext])
        // Inside the network but outside the dynamic range: fine.
        #expect(addresses(try alloc.assign(request("a", static: ["192.0.2.200"]))) == ["192.0.2.200"])
        #expect(throws: AllocationError.outsideNetwork(ip("198.51.100.7"), pool: name("default"))) {
            try alloc.assign(request("b", static: ["198.51.100.7"]))
        }
        #expect(throws: AllocationError.reservedAddress(ip("192.0.2.255"), pool: name("default"))) {
            try alloc.assign(request("b", static: ["192.0.2.255"]))
        }
        #expect(
            AllocationError.outsideNetwork(ip("198.51.100.7"), pool: name("default")).description
                == "static IP 198.51.100.7 is outside pool \"default\"")
        // A static address inside the range is taken out of the dynamic space.
        try alloc.assign(request("c", static: ["192.0.2.10"]))
        #expect(addresses(try alloc.assign(request("d"))) == ["192.0.2.11"])
    }

    @Test func duplicateStaticWithoutConsentIsRefused() throws {
        var alloc = IPAllocator(pools: [v4])
        try alloc.assign(request("a"))  // dynamic 192.0.2.10
        #expect(throws: AllocationError.addressInUse(ip("192.0.2.10"), by: [svc("a")])) {
            try alloc.assign(request("b", static: ["192.0.2.10"], ports: tcp(443)))
        }
        #expect(
            AllocationError.addressInUse(ip("192.0.2.10"), by: [svc("a")]).description
                == "IP 192.0.2.10 is taken by default/a")
    }

    @Test func sameStaticIPWithDisjointPortsIsShared() throws {
        var alloc = IPAllocator(pools: [v4])
        try alloc.assign(request("web", static: ["192.0.2.100"], ports: tcp(80, 443)))
        try alloc.assign(request("dns", static: ["192.0.2.100"], ports: [PortKey(.udp, 53), PortKey(.tcp, 53)]))
        #expect(alloc.holders(of: ip("192.0.2.100")) == [svc("dns"), svc("web")])
        // Same port, different protocol is disjoint too.
        try alloc.assign(request("dns2", static: ["192.0.2.100"], ports: [PortKey(.udp, 80)]))
        // A clash is refused with the port named.
        #expect(throws: AllocationError.portConflict(ip("192.0.2.100"), with: svc("web"), ports: [PortKey(.tcp, 443)]))
        {
            try alloc.assign(request("clash", static: ["192.0.2.100"], ports: tcp(443, 8443)))
        }
        // Deleting one sharer keeps the IP for the rest.
        #expect(alloc.release(svc("web")).isEmpty)
        #expect(alloc.holders(of: ip("192.0.2.100")) == [svc("dns"), svc("dns2")])
        // Now the clashing one fits.
        #expect(
            addresses(try alloc.assign(request("clash", static: ["192.0.2.100"], ports: tcp(443, 8443)))) == [
                "192.0.2.100"
            ])
    }

    @Test func sharingKeyLetsDynamicServicesShare() throws {
        var alloc = IPAllocator(pools: [v4])
        #expect(addresses(try alloc.assign(request("a", ports: tcp(80), sharing: "k"))) == ["192.0.2.10"])
        #expect(addresses(try alloc.assign(request("b", ports: tcp(443), sharing: "k"))) == ["192.0.2.10"])
        // Port clash under the same key: a new address, not a refusal.
        #expect(addresses(try alloc.assign(request("c", ports: tcp(80), sharing: "k"))) == ["192.0.2.11"])
        // Another key never shares.
        #expect(addresses(try alloc.assign(request("d", ports: tcp(22), sharing: "other"))) == ["192.0.2.12"])
        // Different keys refuse even a static request.
        #expect(throws: AllocationError.addressInUse(ip("192.0.2.10"), by: [svc("a"), svc("b")])) {
            try alloc.assign(request("e", static: ["192.0.2.10"], ports: tcp(9000), sharing: "third"))
        }
        // Same key and a static request: shares.
        #expect(
            addresses(try alloc.assign(request("f", static: ["192.0.2.10"], ports: tcp(9000), sharing: "k"))) == [
                "192.0.2.10"
            ])
        // Last sharer gone: address is free again.
        for n in ["a", "b", "f"] { alloc.release(svc(n)) }
        #expect(alloc.holders(of: ip("192.0.2.10")).isEmpty)
        #expect(alloc.usage.first?.dynamicFree == 1)
    }

    @Test func portChangeThatClashesKeepsOldAssignment() throws {
        var alloc = IPAllocator(pools: [v4])
        try alloc.assign(request("a", static: ["192.0.2.100"], ports: tcp(80)))
        try alloc.assign(request("b", static: ["192.0.2.100"], ports: tcp(443)))
        #expect(throws: AllocationError.portConflict(ip("192.0.2.100"), with: svc("a"), ports: [PortKey(.tcp, 80)])) {
            try alloc.assign(request("b", static: ["192.0.2.100"], ports: tcp(80, 443)))
        }
        #expect(addresses(alloc.addresses(of: svc("b"))) == ["192.0.2.100"])
    }

    @Test func changingPoolMovesOnlyWhenTheNewOneHasRoom() throws {
        var alloc = IPAllocator(pools: [v4, ext])
        try alloc.assign(request("a"))
        #expect(addresses(try alloc.assign(request("a", pools: ["external"]))) == ["198.51.100.50"])
        #expect(alloc.usage.first { $0.pool == .default }?.dynamicFree == 3)
        try alloc.assign(request("x", pools: ["external"]))
        try alloc.assign(request("b"))
        #expect(throws: AllocationError.poolExhausted(name("external"))) {
            try alloc.assign(request("b", pools: ["external"]))
        }
        #expect(addresses(alloc.addresses(of: svc("b"))) == ["192.0.2.10"])
    }

    @Test func unknownPoolAndFamilyErrors() throws {
        var alloc = IPAllocator(pools: [v4, v6, ext])
        #expect(throws: AllocationError.unknownPool(name("nope"))) { try alloc.assign(request("a", pools: ["nope"])) }
        #expect(throws: AllocationError.noPoolForFamily(.ipv6, pools: [.default])) {
            try alloc.assign(request("a", policy: .requireDualStack))
        }
        #expect(throws: AllocationError.duplicateFamily(.ipv4, pools: [.default, name("external")])) {
            try alloc.assign(request("a", pools: ["default", "external"], policy: .preferDualStack))
        }
        #expect(throws: AllocationError.outsideNetwork(ip("2001:db8::5"), pool: .default)) {
            try alloc.assign(request("a", static: ["2001:db8::5"]))
        }
    }

    @Test func ipv6SlashSixtyFour() throws {
        var alloc = IPAllocator(pools: [v6])
        // ::0 is the subnet-router anycast address.
        #expect(addresses(try alloc.assign(request("a", pools: ["v6"]))) == ["2001:db8::1"])
        #expect(addresses(try alloc.assign(request("b", pools: ["v6"]))) == ["2001:db8::2"])
        #expect(
            addresses(try alloc.assign(request("c", pools: ["v6"], static: ["2001:db8::ffff:ffff:ffff:ffff"]))) == [
                "2001:db8::ffff:ffff:ffff:ffff"
            ])
        let usage = try #require(alloc.usage.first)
        #expect(usage.dynamicSize == UInt128(1) << 64 - 1)
        #expect(usage.dynamicFree == UInt128(1) << 64 - 4)
    }

    @Test func dualStackTakesOnePerFamily() throws {
        var alloc = IPAllocator(pools: [v4, v6])
        #expect(
            addresses(try alloc.assign(request("a", pools: ["default", "v6"], policy: .requireDualStack))) == [
                "192.0.2.10", "2001:db8::1",
            ])
        #expect(
            addresses(try alloc.assign(request("b", pools: ["v6", "default"], policy: .preferDualStack))) == [
                "192.0.2.11", "2001:db8::2",
            ])
        // PreferDualStack with one family available is single-stack.
        #expect(addresses(try alloc.assign(request("c", policy: .preferDualStack))) == ["192.0.2.12"])
        // SingleStack with two pools: the first listed pool's family.
        #expect(addresses(try alloc.assign(request("d", pools: ["v6", "default"]))) == ["2001:db8::3"])
        // Static per family.
        alloc.release(svc("a"))
        #expect(
            addresses(
                try alloc.assign(
                    request(
                        "e", pools: ["default", "v6"], policy: .requireDualStack,
                        static: ["192.0.2.50", "2001:db8::50"]))) == ["192.0.2.50", "2001:db8::50"])
        // Dual-stack failure in one family changes nothing.
        try alloc.assign(request("f"))
        #expect(throws: AllocationError.poolExhausted(.default)) {
            try alloc.assign(request("g", pools: ["default", "v6"], policy: .requireDualStack))
        }
        #expect(alloc.addresses(of: svc("g")).isEmpty)
        #expect(alloc.usage.first { $0.pool == name("v6") }?.dynamicFree == UInt128(1) << 64 - 1 - 3)
        // Dropping to single stack releases the other family.
        #expect(addresses(try alloc.assign(request("b", pools: ["default"]))) == ["192.0.2.11"])
        #expect(alloc.holders(of: ip("2001:db8::2")).isEmpty)
    }

    @Test func restoreBeforeAllocateKeepsEveryIP() throws {
        var alloc = IPAllocator(pools: [v4])
        // Statuses found at start-up, restored before any new allocation.
        try alloc.restore(request("old2"), addresses: [ip("192.0.2.11")])
        try alloc.restore(request("old1"), addresses: [ip("192.0.2.10")])
        #expect(addresses(try alloc.assign(request("new"))) == ["192.0.2.12"])
        // Re-assigning restored services with the same request changes nothing.
        #expect(addresses(try alloc.assign(request("old1"))) == ["192.0.2.10"])
        #expect(addresses(try alloc.assign(request("old2"))) == ["192.0.2.11"])
    }

    @Test func allocatingBeforeRestoreWouldConflict() throws {
        // Why order matters: a new service allocated first takes the lowest address...
        var alloc = IPAllocator(pools: [v4])
        try alloc.assign(request("new"))
        // ...and the restored owner of that address is then refused, not duplicated.
        #expect(throws: AllocationError.addressInUse(ip("192.0.2.10"), by: [svc("new")])) {
            try alloc.restore(request("old"), addresses: [ip("192.0.2.10")])
        }
    }

    @Test func restoreWithChangedRequestIsRecomputedKeepingWhatFits() throws {
        var alloc = IPAllocator(pools: [v4])
        // Status says .10, but the user has since asked for static .100.
        try alloc.restore(request("a", static: ["192.0.2.100"]), addresses: [ip("192.0.2.10")])
        #expect(addresses(alloc.addresses(of: svc("a"))) == ["192.0.2.10"])
        #expect(addresses(try alloc.assign(request("a", static: ["192.0.2.100"]))) == ["192.0.2.100"])
    }

    @Test func poolRemovedOrShrunkIsReportedNeverMoved() throws {
        var alloc = IPAllocator(pools: [v4, ext])
        try alloc.assign(request("a"))  // 192.0.2.10
        try alloc.assign(request("b"))  // 192.0.2.11
        try alloc.assign(request("c", pools: ["external"]))  // 198.51.100.50
        let shrunk = pool("default", "192.0.2.0/28", "192.0.2.11-192.0.2.12")  // .10 still in network, outside range
        let orphans = alloc.reconfigure(pools: [shrunk])
        #expect(orphans.map(\.address) == [ip("198.51.100.50")])
        #expect(
            orphans.first?.description
                == "IP 198.51.100.50 of default/c belongs to pool \"external\", which was removed; kept until the Service changes or is deleted"
        )
        // Unchanged requests keep their addresses, even the orphaned one.
        #expect(addresses(try alloc.assign(request("a"))) == ["192.0.2.10"])
        #expect(addresses(try alloc.assign(request("c", pools: ["external"]))) == ["198.51.100.50"])
        // The shrunk range's free space excludes held addresses.
        #expect(alloc.usage.first?.dynamicFree == 1)
        #expect(addresses(try alloc.assign(request("d"))) == ["192.0.2.12"])
        // Shrinking the network past an address orphans it.
        let tighter = pool("default", "192.0.2.0/29", "192.0.2.1-192.0.2.6")
        #expect(
            alloc.reconfigure(pools: [tighter]).map(\.address) == [
                ip("192.0.2.10"), ip("192.0.2.11"), ip("192.0.2.12"), ip("198.51.100.50"),
            ])
        // Deleting an orphan's service frees it for good.
        alloc.release(svc("c"))
        #expect(alloc.orphans.map(\.address) == [ip("192.0.2.10"), ip("192.0.2.11"), ip("192.0.2.12")])
    }

    @Test func copiesAreIndependent() throws {
        var a = IPAllocator(pools: [v4])
        try a.assign(request("x"))
        var b = a
        try b.assign(request("y"))
        #expect(a.assignedServices == [svc("x")] && b.assignedServices == [svc("x"), svc("y")])
        #expect(a.usage.first?.dynamicFree == 2 && b.usage.first?.dynamicFree == 1)
    }
}

/// Random operation sequences: no address ever goes to two Services that may not share it, and
/// free counts stay exact.
@Suite struct AllocatorPropertyTests {
    enum Op {
        case assign(service: Int, staticIndex: Int?, port: UInt16, sharing: Int?)
        case release(service: Int)
    }

    static let small = pool("default", "192.0.2.0/27", "192.0.2.1-192.0.2.8")

    static let opGen = PropertyBased.zip(
        Gen.bool, Gen.int(in: 0...11), Gen.int(in: -1...12), Gen.int(in: 0...3), Gen.int(in: -1...1)
    )
    .map { isAssign, s, st, port, share -> Op in
        isAssign
            ? .assign(
                service: s, staticIndex: st < 0 ? nil : st, port: UInt16(80 + port), sharing: share < 0 ? nil : share)
            : .release(service: s)
    }

    @Test func neverDoubleAssignsAndCountsStayExact() async {
        await propertyCheck(count: 300, input: Self.opGen.array(of: 1...120)) { ops in
            var alloc = IPAllocator(pools: [Self.small])
            var model: [ServiceKey: (AllocationRequest, [IPAddress])] = [:]
            for op in ops {
                switch op {
                case .assign(let s, let st, let port, let share):
                    let r = AllocationRequest(
                        service: svc("s\(s)"),
                        staticAddresses: st.map { [IPAddress(ipv4: 0xC000_0200 + UInt32($0))] } ?? [],
                        ports: tcp(port), sharingKey: share.map { key("k\($0)") })
                    if let got = try? alloc.assign(r) { model[r.service] = (r, got.map(\.address)) }
                case .release(let s):
                    alloc.release(svc("s\(s)"))
                    model[svc("s\(s)")] = nil
                }
                // Invariant 1: every holder pair of one address consents and has disjoint ports.
                var byAddress: [IPAddress: [AllocationRequest]] = [:]
                for (_, (r, addrs)) in model { for a in addrs { byAddress[a, default: []].append(r) } }
                for (address, reqs) in byAddress where reqs.count > 1 {
                    for i in reqs.indices {
                        for j in reqs.indices where i < j {
                            let a = reqs[i]
                            let b = reqs[j]
                            #expect(
                                a.ports.isDisjoint(with: b.ports),
                                "\(address): \(a.service) and \(b.service) share ports")
                            let consent =
                                (a.sharingKey != nil && a.sharingKey == b.sharingKey)
                                || (a.staticAddresses.contains(address) && b.staticAddresses.contains(address)
                                    && (a.sharingKey == nil || b.sharingKey == nil))
                            #expect(consent, "\(address) held by \(a.service) and \(b.service) without consent")
                        }
                    }
                }
                // Invariant 2: the allocator agrees with the model.
                for (address, reqs) in byAddress { #expect(alloc.holders(of: address) == reqs.map(\.service).sorted()) }
                #expect(alloc.assignedAddressCount == byAddress.count)
                // Invariant 3: free = dynamic size - held addresses inside the range.
                let heldInRange = byAddress.keys.filter { Self.small.range.contains($0) }.count
                #expect(alloc.usage.first?.dynamicFree == Self.small.dynamicSize - UInt128(heldInRange))
            }
        }
    }

    @Test func assignIsIdempotent() async {
        await propertyCheck(count: 200, input: Self.opGen.array(of: 1...60)) { ops in
            var alloc = IPAllocator(pools: [Self.small])
            for case .assign(let s, let st, let port, let share) in ops {
                let r = AllocationRequest(
                    service: svc("s\(s)"),
                    staticAddresses: st.map { [IPAddress(ipv4: 0xC000_0200 + UInt32($0))] } ?? [],
                    ports: tcp(port), sharingKey: share.map { key("k\($0)") })
                guard let first = try? alloc.assign(r) else { continue }
                let before = alloc.usage
                #expect((try? alloc.assign(r)) == first)
                #expect(alloc.usage == before)
            }
        }
    }
}
