import Core
import DataPlane
import Foundation
import KubeClient
import Logging
import Synchronization
import TestAPIServer
import TestSupport
import Testing

@testable import Actor

/// A data plane that records what the controller asks of it (no daemons, no root): certificate
/// checks can be made slow, to hold a sync at an await while inputs change.
actor RecordingDataPlane: NodeDataPlane {
    var slowCertificateChecks: Int
    let slowFor: Duration
    private(set) var certificateChecks = 0
    private(set) var proxies: [NodePlan.Proxy] = []
    private(set) var keepaliveds: [String] = []
    private(set) var eligibility: [Bool] = []

    /// Proxy applies still to fail (a reload not confirmed).
    private(set) var failing = 0
    private(set) var appliedAt: [ContinuousClock.Instant] = []

    init(slowCertificateChecks: Int = 0, slowFor: Duration = .milliseconds(600)) {
        self.slowCertificateChecks = slowCertificateChecks
        self.slowFor = slowFor
    }

    func fail(next count: Int) { failing = count }

    func checkCertificate(pool: PoolName) async -> Result<Date, CertificateFault> {
        certificateChecks += 1
        if certificateChecks <= slowCertificateChecks { try? await Task.sleep(for: slowFor) }
        return .success(Date.distantFuture)
    }
    func routeInterface(for address: IPAddress) async -> InterfaceName? { try? InterfaceName(parsing: "eth0") }
    func setPoolNetworks(_ networks: [IPRange]) async {}
    func removeStaleVIPs(in networks: [IPRange]) async {}
    func applyProxy(_ proxy: NodePlan.Proxy) async -> ProxyOutcome {
        proxies.append(proxy)
        appliedAt.append(.now)
        if failing > 0 {
            failing -= 1
            return .failed(DaemonError(.reloadUnconfirmed, "reload not confirmed (test)"))
        }
        return proxies.count == 1 ? .started : .reloaded
    }
    func probeProxy() async {}
    func setEligible(_ eligible: Bool) async { eligibility.append(eligible) }
    func applyKeepalived(_ text: String) async throws(DaemonError) { keepaliveds.append(text) }
    func bind(_ wanted: [IPAddress: InterfaceName]) async -> [String] { [] }
    func addresses() async -> Set<IPAddress>? { [] }
    func monitorAddresses(_ onChange: @escaping @Sendable () -> Void) async {}
    func restarts() async -> [String: Int] { [:] }
    func shutdown() async {}

    /// The HAProxy config texts applied, in order.
    var haproxyTexts: [String] {
        proxies.compactMap { if case .haproxy(let r) = $0 { r.text } else { nil } }
    }
}

@Suite(.serialized) struct ActorLoopTests {
    static let web = ServiceKey(namespace: "default", name: "web")

    static func cluster() async throws -> (TestAPIServer, KubeClient) {
        let server = TestAPIServer(windowSize: 5000, bookmarkInterval: .milliseconds(500))
        let port = try await server.start()
        let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"))
        _ = try await client.create(
            ConfigMap(
                metadata: ObjectMeta(name: "global", namespace: "k8slb-system"),
                data: [
                    "config":
                        #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":0.1}}"#
                ]))
        // One TLS Service (port 443): every sync checks its pool's certificate.
        let entry = AssignmentDocument.ServiceEntry(
            key: web, ports: [.init(name: "https", port: 443, targetPort: .number(8443))])
        let vip = try IPAddress(parsing: "192.0.2.50")
        let plan = VRRPPlan.make(vips: [(vip, .default)], nodes: ["lb-a", "lb-b"], previous: [], vridOffset: 0)
        let doc = AssignmentDocument(
            vips: [.init(address: vip, pool: .default, services: [entry], vrid: plan.vridOf[vip])],
            nodes: ["lb-a", "lb-b"], groups: plan.groups)
        let encoded = try AssignmentShards.encode(doc)
        let layout = AssignmentConfigMaps(base: "assignments")
        for w in layout.plan(encoded, previous: [:], previousIndex: nil).writes {
            _ = try await client.create(
                ConfigMap(metadata: ObjectMeta(name: w.name, namespace: "k8slb-system"), data: [w.key: w.text]))
        }
        try await setSlice(client, endpoint: "198.51.100.1")
        return (server, client)
    }

    static func setSlice(_ client: KubeClient, endpoint: String) async throws {
        let slice = EndpointSlice(
            metadata: ObjectMeta(name: "web-1", namespace: "default", labels: ["kubernetes.io/service-name": "web"]),
            addressType: "IPv4", endpoints: [.init(addresses: [endpoint], ready: true)],
            ports: [.init(name: "https", protocol: "TCP", port: 8443)])
        if var existing = try? await client.get(EndpointSlice.self, namespace: "default", name: "web-1") {
            existing.endpoints = slice.endpoints
            _ = try await client.update(existing)
        } else {
            _ = try await client.create(slice)
        }
    }

    static func controller(
        _ client: KubeClient, _ dataPlane: RecordingDataPlane, _ counter: InFlightCounter, node: String = "lb-a"
    ) -> ActorController {
        var settings = ActorSettings(nodeName: node)
        settings.coalesce = .milliseconds(10)
        settings.onSync = { $0 == .started ? counter.enter() : counter.leave() }
        var logger = Logger(label: "test-actor")
        logger.logLevel = .critical
        return ActorController(
            client: client, settings: settings, logger: logger, metrics: ActorMetrics(), dataPlane: dataPlane)
    }

