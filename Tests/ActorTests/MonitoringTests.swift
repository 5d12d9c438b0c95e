import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing
import Yams

/// What ships in manifests/components/monitoring, read the way the tests use it.
enum Monitoring {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("manifests/components/monitoring")
    static let operations = directory.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/operations.md")

    static func text(_ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    /// The rules of k8slb.rules.yaml.
    static func rules() throws -> [[String: Any]] {
        let doc = try Yams.load(yaml: text("k8slb.rules.yaml")) as? [String: Any]
        let groups = doc?["groups"] as? [[String: Any]] ?? []
        return groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
    }

    /// The dashboard's panels: title and queries.
    static func panels() throws -> [(title: String, queries: [String])] {
        let json = try JSONSerialization.jsonObject(with: Data(text("k8slb-dashboard.json").utf8)) as? [String: Any]
        return (json?["panels"] as? [[String: Any]] ?? []).map { panel in
            let targets = panel["targets"] as? [[String: Any]] ?? []
            return (panel["title"] as? String ?? "", targets.compactMap { $0["expr"] as? String })
        }
    }

    /// Every k8slb metric name a rule or a panel queries (sample names, as a scrape shows them).
    static func usedMetricNames() throws -> Set<String> {
        let exprs = try rules().compactMap { $0["expr"] as? String } + panels().flatMap(\.queries)
        let names = exprs.flatMap { expr in expr.matches(of: /k8slb_[a-z0-9_]+/).map { String($0.output) } }
        return Set(names)
    }

    /// The sample names in a /metrics text.
    static func sampleNames(_ scrape: String) -> Set<String> {
        Set(
            scrape.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
                $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
            })
    }
}

