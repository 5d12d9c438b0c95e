import Core
import Foundation
import TestSupport
import Testing

/// The Runtime API diff (what the actor sends HAProxy instead of reloading).
@Suite struct HAProxyRuntimePlanTests {
    static let key = ServiceKey(namespace: "shop", name: "web")
    static let vip = RenderFixture.ip("192.0.2.10")
    static let config = try! UserConfig.parse(
        #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.10-192.0.2.20"}}}"#
    ).config
    static var document: AssignmentDocument {
        AssignmentDocument(vips: [
            .init(
                address: vip, pool: .default,
                services: [
                    .init(key: key, ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
                ])
        ])
    }

    static func rendered(_ endpoints: [String], port: UInt16 = 8080, noCheck: Bool = false) -> HAProxyRenderer.Rendered
    {
        var doc = document
        if noCheck { doc.vips[0].services[0].noCheck = true }
        let eps = EndpointMap([
            .init(service: key, port: 80, proto: .tcp): endpoints.map {
                .init(address: RenderFixture.ip($0), port: port)
            }
        ])
        return HAProxyRenderer(options: .init()).renderWithServers(doc, endpoints: eps, config: config)
    }

    @Test func unchangedNeedsNoCommand() {
        let a = Self.rendered(["198.51.100.1"])
        #expect(HAProxyRuntimePlan.commands(from: a, to: a, pendingDeletes: []) == [])
    }

    @Test func addedServerIsAddedEnabledAndChecked() throws {
        let cmds = try #require(
            HAProxyRuntimePlan.commands(
                from: Self.rendered(["198.51.100.1"]), to: Self.rendered(["198.51.100.1", "198.51.100.2"]),
                pendingDeletes: []))
        #expect(
            cmds.map(\.text) == [
                "add server be_192_0_2_10_80/ep_198_51_100_2_8080 198.51.100.2:8080 check inter 2s fall 3 rise 2",
                "enable server be_192_0_2_10_80/ep_198_51_100_2_8080",
                "enable health be_192_0_2_10_80/ep_198_51_100_2_8080",
            ])
        #expect(cmds[0].expect == "New server registered" && cmds[1].expectEmpty)
    }

    @Test func removedServerGoesToMaintenanceThenIsDeletedAndMayDefer() throws {
        let cmds = try #require(
            HAProxyRuntimePlan.commands(
                from: Self.rendered(["198.51.100.1", "198.51.100.2"]), to: Self.rendered(["198.51.100.2"]),
                pendingDeletes: []))
        #expect(
            cmds.map(\.text) == [
                "set server be_192_0_2_10_80/ep_198_51_100_1_8080 state maint",
                "del server be_192_0_2_10_80/ep_198_51_100_1_8080",
            ])
        #expect(cmds.map(\.mayDefer) == [false, true])
    }

    @Test func reAddOfADeferredDeleteBringsItBackInsteadOfAddingATwin() throws {
        let id = "be_192_0_2_10_80/ep_198_51_100_1_8080"
        let cmds = try #require(
            HAProxyRuntimePlan.commands(
                from: Self.rendered(["198.51.100.2"]), to: Self.rendered(["198.51.100.1", "198.51.100.2"]),
                pendingDeletes: [id]))
        #expect(cmds.map(\.text) == ["set server \(id) state ready"])
    }

    @Test func deferredDeleteStillUnwantedIsRetried() throws {
        let id = "be_192_0_2_10_80/ep_198_51_100_1_8080"
        let a = Self.rendered(["198.51.100.2"])
        #expect(
            HAProxyRuntimePlan.commands(from: a, to: a, pendingDeletes: [id])?.map(\.text) == [
                "set server \(id) state maint", "del server \(id)",
            ])
    }

    @Test func portChangeIsANewServerAndTheOldOneGoes() throws {
        let cmds = try #require(
            HAProxyRuntimePlan.commands(
                from: Self.rendered(["198.51.100.1"]), to: Self.rendered(["198.51.100.1"], port: 9090),
                pendingDeletes: []))
        #expect(
            cmds.map(\.text).contains(
                "add server be_192_0_2_10_80/ep_198_51_100_1_9090 198.51.100.1:9090 check inter 2s fall 3 rise 2"))
        #expect(cmds.map(\.text).contains("del server be_192_0_2_10_80/ep_198_51_100_1_8080"))
    }

    @Test func serverOptionsChangedInPlaceNeedAReload() {
        // Same server name, other options (health checks turned off): not a Runtime API change.
        #expect(
            HAProxyRuntimePlan.commands(
                from: Self.rendered(["198.51.100.1"]), to: Self.rendered(["198.51.100.1"], noCheck: true),
                pendingDeletes: []) == nil)
    }

    @Test func structuralChangeNeedsAReload() {
        var other = Self.document
        other.vips[0].services[0].ports.append(.init(name: "alt", port: 8443, targetPort: .number(8080)))
        let b = HAProxyRenderer(options: .init()).renderWithServers(
            other, endpoints: EndpointMap([:]), config: Self.config)
        #expect(HAProxyRuntimePlan.commands(from: Self.rendered(["198.51.100.1"]), to: b, pendingDeletes: []) == nil)
    }
}

