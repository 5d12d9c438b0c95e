import Core
import Foundation
import KubeClient
import Synchronization
import TestAPIServer
import Testing

@testable import Watcher

/// Publishing is one loop: a change during a publish leads to exactly one more publish, never a
/// second one at the same time, and what ends up published is the newest state.
@Suite(.serialized) struct WatcherPublishTests {
    @Test func publishesNeverOverlapAndTheLastOneHoldsEveryService() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        // Slow API writes: each publish takes long enough for changes to arrive during it.
        cluster.server.setLatency(.milliseconds(15))
        let counter = InFlightCounter()
        var settings = WatcherSettings()
        settings.onPublish = { $0 == .started ? counter.enter() : counter.leave() }
        let (run, _) = cluster.runController(settings)
        defer { run.cancel() }
        for burst in 0..<6 {
            for i in 0..<10 { _ = try await cluster.client.create(cluster.service("s\(burst)-\(i)", pool: "big")) }
            try await Task.sleep(for: .milliseconds(40))
        }
        let layout = AssignmentConfigMaps(base: "assignments")
        let client = cluster.client
        func published() async throws -> Set<ServiceKey> {
            let doc = try await layout.read { name in
                try? await client.get(ConfigMap.self, namespace: "k8slb-system", name: name).data
            }
            return Set((doc?.vips ?? []).flatMap { $0.services.map(\.key) })
        }
        #expect(await eventually(.seconds(60)) { try await published().count == 60 })
        try await Task.sleep(for: .milliseconds(500))
        print(
            "watcher publish: \(counter.total) publishes for 60 Services in 6 bursts, at most \(counter.maxInFlight) at once"
        )
        #expect(counter.maxInFlight == 1, "one publish at a time")
        #expect(counter.total >= 2 && counter.total < 60, "bursts coalesce: \(counter.total) publishes")
        #expect(try await published().count == 60)
        cluster.server.setLatency(.zero)
    }

    /// Nodes labelled node.kubernetes.io/exclude-from-external-load-balancers are not LB nodes
    /// for VRRP planning (as MetalLB's speakers honour it); removing the label brings them back.
    @Test func excludedNodesAreLeftOutOfThePlan() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        for name in ["lb-1", "lb-2"] {
            _ = try await cluster.client.create(
                Node(metadata: ObjectMeta(name: name, labels: ["type": "loadBalancer"])))
        }
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        let layout = AssignmentConfigMaps(base: "assignments")
        let client = cluster.client
        func nodes() async throws -> [String] {
            try await layout.read { name in
                try? await client.get(ConfigMap.self, namespace: "k8slb-system", name: name).data
            }?.nodes ?? []
        }
        #expect(await eventually { try await nodes() == ["lb-1", "lb-2"] })
        var node = try await client.get(Node.self, namespace: nil, name: "lb-2")
        node.metadata.labels?[NodeEligibility.excludeLabel] = ""
        node = try await client.update(node)
        #expect(await eventually { try await nodes() == ["lb-1"] }, "excluded node left out")
        node.metadata.labels?[NodeEligibility.excludeLabel] = nil
        _ = try await client.update(node)
        #expect(await eventually { try await nodes() == ["lb-1", "lb-2"] }, "back when the label goes")
    }

    /// A freed address is not handed out again during its quarantine (the node that held it may
    /// still hold it while the other nodes drop their VRRP instance); then it is.
    @Test func freedAddressIsQuarantinedThenReused() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)  // pool default: 192.0.2.10-12
        let (run, _) = cluster.runController(quarantine: .seconds(2))
        defer { run.cancel() }
        for i in 0..<3 { _ = try await cluster.client.create(cluster.service("d\(i)")) }
        #expect(await eventually { try await cluster.externalIPs()["default/d2"] == ["192.0.2.12"] })
        try await cluster.client.delete(Service.self, namespace: "default", name: "d0")
        let deleted = ContinuousClock.now
        _ = try await cluster.client.create(cluster.service("next"))
        #expect(
            await eventually { try await cluster.events(for: "next").contains { $0.reason == "AllocationFailed" } },
            "192.0.2.10 is quarantined: the pool is full for now")
        #expect(try await cluster.externalIPs()["default/next"] == [])
        #expect(await eventually(.seconds(10)) { try await cluster.externalIPs()["default/next"] == ["192.0.2.10"] })
        let waited = ContinuousClock.now - deleted
        print("quarantine: freed 192.0.2.10 reused after \(waited)")
        #expect(waited >= .seconds(2), "not before the quarantine ended")
    }
}
