import Core
import Foundation
import KubeClient
import Prometheus
import TestAPIServer
import Testing

@testable import Watcher

@Suite(.serialized) struct WatcherAllocationTests {
    @Test func thousandServicesGetUniqueIPsFromTheirPools() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for i in stride(from: w, to: 1000, by: 8) {
                        let pool = i % 10 == 0 ? "v6" : "big"
                        _ = try await cluster.client.create(
                            cluster.service("s\(i)", namespace: i % 2 == 0 ? "default" : "k8slb-system", pool: pool))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await eventually(.seconds(60)) { try await cluster.externalIPs().values.allSatisfy { $0.count == 1 } })
        let ips = try await cluster.externalIPs()
        #expect(ips.count == 1000)
        let all = ips.values.flatMap { $0 }
        #expect(Set(all).count == 1000, "every IP unique")
        for (key, list) in ips {
            let i = Int(key.split(separator: "/")[1].dropFirst())!
            let ip = list[0]
            #expect(i % 10 == 0 ? ip.hasPrefix("2001:db8::") : ip.hasPrefix("198.51.1"), "\(key) got \(ip)")
        }
    }

    /// One public IP, several sites: Services asking for the same IP and port 443 with disjoint
    /// `loadbalancer/hostnames` share it, published with their names; a later one claiming a name
    /// already answered there gets AllocationFailed and no IP; a bad proxy-protocol value is
    /// ignored with a Warning (AnnotationIgnored) and the Service is served.
    @Test func hostnamesShareOneIPAndAClaimedNameIsRefused() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, controller) = cluster.runController()
        defer { run.cancel() }
        func site(_ name: String, _ hosts: String, extra: [String: String] = [:]) -> Service {
            cluster.service(
                name, ports: [443],
                annotations: ["loadbalancer/ip": "192.0.2.100", "loadbalancer/hostnames": hosts].merging(extra) {
                    a, _ in a
                })
        }
        _ = try await cluster.client.create(site("shop", "shop.example.com"))
        _ = try await cluster.client.create(
            site("blog", "blog.example.com,www.example.com", extra: ["loadbalancer/proxy-protocol": "v9"]))
        #expect(await eventually { try await cluster.externalIPs()["default/blog"] == ["192.0.2.100"] })
        #expect(try await cluster.externalIPs()["default/shop"] == ["192.0.2.100"])
        _ = try await cluster.client.create(site("copy", "www.example.com"))
        #expect(await eventually { try await cluster.events(for: "copy").contains { $0.reason == "AllocationFailed" } })
        let failed = try await cluster.events(for: "copy").first { $0.reason == "AllocationFailed" }
        #expect(
            failed?.message
                == "IP 192.0.2.100 is shared by host name with default/blog, which already answers www.example.com; this Service is not routed there"
        )
        #expect(try await cluster.externalIPs()["default/copy"] == [])
        #expect(
            try await cluster.events(for: "blog").contains {
                $0.reason == "AnnotationIgnored" && $0.type == "Warning" && ($0.message ?? "").contains("v9")
            })
        let doc = await controller.document()
        let names = doc.vips.first { $0.address.description == "192.0.2.100" }?.services.map {
            "\($0.key.name):\($0.hostnames.map(\.rawValue).joined(separator: ","))"
        }
        #expect(names == ["blog:blog.example.com,www.example.com", "shop:shop.example.com"])
    }

    @Test func staticConflictAndExhaustionThenRecovery() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("fixed", ip: "192.0.2.100"))
        for i in 0..<3 { _ = try await cluster.client.create(cluster.service("d\(i)")) }
        #expect(await eventually { try await cluster.externalIPs()["default/d2"] == ["192.0.2.12"] })
        #expect(try await cluster.externalIPs()["default/fixed"] == ["192.0.2.100"])
        // Exhausted: pending with a clear Event.
        _ = try await cluster.client.create(cluster.service("late"))
        #expect(await eventually { try await cluster.events(for: "late").contains { $0.reason == "AllocationFailed" } })
        let failed = try await cluster.events(for: "late").first { $0.reason == "AllocationFailed" }
        #expect(
            failed?.message == "pool \"default\" is exhausted: no free address in its range"
                && failed?.type == "Warning")
        #expect(try await cluster.externalIPs()["default/late"] == [])
        // Static IP taken / outside the pool.
        _ = try await cluster.client.create(cluster.service("thief", ports: [443], ip: "192.0.2.10"))
        _ = try await cluster.client.create(cluster.service("outside", ip: "203.0.113.9"))
        _ = try await cluster.client.create(cluster.service("nopool", pool: "nope"))
        #expect(
            await eventually {
                try await cluster.events(for: "thief").contains { $0.message == "IP 192.0.2.10 is taken by default/d0" }
            })
        #expect(
            await eventually {
                try await cluster.events(for: "outside").contains {
                    $0.message == "static IP 203.0.113.9 is outside pool \"default\""
                }
            })
        #expect(
            await eventually {
                try await cluster.events(for: "nopool").contains { $0.message == "pool \"nope\" does not exist" }
            })
        // Space frees: the pending Service gets the freed IP without being touched.
        try await cluster.client.delete(Service.self, namespace: "default", name: "d1")
        #expect(await eventually { try await cluster.externalIPs()["default/late"] == ["192.0.2.11"] })
        #expect(try await cluster.events(for: "d1").isEmpty == false)
    }

    @Test func sharingDisjointPortsClashRefusedDeleteKeepsOther() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web", ports: [80, 443], ip: "192.0.2.50"))
        _ = try await cluster.client.create(cluster.service("mail", ports: [25], ip: "192.0.2.50"))
        #expect(
            await eventually {
                let ips = try await cluster.externalIPs()
                return ips["default/web"] == ["192.0.2.50"] && ips["default/mail"] == ["192.0.2.50"]
            })
        // Created once web holds its ports (created together, the informer's first list may hand
        // the three over in name order, and clash would come first).
        _ = try await cluster.client.create(cluster.service("clash", ports: [443], ip: "192.0.2.50"))
        #expect(
            await eventually {
                try await cluster.events(for: "clash").contains {
                    $0.message == "IP 192.0.2.50 is shared with default/web, which already uses port(s) 443/TCP"
                }
            })
        #expect(try await cluster.externalIPs()["default/clash"] == [])
        try await cluster.client.delete(Service.self, namespace: "default", name: "web")
        // mail keeps its IP; clash now fits beside it.
        #expect(await eventually { try await cluster.externalIPs()["default/clash"] == ["192.0.2.50"] })
        #expect(try await cluster.externalIPs()["default/mail"] == ["192.0.2.50"])
    }

    @Test func typeChangeReleasesAndClearsStatus() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, controller) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
        _ = try await cluster.client.patch(
            Service.self, namespace: "default", name: "web", .merge(Array(#"{"spec":{"type":"ClusterIP"}}"#.utf8)))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == [] })
        #expect(await eventually { try await cluster.events(for: "web").contains { $0.reason == "IPReleased" } })
        #expect(await eventually { await controller.document().vips.isEmpty })
    }

    @Test func invalidConfigKeepsServingThenRecovers() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, controller) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
        try await cluster.writeConfig(
            #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.80-192.0.2.74"}}}"#)
        #expect(await eventually { try await cluster.events(for: "global").contains { $0.reason == "InvalidConfig" } })
        let event = try await cluster.events(for: "global").first { $0.reason == "InvalidConfig" }
        #expect(
            event?.message
                == "invalid config, keeping the last good one: pools.default.range: 192.0.2.80-192.0.2.74: start is after end"
        )
        #expect(controller.metrics.registry.emitToString().contains("k8slb_config_stale 1"))
        // The old pools keep serving: a new Service still gets an address from them.
        _ = try await cluster.client.create(cluster.service("during"))
        #expect(await eventually { try await cluster.externalIPs()["default/during"] == ["192.0.2.11"] })
        // Fix: recovers, metric clears.
        try await cluster.writeConfig(
            basicConfig.replacingOccurrences(of: "192.0.2.10-192.0.2.12", with: "192.0.2.10-192.0.2.20"))
        #expect(await eventually { controller.metrics.registry.emitToString().contains("k8slb_config_stale 0") })
        #expect(try await cluster.externalIPs()["default/web"] == ["192.0.2.10"])
    }

    /// A watcher that starts while an invalid edit is in place serves from the copy of the last
    /// good config the previous one saved (`global-last-good`), instead of allocating nothing.
    @Test func startedWithAnInvalidConfigServesFromTheLastGoodCopy() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (first, _) = cluster.runController()
        #expect(
            await eventually {
                try await cluster.client.get(ConfigMap.self, namespace: "k8slb-system", name: "global-last-good")
                    .data?["config"] == basicConfig
            }, "the last good config is saved")
        first.cancel()
        try await cluster.writeConfig(
            #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.80-192.0.2.74"}}}"#)
        let (second, controller) = cluster.runController()
        defer { second.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
        #expect(await eventually { try await cluster.events(for: "global").contains { $0.reason == "InvalidConfig" } })
        #expect(controller.metrics.registry.emitToString().contains("k8slb_config_stale 1"))
        // The invalid edit is never saved as the last good one.
        #expect(
            try await cluster.client.get(ConfigMap.self, namespace: "k8slb-system", name: "global-last-good")
                .data?["config"] == basicConfig)
    }

    @Test func publishedDocumentMatchesStatuses() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        _ = try await cluster.client.create(Node(metadata: ObjectMeta(name: "lb-1", labels: ["type": "loadBalancer"])))
        _ = try await cluster.client.create(Node(metadata: ObjectMeta(name: "worker", labels: ["type": "worker"])))
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(
            cluster.service("web", ports: [80, 443], annotations: ["loadbalancer/ssl": "true"]))
        #expect(
            await eventually {
                let index = try await cluster.client.get(ConfigMap.self, namespace: "k8slb-system", name: "assignments")
                let shard = try await cluster.client.get(
                    ConfigMap.self, namespace: "k8slb-system", name: "assignments-0")
                let doc = try AssignmentShards.decode(
                    index: Array(index.data!["index"]!.utf8), shards: [Array(shard.data!["vips"]!.utf8)])
                return doc.nodes == ["lb-1"] && doc.vips.count == 1 && doc.vips[0].address.description == "192.0.2.10"
                    && doc.vips[0].vrid == 1
                    && doc.groups == [VRRPPlan.Group(vrid: 1, family: .ipv4, pool: .default, node: "lb-1")]
                    && doc.vips[0].services[0].ssl == .on && doc.vips[0].services[0].ports.map(\.port) == [80, 443]
            })
    }
}
