import Core
import Foundation
import KubeClient
import TestAPIServer
import Testing

@testable import Watcher

/// Failures classified: a status write the API server refuses for good (422, 403) is reported
/// once on the Service with the API's message and not attempted again until the Service changes;
/// a 500 is retried with backoff until it lands. A problem fixed and made again is reported again.
@Suite(.serialized) struct WatcherFailureTests {
    /// Writes of the Service's addresses (PATCH …/services/NAME/status with `loadBalancer`; a
    /// new Service's IPAllocated condition goes in the same request) the server has seen.
    static func statusWrites(_ cluster: Cluster, _ name: String) -> Int {
        cluster.server.recentRequests.filter {
            $0.method == "PATCH" && $0.uri.contains("/services/\(name)/status") && $0.body.contains("\"loadBalancer\"")
        }
        .count
    }

    @Test(arguments: [422, 403])
    func permanentlyRefusedStatusIsReportedOnceAndNotRetriedUntilTheServiceChanges(_ code: Int) async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let message =
            code == 422
            ? "Service \"web\" is invalid: status.loadBalancer.ingress[0].ip: Invalid value"
            : "services \"web\" is forbidden: User cannot patch resource"
        cluster.server.addRule(
            .init(method: "PATCH", segments: ["services", "web", "status"], status: code, message: message))
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.events(for: "web").contains { $0.reason == "StatusNotWritten" } })
        // Time for several backoff retries, had the failure been treated as transient.
        try await Task.sleep(for: .seconds(3))
        let events = try await cluster.events(for: "web").filter { $0.reason == "StatusNotWritten" }
        let writes = Self.statusWrites(cluster, "web")
        print(
            "\(code): \(writes) status write(s), \(events.count) StatusNotWritten Event(s): \(events.map { $0.message ?? "" })"
        )
        #expect(events.count == 1 && events[0].type == "Warning")
        #expect(events.first?.message?.contains(message) == true, "the API's message is quoted")
        #expect(writes == 1, "no further attempt while nothing changed")

        // The Service changes (an annotation): one more attempt; the same refusal is not reported twice.
        var svc = try await cluster.client.get(Service.self, namespace: "default", name: "web")
        svc.metadata.annotations = ["example.com/owner": "team-a"]
        _ = try await cluster.client.update(svc)
        #expect(await eventually { Self.statusWrites(cluster, "web") == 2 })
        try await Task.sleep(for: .seconds(1))
        #expect(Self.statusWrites(cluster, "web") == 2)
        #expect(try await cluster.events(for: "web").filter { $0.reason == "StatusNotWritten" }.count == 1)

        // The API accepts again (RBAC fixed): the next change writes the status.
        cluster.server.clearRules()
        svc = try await cluster.client.get(Service.self, namespace: "default", name: "web")
        svc.metadata.annotations = ["example.com/owner": "team-b"]
        _ = try await cluster.client.update(svc)
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
    }

    /// A new Service's ingress and its IPAllocated condition go in one request (one round trip
    /// per Service: at thousands of Services the watcher's pace is its API writes).
    @Test func aNewServicesStatusIsOneRequest() async throws {
        try await Self.withWeb { cluster in try await Self.statusIsOneRequest(cluster) }
    }

    /// The basic config, a running controller and Service `web` with its IP.
    static func withWeb(_ body: (Cluster) async throws -> Void) async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
        try await body(cluster)
    }

    static func statusIsOneRequest(_ cluster: Cluster) async throws {
        let svc = try await cluster.client.get(Service.self, namespace: "default", name: "web")
        let allocated = svc.status?.conditions?.first { $0.type == ServiceConditions.ipAllocated }
        #expect(allocated?.status == "True" && allocated?.message == "Assigned 192.0.2.10 from pool default")
        let patches = cluster.server.recentRequests.filter {
            $0.method == "PATCH" && $0.uri.contains("/services/web/status")
        }
        #expect(patches.count == 1, "one status request: \(patches.map(\.body))")
        #expect(await eventually { try await cluster.events(for: "web").contains { $0.reason == "IPAllocated" } })
    }

    @Test func serverErrorsAreRetriedWithBackoff() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        cluster.server.addRule(
            .init(method: "PATCH", segments: ["services", "web", "status"], status: 500, remaining: 3))
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        let created = Date()
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
        let writes = Self.statusWrites(cluster, "web")
        print(
            "500 x3: status written after \(writes) attempts, \(String(format: "%.2f", Date().timeIntervalSince(created))) s"
        )
        #expect(writes == 4)
        #expect(
            try await cluster.events(for: "web").allSatisfy { $0.reason != "StatusNotWritten" },
            "a transient failure is not reported as permanent")
    }

    @Test func anAnnotationMadeInvalidFixedAndInvalidAgainGivesTwoEvents() async throws {
        try await Self.withWeb { cluster in try await Self.invalidTwiceGivesTwoEvents(cluster) }
    }

    static func invalidTwiceGivesTwoEvents(_ cluster: Cluster) async throws {
        func annotate(_ value: String) async throws {
            var svc = try await cluster.client.get(Service.self, namespace: "default", name: "web")
            svc.metadata.annotations = ["loadbalancer/ssl": value]
            _ = try await cluster.client.update(svc)
        }
        func invalid() async throws -> Int {
            try await cluster.events(for: "web").filter { $0.reason == "InvalidService" }.count
        }
        try await annotate("maybe")
        #expect(await eventually { try await invalid() == 1 })
        try await annotate("true")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await invalid() == 1)
        try await annotate("maybe")
        #expect(await eventually { try await invalid() == 2 })
        // Unchanged, it is not reported a third time: an unrelated edit reconciles it again.
        var svc = try await cluster.client.get(Service.self, namespace: "default", name: "web")
        svc.metadata.labels = ["tier": "front"]
        _ = try await cluster.client.update(svc)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await invalid() == 2)
        // The same for an unknown annotation (a typo), which the old bookkeeping never forgot.
        func typo(_ key: String?) async throws {
            var svc = try await cluster.client.get(Service.self, namespace: "default", name: "web")
            svc.metadata.annotations = key.map { [$0: "x"] } ?? [:]
            _ = try await cluster.client.update(svc)
        }
        func unknown() async throws -> Int {
            try await cluster.events(for: "web").filter { $0.reason == "UnknownAnnotation" }.count
        }
        try await typo("loadbalancer/sslredirec")
        #expect(await eventually { try await unknown() == 1 })
        try await typo(nil)
        try await Task.sleep(for: .milliseconds(500))
        try await typo("loadbalancer/sslredirec")
        #expect(await eventually { try await unknown() == 2 })
    }
}

