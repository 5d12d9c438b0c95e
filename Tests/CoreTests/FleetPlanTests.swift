import Core
import Testing

/// `FleetPlan`: several clusters on one fleet machine, isolated by construction or by a refusal
/// for the right cluster; and the fleet file's parser.
@Suite struct FleetPlanTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static func cluster(_ s: String) -> ClusterName { try! ClusterName(parsing: s) }

    /// One cluster's inputs: `pools` as the config's JSON, then one Service `shop/web` on port 80
    /// per VIP, with VRRP groups planned over lb-a and lb-b from `vridOffset`.
    static func member(
        _ name: String, pools: String, vips: [(String, String)], extra: String = "", vridOffset: Int = 0,
        limits: FleetLimits = FleetLimits()
    ) -> FleetPlan.Member {
        let config = try! UserConfig.parse(#"{"pools": {\#(pools)}\#(extra)}"#).config
        let entries: [AssignmentDocument.VIP] = vips.enumerated().map { i, v in
            var web = AssignmentDocument.ServiceEntry(
                key: ServiceKey(namespace: "shop", name: "web\(i)"),
                ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
            web.proxy = ProxySettings()
            return .init(address: ip(v.0), pool: try! PoolName(parsing: v.1), services: [web])
        }
        let nodes = ["lb-a", "lb-b"]
        let plan = VRRPPlan.make(
            vips: entries.map { ($0.address, $0.pool) }, nodes: nodes, previous: [], vridOffset: vridOffset)
        let document = AssignmentDocument(
            vips: entries.map {
                var v = $0
                v.vrid = plan.vridOf[v.address]
                return v
            }, nodes: nodes, groups: plan.groups)
        var endpoints = EndpointMap()
        for (i, _) in vips.enumerated() {
            endpoints.endpoints[.init(service: ServiceKey(namespace: "shop", name: "web\(i)"), port: 80, proto: .tcp)] =
                [.init(address: ip("203.0.113.\(i + 1)"), port: 8080)]
        }
        let inputs = NodePlan.Inputs(
            node: "lb-a", eligible: true, backend: .haproxy, document: document, config: config,
            endpoints: endpoints, tlsPools: [],
            interfaces: Dictionary(
                uniqueKeysWithValues: config.pools.map { ($0.name, try! InterfaceName(parsing: "eth0")) }))
        return FleetPlan.Member(cluster: cluster(name), limits: limits, inputs: inputs)
    }

    static let blue = member(
        "blue", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.19"}"#,
        vips: [("198.51.100.10", "default"), ("198.51.100.11", "default")])
    static let green = member(
        "green", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.20-198.51.100.29"}"#,
        vips: [("198.51.100.20", "default")], vridOffset: 100)

    @Test func twoClustersMergeWithTheirNamesApart() throws {
        let plan = FleetPlan.make(members: [Self.blue, Self.green], settings: .empty)
        let merged = try #require(plan.merged)
        #expect(merged.config.pools.map(\.name.rawValue) == ["blue.default", "green.default"])
        #expect(merged.document.vips.map(\.address.description) == ["198.51.100.10", "198.51.100.11", "198.51.100.20"])
        // The same namespace/name in two clusters stays two Services with their own endpoints.
        let keys = merged.document.vips.flatMap { $0.services.map(\.key.description) }
        #expect(keys == ["blue/shop/web0", "blue/shop/web1", "green/shop/web0"])
        #expect(merged.endpoints.endpoints.count == 3)
        #expect(plan.verdicts.values.allSatisfy { $0.refusals.isEmpty && !$0.refusedWhole })
        #expect(plan.verdicts[Self.cluster("green")]?.vips == [Self.ip("198.51.100.20")])
        let owner = try #require(FleetPlan.owner(of: merged.document.vips[2].services[0].key))
        #expect(owner.cluster == "green" && owner.key == ServiceKey(namespace: "shop", name: "web0"))
        #expect(FleetPlan.owner(of: merged.config.pools[0].name)?.pool == .default)
        // The node plans it like any other: one haproxy.cfg, one keepalived.conf, every VIP.
        let node = NodePlan.make(merged)
        #expect(node.keepalived.contains("198.51.100.20") && node.keepalived.contains("198.51.100.11"))
        guard case .haproxy(let rendered) = node.proxy else {
            Issue.record("no HAProxy config")
            return
        }
        for a in ["198.51.100.10:80", "198.51.100.11:80", "198.51.100.20:80", "203.0.113.1:8080"] {
            #expect(rendered.text.contains(a), "\(a)")
        }
        // Each cluster reports only its own groups.
        let blueGroups = plan.share(of: node, for: Self.blue).vrrpGroups
        let greenGroups = plan.share(of: node, for: Self.green).vrrpGroups
        #expect(!blueGroups.isEmpty && !greenGroups.isEmpty && blueGroups.isDisjoint(with: greenGroups))
        #expect(blueGroups.union(greenGroups) == node.vrrpGroups)
        #expect(blueGroups == plan.verdicts[Self.cluster("blue")]?.groups)
    }

    @Test func overlappingPoolsRefuseTheLaterClusterWholeAndKeepItsLastAdmittedInputs() throws {
        let red = Self.member(
            "red", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.15-198.51.100.40"}"#,
            vips: [("198.51.100.30", "default")])
        let first = FleetPlan.make(members: [Self.blue, red], settings: .empty)
        let verdict = try #require(first.verdicts[Self.cluster("red")])
        #expect(verdict.refusedWhole && verdict.vips.isEmpty)
        #expect(
            verdict.refusals == [
                .poolOverlap(pool: .default, other: Self.cluster("blue"), otherPool: .default)
            ])
        #expect(first.merged?.document.vips.count == 2)
        #expect(first.verdicts[Self.cluster("blue")]?.refusals.isEmpty == true)
        // Listed first but new: the cluster served before keeps its pool; the newcomer is refused.
        let again = FleetPlan.make(members: [red, Self.blue], settings: .empty, lastAdmitted: first.admitted)
        #expect(again.verdicts[Self.cluster("red")]?.refusedWhole == true)
        #expect(again.verdicts[Self.cluster("blue")]?.vips.count == 2)
        // An admitted cluster whose new config overlaps keeps serving what was admitted.
        let admitted = FleetPlan.make(members: [Self.blue, Self.green], settings: .empty)
        let greenNow = Self.member(
            "green", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.12-198.51.100.29"}"#,
            vips: [("198.51.100.20", "default"), ("198.51.100.12", "default")], vridOffset: 100)
        let after = FleetPlan.make(
            members: [Self.blue, greenNow], settings: .empty, previous: admitted.claims,
            lastAdmitted: admitted.admitted)
        let g = try #require(after.verdicts[Self.cluster("green")])
        #expect(g.servingLastAdmitted && !g.refusedWhole && g.vips == [Self.ip("198.51.100.20")])
        #expect(g.refusals.first?.reason == "FleetPoolOverlap")
    }

    @Test func aVIPOrVRIDClaimedTwiceGoesToTheHolderThenToTheFirstListed() throws {
        // Both clusters' networks hold 198.51.100.50 (outside both ranges: a static IP).
        let blue = Self.member(
            "blue", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.19"}"#,
            vips: [("198.51.100.10", "default"), ("198.51.100.50", "default")], vridOffset: 0)
        let green = Self.member(
            "green", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.20-198.51.100.29"}"#,
            vips: [("198.51.100.50", "default")], vridOffset: 100)
        let plan = FleetPlan.make(members: [blue, green], settings: .empty)
        #expect(
            plan.verdicts[Self.cluster("green")]?.refusals == [
                .vipTaken(Self.ip("198.51.100.50"), by: Self.cluster("blue"))
            ])
        #expect(plan.claims.vips[Self.ip("198.51.100.50")] == Self.cluster("blue"))
        // Listed first now, green still does not take what blue holds.
        let later = FleetPlan.make(members: [green, blue], settings: .empty, previous: plan.claims)
        #expect(later.claims.vips[Self.ip("198.51.100.50")] == Self.cluster("blue"))
        #expect(later.verdicts[Self.cluster("green")]?.vips.isEmpty == true)

        // The same VRID offset in both: green's groups collide with blue's and are refused.
        let sameOffset = Self.member(
            "green", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.20-198.51.100.29"}"#,
            vips: [("198.51.100.20", "default")], vridOffset: 0)
        let collided = FleetPlan.make(members: [Self.blue, sameOffset], settings: .empty)
        let refusals = collided.verdicts[Self.cluster("green")]?.refusals ?? []
        #expect(refusals.count == 1 && refusals.first?.reason == "FleetVRIDTaken", "\(refusals)")
        #expect(collided.merged?.document.groups.count == Self.blue.inputs.document.groups.count)
        // Every VRID in the merged document is one group's, every group one cluster's.
        let ids = collided.merged?.document.groups.map { "\($0.family)/\($0.vrid)" } ?? []
        #expect(Set(ids).count == ids.count)
    }

    @Test func fleetOwnedSettingsAreRefusedByPathAndTheFleetsApply() throws {
        let loud = Self.member(
            "blue", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.19"}"#,
            vips: [("198.51.100.10", "default")],
            extra:
                #", "haproxy": {"global": ["maxconn 10"], "httpfront": ["http-request deny"]}, "vrrp": {"advertInterval": 3}"#
        )
        let settings = FleetFile.parsed(
            #"{"clusters": [{"name": "blue", "kubeconfig": "/etc/k8slb/blue.kubeconfig"}], "settings": {"haproxy": {"global": ["maxconn 20000"]}, "vrrp": {"advertInterval": 0.1}}}"#
        )
        let fleet = try settings.get()
        let plan = FleetPlan.make(members: [loud, Self.green], settings: fleet.settings)
        #expect(
            plan.verdicts[Self.cluster("blue")]?.refusals
                == [.fleetSetting(path: "haproxy"), .fleetSetting(path: "vrrp.advertInterval")])
        #expect(plan.verdicts[Self.cluster("blue")]?.vips.count == 1, "the rest of the cluster is served")
        let merged = try #require(plan.merged)
        #expect(merged.config.haproxy.global.map(\.description) == ["maxconn 20000"])
        #expect(merged.config.haproxy.httpfront.isEmpty)
        #expect(merged.config.vrrp.advertIntervalCentiseconds == 10)
        guard case .haproxy(let rendered) = NodePlan.make(merged).proxy else { return }
        #expect(!rendered.text.contains("http-request deny") && rendered.text.contains("maxconn 20000"))
    }

    @Test func limitsKeepWhatWasServed() throws {
        let many = Self.member(
            "blue", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.19"}"#,
            vips: [("198.51.100.12", "default"), ("198.51.100.13", "default")], limits: FleetLimits(vips: 2))
        let first = FleetPlan.make(members: [many], settings: .empty)
        #expect(first.verdicts[Self.cluster("blue")]?.vips.count == 2)
        // A lower address arrives: the two served before stay, the new one is over the limit.
        var more = Self.member(
            "blue", pools: #""default": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.19"}"#,
            vips: [("198.51.100.10", "default"), ("198.51.100.12", "default"), ("198.51.100.13", "default")],
            limits: FleetLimits(vips: 2))
        let second = FleetPlan.make(members: [more], settings: .empty, previous: first.claims)
        #expect(second.verdicts[Self.cluster("blue")]?.refusals == [.vipLimit(Self.ip("198.51.100.10"), limit: 2)])
        more.limits = FleetLimits(ports: 1)
        let ports = FleetPlan.make(members: [more], settings: .empty, previous: first.claims)
        #expect(ports.verdicts[Self.cluster("blue")]?.vips == [Self.ip("198.51.100.12")])
        #expect(ports.verdicts[Self.cluster("blue")]?.refusals.allSatisfy { $0.reason == "FleetLimitReached" } == true)
    }

    @Test func fleetFileErrorsNameTheirPath() {
        let bad = FleetFile.parsed(
            #"{"clusters": [{"name": "Blue", "kubeconfig": "relative"}, {"name": "x", "kubeconfig": "/k", "limits": {"vips": 0}}], "settings": {"pools": {}}}"#
        )
        guard case .failure(let error) = bad else {
            Issue.record("accepted")
            return
        }
        let paths = error.errors.map(\.path)
        #expect(paths == ["clusters[0].name", "clusters[0].kubeconfig", "clusters[1].limits.vips", "settings.pools"])
        let twice = FleetFile.parsed(
            #"{"clusters": [{"name": "a", "kubeconfig": "/k"}, {"name": "a", "kubeconfig": "/j"}]}"#)
        guard case .failure(let e2) = twice else {
            Issue.record("accepted")
            return
        }
        #expect(e2.errors.map(\.path) == ["clusters[1].name"])
        let good = try? FleetFile.parsed(
            #"{"clusters": [{"name": "a", "kubeconfig": "/etc/a", "namespace": "lb", "limits": {"vips": 5, "ports": 9}}]}"#
        ).get()
        #expect(good?.clusters.first?.limits == FleetLimits(vips: 5, ports: 9))
        #expect(good?.clusters.first?.namespace == "lb")
    }
}

extension FleetFile {
    /// `parse` as a Result (the tests compare errors).
    static func parsed(_ text: String) -> Result<FleetFile, ConfigValidationError> {
        do throws(ConfigValidationError) { return .success(try FleetFile.parse(text)) } catch {
            return .failure(error)
        }
    }
}
