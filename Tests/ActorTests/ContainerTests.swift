import Core
import Foundation
import Glibc
import KubeClient
import Testing
import TestAPIServer
import TestSupport

/// The image `scripts/image` builds, run as the manifests run it: the containers' command, args,
/// environment and security context come from `kubectl kustomize manifests/overlays/haproxy`, and
/// podman (runc, no daemon) starts them in network namespaces of the test's own:
/// - the watcher as uid 65534, read-only root, no capabilities, allocates and writes the status;
/// - an actor on each of two LB nodes with exactly the DaemonSet's capabilities (drop ALL; add
///   NET_ADMIN, NET_RAW, NET_BIND_SERVICE), not privileged, read-only root: keepalived and HAProxy
///   run inside the container and serve the VIP to a client namespace; when the holder's link
///   goes down, the other node's container takes the VIP over.
/// All talk to the test API server through a listener inside an "api" namespace on the bridge.
@Suite(.serialized, .needs(.root("ip", "podman", "runc", "curl", "python3", "kubectl"))) struct ContainerTests {
    static let image = "docker.io/library/k8slb:\(K8slbVersion.current)"

    struct Tools { let ip, podman, curl, python, kubectl: String }

    static func tools() throws -> Tools? {
        guard getuid() == 0, let ip = which("ip"), let podman = which("podman"), which("runc") != nil, let curl = which("curl"),
              let python = which("python3"), let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("root, iproute2, podman, runc, curl, python3 and kubectl are required when CI=true") }
            return nil
        }
        guard try run(podman, ["image", "exists", image]).status == 0 else {
            if requireIntegration { Issue.record("image \(image) is not in local storage: scripts/image builds it (scripts/test runs it first)") }
            return nil
        }
        return Tools(ip: ip, podman: podman, curl: curl, python: python, kubectl: kubectl)
    }

    /// One container from the rendered manifests.
    struct Spec {
        var command: String
        var args: [String]
        var env: [String]
        var capsAdd: [String]
        var capsDrop: [String]
        var runAsUser: Int?
        var readOnlyRoot: Bool
        var privileged: Bool
    }

    static func specs(_ tools: Tools) throws -> (watcher: Spec, actor: Spec) {
        guard let docs = try ManifestTests.render("overlays/haproxy") else { throw NamespaceError(message: "overlay does not render") }
        func spec(_ kind: String) -> Spec {
            let pod = ManifestTests.podSpec(docs, kind: kind)
            let c = ManifestTests.containers(pod).first ?? [:]
            let sc = c["securityContext"] as? [String: Any] ?? [:]
            let caps = sc["capabilities"] as? [String: Any] ?? [:]
            let podSC = pod?["securityContext"] as? [String: Any] ?? [:]
            return Spec(command: (c["command"] as? [String])?.first ?? "", args: ManifestTests.args(c),
                        env: (c["env"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String },
                        capsAdd: caps["add"] as? [String] ?? [], capsDrop: caps["drop"] as? [String] ?? [],
                        runAsUser: (sc["runAsUser"] ?? podSC["runAsUser"]) as? Int,
                        readOnlyRoot: sc["readOnlyRootFilesystem"] as? Bool ?? false, privileged: sc["privileged"] as? Bool ?? false)
        }
        return (spec("Deployment"), spec("DaemonSet"))
    }

    /// `podman run` arguments for `spec` in namespace `ns`, the way the kubelet would run it.
    static func runArguments(_ spec: Spec, name: String, ns: String, env: [String: String], mounts: [String], tmpfs: [String]) -> [String] {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let nofile = min(Int(limit.rlim_max), 65_536)
        var a = ["--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", "-d", "--name", name,
                 "--network", "ns:/run/netns/\(ns)", "--ulimit", "nofile=\(nofile):\(nofile)", "--ulimit", "nproc=4096:4096",
                 "--security-opt", "no-new-privileges"]
        for d in spec.capsDrop { a += ["--cap-drop", d] }
        for c in spec.capsAdd { a += ["--cap-add", c] }
        if spec.privileged { a.append("--privileged") }
        if spec.readOnlyRoot { a.append("--read-only") }
        if let u = spec.runAsUser { a += ["--user", "\(u):\(u)"] }
        for m in mounts { a += ["-v", m] }
        for t in tmpfs { a += ["--tmpfs", t] }
        for (k, v) in env.sorted(by: { $0.key < $1.key }) { a += ["-e", "\(k)=\(v)"] }
        a += ["--entrypoint", spec.command, image] + spec.args
        return a
    }

    /// podman through `runDetaching`: `podman run -d` leaves conmon holding inherited descriptors.
    static func podman(_ tools: Tools, _ args: [String]) throws -> (status: Int32, output: String) {
        try runDetaching(tools.podman, args)
    }

    @Test func imageRunsAsTheManifestsSayAndFailsOver() async throws {
        guard let tools = try Self.tools() else { return }
        let (watcherSpec, actorSpec) = try Self.specs(tools)
        #expect(actorSpec.capsDrop == ["ALL"] && Set(actorSpec.capsAdd) == ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"] && !actorSpec.privileged)
        #expect(watcherSpec.runAsUser == 65534 && watcherSpec.readOnlyRoot)

        let topo = Topology(ip: tools.ip)
        let server = TestAPIServer(windowSize: 20_000, bookmarkInterval: .milliseconds(500))
        var containers: [String] = []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-ctr-\(topo.id)")
        func cleanUp() async {
            for c in containers {
                if ProcessInfo.processInfo.environment["K8SLB_KEEP_TEST_LOGS"] != nil {
                    let logs = (try? Self.podman(tools, ["logs", c]).output) ?? ""
                    try? logs.write(to: work.appendingPathComponent("\(c).log"), atomically: true, encoding: .utf8)
                }
                _ = try? Self.podman(tools, ["rm", "-f", "-t", "5", c])
            }
            topo.tearDown()
            try? await server.stop()
            if ProcessInfo.processInfo.environment["K8SLB_KEEP_TEST_LOGS"] == nil { try? FileManager.default.removeItem(at: work) }
        }
        do {
            try FileManager.default.createDirectory(at: work.appendingPathComponent("certs"), withIntermediateDirectories: true)
            let port = try await server.start()
            let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"))
            try topo.bridge()
            try topo.host("api", addresses: ["192.0.2.5/24"])
            try topo.host("lb-a", addresses: ["192.0.2.11/24"])
            try topo.host("lb-b", addresses: ["192.0.2.12/24"])
            try topo.host("be", addresses: ["192.0.2.21/24"])
            try topo.host("cl", addresses: ["192.0.2.100/24"])
            try await server.listen(inNamespace: topo.ns("api"), host: "192.0.2.5", port: 8080)
            try "backend\n".write(to: work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try topo.spawn("be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", work.path], listening: 8080)
            // What the containers mount: a kubeconfig for the API server on the bridge.
            try writeKubeconfig(port: 8080, token: "k8slb", to: work.appendingPathComponent("kubeconfig").path)
            let kubeconfig = try String(contentsOf: work.appendingPathComponent("kubeconfig"), encoding: .utf8)
                .replacingOccurrences(of: "127.0.0.1:8080", with: "192.0.2.5:8080")
            try kubeconfig.write(to: work.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
            chmod(work.path, 0o755)
            chmod(work.appendingPathComponent("kubeconfig").path, 0o644)

            // The cluster: two LB nodes, the config, a Service and its ready endpoint.
            for (node, address) in [("lb-a", "192.0.2.11"), ("lb-b", "192.0.2.12")] {
                _ = try await client.create(Node(metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                                                 addresses: [.init(type: "InternalIP", address: address)]))
            }
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "global", namespace: "k8slb-system"), data: [
                "config": #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":0.1}}"#]))
            let spec = Service.Spec(type: "LoadBalancer", ports: [.init(name: "http", port: 80, targetPort: .int(8080))], selector: ["app": "web"])
            _ = try await client.create(Service(metadata: ObjectMeta(name: "web", namespace: "default"), spec: spec))
            _ = try await client.create(EndpointSlice(metadata: ObjectMeta(name: "web-1", namespace: "default", labels: ["kubernetes.io/service-name": "web"]),
                                                      addressType: "IPv4", endpoints: [.init(addresses: ["192.0.2.21"], ready: true)],
                                                      ports: [.init(name: "http", protocol: "TCP", port: 8080)]))

            let kube = "\(work.path)/kubeconfig:/etc/k8slb/kubeconfig:ro"
            let watcher = "k8slb-watcher-\(topo.id)"
            var r = try Self.podman(tools, Self.runArguments(watcherSpec, name: watcher, ns: topo.ns("api"),
                                                             env: ["KUBECONFIG": "/etc/k8slb/kubeconfig", "POD_NAME": watcher], mounts: [kube], tmpfs: []))
            #expect(r.status == 0, "podman run watcher: \(r.output)")
            containers.append(watcher)
            var ingress: String?
            for _ in 0..<100 where ingress == nil {
                ingress = try? await client.get(Service.self, namespace: "default", name: "web").status?.loadBalancer?.ingress?.first?.ip
                if ingress == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            print("container: watcher (uid 65534, read-only root, no capabilities) wrote ingress \(ingress ?? "none")")
            #expect(ingress == "192.0.2.50")
            let watcherUser = try Self.podman(tools, ["exec", watcher, "/usr/bin/id", "-u"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(watcherUser == "65534")

            for node in ["lb-a", "lb-b"] {
                let name = "k8slb-actor-\(node)-\(topo.id)"
                r = try Self.podman(tools, Self.runArguments(actorSpec, name: name, ns: topo.ns(node),
                                                             env: ["KUBECONFIG": "/etc/k8slb/kubeconfig", "NODE_NAME": node],
                                                             mounts: [kube, "\(work.path)/certs:/etc/certs:ro"],
                                                             tmpfs: ["/run/k8slb", "/tmp"]))
                #expect(r.status == 0, "podman run actor on \(node): \(r.output)")
                containers.append(name)
            }
            func holders() throws -> [String] {
                try ["lb-a", "lb-b"].filter { try topo.exec($0, [tools.ip, "-o", "addr", "show", "dev", "eth0"]).output.contains(" 192.0.2.50/") }
            }
            func serves(timeout: String = "1") throws -> Bool {
                try topo.exec("cl", [tools.curl, "-s", "-m", timeout, "http://192.0.2.50/"]).output == "backend\n"
            }
            var served = false
            var stable = 0
            for _ in 0..<300 where stable < 5 {
                served = (try? serves()) ?? false
                stable = served && (try? holders().count) == 1 ? stable + 1 : 0
                if stable < 5 { try await Task.sleep(for: .milliseconds(100)) }
            }
            let holder = try holders().first ?? "none"
            print("container: VIP 192.0.2.50 served from inside the actor container on \(holder): \(served)")
            #expect(served && stable >= 5, "the VIP serves from exactly one LB node")

            // What runs inside, and with which capabilities: the daemons are the container's own.
            let holderContainer = "k8slb-actor-\(holder)-\(topo.id)"
            let inside = try Self.podman(tools, ["exec", holderContainer, "sh", "-c",
                                                "for p in /proc/[0-9]*; do echo \"$(cat $p/comm) $(grep CapEff $p/status | cut -f2)\"; done"]).output
            let processes = inside.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 2 }
            print("container: processes in \(holderContainer) (name, effective capabilities): \(processes.map { $0.joined(separator: " ") }.sorted().joined(separator: ", "))")
            let names = Set(processes.map(\.[0]))
            #expect(names.isSuperset(of: ["k8slb-actor", "haproxy", "keepalived"]), "actor, haproxy and keepalived run in the container: \(names)")
            // NET_BIND_SERVICE (10), NET_ADMIN (12), NET_RAW (13): 0x3400, nothing else.
            for p in processes { #expect(p[1] == "0000000000003400" || p[1] == "0000000000000000", "\(p[0]) has capabilities \(p[1])") }
            let inspect = try Self.podman(tools, ["inspect", "--format", "{{.EffectiveCaps}} privileged={{.HostConfig.Privileged}} readonly={{.HostConfig.ReadonlyRootfs}}",
                                                 holderContainer]).output.trimmingCharacters(in: .whitespacesAndNewlines)
            print("container: \(holderContainer): \(inspect)")
            #expect(inspect.contains("privileged=false") && inspect.contains("readonly=true"))

            // Takeover: the holder's link goes down; the other node's container serves the VIP.
            let other = holder == "lb-a" ? "lb-b" : "lb-a"
            let down = Date()
            try topo.sh(["-n", topo.ns(holder), "link", "set", "eth0", "down"])
            var back: Double?
            for _ in 0..<100 where back == nil {
                if (try? serves(timeout: "0.2")) == true { back = Date().timeIntervalSince(down) } else { try await Task.sleep(for: .milliseconds(10)) }
            }
            let now = try ["lb-a", "lb-b"].filter { try topo.exec($0, [tools.ip, "-o", "addr", "show", "dev", "eth0"]).output.contains(" 192.0.2.50/") }
            print("container: \(holder)'s link down; VIP served again after \(back.map { String(format: "%.3f", $0) } ?? "never") s, now held by \(now)")
            #expect(back != nil && now.contains(other), "the other LB node's container took the VIP over")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}
