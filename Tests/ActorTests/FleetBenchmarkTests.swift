import Core
import Foundation
import KubeClient
import TestAPIServer
import TestSupport
import Testing

/// A fleet at size (issue 24): K8SLB_FLEET_CLUSTERS clusters (default 10) of
/// K8SLB_FLEET_SERVICES Services each (default 100), served by two fleet machines (real
/// keepalived and HAProxy in LB namespaces), against the same actors serving one cluster of all
/// those Services. Each cluster is a test API server with its config, its published assignments
/// (IPv6 VIPs in a range of its own, its own VRID range) and an EndpointSlice per Service. The
/// figure: one sync after one Service is added at full size (gather every cluster, plan, HAProxy
/// check + reload, keepalived check + reload), from the actors' `trace: sync timings` lines.
@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3").and(built: "k8slb-actor")))
struct FleetBenchmarkTests {
    static func vip(_ cluster: Int, _ i: Int) -> String { "2001:db8:5::\(String(cluster * 0x400 + i + 1, radix: 16))" }

    /// One cluster's config: its range of 2001:db8:5::/112, its VRIDs above `cluster * 20`.
    static func config(_ cluster: Int) -> String {
        #"{"pools":{"default":{"network":"2001:db8:5::/112","range":"\#(vip(cluster, 0))-\#(vip(cluster, 0x3fe))","interface":"eth0"}},"vrrp":{"vridOffset":\#(cluster * 20)}}"#
    }

    /// Services 0..<count of `cluster` (all `default/s<i>` on port 80, one backend), grouped
    /// over the two machines above the cluster's VRID offset.
    static func document(_ cluster: Int, count: Int) -> AssignmentDocument {
        FleetTests.document(
            (0..<count).map { (vip(cluster, $0), ServiceKey(namespace: "default", name: "s\($0)")) },
            offset: cluster * 20,
            noCheck: true, nodePort: nil)
    }

    /// Writes `count` EndpointSlices into a cluster, 32 at a time.
    static func slices(_ client: KubeClient, count: Int) async throws {
        try await ActorHarness.concurrently(count) { i in
            _ = try await client.create(
                ActorHarness.slice(
                    ServiceKey(namespace: "default", name: "s\(i)"), name: "s\(i)-1", addresses: ["192.0.2.21"],
                    ports: [("http", "TCP", 8080)]))
        }
    }

    /// Runs `clusters` × `perCluster` Services (as a fleet when `clusters` > 1, else one cluster
    /// through the usual `--kubeconfig`); the sync timings on both machines after one more Service.
    static func measure(_ tools: ActorHarness.Tools, clusters: Int, perCluster: Int) async throws -> [String: (
        gather: Int, plan: Int, proxy: Int, keepalived: Int
    )] {
        var timings: [String: (gather: Int, plan: Int, proxy: Int, keepalived: Int)] = [:]
        try await ActorHarness.with(tools) { h in
            let nodes = try await h.sizedScenario(tools)
            var others: [FleetTests.Cluster] = []
            defer { for c in others { Task { try? await c.server.stop() } } }
            for c in 1..<max(1, clusters) { others.append(try await FleetTests.Cluster(work: h.work, name: "c\(c)")) }
            try await h.writeConfig(Self.config(0))
            try await h.publish(Self.document(0, count: perCluster))
            try await Self.slices(h.client, count: perCluster)
            for (i, c) in others.enumerated() {
                try await c.put("global", ["config": Self.config(i + 1)])
                try await c.publish(Self.document(i + 1, count: perCluster))
                try await Self.slices(c.client, count: perCluster)
            }
            var extra: [String] = []
            if clusters > 1 {
                let kubeconfigs = [h.kubeconfig] + others.map(\.kubeconfig)
                let list = kubeconfigs.enumerated().map {
                    #"{"name": "c\#($0.offset)", "kubeconfig": "\#($0.element)"}"#
                }
                let fleet = h.work.appendingPathComponent("fleet.json").path
                try #"{"clusters": [\#(list.joined(separator: ", "))], "settings": {"vrrp": {"advertInterval": 0.1}}}"#
                    .write(toFile: fleet, atomically: true, encoding: .utf8)
                extra = ["--fleet", fleet]
            }
            for node in nodes { try h.startActor(node, logLevel: "debug", extra: extra) }
            // Served: the last VIP of every cluster answers.
            let last = (0..<clusters).map { Self.vip($0, perCluster - 1) }
            let served = await eventually(.seconds(120), every: .milliseconds(200)) {
                try last.allSatisfy {
                    try h.topo.exec("cl", [tools.curl, "-g", "-s", "-m", "0.5", "http://[\($0)]/"]).output
                        == "backend\n"
                }
            }
            #expect(served, "every cluster's last VIP served:\n\(h.actorLogs())")
            try await Task.sleep(for: .seconds(2))

            // One more Service in the first cluster: a sync at full size.
            let t1 = Date()
            try await h.publish(Self.document(0, count: perCluster + 1))
            try await h.setSlice(
                ServiceKey(namespace: "default", name: "s\(perCluster)"), name: "s\(perCluster)-1",
                addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
            let total = clusters * perCluster + 1
            _ = await eventually(.seconds(60)) {
                for node in nodes {
                    if let t = ScaleBenchmarkTests.syncTimings(h.log(node), vips: total, after: t1).max(by: {
                        $0.proxy < $1.proxy
                    }) {
                        timings[node] = t
                    }
                }
                return timings.count == nodes.count
            }
            #expect(timings.count == nodes.count, "both machines synced \(total) VIPs:\n\(h.actorLogs())")
        }
        return timings
    }

    @Test(.benchmark) func clustersOfAFleetAgainstOneClusterOfAllTheirServices() async throws {
        guard let tools = ActorHarness.tools() else { return }
        let env = ProcessInfo.processInfo.environment
        let clusters = Int(env["K8SLB_FLEET_CLUSTERS"] ?? "10") ?? 10
        let perCluster = Int(env["K8SLB_FLEET_SERVICES"] ?? "100") ?? 100
        let fleet = try await Self.measure(tools, clusters: clusters, perCluster: perCluster)
        let single = try await Self.measure(tools, clusters: 1, perCluster: clusters * perCluster)
        func line(_ t: (gather: Int, plan: Int, proxy: Int, keepalived: Int)?) -> String {
            guard let t else { return "not measured" }
            return
                "gather \(t.gather) ms, plan \(t.plan) ms, HAProxy check + reload \(t.proxy) ms, keepalived check + reload \(t.keepalived) ms"
        }
        for node in ["lb-a", "lb-b"] {
            print(
                "fleet-bench: \(node), \(clusters) clusters × \(perCluster) Services, one added: \(line(fleet[node]))")
            print(
                "fleet-bench: \(node), one cluster of \(clusters * perCluster) Services, one added: \(line(single[node]))"
            )
        }
    }
}