/// Nodes' addresses are never VIPs (the watcher watches every Node, not only LB nodes): a pool
/// holding a Node's InternalIP skips it; a Node added with an existing VIP's address gets that
/// Service moved and an `IPIsNodeAddress` Event; a static request for a Node's address is refused
/// with the Node named, and a static VIP a Node takes is released.
@Suite(.serialized) struct WatcherNodeAddressTests {
    @Test func nodeAddressesAreNeverVIPs() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        // A worker (not an LB node: no type=loadBalancer label) on the pool's first address.
        _ = try await cluster.client.create(
            Node(
                metadata: ObjectMeta(name: "worker-1"),
                addresses: [.init(type: "InternalIP", address: "192.0.2.10")]))
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.11"] })
        print(
            "node addresses: pool 192.0.2.10-12 with worker-1 on .10: web got \(try await cluster.externalIPs()["default/web"] ?? [])"
        )

        // A Node joins with web's address: web moves, with an Event naming the Node.
        _ = try await cluster.client.create(
            Node(
                metadata: ObjectMeta(name: "worker-2"),
                addresses: [.init(type: "ExternalIP", address: "192.0.2.11")]))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.12"] })
        // Events are written on a task of their own: they follow the status.
        _ = await eventually { try await cluster.events(for: "web").contains { $0.reason == "IPIsNodeAddress" } }
        let moved = try await cluster.events(for: "web").filter { $0.reason == "IPIsNodeAddress" }
        print(
            "node addresses: worker-2 joined with 192.0.2.11: web now \(try await cluster.externalIPs()["default/web"] ?? []); Events \(moved.map { $0.message ?? "" })"
        )
        #expect(moved.count == 1 && moved[0].message?.contains("worker-2") == true)

        // A static request for a Node's address is refused, naming the Node.
        _ = try await cluster.client.create(cluster.service("pinned", ip: "192.0.2.10"))
        #expect(
            await eventually {
                try await cluster.events(for: "pinned").contains {
                    $0.reason == "AllocationFailed" && $0.message?.contains("Node worker-1") == true
                }
            })
        #expect(try await cluster.externalIPs()["default/pinned"] == [])

        // A static VIP that a Node then takes is released (the Service keeps no IP).
        _ = try await cluster.client.create(cluster.service("fixed", ip: "192.0.2.200"))
        #expect(await eventually { try await cluster.externalIPs()["default/fixed"] == ["192.0.2.200"] })
        _ = try await cluster.client.create(
            Node(
                metadata: ObjectMeta(name: "worker-3"),
                addresses: [.init(type: "InternalIP", address: "192.0.2.200")]))
        #expect(await eventually { try await cluster.externalIPs()["default/fixed"] == [] })
        _ = await eventually {
            try await cluster.events(for: "fixed").contains { $0.reason == "AllocationFailed" }
        }
        let fixed = try await cluster.events(for: "fixed").map { "\($0.reason ?? ""): \($0.message ?? "")" }
        print(
            "node addresses: worker-3 joined with fixed's static 192.0.2.200: fixed now \(try await cluster.externalIPs()["default/fixed"] ?? []); Events \(fixed)"
        )
        #expect(
            fixed.contains { $0.hasPrefix("IPIsNodeAddress") } && fixed.contains { $0.hasPrefix("AllocationFailed") })
    }
}

