import Core
import Foundation
import Glibc
import KubeClient
import TestAPIServer
import TestSupport
import Testing

/// Split brain, resolved, with real keepalived in namespaces: VRRP (IP protocol 112) dropped both
/// ways on the preferred node (nftables in its namespace) while the client reaches both nodes.
/// The other node stops hearing adverts and takes the VIP too; the actors see it through their
/// records and the lower-ranked node steps down for the group. When the drop is removed it hears
/// the adverts and runs the group again (BACKUP). With the API server unreachable, nobody steps
/// down: the VIP stays on both nodes until VRRP itself recovers.
@Suite(.serialized) struct SplitBrainResolutionTests {
    @Test(.needs(.root("ip", "haproxy", "keepalived", "curl", "nft").and(built: "k8slb-actor")))
    func lowerRankedNodeStepsDownAndResumes() async throws {
        guard let tools = ActorHarness.tools(), let nft = which("nft") else {
            if requireIntegration { Issue.record("nft is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            let doc = try await h.webScenario(nodes: nodes, tools: tools)
            for node in nodes { try h.startActor(node) }
            let preferred = doc.groups[0].node
            let other = nodes.first { $0 != preferred }!
            let web = ServiceKey(namespace: "default", name: "web")
            var stable = 0
            _ = await eventually(.seconds(30)) {
                stable = try h.holders("192.0.2.50", among: nodes) == [preferred] && h.webServes(tools) ? stable + 1 : 0
                return stable >= 10
            }
            #expect(stable >= 10, "VIP not settled on \(preferred)")
            // Records count as fresh once seen renewed (every 4 s).
            try await Task.sleep(for: .seconds(5))

            func dropVRRP(_ on: Bool) throws {
                let r = try h.topo.exec(
                    preferred,
                    on
                        ? [
                            nft,
                            "add table inet k8slbsplit ; add chain inet k8slbsplit in { type filter hook input priority 0 ; }"
                                + " ; add chain inet k8slbsplit out { type filter hook output priority 0 ; }"
                                + " ; add rule inet k8slbsplit in ip protocol 112 drop ; add rule inet k8slbsplit out ip protocol 112 drop",
                        ] : [nft, "delete table inet k8slbsplit"])
                #expect(r.status == 0, "nft: \(r.output)")
            }
            /// Samples the holders every 20 ms for `duration`; returns (seconds since start, holders).
            func sample(for duration: Duration, until done: ([String]) -> Bool = { _ in false }) throws -> [(
                Double, [String]
            )] {
                var out: [(Double, [String])] = []
                let start = ContinuousClock.now
                while ContinuousClock.now - start < duration {
                    let t = ContinuousClock.now - start
                    let holders = try h.holders("192.0.2.50", among: nodes)
                    out.append((Double(t.components.seconds) + Double(t.components.attoseconds) / 1e18, holders))
                    if done(holders) { break }
                    usleep(20_000)
                }
                return out
            }

            // 1. VRRP dropped on the preferred node: the VIP lands on both, then the other steps down.
            try dropVRRP(true)
            var samples = try sample(for: .seconds(10)) { _ in false }
            guard let firstBoth = samples.firstIndex(where: { $0.1.count == 2 }),
                let resolved = samples[firstBoth...].firstIndex(where: { $0.1 == [preferred] })
            else {
                Issue.record(
                    "no split brain, or not resolved: \(samples.map(\.1).suffix(20))\n\(h.actorLogs())")
                try dropVRRP(false)
                return
            }
            let onBoth = samples[resolved].0 - samples[firstBoth].0
            let after = samples[resolved...]
            print(
                String(
                    format:
                        "split brain: VRRP dropped on %@; the VIP on both nodes from +%.2f s, resolved (on %@ only) after %.2f s; in the %.1f s after: %d samples, %d on both nodes",
                    preferred, samples[firstBoth].0, preferred, onBoth, (after.last?.0 ?? 0) - samples[resolved].0,
                    after.count, after.filter { $0.1.count == 2 }.count))
            #expect(onBoth <= 2, "the VIP on both nodes for \(onBoth) s")
            #expect(after.allSatisfy { $0.1 == [preferred] }, "stays resolved: \(after.map(\.1))")
            #expect(try h.webServes(tools), "the client is served")
            #expect(try h.metric(other, "k8slb_vrrp_groups_stepped_down") == 1)
            #expect(try h.metric(preferred, "k8slb_vrrp_groups_stepped_down") == 0)
            var events: [(reason: String, message: String)] = []
            #expect(
                await eventually(.seconds(10)) {
                    events = try await h.events(web).filter { $0.reason == "VIPOnTwoNodes" }
                    return !events.isEmpty
                }, "VIPOnTwoNodes Event")
            print("split brain: Event \(events.map { "\($0.reason): \($0.message)" })")
            #expect(events.contains { $0.message.contains("\(other) steps down") })

            // 2. The drop removed: the other node hears the adverts and runs the group again, as BACKUP.
            try dropVRRP(false)
            var resumed: [(reason: String, message: String)] = []
            #expect(
                await eventually(.seconds(10)) {
                    resumed = try await h.events(web).filter { $0.reason == "VRRPResumed" }
                    return !resumed.isEmpty
                }, "VRRPResumed Event")
            samples = try sample(for: .seconds(3))
            print(
                "split brain over: Event \(resumed.map { "\($0.reason): \($0.message)" }); in the 3 s after: \(samples.count) samples, holders \(Set(samples.map(\.1)))"
            )
            #expect(resumed.contains { $0.message.contains("adverts are heard") })
            #expect(samples.allSatisfy { $0.1 == [preferred] })
            #expect(try h.metric(other, "k8slb_vrrp_groups_stepped_down") == 0)

            // 3. The API server unreachable (every request refused, watches ended), then VRRP dropped
            // again: nobody steps down (neither can have its claim recorded).
            h.server.addRule(.init(segments: [], status: 503, message: "test: API server down"))
            h.server.store.closeAllWatches()
            try await Task.sleep(for: .seconds(1))
            try dropVRRP(true)
            samples = try sample(for: .seconds(6))
            let tail = samples.filter { $0.0 >= 2 }
            let both = tail.filter { $0.1.count == 2 }.count
            print(
                "split brain, API server unreachable: from +2 s to +6 s \(tail.count) samples, \(both) with the VIP on both nodes; stepped down: \(try h.metric(preferred, "k8slb_vrrp_groups_stepped_down")), \(try h.metric(other, "k8slb_vrrp_groups_stepped_down"))"
            )
            #expect(both == tail.count && !tail.isEmpty, "nobody steps down without the API")
            #expect(try h.metric(other, "k8slb_vrrp_groups_stepped_down") == 0)
            try dropVRRP(false)
            #expect(
                await eventually(.seconds(10)) { try h.holders("192.0.2.50", among: nodes) == [preferred] },
                "VRRP sorts it out itself once adverts flow")
            h.server.clearRules()
            #expect(await eventually(.seconds(10)) { try h.webServes(tools) })
        }
    }
}