/// The per-node plan (what a sync applies).
@Suite struct NodePlanTests {
    static let eth0 = try! InterfaceName(parsing: "eth0")

    static func inputs(node: String = "lb-a", eligible: Bool = true, backend: ProxyBackend = .haproxy, ha: Bool = true)
        -> NodePlan.Inputs
    {
        let config = try! UserConfig.parse(
            #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.10-192.0.2.20","ha":\#(ha)}},"vrrp":{"advertInterval":0.1}}"#
        ).config
        var doc = RenderFixture.document
        doc.vips = doc.vips.filter { $0.pool == .default }
        var i = NodePlan.Inputs(
            node: node, eligible: eligible, backend: backend, document: doc, config: config,
            endpoints: RenderFixture.endpoints, tlsPools: [], interfaces: [.default: eth0])
        i.trackFile = try! SafePath(parsing: "/run/k8slb/proxy-health")
        return i
    }

    @Test func haproxyNodeRendersProxyAndVRRPAndBindsNothingItself() {
        let p = NodePlan.make(Self.inputs())
        guard case .haproxy(let r) = p.proxy else {
            Issue.record("no haproxy config")
            return
        }
        #expect(r.text.contains("bind 192.0.2.10:80 transparent"))
        #expect(p.keepalived.contains("vrrp_instance VI_4_") && p.keepalived.contains("track_file {"))
        #expect(p.bindings.isEmpty && p.holdsVIPs)
    }

    @Test func kubeproxyHasNoProxy() {
        #expect(NodePlan.make(Self.inputs(backend: .kubeproxy)).proxy == .none)
        guard case .nginx(let nginx) = NodePlan.make(Self.inputs(backend: .nginx)).proxy else {
            Issue.record("no nginx config")
            return
        }
        #expect(nginx.text.contains("listen 192.0.2.10:80"))
        // The temporary directories the actor creates for nginx's workers, all in the run directory.
        #expect(
            nginx.temporaryDirectories
                == ["body", "proxy", "fastcgi", "uwsgi", "scgi"].map { "/run/k8slb/nginx-\($0)" })
        #expect(nginx.workerUser == "nobody")
    }

    @Test func nonHAPoolIsBoundOnlyOnItsGroupsPreferredNode() {
        let doc = Self.inputs(ha: false).document
        for node in doc.nodes {
            let p = NodePlan.make(Self.inputs(node: node, ha: false))
            let preferred = Set(
                doc.vips.filter { v in doc.groups.first { $0.vrid == v.vrid && $0.family == v.family }?.node == node }
                    .map(\.address))
            #expect(Set(p.bindings.keys) == preferred, "\(node)")
            #expect(!p.keepalived.contains("vrrp_instance"), "no VRRP for a pool with ha false")
        }
        let all = doc.nodes.flatMap { NodePlan.make(Self.inputs(node: $0, ha: false)).bindings.keys }
        #expect(
            all.count == Set(all).count && Set(all) == Set(doc.vips.map(\.address)),
            "each VIP bound on exactly one node")
    }

    @Test func ineligibleNodeKeepsItsInstancesAtTheLowestPriorityAndBindsNothing() {
        let p = NodePlan.make(Self.inputs(eligible: false, ha: false))
        #expect(p.bindings.isEmpty && !p.holdsVIPs)
        // A node the document no longer lists still renders its instances while ineligible, so
        // keepalived can leave MASTER for FAULT (priority-0 advert) rather than drop them.
        var absent = Self.inputs(node: "lb-z", eligible: false)
        let q = NodePlan.make(absent)
        #expect(q.keepalived.contains("vrrp_instance") && q.keepalived.contains("priority 220"))
        absent.eligible = true
        #expect(
            !NodePlan.make(absent).keepalived.contains("vrrp_instance"),
            "an eligible node the watcher has not listed yet takes no part")
    }

    @Test func onlyPoolsWithCheckedCertificatesTerminateTLS() {
        var i = Self.inputs()
        guard case .haproxy(let without) = NodePlan.make(i).proxy else { return }
        #expect(!without.text.contains("ssl crt"))
        i.tlsPools = [.default]
        guard case .haproxy(let with) = NodePlan.make(i).proxy else { return }
        #expect(with.text.contains("bind 192.0.2.10:443 transparent ssl crt /etc/certs/default.pem"))
    }
}