/// Alerts, their tests and the dashboard, as an operator gets them: promtool passes the rules and
/// their unit tests, the PrometheusRule carries exactly the plain rules, every alert has a runbook
/// section, and a real Prometheus scraping a local topology sees the alerts fire and resolve.
@Suite(.serialized) struct MonitoringTests {
    /// `promtool check rules` and `promtool test rules` (each alert fires when it should and
    /// stays quiet when it should not: k8slb.rules.test.yaml).
    @Test(.needs(Needs.tools("promtool"))) func rulesPassPromtool() throws {
        guard let promtool = which("promtool") else {
            if requireIntegration { Issue.record("promtool (Debian package prometheus) is required when CI=true") }
            return
        }
        let check = try run(
            promtool, ["check", "rules", Monitoring.directory.appendingPathComponent("k8slb.rules.yaml").path])
        print(
            "monitoring: promtool check rules:",
            check.output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " | "))
        #expect(check.status == 0 && check.output.contains("SUCCESS: 14 rules found"), "\(check.output)")
        let test = try run(
            promtool, ["test", "rules", Monitoring.directory.appendingPathComponent("k8slb.rules.test.yaml").path])
        print(
            "monitoring: promtool test rules:",
            test.output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " | "))
        #expect(test.status == 0 && test.output.contains("SUCCESS"), "\(test.output)")
    }

    /// Every alert has a severity, a summary, a description naming its object, a runbook section
    /// in docs/operations.md and a unit test in which it fires; the PrometheusRule's groups are
    /// the plain file's.
    @Test func everyAlertIsDocumentedTestedAndShippedTwice() throws {
        let rules = try Monitoring.rules()
        #expect(rules.count == 14)
        let operations = try String(contentsOf: Monitoring.operations, encoding: .utf8)
        let anchors = Set(
            operations.split(separator: "\n").filter { $0.hasPrefix("#") }.map {
                $0.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces).lowercased()
                    .filter { $0.isLetter || $0.isNumber || $0 == "-" }
            })
        let unitTests = try Yams.load(yaml: Monitoring.text("k8slb.rules.test.yaml")) as? [String: Any]
        let firing = Set(
            (unitTests?["tests"] as? [[String: Any]] ?? []).flatMap { $0["alert_rule_test"] as? [[String: Any]] ?? [] }
                .filter { !($0["exp_alerts"] as? [Any] ?? []).isEmpty }.compactMap { $0["alertname"] as? String })
        for rule in rules {
            let name = rule["alert"] as? String ?? "?"
            let labels = rule["labels"] as? [String: Any] ?? [:]
            let notes = rule["annotations"] as? [String: String] ?? [:]
            #expect(["critical", "warning"].contains(labels["severity"] as? String ?? ""), "\(name): severity")
            #expect(notes["summary"]?.isEmpty == false && notes["description"]?.isEmpty == false, "\(name)")
            let anchor = notes["runbook_url"]?.split(separator: "#").last.map(String.init) ?? ""
            #expect(
                anchor == name.lowercased() && anchors.contains(anchor), "\(name): runbook section in operations.md")
            #expect(firing.contains(name), "\(name): a unit test in which it fires")
        }
        func canonical(_ value: Any?) throws -> String {
            String(
                decoding: try JSONSerialization.data(withJSONObject: value ?? [], options: .sortedKeys), as: UTF8.self)
        }
        let plain = try Yams.load(yaml: Monitoring.text("k8slb.rules.yaml")) as? [String: Any]
        let operatorRule = try Yams.load(yaml: Monitoring.text("prometheusrule.yaml")) as? [String: Any]
        #expect(operatorRule?["kind"] as? String == "PrometheusRule")
        #expect(
            try canonical(plain?["groups"]) == canonical((operatorRule?["spec"] as? [String: Any])?["groups"]),
            "prometheusrule.yaml's spec.groups must be k8slb.rules.yaml's groups")
    }

    /// The dashboard has the panels operators look at, each with queries; printed with them.
    @Test func dashboardPanelsQueryWhatOperatorsLookAt() throws {
        let panels = try Monitoring.panels()
        for panel in panels {
            #expect(!panel.queries.isEmpty, "\(panel.title): no query")
            print("monitoring: panel \"\(panel.title)\": \(panel.queries.joined(separator: " ; "))")
        }
        let topics = [
            "k8slb_vip_master", "k8slb_proxy_applies_total", "k8slb_runtime_api_commands_total", "k8slb_pool_in_use",
            "k8slb_bgp_session_up", "k8slb_bfd_up", "k8slb_certificate_expiry_timestamp_seconds",
            "k8slb_reconcile_duration_seconds_bucket",
        ]
        let used = Set(
            panels.flatMap(\.queries).joined(separator: " ").matches(of: /k8slb_[a-z0-9_]+/).map { String($0.output) })
        for topic in topics { #expect(used.contains(topic), "no panel shows \(topic)") }
        #expect(panels.contains { $0.queries.contains { $0.contains("changes(k8slb_vip_master") } }, "failovers")
    }

    // MARK: a real Prometheus

    /// Prometheus (Debian's package) scrapes two actors and the watcher of a local topology with
    /// the shipped rules (`for:` shortened to 2 s). Provoked: a planned failover (lb-a labelled
    /// excluded: its VIPs move, K8slbNodeNotEligible), no holder at all (lb-b excluded too:
    /// K8slbVIPWithoutHolder), a split brain (VRRP dropped on both nodes: resolved by a node stepping
    /// down, K8slbVRRPGroupSteppedDown; K8slbVIPOnTwoNodes fires in promtool's unit test) and an
    /// exhausted pool (a third Service in a pool of three: K8slbPoolExhausted); each alert fires
    /// and resolves when the cause goes. The pool's test certificate is valid for a day, so
    /// K8slbCertificateExpiringSoon fires throughout. Every metric the rules and the dashboard use
    /// is in the scrapes (the BGP/BFD ones in BGPTests).
    @Test(
        .needs(
            .root("ip", "haproxy", "keepalived", "curl", "openssl", "nft", "prometheus").and(
                built: "k8slb-actor", "k8slb-watcher")))
    func prometheusSeesAlertsFireAndResolve() async throws {
        guard let tools = ActorHarness.tools(), let openssl = which("openssl"), let nft = which("nft"),
            let prometheus = which("prometheus")
        else {
            if requireIntegration { Issue.record("openssl, nft and prometheus are required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            try await h.addLBNodes(nodes)
            let certs = h.work.appendingPathComponent("certs").path
            try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
            try makeTestCertificates(openssl: openssl, dir: certs, [("default", "web.example.org")])
            let bundle =
                try String(contentsOfFile: "\(certs)/default.crt", encoding: .utf8)
                + String(contentsOfFile: "\(certs)/default.key", encoding: .utf8)
            try bundle.write(toFile: "\(certs)/default.pem", atomically: true, encoding: .utf8)
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.52"}},"vrrp":{"advertInterval":0.1}}"#
            )
            let watcherPort = unusedLoopbackPort()
            try h.startWatcher(metricsAddress: "127.0.0.1:\(watcherPort)")
            for node in nodes { try h.startActor(node, certDir: certs) }
            let web = ServiceKey(namespace: "default", name: "web")
            let shop = ServiceKey(namespace: "default", name: "shop")
            try await h.createService(web, ports: [("http", 80)])
            try await h.createService(shop, ports: [("https", 443)])

            // Prometheus with the shipped rules, `for:` shortened so the test takes seconds.
            let dir = h.work.appendingPathComponent("prometheus")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let rules = try Monitoring.text("k8slb.rules.yaml").replacing(/for: [0-9]+[smh]/, with: "for: 2s")
            try rules.write(to: dir.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
            var targets = ""
            for node in nodes {
                targets += "  - {targets: ['127.0.0.1:\(h.metricsPort(node) ?? 0)'], labels: {instance: \(node)}}\n"
            }
            try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: [rules.yaml]
            scrape_configs:
            - job_name: k8slb-actor
              static_configs:
            \(targets)- job_name: k8slb-watcher
              static_configs:
              - {targets: ['127.0.0.1:\(watcherPort)'], labels: {instance: watcher-1}}

            """.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
            let promPort = unusedLoopbackPort()
            let log = dir.appendingPathComponent("prometheus.log").path
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let server = try Child.start(
                [
                    prometheus, "--config.file", dir.appendingPathComponent("prometheus.yml").path,
                    "--storage.tsdb.path", dir.appendingPathComponent("data").path,
                    "--web.listen-address", "127.0.0.1:\(promPort)", "--log.level", "warn",
                ], output: .file(log))
            defer {
                kill(server.processIdentifier, SIGTERM)
                server.waitUntilExit()
            }
            let prom = PrometheusAPI(curl: tools.curl, port: promPort)
            let start = Date()
            func stamp() -> String { String(format: "+%.1fs", Date().timeIntervalSince(start)) }

            // Steady state: all three targets up, both Services served, nothing firing but the
            // one-day certificate.
            #expect(
                await eventually(.seconds(30), every: .milliseconds(500)) {
                    try prom.query("sum(up)") == 3 && prom.query("count(k8slb_vip_master)") == 4
                }, "targets up and two VIPs with a series per node: \(String(describing: try? prom.alerts()))")
            let expiring = await prom.wait(
                firing: true, "K8slbCertificateExpiringSoon", ["certificate": "pool/default"])
            print("monitoring: \(stamp()) K8slbCertificateExpiringSoon{certificate=pool/default} firing: \(expiring)")
            #expect(expiring)
            #expect(
                await eventually(.seconds(20), every: .milliseconds(500)) {
                    try prom.alerts().allSatisfy { $0.name == "K8slbCertificateExpiringSoon" }
                }, "quiet at steady state: \(String(describing: try? prom.alerts()))")
            let vips = try await [web, shop].asyncMap { key in
                try await h.client.get(Service.self, namespace: key.namespace, name: key.name).status?.loadBalancer?
                    .ingress?.first?.ip ?? ""
            }
            #expect(vips.allSatisfy { !$0.isEmpty }, "both Services got a VIP")

            /// Waits for `alert` (with `labels`) to be firing (or gone) and prints when.
            func expect(_ alert: String, _ labels: [String: String], firing: Bool, cause: String) async {
                let ok = await prom.wait(firing: firing, alert, labels)
                let shown = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                print("monitoring: \(stamp()) \(alert){\(shown)} \(firing ? "firing" : "resolved") (\(cause)): \(ok)")
                #expect(ok, "\(alert){\(shown)} \(firing ? "firing" : "resolved") after \(cause)")
            }
            func label(_ node: String, excluded: Bool) async throws {
                var n = try await h.client.get(Node.self, namespace: nil, name: node)
                n.metadata.labels = ["type": "loadBalancer"]
                if excluded { n.metadata.labels?[NodeEligibility.excludeLabel] = "true" }
                _ = try await h.client.update(n)
            }

            /// web's `k8slb.io/Serving` condition (the watcher's, from the actors' live-VIP records).
            func serving() async throws -> Condition? {
                try await h.client.get(Service.self, namespace: "default", name: "web").status?.conditions?.first {
                    $0.type == ServiceConditions.serving
                }
            }
            func expectServing(_ status: String, _ reason: String, naming node: String?, _ cause: String) async {
                let ok = await eventually(.seconds(15), every: .milliseconds(100)) {
                    let c = try await serving()
                    return c?.status == status && c?.reason == reason
                        && (node.map { c?.message?.hasSuffix(" on \($0)") ?? false } ?? true)
                }
                let c = try? await serving()
                print(
                    "conditions: \(stamp()) web k8slb.io/Serving=\(c?.status ?? "-") \(c?.reason ?? "-"): \(c?.message ?? "-") (\(cause))"
                )
                #expect(ok, "web Serving \(status) \(reason) \(node ?? "") after \(cause)")
            }
            let webHolder = try h.holders(vips[0], among: nodes).first ?? "?"
            await expectServing("True", "Serving", naming: webHolder, "steady state")

            // A planned failover: lb-a excluded hands its VIPs to lb-b.
            try await label("lb-a", excluded: true)
            #expect(
                await eventually(.seconds(10)) { try vips.allSatisfy { try h.holders($0, among: nodes) == ["lb-b"] } },
                "lb-b holds every VIP")
            await expectServing("True", "Serving", naming: "lb-b", "lb-a excluded")
            await expect("K8slbNodeNotEligible", ["instance": "lb-a"], firing: true, cause: "lb-a excluded")
            // No holder: lb-b excluded too.
            try await label("lb-b", excluded: true)
            for vip in vips {
                await expect("K8slbVIPWithoutHolder", ["vip": vip], firing: true, cause: "both nodes excluded")
            }
            await expectServing("False", "Pending", naming: nil, "both nodes excluded")
            try await label("lb-a", excluded: false)
            try await label("lb-b", excluded: false)
            for vip in vips {
                await expect("K8slbVIPWithoutHolder", ["vip": vip], firing: false, cause: "nodes eligible again")
            }
            await expect("K8slbNodeNotEligible", ["instance": "lb-a"], firing: false, cause: "lb-a eligible again")
            await expectServing("True", "Serving", naming: nil, "nodes eligible again")
            // The dashboard's failover panel counts them: each VIP left its node and came back.
            let moves = try prom.query("sum(changes(k8slb_vip_master[2m])) / 2") ?? 0
            print("monitoring: \(stamp()) failovers counted by the dashboard's query: \(moves)")
            #expect(moves >= 2)

            // Split brain: VRRP adverts dropped on both nodes, so each is master of every VIP; the
            // node ranked lower for each group steps down for it (SplitBrainResolutionTests has the
            // timing), reports it on the Service, and the alert says a node stepped down.
            for node in nodes {
                let r = try h.topo.exec(
                    node,
                    [
                        nft,
                        "add table inet k8slbtest ; add chain inet k8slbtest in { type filter hook input priority 0 ; }"
                            + " ; add rule inet k8slbtest in ip protocol 112 drop",
                    ])
                #expect(r.status == 0, "nft: \(r.output)")
            }
            await expect("K8slbVRRPGroupSteppedDown", [:], firing: true, cause: "VRRP dropped")
            var splitEvents: [String] = []
            let reported = await eventually(.seconds(15), every: .milliseconds(200)) {
                splitEvents = try await h.client.listAll(Event.self).items.filter {
                    $0.involvedObject.name == "web" && $0.reason == "VIPOnTwoNodes"
                }.map { $0.message ?? "" }
                return !splitEvents.isEmpty
            }
            print("conditions: \(stamp()) web VIPOnTwoNodes Event: \(splitEvents)")
            #expect(reported && splitEvents.allSatisfy { $0.contains(" steps down for the group") })
            #expect(
                await eventually(.seconds(10)) { try vips.allSatisfy { try h.holders($0, among: nodes).count == 1 } },
                "each VIP on one node")
            await expectServing("True", "Serving", naming: nil, "split brain resolved")
            for vip in vips { await expect("K8slbVIPOnTwoNodes", ["vip": vip], firing: false, cause: "resolved") }
            for node in nodes { _ = try h.topo.exec(node, [nft, "delete table inet k8slbtest"]) }
            await expect("K8slbVRRPGroupSteppedDown", [:], firing: false, cause: "VRRP back")
            await expectServing("True", "Serving", naming: nil, "VRRP back")

            // An exhausted pool: a third Service takes the pool's last address.
            let extra = ServiceKey(namespace: "default", name: "extra")
            try await h.createService(extra, ports: [("http", 8080)])
            let pool = ["pool": "default", "family": "IPv4"]
            await expect("K8slbPoolExhausted", pool, firing: true, cause: "third Service")
            await expect("K8slbPoolNearlyExhausted", pool, firing: true, cause: "third Service")
            try await h.client.delete(Service.self, namespace: extra.namespace, name: extra.name)
            // (The freed address returns to the pool after the release quarantine.)
            await expect("K8slbPoolExhausted", pool, firing: false, cause: "third Service deleted")
            await expect("K8slbPoolNearlyExhausted", pool, firing: false, cause: "third Service deleted")
            #expect(
                await eventually(.seconds(20), every: .milliseconds(500)) {
                    try prom.alerts().allSatisfy { $0.name == "K8slbCertificateExpiringSoon" }
                }, "quiet again: \(String(describing: try? prom.alerts()))")

            // Every metric name the rules and the dashboard use is in a scrape (BGP/BFD: BGPTests).
            var scraped = Monitoring.sampleNames(try h.metrics("lb-a")).union(
                Monitoring.sampleNames(try h.metrics("lb-b")))
            scraped.formUnion(
                Monitoring.sampleNames(
                    try run(tools.curl, ["-s", "-m", "2", "http://127.0.0.1:\(watcherPort)/metrics"]).output))
            let missing = try Monitoring.usedMetricNames().filter {
                !scraped.contains($0) && !$0.hasPrefix("k8slb_bgp_") && !$0.hasPrefix("k8slb_bfd_")
            }
            print(
                "monitoring: metrics used by rules and dashboard: \(try Monitoring.usedMetricNames().count), missing from the scrapes: \(missing.sorted())"
            )
            #expect(missing.isEmpty, "used but never exported: \(missing.sorted())")
        }
    }
}

/// Prometheus' HTTP API on loopback, through curl.
struct PrometheusAPI {
    let curl: String
    let port: Int

    struct Alert: CustomStringConvertible {
        let name: String, labels: [String: String], state: String, activeAt: String
        var description: String { "\(name)\(labels) \(state) since \(activeAt)" }
    }

    private func get(_ path: String) throws -> [String: Any] {
        let out = try run(curl, ["-s", "-m", "2", "-G", "http://127.0.0.1:\(port)\(path)"]).output
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
    }

    /// The value of an instant query with one result (nil when it has none).
    func query(_ expr: String) throws -> Double? {
        let encoded = expr.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expr
        let data = try get("/api/v1/query?query=\(encoded)")["data"] as? [String: Any]
        let result = (data?["result"] as? [[String: Any]])?.first
        return ((result?["value"] as? [Any])?.last as? String).flatMap(Double.init)
    }

    /// Alerts pending or firing.
    func alerts() throws -> [Alert] {
        let data = try get("/api/v1/alerts")["data"] as? [String: Any]
        return (data?["alerts"] as? [[String: Any]] ?? []).map { a in
            let labels = a["labels"] as? [String: String] ?? [:]
            return Alert(
                name: labels["alertname"] ?? "", labels: labels, state: a["state"] as? String ?? "",
                activeAt: a["activeAt"] as? String ?? "")
        }
    }

    /// Waits until `alert` with `labels` is firing (`firing`) or neither pending nor firing.
    func wait(firing: Bool, _ alert: String, _ labels: [String: String], timeout: Duration = .seconds(40)) async
        -> Bool
    {
        await eventually(timeout, every: .milliseconds(250)) {
            let matching = try alerts().filter { a in
                a.name == alert && labels.allSatisfy { a.labels[$0.key] == $0.value }
            }
            return firing ? matching.contains { $0.state == "firing" } : matching.isEmpty
        }
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
