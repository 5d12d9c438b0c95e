import Core
import Foundation
import TestAPIServer
import TestSupport
import Testing
import Yams

/// The deployment manifests as an operator applies them (`kubectl kustomize` of each overlay)
/// against the binaries they run: every flag and environment variable they pass exists, the image
/// is the version the binaries print, and the pods have what they need and no more.
@Suite(.needs(Needs.tools("kubectl").and(built: "k8slb-actor", "k8slb-watcher"))) struct ManifestTests {
    static let manifests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("manifests")
    static let overlays = ["haproxy", "nginx", "kubeproxy"]

    /// The rendered documents of `path` (relative to manifests/); nil when kubectl is missing
    /// (an Issue is recorded first when CI=true).
    static func render(_ path: String) throws -> [[String: Any]]? {
        guard let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("kubectl is required when CI=true") }
            return nil
        }
        let r = try run(kubectl, ["kustomize", manifests.appendingPathComponent(path).path])
        guard r.status == 0 else {
            Issue.record("kubectl kustomize \(path) failed: \(r.output)")
            return nil
        }
        return try Yams.load_all(yaml: r.output).compactMap { $0 as? [String: Any] }
    }

    /// `kubectl kustomize` of an overlay of one's own: `overlay` plus `components` (paths relative
    /// to manifests/), as an operator writes it (kustomize takes relative paths only).
    static func render(overlay: String, components: [String]) throws -> [[String: Any]]? {
        guard let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("kubectl is required when CI=true") }
            return nil
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "k8slb-kust-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let up = String(repeating: "../", count: dir.standardizedFileURL.pathComponents.count - 1)
        let base = up + manifests.standardizedFileURL.path.dropFirst()
        try
            ("resources: [\(base)/\(overlay)]\ncomponents: ["
            + components.map { "\(base)/\($0)" }.joined(separator: ", ") + "]\n")
            .write(to: dir.appendingPathComponent("kustomization.yaml"), atomically: true, encoding: .utf8)
        let r = try run(kubectl, ["kustomize", "--load-restrictor", "LoadRestrictionsNone", dir.path])
        guard r.status == 0 else {
            Issue.record("kubectl kustomize \(overlay) + \(components): \(r.output)")
            return nil
        }
        return try Yams.load_all(yaml: r.output).compactMap { $0 as? [String: Any] }
    }

    static func podSpec(_ docs: [[String: Any]], kind: String) -> [String: Any]? {
        let doc = docs.first { $0["kind"] as? String == kind }
        return ((doc?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
    }

    static func containers(_ pod: [String: Any]?, _ key: String = "containers") -> [[String: Any]] {
        pod?[key] as? [[String: Any]] ?? []
    }

    static func args(_ c: [String: Any]) -> [String] { (c["args"] as? [Any] ?? []).map { "\($0)" } }

    /// The value following `flag` in `args`.
    static func value(_ flag: String, _ args: [String]) -> String? {
        guard let i = args.lastIndex(of: flag), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    @Test(arguments: overlays)
    func everyFlagAndVariableExistsInTheBinary(_ overlay: String) throws {
        guard let docs = try Self.render("overlays/\(overlay)") else { return }
        var checked = 0
        for kind in ["Deployment", "DaemonSet"] {
            for c in Self.containers(Self.podSpec(docs, kind: kind)) {
                guard let command = (c["command"] as? [String])?.first, command.hasPrefix("/usr/local/bin/k8slb-")
                else { continue }
                let name = URL(fileURLWithPath: command).lastPathComponent
                guard let binary = builtExecutable(name) else {
                    Issue.record("\(name) not built beside the tests")
                    continue
                }
                let args = Self.args(c)
                let help = try run(binary, [args.first ?? "run", "--help"]).output
                for flag in args where flag.hasPrefix("--") {
                    #expect(help.contains(flag), "\(overlay): \(name) has no flag \(flag)")
                }
                // Each flag once: a repeated flag would leave the reader guessing which wins.
                let flags = args.filter { $0.hasPrefix("--") }
                #expect(Set(flags).count == flags.count, "\(overlay): \(name) flags repeated: \(flags)")
                for env in (c["env"] as? [[String: Any]] ?? []).compactMap({ $0["name"] as? String }) {
                    #expect(help.contains("env \(env)"), "\(overlay): \(name) reads no environment variable \(env)")
                }
                // The binary accepts the whole command line (values included), not only the names.
                let parse = try run(binary, args + ["--help"])
                #expect(parse.status == 0, "\(overlay): \(name) refuses its arguments: \(parse.output)")
                checked += 1
            }
        }
        #expect(checked == 2, "watcher and actor containers found in \(overlay): \(checked)")
    }

    @Test(arguments: overlays)
    func backendAndIPModeMatchTheOverlay(_ overlay: String) throws {
        guard let docs = try Self.render("overlays/\(overlay)") else { return }
        let actor = Self.containers(Self.podSpec(docs, kind: "DaemonSet")).first ?? [:]
        let watcher = Self.containers(Self.podSpec(docs, kind: "Deployment")).first ?? [:]
        #expect(Self.value("--backend", Self.args(actor)) == overlay)
        #expect(Self.value("--ip-mode", Self.args(watcher)) == (overlay == "kubeproxy" ? "VIP" : "Proxy"))
    }

    @Test(arguments: overlays)
    func imageIsTheBinariesVersionAndUsedWhenImported(_ overlay: String) throws {
        guard let docs = try Self.render("overlays/\(overlay)") else { return }
        var images = 0
        for kind in ["Deployment", "DaemonSet"] {
            let pod = Self.podSpec(docs, kind: kind)
            for c in Self.containers(pod) + Self.containers(pod, "initContainers") {
                images += 1
                #expect(
                    c["image"] as? String == "k8slb:\(K8slbVersion.current)", "\(overlay) \(kind): \(c["image"] ?? "-")"
                )
                #expect(
                    c["imagePullPolicy"] as? String == "IfNotPresent",
                    "\(overlay) \(kind): a node-imported image must be used")
            }
        }
        #expect(images >= 2)
    }

    @Test(arguments: overlays)
    func podsAreConfinedAsDocumented(_ overlay: String) throws {
        guard let docs = try Self.render("overlays/\(overlay)") else { return }
        let ns = docs.first { $0["kind"] as? String == "Namespace" }
        let labels = (ns?["metadata"] as? [String: Any])?["labels"] as? [String: String] ?? [:]
        #expect(
            labels["pod-security.kubernetes.io/enforce"] == "privileged",
            "hostNetwork + NET_ADMIN is refused under baseline")

        let actorPod = Self.podSpec(docs, kind: "DaemonSet")
        #expect(actorPod?["hostNetwork"] as? Bool == true)
        #expect((actorPod?["nodeSelector"] as? [String: Any])?["type"] as? String == "loadBalancer")
        let actor = Self.containers(actorPod).first ?? [:]
        let sc = actor["securityContext"] as? [String: Any] ?? [:]
        let caps = sc["capabilities"] as? [String: Any] ?? [:]
        #expect(sc["privileged"] as? Bool != true)
        #expect(caps["drop"] as? [String] == ["ALL"])
        let expected: Set<String> =
            overlay == "nginx"
            ? ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "SETUID", "SETGID"]
            : ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"]
        #expect(Set(caps["add"] as? [String] ?? []) == expected)
        #expect(sc["readOnlyRootFilesystem"] as? Bool == true)
        #expect((actor["env"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == "NODE_NAME" })
        // Only the nginx overlay has a privileged part: the sysctl init container.
        let inits = Self.containers(actorPod, "initContainers")
        #expect(inits.count == (overlay == "nginx" ? 1 : 0))

        let watcherPod = Self.podSpec(docs, kind: "Deployment")
        let podSC = watcherPod?["securityContext"] as? [String: Any] ?? [:]
        #expect(podSC["runAsUser"] as? Int == 65534 && podSC["runAsNonRoot"] as? Bool == true)
        let wsc = Self.containers(watcherPod).first?["securityContext"] as? [String: Any] ?? [:]
        #expect(wsc["readOnlyRootFilesystem"] as? Bool == true)
        #expect((wsc["capabilities"] as? [String: Any])?["drop"] as? [String] == ["ALL"])
        let kinds = Set(docs.compactMap { $0["kind"] as? String })
        #expect(
            kinds.isSuperset(of: ["Namespace", "ServiceAccount", "ClusterRole", "Role", "Deployment", "DaemonSet"]))
    }

    /// The opt-in component for Secrets in the Services' namespaces, added to an overlay as the
    /// README and the component say: the actor gets `--tls-secrets service-namespace` (a flag it
    /// has) and a ClusterRole reading Secrets; without it, Secrets are read in k8slb-system only.
    @Test func tlsSecretsComponentWidensSecretsAccessOnlyWhenAdded() throws {
        guard let actorBinary = builtExecutable("k8slb-actor") else {
            if requireIntegration { Issue.record("k8slb-actor is required when CI=true") }
            return
        }
        guard
            let docs = try Self.render(
                overlay: "overlays/haproxy", components: ["components/tls-secrets-any-namespace"])
        else { return }
        let args = Self.args(Self.containers(Self.podSpec(docs, kind: "DaemonSet")).first ?? [:])
        #expect(Self.value("--tls-secrets", args) == "service-namespace")
        #expect(try run(actorBinary, args + ["--help"]).status == 0, "the actor accepts \(args)")
        func secretsRules(_ docs: [[String: Any]], kind: String) -> [String] {
            docs.filter { $0["kind"] as? String == kind }.compactMap { d -> String? in
                let rules = d["rules"] as? [[String: Any]] ?? []
                return rules.contains { ($0["resources"] as? [String])?.contains("secrets") == true }
                    ? (d["metadata"] as? [String: Any])?["name"] as? String : nil
            }
        }
        #expect(secretsRules(docs, kind: "ClusterRole") == ["k8slb-actor-tls-secrets"])
        guard let base = try Self.render("overlays/haproxy") else { return }
        #expect(secretsRules(base, kind: "ClusterRole").isEmpty, "without the component no ClusterRole reads Secrets")
        #expect(secretsRules(base, kind: "Role") == ["k8slb-actor"], "the actor reads Secrets in k8slb-system")
    }

    /// An overlay plus the BGP component (FRR in the actor's container): the capabilities FRR 8.4
    /// needs beside the base's, and a writable /var/tmp/frr for its crash logs.
    @Test func bgpComponentGrantsWhatFRRNeeds() throws {
        guard let docs = try Self.render(overlay: "overlays/haproxy", components: ["components/bgp"]) else { return }
        let pod = Self.podSpec(docs, kind: "DaemonSet")
        let actor = Self.containers(pod).first ?? [:]
        let caps =
            ((actor["securityContext"] as? [String: Any])?["capabilities"] as? [String: Any])?["add"] as? [String] ?? []
        #expect(
            Set(caps) == ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "SETUID", "SETGID", "SYS_ADMIN", "CHOWN", "KILL"])
        let mounts = actor["volumeMounts"] as? [[String: Any]] ?? []
        #expect(mounts.contains { $0["mountPath"] as? String == "/var/tmp/frr" })
        #expect((actor["securityContext"] as? [String: Any])?["privileged"] as? Bool != true)
    }

    /// The Gateway API component: the watcher serves Gateway API (a flag it has), may read the
    /// Gateway API kinds and write exactly their status, reads Namespaces and Secrets; the actor
    /// reads the listeners' Secrets in the Gateways' namespaces.
    @Test func gatewayAPIComponentGrantsExactlyWhatTheControllerNeeds() throws {
        guard let watcherBinary = builtExecutable("k8slb-watcher") else {
            if requireIntegration { Issue.record("k8slb-watcher is required when CI=true") }
            return
        }
        guard let docs = try Self.render(overlay: "overlays/haproxy", components: ["components/gateway-api"]) else {
            return
        }
        let watcherArgs = Self.args(Self.containers(Self.podSpec(docs, kind: "Deployment")).first ?? [:])
        #expect(watcherArgs.contains("--gateway-api") && Self.value("--backend", watcherArgs) == "haproxy")
        #expect(try run(watcherBinary, watcherArgs + ["--help"]).status == 0, "the watcher accepts \(watcherArgs)")
        let actorArgs = Self.args(Self.containers(Self.podSpec(docs, kind: "DaemonSet")).first ?? [:])
        #expect(Self.value("--tls-secrets", actorArgs) == "service-namespace")
        let role = docs.first {
            $0["kind"] as? String == "ClusterRole"
                && ($0["metadata"] as? [String: Any])?["name"] as? String == "k8slb-watcher-gateway-api"
        }
        let rules = role?["rules"] as? [[String: Any]] ?? []
        let writes = rules.filter { ($0["verbs"] as? [String] ?? []).contains("patch") }.flatMap {
            $0["resources"] as? [String] ?? []
        }
        #expect(
            !writes.isEmpty && writes.allSatisfy { $0.hasSuffix("/status") },
            "the watcher writes only statuses: \(writes)")
        let reads = Set(rules.flatMap { $0["resources"] as? [String] ?? [] })
        #expect(
            reads.isSuperset(of: [
                "gatewayclasses", "gateways", "httproutes", "tlsroutes", "tcproutes", "udproutes", "referencegrants",
                "namespaces", "secrets",
            ]))
        guard let base = try Self.render("overlays/haproxy") else { return }
        #expect(
            !Self.args(Self.containers(Self.podSpec(base, kind: "Deployment")).first ?? [:]).contains("--gateway-api"),
            "opt-in")
    }

    /// The monitoring component: each PodMonitor selects the pods of its workload by their
    /// template labels and scrapes a port they name; the dashboard ConfigMap carries the JSON in
    /// the repository with the label Grafana's sidecar loads; the PrometheusRule is there.
    @Test func monitoringComponentScrapesThePodsItNames() throws {
        guard let docs = try Self.render(overlay: "overlays/haproxy", components: ["components/monitoring"]) else {
            return
        }
        func named(_ kind: String, _ name: String) -> [String: Any]? {
            docs.first {
                $0["kind"] as? String == kind && ($0["metadata"] as? [String: Any])?["name"] as? String == name
            }
        }
        for (monitor, workload) in [("k8slb-actor", "DaemonSet"), ("k8slb-watcher", "Deployment")] {
            let spec = named("PodMonitor", monitor)?["spec"] as? [String: Any]
            let selector = (spec?["selector"] as? [String: Any])?["matchLabels"] as? [String: String] ?? [:]
            let template = docs.first { $0["kind"] as? String == workload }
                .flatMap {
                    (($0["spec"] as? [String: Any])?["template"] as? [String: Any])?["metadata"] as? [String: Any]
                }
            let labels = template?["labels"] as? [String: String] ?? [:]
            #expect(
                !selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value }, "\(monitor) selects \(labels)")
            let ports = Self.containers(Self.podSpec(docs, kind: workload)).flatMap {
                ($0["ports"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            let endpoints = spec?["podMetricsEndpoints"] as? [[String: Any]] ?? []
            #expect(
                !endpoints.isEmpty && endpoints.allSatisfy { ports.contains($0["port"] as? String ?? "") },
                "\(monitor) scrapes a named port of \(workload): \(ports)")
            let jobLabel = spec?["jobLabel"] as? String ?? ""
            #expect(labels[jobLabel] == monitor, "job label \(monitor), as the alerts expect")
        }
        let dashboard = named("ConfigMap", "k8slb-dashboard")
        let meta = dashboard?["metadata"] as? [String: Any]
        #expect((meta?["labels"] as? [String: String])?["grafana_dashboard"] == "1")
        #expect(meta?["namespace"] as? String == "k8slb-system")
        let json = (dashboard?["data"] as? [String: String])?["k8slb-dashboard.json"]
        #expect(json == (try Monitoring.text("k8slb-dashboard.json")))
        #expect(named("PrometheusRule", "k8slb") != nil)
    }

    @Test func configKustomizationHoldsAValidConfig() throws {
        guard let docs = try Self.render("config") else { return }
        let cm = docs.first { $0["kind"] as? String == "ConfigMap" }
        let meta = cm?["metadata"] as? [String: Any]
        #expect(meta?["name"] as? String == "global" && meta?["namespace"] as? String == "k8slb-system")
        let text = (cm?["data"] as? [String: String])?["config"] ?? ""
        #expect(throws: Never.self) { try UserConfig.parse(text) }
    }

    /// `k8slb-actor control-plane-manifest`: the static pod an operator puts into
    /// /etc/kubernetes/manifests. kubectl takes it (`apply --dry-run=client` against the test API
    /// server), its container is confined exactly as the DaemonSet actor's, every flag it passes
    /// exists, and the config it prints reads back as the same config.
    @Test func controlPlaneStaticPodIsConfinedAsTheDaemonSet() async throws {
        guard let kubectl = which("kubectl"), let actor = builtExecutable("k8slb-actor"),
            let docs = try Self.render("overlays/haproxy")
        else {
            if requireIntegration { Issue.record("kubectl and k8slb-actor are required when CI=true") }
            return
        }
        let flags = [
            "--vip", "192.0.2.10", "--interface", "eth0", "--vrid", "1", "--peer", "cp1=192.0.2.11", "--peer",
            "cp2=192.0.2.12", "--peer", "cp3=192.0.2.13", "--node-name", "cp2",
        ]
        let pod = try run(actor, ["control-plane-manifest"] + flags)
        let config = try run(actor, ["control-plane-manifest", "--print", "config"] + flags)
        #expect(pod.status == 0 && config.status == 0, "\(pod.output)\n\(config.output)")
        let parsed = try ControlPlaneConfig.parse(config.output).config
        #expect(parsed.node == "cp2" && parsed.peers.count == 3 && parsed.vips.map(\.vrid) == [1])
        #expect(ControlPlaneManifest.configJSON(parsed) == config.output, "the printed config reads back unchanged")

        let doc = try #require(try Yams.load(yaml: pod.output) as? [String: Any])
        let spec = try #require(doc["spec"] as? [String: Any])
        #expect(spec["hostNetwork"] as? Bool == true)
        let container = try #require(Self.containers(spec).first)
        let actorContainer = try #require(Self.containers(Self.podSpec(docs, kind: "DaemonSet")).first)
        let mine = try JSONSerialization.data(withJSONObject: container["securityContext"] ?? [:], options: .sortedKeys)
        let daemonSet = try JSONSerialization.data(
            withJSONObject: actorContainer["securityContext"] ?? [:], options: .sortedKeys)
        #expect(
            String(decoding: mine, as: UTF8.self) == String(decoding: daemonSet, as: UTF8.self),
            "the static pod's securityContext is the DaemonSet actor's")
        let args = Self.args(container)
        #expect(args.first == "control-plane")
        let help = try run(actor, ["control-plane", "--help"]).output
        for flag in args where flag.hasPrefix("--") {
            #expect(help.contains(flag), "\(flag) is a flag of control-plane")
        }
        #expect(container["image"] as? String == "docker.io/library/k8slb:\(K8slbVersion.current)")

        let server = TestAPIServer(windowSize: 1000, bookmarkInterval: .seconds(5))
        let port = try await server.start()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "k8slb-cpm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeKubeconfig(port: port, token: "admin", to: dir.appendingPathComponent("kubeconfig").path)
        try pod.output.write(to: dir.appendingPathComponent("pod.yaml"), atomically: true, encoding: .utf8)
        let applied = try run(
            kubectl,
            [
                "--kubeconfig", dir.appendingPathComponent("kubeconfig").path, "apply", "--dry-run=client", "-f",
                dir.appendingPathComponent("pod.yaml").path,
            ])
        print(
            "control-plane manifest: kubectl apply --dry-run=client: \(applied.output.trimmingCharacters(in: .whitespacesAndNewlines))"
        )
        #expect(applied.status == 0 && applied.output.contains("pod/k8slb-control-plane created (dry run)"))
        try await server.stop()
    }
}