@Suite struct LabelSelectorTests {
    @Test(
        arguments: [
            ("type=loadBalancer", ["type": "loadBalancer"], true), ("type=loadBalancer", ["type": "worker"], false),
            ("type==loadBalancer", ["type": "loadBalancer"], true), ("type!=worker", [:], true),
            ("type!=worker", ["type": "worker"], false),
            ("lb", ["lb": ""], true), ("!lb", ["lb": "x"], false),
            ("zone in (a, b),type=lb", ["zone": "b", "type": "lb"], true),
            ("zone notin (a,b)", ["zone": "a"], false), ("zone notin (a,b)", [:], true), ("", ["x": "y"], true),
        ] as [(String, [String: String], Bool)])
    func matches(_ selector: String, _ labels: [String: String], _ expected: Bool) throws {
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test func refusesGarbage() {
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: "type=lb;reboot") }
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: "zone in a,b") }
    }

    @Test func excludedOrUnlabelledNodesAreNotEligible() throws {
        let s = try LabelSelector(parsing: "type=loadBalancer")
        #expect(NodeEligibility.eligible(labels: ["type": "loadBalancer"], selector: s))
        #expect(
            !NodeEligibility.eligible(labels: ["type": "loadBalancer", NodeEligibility.excludeLabel: ""], selector: s))
        #expect(!NodeEligibility.eligible(labels: [:], selector: s))
        #expect(!NodeEligibility.eligible(labels: nil, selector: s))
    }
}

@Suite struct AssignmentConfigMapsTests {
    @Test func planThenReadRoundTripsAndWritesOnlyWhatChanged() async throws {
        let layout = AssignmentConfigMaps(base: "assignments")
        let doc = RenderFixture.document
        let encoded = try AssignmentShards.encode(doc, maxShardBytes: 600)
        #expect(encoded.shards.count > 1)
        let (writes, deletes) = layout.plan(encoded, previous: [:], previousIndex: nil)
        #expect(
            writes.last?.name == "assignments" && writes.dropLast().allSatisfy { $0.key == "vips" } && deletes.isEmpty)
        var store: [String: [String: String]] = [:]
        for w in writes { store[w.name] = [w.key: w.text] }
        let read = try await layout.read { store[$0] }
        #expect(read == doc)
        // Nothing changed: nothing to write. Fewer shards: the extra ones are deleted.
        let digests = Dictionary(
            uniqueKeysWithValues: encoded.index.shards.enumerated().map { ($0.offset, $0.element) })
        #expect(layout.plan(encoded, previous: digests, previousIndex: encoded.indexBytes).writes.isEmpty)
        let one = try AssignmentShards.encode(doc)
        #expect(
            layout.plan(one, previous: digests, previousIndex: encoded.indexBytes).deletes
                == (1..<encoded.shards.count).map { "assignments-\($0)" })
    }

    @Test func halfWrittenSetIsRefusedAndNothingPublishedIsNil() async throws {
        let layout = AssignmentConfigMaps(base: "assignments")
        #expect(try await layout.read { _ in nil } == nil)
        let encoded = try AssignmentShards.encode(RenderFixture.document)
        var store: [String: [String: String]] = [
            "assignments": ["index": String(decoding: encoded.indexBytes, as: UTF8.self)]
        ]
        await #expect(throws: AssignmentShards.ShardError.self) { try await layout.read { store[$0] } }
        store["assignments-0"] = ["vips": "{}"]
        await #expect(throws: AssignmentShards.ShardError.digestMismatch(shard: 0)) {
            try await layout.read { store[$0] }
        }
    }
}

