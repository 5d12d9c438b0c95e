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
    /// Status writes (PATCH …/services/NAME/status) the server has seen.
    static func statusWrites(_ cluster: Cluster, _ name: String) -> Int {
        cluster.server.recentRequests.filter { $0.method == "PATCH" && $0.uri.contains("/services/\(name)/status") }
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
        let cluster = try await Cluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.writeConfig(basicConfig)
        let (run, _) = cluster.runController()
        defer { run.cancel() }
        _ = try await cluster.client.create(cluster.service("web"))
        #expect(await eventually { try await cluster.externalIPs()["default/web"] == ["192.0.2.10"] })
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
