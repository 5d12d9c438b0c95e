import Testing

@testable import Core

@Suite struct VRRPPlanTests {
    static let pool = PoolName.default
    static func vips(_ n: Int) -> [(address: IPAddress, pool: PoolName)] {
        (0..<n).map { (IPAddress(ipv4: 0xC633_6400 + UInt32($0)), pool) }  // 198.51.100.x
    }

    @Test func everyVIPGetsAGroupAndVRIDsAreStable() {
        let nodes = ["lb-a", "lb-b", "lb-c"]
        let first = VRRPPlan.make(vips: Self.vips(200), nodes: nodes, previous: [], vridOffset: 0)
        #expect(first.vridOf.count == 200 && first.unplaced.isEmpty)
        #expect(first.groups.map(\.vrid) == [1, 2, 3])
        #expect(Set(first.groups.map(\.node)) == Set(nodes))
        // Same input, previous plan: identical (no list-order recomputation).
        let again = VRRPPlan.make(
            vips: Self.vips(200).reversed(), nodes: nodes.reversed(), previous: first.groups, vridOffset: 0)
        #expect(again == first)
    }

    @Test func spreadIsEven() {
        let plan = VRRPPlan.make(vips: Self.vips(1000), nodes: ["lb-a", "lb-b", "lb-c"], previous: [], vridOffset: 0)
        var perNode: [String: Int] = [:]
        for g in plan.groups { perNode[g.node, default: 0] += plan.vridOf.values.filter { $0 == g.vrid }.count }
        #expect(perNode.values.allSatisfy { (250...420).contains($0) }, "\(perNode)")
    }

    @Test func joiningOrLeavingMovesOnlyThatNodesShare() {
        let vips = Self.vips(1000)
        let three = VRRPPlan.make(vips: vips, nodes: ["lb-a", "lb-b", "lb-c"], previous: [], vridOffset: 0)
        let four = VRRPPlan.make(
            vips: vips, nodes: ["lb-a", "lb-b", "lb-c", "lb-d"], previous: three.groups, vridOffset: 0)
        let newVRID = four.groups.first { $0.node == "lb-d" }!.vrid
        var moved = 0
        for (address, vrid) in three.vridOf where four.vridOf[address] != vrid {
            moved += 1
            #expect(four.vridOf[address] == newVRID, "a VIP only ever moves to the new node")
        }
        #expect((150...350).contains(moved), "about a quarter moved: \(moved)")
        // Existing groups keep their VRIDs.
        for g in three.groups { #expect(four.groups.contains(g)) }
        // lb-b leaves: only its VIPs move.
        let without = VRRPPlan.make(vips: vips, nodes: ["lb-a", "lb-c", "lb-d"], previous: four.groups, vridOffset: 0)
        let bVRID = four.groups.first { $0.node == "lb-b" }!.vrid
        for (address, vrid) in four.vridOf where vrid != bVRID { #expect(without.vridOf[address] == vrid) }
    }

    @Test func offsetFamiliesAndExhaustion() throws {
        let v6 = try PoolName(parsing: "v6")
        var vips = Self.vips(50)
        vips.append((try IPAddress(parsing: "2001:db8::1"), v6))
        let plan = VRRPPlan.make(vips: vips, nodes: ["lb-a", "lb-b"], previous: [], vridOffset: 200)
        #expect(plan.groups.allSatisfy { $0.vrid > 200 })
        #expect(plan.groups.filter { $0.family == .ipv6 }.map(\.vrid) == [201], "VRIDs are per family")
        // 254 offset leaves one VRID per family: the second group of a family cannot be placed.
        let tight = VRRPPlan.make(vips: Self.vips(50), nodes: ["lb-a", "lb-b"], previous: [], vridOffset: 254)
        #expect(tight.groups.map(\.vrid) == [255])
        #expect(!tight.unplaced.isEmpty)
        #expect(VRRPPlan.make(vips: Self.vips(5), nodes: [], previous: [], vridOffset: 0).groups.isEmpty)
    }
}