/// Ordered removal bookkeeping: only the node holding a vanished group's VIPs keeps it, until no
/// other node lists it (or the timeout).
@Suite struct LingeringGroupsTests {
    static let vip = RenderFixture.ip("192.0.2.50")
    static let group = VRRPPlan.Group(vrid: 7, family: .ipv4, pool: .default, node: "lb-a")
    static let before = AssignmentDocument(
        vips: [.init(address: vip, pool: .default, services: [], vrid: 7)], nodes: ["lb-a", "lb-b"], groups: [group])
    static let after = AssignmentDocument(vips: [], nodes: ["lb-a", "lb-b"], groups: [])

    @Test func onlyTheHolderLingersAndOnlyUntilTheOthersDropped() {
        var l = LingeringGroups()
        l.update(previous: Self.before, current: Self.after, live: [], now: 0)
        #expect(l.entries.isEmpty, "a node not holding the VIP drops the instance at once")
        l.update(previous: Self.before, current: Self.after, live: [Self.vip], now: 0)
        #expect(l.instances == [Self.group: [Self.vip]])
        l.release(others: ["lb-b"], records: ["lb-b": [Self.group.id]], now: 1, timeout: 10)
        #expect(!l.entries.isEmpty, "lb-b still runs the group")
        l.release(others: ["lb-b"], records: [:], now: 2, timeout: 10)
        #expect(!l.entries.isEmpty, "no record from lb-b yet: wait (up to the timeout)")
        l.release(others: ["lb-b"], records: ["lb-b": []], now: 3, timeout: 10)
        #expect(l.entries.isEmpty, "lb-b dropped it: the holder drops it too")
    }

    @Test func timeoutAndReappearance() {
        var l = LingeringGroups()
        l.update(previous: Self.before, current: Self.after, live: [Self.vip], now: 0)
        l.release(others: ["lb-b"], records: [:], now: 10, timeout: 10)
        #expect(l.entries.isEmpty, "a node that never answers holds nothing up past the timeout")
        l.update(previous: Self.before, current: Self.after, live: [Self.vip], now: 20)
        l.update(previous: Self.after, current: Self.before, live: [Self.vip], now: 21)
        #expect(l.entries.isEmpty, "the group is back: nothing lingers")
    }

    @Test func lingeringInstanceIsRenderedForKeepalivedOnly() {
        var i = NodePlanTests.inputs()
        i.document = Self.after
        i.lingering = [Self.group: [Self.vip]]
        let p = NodePlan.make(i)
        #expect(p.keepalived.contains("virtual_router_id 7") && p.keepalived.contains("192.0.2.50/32"))
        #expect(p.vrrpGroups == [Self.group.id])
        guard case .haproxy(let r) = p.proxy else { return }
        #expect(!r.text.contains("192.0.2.50:"), "no frontend for a deleted Service")
    }

    @Test func recordFormatRoundTrips() {
        let ids: Set<VRRPGroupID> = [
            .init(family: .ipv4, vrid: 11), .init(family: .ipv6, vrid: 3), .init(family: .ipv4, vrid: 2),
        ]
        #expect(NodeGroupsRecord.format(ids) == "4/2,4/11,6/3")
        #expect(NodeGroupsRecord.parse("4/2,4/11,6/3,bogus,7/1,4/999") == ids)
    }
}

/// New groups are held back on nodes that are not their preferred node (no race for a brand-new
/// VIP), never at start-up, and released after the delay.
@Suite struct DeferredGroupsTests {
    @Test func onlyNewGroupsOfOtherNodesAndOnlyForTheDelay() {
        let mine = VRRPPlan.Group(vrid: 1, family: .ipv4, pool: .default, node: "lb-a")
        let theirs = VRRPPlan.Group(vrid: 2, family: .ipv4, pool: .default, node: "lb-b")
        let empty = AssignmentDocument(vips: [], nodes: ["lb-a", "lb-b"], groups: [])
        let both = AssignmentDocument(vips: [], nodes: ["lb-a", "lb-b"], groups: [mine, theirs])
        var d = DeferredGroups()
        d.update(previous: nil, current: both, node: "lb-a", now: 0, delay: 1)
        #expect(d.ids.isEmpty, "start-up: nothing is new")
        d.update(previous: empty, current: both, node: "lb-a", now: 0, delay: 1)
        #expect(d.ids == [theirs.id], "lb-b's new group waits here; lb-a's own does not")
        #expect(d.nextRelease == 1)
        d.update(previous: both, current: both, node: "lb-a", now: 1.01, delay: 1)
        #expect(d.ids.isEmpty, "released after the delay")
    }
}