/// `status.conditions`: k8slb's `k8slb.io/IPAllocated` with Gateway API's reasons, its
/// observedGeneration, merged by type (another controller's condition stays), and shown by kubectl.
@Suite(.serialized) struct WatcherConditionTests {
    static func condition(_ cluster: Cluster, _ name: String) async throws -> Condition? {
        try await cluster.client.get(Service.self, namespace: "default", name: name).status?.conditions?.first {
            $0.type == ServiceConditions.ipAllocated
        }
    }

    @Test func ipAllocatedConditionWithGatewayReasonsBesideOthers() async throws {
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        // Another controller's condition, written before k8slb's: it must stay.
        _ = try await cluster.client.create(cluster.service("web"))
        struct Body: Encodable { let status: Service.Status }
        _ = try await cluster.client.patch(
            Service.self, namespace: "default", name: "web",
            try KubeClient.PatchBody.strategicMergeEncoding(
                Body(
                    status: Service.Status(conditions: [
                        Condition(
                            type: "example.com/Audited", status: "True", reason: "Audited",
                            lastTransitionTime: "2026-12-07T00:00:00Z")
                    ]))), subresource: "status")
        #expect(await eventually { try await Self.condition(cluster, "web")?.status == "True" })
        let web = try await cluster.client.get(Service.self, namespace: "default", name: "web")
        let mine = try #require(try await Self.condition(cluster, "web"))
        print("conditions: web \(web.status?.conditions?.map { "\($0.type)=\($0.status) \($0.reason ?? "")" } ?? [])")
        #expect(mine.reason == "IPAllocated" && mine.message == "Assigned 192.0.2.10 from pool default")
        #expect(mine.observedGeneration == web.metadata.generation && mine.lastTransitionTime != nil)
        #expect(web.status?.conditions?.contains { $0.type == "example.com/Audited" } == true, "merged by type")

        // Failures, each with Gateway API's word.
        for n in ["b", "c"] { _ = try await cluster.client.create(cluster.service(n)) }
        _ = try await cluster.client.create(cluster.service("full"))
        _ = try await cluster.client.create(cluster.service("outside", ip: "203.0.113.5"))
        _ = try await cluster.client.create(cluster.service("nopool", pool: "missing"))
        for (name, reason) in [
            ("full", "AddressNotAssigned"), ("outside", "AddressNotUsable"), ("nopool", "UnsupportedAddress"),
        ] {
            let reached = await eventually { try await Self.condition(cluster, name)?.reason == reason }
            let c = try await Self.condition(cluster, name)
            #expect(reached, "\(name): \(String(describing: c))")
            print("conditions: \(name) \(c?.type ?? "")=\(c?.status ?? "") \(c?.reason ?? ""): \(c?.message ?? "")")
        }
        // Space frees: the condition turns True, with a new transition time.
        let before = try await Self.condition(cluster, "full")
        try await cluster.client.delete(Service.self, namespace: "default", name: "b")
        #expect(await eventually { try await Self.condition(cluster, "full")?.status == "True" })
        let after = try await Self.condition(cluster, "full")
        print(
            "conditions: full after b was deleted: \(after?.status ?? "") \(after?.reason ?? ""): \(after?.message ?? "")"
        )
        #expect(after?.lastTransitionTime != nil && before?.status == "False")

        // What an operator sees with kubectl.
        guard let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("kubectl is required when CI=true") }
            return
        }
        let kubeconfig = FileManager.default.temporaryDirectory.appendingPathComponent(
            "k8slb-cond-\(UUID().uuidString.prefix(8))"
        ).path
        defer { unlink(kubeconfig) }
        try writeKubeconfig(port: cluster.port, token: "admin", to: kubeconfig)
        let columns =
            #"NAME:.metadata.name,EXTERNAL-IP:.status.loadBalancer.ingress[*].ip,IPALLOCATED:.status.conditions[?(@.type=="k8slb.io/IPAllocated")].status,REASON:.status.conditions[?(@.type=="k8slb.io/IPAllocated")].reason"#
        let table = try TestSupport.run(
            kubectl, ["--kubeconfig", kubeconfig, "get", "svc", "-o", "custom-columns=\(columns)"])
        print("conditions: kubectl get svc -o custom-columns=…\n\(table.output)")
        #expect(table.status == 0 && table.output.contains("UnsupportedAddress"))
        let wide = try TestSupport.run(
            kubectl,
            [
                "--kubeconfig", kubeconfig, "get", "svc", "nopool", "-o",
                #"jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}"#,
            ])
        print("conditions: kubectl get svc nopool -o jsonpath=…\n\(wide.output)")
        #expect(wide.output.contains("k8slb.io/IPAllocated=False UnsupportedAddress"))

        // A Service k8slb no longer handles loses k8slb's condition; the others' stay.
        var nopool = try await cluster.client.get(Service.self, namespace: "default", name: "nopool")
        nopool.spec?.type = "ClusterIP"
        _ = try await cluster.client.update(nopool)
        #expect(await eventually { try await Self.condition(cluster, "nopool") == nil })
    }
}