    /// The overlap the old controller allowed: a sync suspended in a slow certificate check while
    /// an endpoint changes. One loop: the second sync starts only after the first, and the last
    /// config applied holds the newest endpoint (never the older one after it).
    @Test func syncsNeverOverlapAndTheLastAppliedStateIsTheNewestInput() async throws {
        let (server, client) = try await Self.cluster()
        defer { Task { try? await server.stop() } }
        let dataPlane = RecordingDataPlane(slowCertificateChecks: 1)
        let counter = InFlightCounter()
        let controller = Self.controller(client, dataPlane, counter)
        let run = Task { await controller.run() }
        #expect(
            await eventually(.seconds(10)) { await dataPlane.certificateChecks >= 1 },
            "the first sync is in its slow certificate check")
        try await Self.setSlice(client, endpoint: "198.51.100.2")
        #expect(
            await eventually(.seconds(10)) {
                await dataPlane.haproxyTexts.last?.contains("ep_198_51_100_2_8443") == true
            })
        try await Task.sleep(for: .milliseconds(300))
        let texts = await dataPlane.haproxyTexts
        print(
            "actor loop: \(counter.total) syncs, at most \(counter.maxInFlight) at once; configs applied: \(texts.map { $0.contains("ep_198_51_100_2") ? "new" : "old" })"
        )
        #expect(counter.maxInFlight == 1, "at most one sync at a time")
        #expect(texts.last?.contains("ep_198_51_100_1_8443") == false, "the newest endpoint is what stays applied")
        if let firstNew = texts.firstIndex(where: { $0.contains("ep_198_51_100_2") }) {
            #expect(
                !texts[firstNew...].contains { $0.contains("ep_198_51_100_1_8443") },
                "an older state is never applied after a newer one")
        }
        controller.stop()
        await run.value
    }

    /// Bursts of changes while syncs are slow: still never two at once, and the end state is the
    /// last input.
    @Test func burstsDuringSlowSyncsCoalesce() async throws {
        let (server, client) = try await Self.cluster()
        defer { Task { try? await server.stop() } }
        let dataPlane = RecordingDataPlane(slowCertificateChecks: 1_000, slowFor: .milliseconds(100))
        let counter = InFlightCounter()
        let controller = Self.controller(client, dataPlane, counter)
        let run = Task { await controller.run() }
        for i in 2...30 {
            try await Self.setSlice(client, endpoint: "198.51.100.\(i)")
            try await Task.sleep(for: .milliseconds(15))
        }
        #expect(
            await eventually(.seconds(15)) {
                await dataPlane.haproxyTexts.last?.contains("ep_198_51_100_30_8443") == true
            })
        let syncs = counter.total
        print("actor loop: 29 endpoint changes applied in \(syncs) syncs, at most \(counter.maxInFlight) at once")
        #expect(counter.maxInFlight == 1)
        #expect(syncs < 29, "changes during a sync are coalesced into the next one")
        controller.stop()
        await run.value
    }

    /// A failed proxy apply (a reload not confirmed) is tried again without any input changing,
    /// with backoff: two failures, then the third attempt applies.
    @Test func aFailedApplyIsRetriedWithoutAnInputChange() async throws {
        let (server, client) = try await Self.cluster()
        defer { Task { try? await server.stop() } }
        let dataPlane = RecordingDataPlane()
        let controller = Self.controller(client, dataPlane, InFlightCounter())
        let run = Task { await controller.run() }
        #expect(await eventually(.seconds(10)) { await dataPlane.proxies.count >= 1 })
        try await Task.sleep(for: .seconds(1))
        let before = await dataPlane.proxies.count
        await dataPlane.fail(next: 2)
        try await Self.setSlice(client, endpoint: "198.51.100.2")
        #expect(
            await eventually(.seconds(10)) { await dataPlane.proxies.count >= before + 3 },
            "two failed applies, then a third attempt with no input changed")
        try await Task.sleep(for: .seconds(2))
        let applies = await dataPlane.proxies.count - before
        let times = await dataPlane.appliedAt.suffix(applies)
        #expect(applies == 3, "no retry once applied: \(applies) applies")
        #expect(await dataPlane.haproxyTexts.last?.contains("ep_198_51_100_2_8443") == true)
        if let first = times.first, let last = times.last {
            print("actor loop: 2 failed applies, the 3rd attempt applied \(last - first) after the first")
        }
        controller.stop()
        await run.value
    }

    /// The node's own labels decide whether it may hold VIPs: the selector's label removed, or
    /// the standard exclude label added, turns it ineligible (keepalived instances kept, FAULT
    /// through the track file); restored, it is eligible again.
    @Test func nodeLabelsDecideEligibility() async throws {
        let (server, client) = try await Self.cluster()
        defer { Task { try? await server.stop() } }
        _ = try await client.create(Node(metadata: ObjectMeta(name: "lb-a", labels: ["type": "loadBalancer"])))
        let dataPlane = RecordingDataPlane()
        let controller = Self.controller(client, dataPlane, InFlightCounter())
        let run = Task { await controller.run() }
        #expect(await eventually { await dataPlane.eligibility.last == true })
        func relabel(_ labels: [String: String]) async throws {
            var node = try await client.get(Node.self, namespace: nil, name: "lb-a")
            node.metadata.labels = labels
            _ = try await client.update(node)
        }
        try await relabel([:])
        #expect(
            await eventually { await dataPlane.eligibility.last == false }, "no type=loadBalancer: hand the VIPs over")
        #expect(
            await dataPlane.keepaliveds.last?.contains("vrrp_instance") == true, "instances kept (FAULT), not dropped")
        try await relabel(["type": "loadBalancer"])
        #expect(await eventually { await dataPlane.eligibility.last == true })
        try await relabel(["type": "loadBalancer", NodeEligibility.excludeLabel: "true"])
        #expect(
            await eventually { await dataPlane.eligibility.last == false },
            "exclude-from-external-load-balancers honoured")
        controller.stop()
        await run.value
    }
}