/// Split brain: the node ranked lower for a group steps down after the grace, only with its own
/// claim seen through the API and the holder's record confirmed after it; it resumes when adverts
/// are heard, when the holder lets go or its record goes stale, and when its own record goes stale
/// (API out of reach).
@Suite struct SplitBrainTests {
    static let vip = try! IPAddress(parsing: "192.0.2.50")
    static let group = VRRPPlan.Group(vrid: 11, family: .ipv4, pool: .default, node: "lb-a")
    static let document = AssignmentDocument(
        vips: [.init(address: vip, pool: .default, services: [], vrid: 11)], nodes: ["lb-a", "lb-b"],
        groups: [group])
    static let both: [String: Set<IPAddress>] = ["lb-a": [vip], "lb-b": [vip]]

    /// Every record seen changing at `seen` (default: now).
    func inputs(
        _ node: String, records: [String: Set<IPAddress>], now: Double, live: Bool = true, seen: Double? = nil
    ) -> SplitBrain.Inputs {
        var i = SplitBrain.Inputs(
            node: node, document: Self.document, live: live ? [Self.vip] : [], records: records, now: now)
        i.seen = records.mapValues { _ in seen ?? now }
        return i
    }

    @Test func theLowerRankedNodeStepsDownAfterTheGrace() {
        var b = SplitBrain(grace: 1)
        #expect(b.update(inputs("lb-b", records: Self.both, now: 0)).isEmpty, "claimed; lb-a not yet confirmed")
        #expect(b.suspected.isEmpty)
        #expect(b.update(inputs("lb-b", records: Self.both, now: 0.1)).isEmpty, "confirmed: suspected")
        #expect(b.nextDeadline == 1.1)
        #expect(b.update(inputs("lb-b", records: Self.both, now: 0.6)).isEmpty)
        let changes = b.update(inputs("lb-b", records: Self.both, now: 1.1))
        #expect(
            changes == [.steppedDown(Self.group.id, .init(holder: "lb-a", addresses: [Self.vip], since: 1.1))])
        #expect(b.ids == [Self.group.id])
        // The preferred node never steps down on this account; it confirms its record once.
        var a = SplitBrain(grace: 1)
        #expect(a.update(inputs("lb-a", records: Self.both, now: 0)) == [.confirm([Self.vip])])
        #expect(a.update(inputs("lb-a", records: Self.both, now: 5)).isEmpty && a.ids.isEmpty)
    }

    @Test func aDeadHoldersLastRecordNeverMakesItStepDown() {
        // lb-a died holding the VIP: its record (still fresh for a while) was last written before
        // lb-b took the VIP over, and nothing confirms it after.
        var b = SplitBrain(grace: 1)
        for t in stride(from: 0.0, through: 10, by: 0.5) {
            #expect(b.update(inputs("lb-b", records: Self.both, now: t, seen: -1)).isEmpty)
        }
        #expect(b.ids.isEmpty && b.suspected.isEmpty)
    }

    @Test func theHolderReannouncesWhenTheOtherLetsGo() {
        var a = SplitBrain(grace: 1)
        #expect(a.update(inputs("lb-a", records: Self.both, now: 0)) == [.confirm([Self.vip])])
        #expect(a.contested == [Self.vip])
        #expect(
            a.update(inputs("lb-a", records: ["lb-a": [Self.vip], "lb-b": []], now: 1.5)) == [.reannounce([Self.vip])])
        #expect(a.update(inputs("lb-a", records: ["lb-a": [Self.vip], "lb-b": []], now: 2)).isEmpty, "once")
        // Not when the VIP left this node meanwhile.
        _ = a.update(inputs("lb-a", records: Self.both, now: 3))
        #expect(a.update(inputs("lb-a", records: ["lb-a": [], "lb-b": []], now: 4, live: false)).isEmpty)
    }

    @Test func aBreakInTheOverlapRestartsTheGrace() {
        var b = SplitBrain(grace: 1)
        _ = b.update(inputs("lb-b", records: Self.both, now: 0))
        _ = b.update(inputs("lb-b", records: Self.both, now: 0.1))
        _ = b.update(inputs("lb-b", records: ["lb-a": [Self.vip], "lb-b": []], now: 0.6))  // a handover
        #expect(b.suspected.isEmpty)
        _ = b.update(inputs("lb-b", records: Self.both, now: 1.2))
        #expect(b.update(inputs("lb-b", records: Self.both, now: 1.3)).isEmpty, "the grace starts again")
        #expect(b.update(inputs("lb-b", records: Self.both, now: 2.4)).count == 1)
    }

    @Test func withoutItsOwnClaimSeenThroughTheAPINobodyStepsDown() {
        var b = SplitBrain(grace: 1)
        // The API is down: this node's record (absent: stale) cannot list the VIP it took.
        _ = b.update(inputs("lb-b", records: ["lb-a": [Self.vip]], now: 0))
        #expect(b.update(inputs("lb-b", records: ["lb-a": [Self.vip]], now: 5)).isEmpty && b.ids.isEmpty)
        // Its record is fresh but does not list the VIP yet (the write is under way).
        _ = b.update(inputs("lb-b", records: ["lb-a": [Self.vip], "lb-b": []], now: 6))
        #expect(b.update(inputs("lb-b", records: ["lb-a": [Self.vip], "lb-b": []], now: 9)).isEmpty)
        // A VIP not live here (the record lags behind netlink): nothing to step down for.
        _ = b.update(inputs("lb-b", records: Self.both, now: 10, live: false))
        #expect(b.update(inputs("lb-b", records: Self.both, now: 12, live: false)).isEmpty)
    }

    func steppedDown() -> SplitBrain {
        var b = SplitBrain(grace: 1, resumeAdverts: 3)
        _ = b.update(inputs("lb-b", records: Self.both, now: 0))
        _ = b.update(inputs("lb-b", records: Self.both, now: 0.1))
        _ = b.update(inputs("lb-b", records: Self.both, now: 1.1))
        #expect(b.ids == [Self.group.id])
        return b
    }
    @Test func resumesWhenAdvertsAreHeard() {
        var b = steppedDown()
        let after: [String: Set<IPAddress>] = ["lb-a": [Self.vip], "lb-b": []]
        var i = inputs("lb-b", records: after, now: 2, live: false)
        i.heard = [Self.group.id: 2]
        #expect(b.update(i).isEmpty, "two adverts are not yet enough")
        i.heard = [Self.group.id: 3]
        #expect(b.update(i) == [.resumed(Self.group.id, .advertsHeard)])
        #expect(b.ids.isEmpty)
    }

    @Test func resumesWhenTheHolderLetsGoOrGoesStale() {
        var b = steppedDown()
        #expect(
            b.update(inputs("lb-b", records: ["lb-a": [], "lb-b": []], now: 3, live: false)) == [
                .resumed(Self.group.id, .holderGone)
            ])
        b = steppedDown()
        #expect(
            b.update(inputs("lb-b", records: ["lb-b": []], now: 3, live: false)) == [
                .resumed(Self.group.id, .holderGone)
            ], "lb-a's record went stale (absent)")
    }

    @Test func resumesWhenItsOwnRecordGoesStaleOrTheGroupGoes() {
        var b = steppedDown()
        #expect(
            b.update(inputs("lb-b", records: ["lb-a": [Self.vip]], now: 3, live: false)) == [
                .resumed(Self.group.id, .apiUnreachable)
            ])
        b = steppedDown()
        var i = inputs("lb-b", records: ["lb-a": [Self.vip], "lb-b": []], now: 3, live: false)
        i.document = AssignmentDocument(vips: [], nodes: ["lb-a", "lb-b"], groups: [])
        #expect(b.update(i) == [.resumed(Self.group.id, .groupGone)])
    }

    @Test func aBackupRankedBelowAnotherBackupStepsDownToo() {
        // Three nodes; the preferred one is gone and the two backups both hold the VIP: the one
        // ranked lower in keepalived's order steps down.
        let g = VRRPPlan.Group(vrid: 11, family: .ipv4, pool: .default, node: "lb-c")
        let doc = AssignmentDocument(
            vips: [.init(address: Self.vip, pool: .default, services: [], vrid: 11)], nodes: ["lb-a", "lb-b", "lb-c"],
            groups: [g])
        let order = g.priorityOrder(nodes: doc.nodes)
        #expect(order.first == "lb-c" && Set(order) == ["lb-a", "lb-b", "lb-c"])
        let records: [String: Set<IPAddress>] = ["lb-a": [Self.vip], "lb-b": [Self.vip]]
        for node in ["lb-a", "lb-b"] {
            var s = SplitBrain(grace: 1)
            var changes: [SplitBrain.Change] = []
            for t in [0.0, 0.1, 1.1] {
                var i = SplitBrain.Inputs(node: node, document: doc, live: [Self.vip], records: records, now: t)
                i.seen = records.mapValues { _ in t }
                changes = s.update(i).filter { if case .steppedDown = $0 { true } else { false } }
            }
            #expect(changes.isEmpty == (node == order[1]), "\(node) (order \(order))")
        }
    }
}

