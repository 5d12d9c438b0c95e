import Core
import DataPlane
import Foundation
import Glibc
import KubeClient
import Spawn
import TestAPIServer
import TestSupport
import Testing

/// A simulated cluster for actor tests: the in-process test API server on loopback, a topology of
/// network namespaces (bridge, LB nodes, backends, client), and real `k8slb-actor` processes
/// running their network side inside the LB node namespaces (`--netns`). Assignments are written
/// straight into the published ConfigMaps (what the watcher would publish).
final class ActorHarness {
    let topo: Topology
    let server: TestAPIServer
    let client: KubeClient
    let port: Int
    let work: URL
    let binary: String
    private(set) var actors: [String: Child] = [:]
    private var metricsPorts: [String: Int] = [:]

    /// Tools every actor test needs; nil (after recording an Issue under CI) when missing.
    struct Tools {
        let ip: String, haproxy: String, keepalived: String, curl: String, python: String
    }

    static func tools() -> Tools? {
        guard getuid() == 0, let ip = which("ip"), let haproxy = which("haproxy"), let keepalived = which("keepalived"),
            let curl = which("curl"), let python = which("python3")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, haproxy, keepalived, curl and python3 are required when CI=true")
            }
            return nil
        }
        return Tools(ip: ip, haproxy: haproxy, keepalived: keepalived, curl: curl, python: python)
    }

    /// The extra actor arguments `backend` needs (`--nginx PATH` for nginx); nil when its binary
    /// is missing (an Issue is recorded first when CI=true).
    static func backendArguments(_ backend: String) -> [String]? {
        guard backend == "nginx" else { return [] }
        guard let nginx = which("nginx") else {
            if requireIntegration { Issue.record("nginx is required when CI=true") }
            return nil
        }
        return ["--nginx", nginx]
    }

    /// The built `k8slb-actor` beside the test bundle.
    static var binary: String? { builtExecutable("k8slb-actor") }

    init(ip: String) async throws {
        guard let binary = Self.binary else {
            throw NamespaceError(message: "k8slb-actor binary not found beside the tests")
        }
        self.binary = binary
        topo = Topology(ip: ip)
        server = TestAPIServer(windowSize: 20_000, bookmarkInterval: .milliseconds(500))
        port = try await server.start()
        client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"))
        work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-actor-\(topo.id)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try topo.bridge()
    }

    /// Runs `body` with a fresh harness and always tears it down (processes by PID, namespaces).
    static func with(_ tools: Tools, _ body: (ActorHarness) async throws -> Void) async throws {
        let h = try await ActorHarness(ip: tools.ip)
        do { try await body(h) } catch {
            await h.tearDown()
            throw error
        }
        await h.tearDown()
    }

    var kubeconfig: String {
        let path = work.appendingPathComponent("kubeconfig").path
        if !FileManager.default.fileExists(atPath: path) { try? writeKubeconfig(port: port, token: "actor", to: path) }
        return path
    }

    /// Starts `k8slb-actor` for LB node `node` (namespace `topo.ns(node)`).
    func startActor(
        _ node: String, backend: String = "haproxy", certDir: String? = nil, logLevel: String = "info",
        extra: [String] = []
    ) throws {
        let dir = work.appendingPathComponent(node)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = work.appendingPathComponent("actor-\(node).log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)  // a restart appends
        }
        let metrics = unusedLoopbackPort()
        let p = try Child.start(
            [
                binary, "run", "--kubeconfig", kubeconfig, "--node-name", node, "--netns", topo.ns(node), "--backend",
                backend,
                "--run-dir", dir.path, "--cert-dir", certDir ?? work.appendingPathComponent("certs").path,
                "--metrics-address", "127.0.0.1:\(metrics)", "--log-level", logLevel, "--drain-seconds", "2",
            ] + extra,
            output: .file(log.path))
        actors[node] = p
        metricsPorts[node] = metrics
    }

    /// Starts `k8slb-watcher` (the real binary) against the test API server; log in
    /// `watcher.log`. Ended in `tearDown`. `metricsAddress` "" serves no metrics.
    /// `name` keys the process (and its log, `NAME.log`); `identity` is its leader-election identity.
    func startWatcher(
        logLevel: String = "info", metricsAddress: String = "", extra: [String] = [], name: String = "watcher",
        identity: String = "bench"
    ) throws {
        guard let binary = builtExecutable("k8slb-watcher") else {
            throw NamespaceError(message: "k8slb-watcher not built beside the tests")
        }
        let log = work.appendingPathComponent("\(name).log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)  // a restart appends
        }
        let p = try Child.start(
            [
                binary, "run", "--kubeconfig", kubeconfig, "--metrics-address", metricsAddress, "--log-level", logLevel,
                "--identity", identity,
                "--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "1",
            ] + extra,
            output: .file(log.path))
        actors[name] = p
    }

    /// Ends node `node`'s actor with `signal` (by PID).
    func stopActor(_ node: String, signal: Int32 = SIGTERM) {
        guard let p = actors[node], p.isRunning else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
    }

    func log(_ node: String) -> String {
        let file = node.hasPrefix("watcher") ? "\(node).log" : "actor-\(node).log"
        return (try? String(contentsOf: work.appendingPathComponent(file), encoding: .utf8)) ?? ""
    }

    /// Port of the actor's metrics endpoint on 127.0.0.1.
    func metricsPort(_ node: String) -> Int? { metricsPorts[node] }

    /// The actor's /metrics text.
    func metrics(_ node: String) throws -> String {
        guard let port = metricsPorts[node], let curl = which("curl") else { return "" }
        return try run(curl, ["-s", "-m", "2", "http://127.0.0.1:\(port)/metrics"]).output
    }

    /// The value of one sample (`name{labels}`), 0 when absent.
    func metric(_ node: String, _ sample: String) throws -> Double {
        for line in try metrics(node).split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    func writeConfig(_ json: String) async throws { try await Self.put(client, "global", ["config": json]) }

    /// Publishes `document` as the watcher does (shards, then the index).
    func publish(_ document: AssignmentDocument) async throws { try await Self.publish(document, to: client) }

    /// `document` published through `client` (any cluster's) as the watcher does.
    static func publish(_ document: AssignmentDocument, to client: KubeClient) async throws {
        let shards = try AssignmentShards.encode(document)
        for (i, bytes) in shards.shards.enumerated() {
            try await put(client, "assignments-\(i)", ["vips": String(decoding: bytes, as: UTF8.self)])
        }
        try await put(client, "assignments", ["index": String(decoding: shards.indexBytes, as: UTF8.self)])
    }

    /// Creates or replaces ConfigMap `name` in k8slb-system with `data`.
    static func put(_ client: KubeClient, _ name: String, _ data: [String: String]) async throws {
        if var cm = try? await client.get(ConfigMap.self, namespace: "k8slb-system", name: name) {
            cm.data = data
            _ = try await client.update(cm)
        } else {
            _ = try await client.create(
                ConfigMap(metadata: ObjectMeta(name: name, namespace: "k8slb-system"), data: data))
        }
    }

    /// Creates the Service object (for Events) — assignments come from `publish`.
    func createService(_ key: ServiceKey, ports: [(String, Int)], annotations: [String: String]? = nil) async throws {
        _ = try await client.create(Self.service(key, ports: ports, annotations: annotations))
    }

    /// A LoadBalancer Service targeting port 8080 (what `createService` creates).
    static func service(_ key: ServiceKey, ports: [(String, Int)], annotations: [String: String]? = nil) -> Service {
        let spec = Service.Spec(
            type: "LoadBalancer", ports: ports.map { .init(name: $0.0, port: $0.1, targetPort: .int(8080)) },
            selector: ["app": key.name])
        return Service(
            metadata: ObjectMeta(name: key.name, namespace: key.namespace, annotations: annotations), spec: spec)
    }

    /// EndpointSlice `name` of Service `key` (what `setSlice` writes).
    static func slice(
        _ key: ServiceKey, name: String, addresses: [String], ports: [(String?, String, Int)],
        notReady: Set<String> = []
    ) -> EndpointSlice {
        EndpointSlice(
            metadata: ObjectMeta(
                name: name, namespace: key.namespace, labels: ["kubernetes.io/service-name": key.name]),
            addressType: addresses.first?.contains(":") == true ? "IPv6" : "IPv4",
            endpoints: addresses.map { .init(addresses: [$0], ready: !notReady.contains($0)) },
            ports: ports.map { .init(name: $0.0, protocol: $0.1, port: $0.2) })
    }

    /// Creates or replaces the EndpointSlice `name` of Service `key`.
    func setSlice(
        _ key: ServiceKey, name: String, addresses: [String], ports: [(String?, String, Int)],
        notReady: Set<String> = []
    ) async throws {
        let slice = Self.slice(key, name: name, addresses: addresses, ports: ports, notReady: notReady)
        if var existing = try? await client.get(EndpointSlice.self, namespace: key.namespace, name: name) {
            existing.endpoints = slice.endpoints
            existing.ports = slice.ports
            _ = try await client.update(existing)
        } else {
            _ = try await client.create(slice)
        }
    }

    /// Events on Service `key` (reason → messages).
    func events(_ key: ServiceKey) async throws -> [(reason: String, message: String)] {
        try await client.listAll(Event.self, namespace: key.namespace).items
            .filter { $0.involvedObject.name == key.name }
            .map { ($0.reason ?? "", $0.message ?? "") }
    }

    /// The last lines of every actor's log and the watcher's (for a failure message).
    func actorLogs(lines: Int = 40) -> String {
        actors.keys.sorted().map { node in
            "--- \(node):\n" + log(node).split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Node objects for LB nodes `nodes` (label `type=loadBalancer`, InternalIP 192.0.2.11, .12, …),
    /// and their namespaces on the bridge with that address unless `hosts` is false (the
    /// namespaces exist already, e.g. from `webScenario`).
    func addLBNodes(_ nodes: [String], hosts: Bool = true) async throws {
        for (i, node) in nodes.enumerated() {
            if hosts { try topo.host(node, addresses: ["192.0.2.\(11 + i)/24"]) }
            _ = try await client.create(
                Node(
                    metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                    addresses: [.init(type: "InternalIP", address: "192.0.2.\(11 + i)")]))
        }
    }

    /// LB nodes holding `vip`: as an address, or routed there (IPv6 VRRP followers).
    func holders(_ vip: String, among nodes: [String]) throws -> [String] {
        try nodes.filter {
            if try topo.exec($0, [topo.ip, "-o", "addr", "show"]).output.contains(" \(vip)/") { return true }
            return try vip.contains(":") && topo.vipRoutes($0).contains(vip)
        }
    }

    /// The common scenario: LB nodes `nodes` (192.0.2.11, .12, …), a backend at 192.0.2.21:8080
    /// answering "backend", a client at 192.0.2.100, pool default with VRRP advert 0.1 s, and
    /// Service default/web port 80 on VIP 192.0.2.50 with its ready endpoint. Returns the document.
    /// `vridOffset`: the config's `vrrp.vridOffset` (VRIDs above it).
    @discardableResult
    func webScenario(nodes: [String], tools: Tools, vridOffset: Int = 0) async throws -> AssignmentDocument {
        for (i, node) in nodes.enumerated() { try topo.host(node, addresses: ["192.0.2.\(11 + i)/24"]) }
        try topo.host("be", addresses: ["192.0.2.21/24"])
        try topo.host("cl", addresses: ["192.0.2.100/24"])
        try "backend\n".write(to: work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try topo.spawn(
            "be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", work.path],
            listening: 8080)
        try await writeConfig(
            #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1""#
                + (vridOffset == 0 ? "" : #","vridOffset":\#(vridOffset)"#) + "}}")
        let web = ServiceKey(namespace: "default", name: "web")
        try await createService(web, ports: [("http", 80)])
        let entry = AssignmentDocument.ServiceEntry(
            key: web, ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
        let vip = try IPAddress(parsing: "192.0.2.50")
        let plan = VRRPPlan.make(vips: [(vip, .default)], nodes: nodes, previous: [], vridOffset: vridOffset)
        let doc = AssignmentDocument(
            vips: [.init(address: vip, pool: .default, services: [entry], vrid: plan.vridOf[vip])], nodes: nodes,
            groups: plan.groups)
        try await publish(doc)
        try await setSlice(web, name: "web-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
        return doc
    }

    /// Runs `body(0..<count)` as fast as the API takes it: `width` requests in flight at a time.
    static func concurrently(
        _ count: Int, width: Int = 32, _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask { try await body(i) }
            }
            for _ in 0..<min(width, count) { add() }
            while try await group.next() != nil { if next < count { add() } }
        }
    }

    /// The benchmarks at size: LB nodes lb-a and lb-b, a backend at 192.0.2.21:8080 answering
    /// "backend", and a client at 192.0.2.100 routing the IPv6 VIPs 2001:db8:5::/112 (the
    /// documentation ranges have no room for thousands of IPv4 ones). Returns the node names.
    func sizedScenario(_ tools: Tools) async throws -> [String] {
        let nodes = ["lb-a", "lb-b"]
        try await addLBNodes(nodes)
        try topo.host("be", addresses: ["192.0.2.21/24"])
        try topo.host("cl", addresses: ["192.0.2.100/24"])
        try topo.sh(["-n", topo.ns("cl"), "-6", "route", "add", "2001:db8:5::/112", "dev", "eth0"])
        try "backend\n".write(to: work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try topo.spawn(
            "be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", work.path],
            listening: 8080)
        return nodes
    }

    /// True when the client gets "backend" from http://192.0.2.50/.
    func webServes(_ tools: Tools) throws -> Bool {
        try topo.exec("cl", [tools.curl, "-s", "-m", "1", "http://192.0.2.50/"]).output == "backend\n"
    }

    func tearDown() async {
        for node in actors.keys.sorted() { stopActor(node) }
        topo.tearDown()
        try? await server.stop()
        if ProcessInfo.processInfo.environment["K8SLB_KEEP_TEST_LOGS"] == nil {
            try? FileManager.default.removeItem(at: work)
        }
    }
}