/// Connections that survive a planned move: the ruleset forwards a draining node's VIPs to it
/// (only on-link, IPv4, VRRP pools), delivers every VRRP VIP's established connections locally,
/// and renders from typed values only.
@Suite struct HandoverTests {
    static let config = try! UserConfig.parse(
        #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"},"v6":{"network":"2001:db8::/64","range":"2001:db8::50-2001:db8::60"},"edge":{"network":"198.51.100.0/24","range":"198.51.100.10-198.51.100.20","ha":false}}}"#
    ).config
    static func vip(_ a: String, _ pool: String) -> AssignmentDocument.VIP {
        .init(address: try! IPAddress(parsing: a), pool: try! PoolName(parsing: pool), services: [], vrid: 1)
    }
    static let document = AssignmentDocument(
        vips: [
            vip("192.0.2.50", "default"), vip("192.0.2.51", "default"), vip("2001:db8::50", "v6"),
            vip("198.51.100.10", "edge"),
        ],
        nodes: ["lb-a", "lb-b"], groups: [])
    static let eth0 = try! InterfaceName(parsing: "eth0")

    func plan(draining: [String: Set<IPAddress>], addresses: [String: String]) -> Handover.Plan {
        Handover.plan(
            node: "lb-b", document: Self.document, config: Self.config, interfaces: [.default: Self.eth0],
            draining: draining, addresses: addresses.mapValues { try! IPAddress(parsing: $0) })
    }

    @Test func forwardsOnlyADrainingPeersVIPsOnItsLink() throws {
        let a50 = try IPAddress(parsing: "192.0.2.50")
        let p = plan(
            draining: ["lb-a": [a50], "lb-b": [try IPAddress(parsing: "192.0.2.51")]],
            addresses: ["lb-a": "192.0.2.11", "lb-b": "192.0.2.12"])
        #expect(p.deliver.map(\.description) == ["192.0.2.50", "192.0.2.51"], "IPv4 VRRP VIPs only")
        #expect(p.forward == [.init(vip: a50, target: try IPAddress(parsing: "192.0.2.11"), interface: Self.eth0)])
        // A peer off the VIP's link is never a target (packets would be routed, not sent to it).
        #expect(plan(draining: ["lb-a": [a50]], addresses: ["lb-a": "203.0.113.11"]).forward.isEmpty)
        // No address known for the peer: nothing to forward to.
        #expect(plan(draining: ["lb-a": [a50]], addresses: [:]).forward.isEmpty)
    }

    @Test func theRulesetReplacesItsTableAndUsesConntrackOnlyWhileForwarding() throws {
        let idle = Handover.ruleset(plan(draining: [:], addresses: [:]))
        #expect(idle.hasPrefix("add table ip k8slb_handover\ndelete table ip k8slb_handover\n"))
        #expect(idle.contains("ip daddr @deliver socket transparent 1 meta mark set 0x4b39"))
        #expect(!idle.contains("ct "), "no conntrack while nothing drains")
        let a50 = try IPAddress(parsing: "192.0.2.50")
        let busy = Handover.ruleset(plan(draining: ["lb-a": [a50]], addresses: ["lb-a": "192.0.2.11"]))
        #expect(
            busy.contains(
                "ip daddr 192.0.2.50 tcp flags & (syn | ack) != syn ct state new ct mark set 0x4b38\n        ip daddr 192.0.2.50 ct mark 0x4b38 dup to 192.0.2.11 device \"eth0\"\n"
            ))
        #expect(busy.contains("ct mark 0x4b38 drop\n"))
    }
}
