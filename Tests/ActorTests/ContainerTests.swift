import Core
import Foundation
import Glibc
import KubeClient
import TestAPIServer
import TestSupport
import Testing
import Yams

/// The image `scripts/image` builds, run exactly as each overlay's manifests say: the pod specs
/// come from `kubectl kustomize manifests/overlays/<overlay>` (`PodSpec`: init containers,
/// command and args, environment, security context, volumes and their mounts), and podman (runc,
/// no daemon) runs them the way the kubelet would:
/// - init containers first, to completion, each of which must exit 0;
/// - hostNetwork pods in the node's network namespace (the actor), others in a namespace of
///   their own on the bridge (the watcher);
/// - emptyDir volumes as fresh directories (mode 0777, as the kubelet makes them), Secret volumes
///   read-only, a read-only root with no tmpfs of podman's own (`--read-only-tmpfs=false`);
/// - users, capabilities, privileged, no-new-privileges and seccomp as the manifests set them.
/// The cluster config is the shipped example (`kubectl apply -k manifests/config`). Each overlay
/// serves a VIP from inside its containers to a client namespace (for `kubeproxy`, through a DNAT
/// rule standing in for kube-proxy on each node), and when the holder's link goes down the other
/// node takes the VIP over. Every process in a container holds only capabilities its container
/// was granted; the daemons' logs hold no alert or emergency.
///
/// One deviation, because the test API server speaks plain HTTP: the containers reach it through
/// a kubeconfig (`KUBECONFIG`, mounted read-only) instead of the service-account token and
/// `KUBERNETES_SERVICE_HOST` the kubelet would provide.
@Suite(.serialized, .needs(.root("ip", "podman", "runc", "curl", "python3", "kubectl", "nft"))) struct ContainerTests {
    static let image = "docker.io/library/k8slb:\(K8slbVersion.current)"
    static let vip = "192.0.2.200"  // the first address of the example config's default pool

    struct Tools { let ip, podman, curl, python, kubectl, nft: String }

    static func tools() throws -> Tools? {
        guard getuid() == 0, let ip = which("ip"), let podman = which("podman"), which("runc") != nil,
            let curl = which("curl"),
            let python = which("python3"), let kubectl = which("kubectl"), let nft = which("nft")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, podman, runc, curl, python3, kubectl and nft are required when CI=true")
            }
            return nil
        }
        guard try run(podman, ["image", "exists", image]).status == 0 else {
            if requireIntegration {
                Issue.record(
                    "image \(image) is not in local storage: scripts/image builds it (scripts/test runs it first)")
            }
            return nil
        }
        return Tools(ip: ip, podman: podman, curl: curl, python: python, kubectl: kubectl, nft: nft)
    }

    /// `podman run` arguments for container `c` of `pod`, the way the kubelet would run it.
    static func runArguments(
        _ pod: PodSpec, _ c: PodSpec.Container, name: String, netns: String, detach: Bool,
        volumes: [String: String], fields: [String: String], env extra: [String: String], mounts extraMounts: [String]
    ) throws -> [String] {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let nofile = min(Int(limit.rlim_max), 65_536)
        var a = [
            "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", detach ? "-d" : "--rm", "--name", name,
            "--network", "ns:/run/netns/\(netns)", "--ulimit", "nofile=\(nofile):\(nofile)", "--ulimit",
            "nproc=4096:4096",
        ]
        if !c.allowPrivilegeEscalation { a += ["--security-opt", "no-new-privileges"] }
        if c.privileged {
            a.append("--privileged")
        } else {
            for d in c.capsDrop { a += ["--cap-drop", d] }
            for add in c.capsAdd { a += ["--cap-add", add] }
            // The kubelet's default without a profile is Unconfined; RuntimeDefault is podman's.
            if c.seccomp == nil { a += ["--security-opt", "seccomp=unconfined"] }
        }
        if c.readOnlyRoot { a += ["--read-only", "--read-only-tmpfs=false"] }
        if let u = c.runAsUser { a += ["--user", "\(u):\(c.runAsGroup ?? u)"] }
        for m in c.mounts {
            guard let dir = volumes[m.volume] else {
                throw NamespaceError(message: "\(name): mount of unknown volume \(m.volume)")
            }
            let readOnly =
                m.readOnly || { if case .secret = pod.volumes[m.volume] { return true } else { return false } }()
            a += ["-v", "\(dir):\(m.path)" + (readOnly ? ":ro" : "")]
        }
        for m in extraMounts { a += ["-v", m] }
        for e in c.env {
            switch e.source {
            case .value(let v): a += ["-e", "\(e.name)=\(v)"]
            case .field(let path):
                guard let v = fields[path] else {
                    throw NamespaceError(
                        message: "\(name): env \(e.name) from field \(path), which the test does not provide")
                }
                a += ["-e", "\(e.name)=\(v)"]
            }
        }
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { a += ["-e", "\(k)=\(v)"] }
        guard let entrypoint = c.command.first else {
            throw NamespaceError(message: "\(name): no command (the manifests give one for every container)")
        }
        let quoted = c.command.map { "\"\($0)\"" }.joined(separator: ",")
        a += ["--entrypoint", "[\(quoted)]", image]
        _ = entrypoint
        return a + c.args
    }

    /// podman through `runDetaching`: `podman run -d` leaves conmon holding inherited descriptors.
    static func podman(_ tools: Tools, _ args: [String]) throws -> (status: Int32, output: String) {
        try runDetaching(tools.podman, args)
    }

    /// One pod started on a node: its containers' names (init containers are gone when it runs).
    struct StartedPod {
        var containers: [(name: String, spec: PodSpec.Container)]
        var initExits: [(name: String, status: Int32, output: String)]
    }

    /// Runs `pod` on `node` (its network namespace) as the kubelet would: volumes made, init
    /// containers to completion in order (stopping at the first that fails), then the containers.
    static func start(
        _ tools: Tools, _ pod: PodSpec, podName: String, netns: String, node: String, work: URL,
        secrets: [String: [String: String]], env: [String: String], mounts: [String], started: inout [String],
        hostPaths: [String: String] = [:]
    ) throws -> StartedPod {
        var dirs: [String: String] = [:]
        for (name, volume) in pod.volumes {
            if case .hostPath(let path) = volume {
                // The node's file: the test's stand-in for it.
                guard let file = hostPaths[path] else {
                    throw NamespaceError(message: "\(podName): hostPath \(path), which the test does not provide")
                }
                dirs[name] = file
                continue
            }
            let dir = work.appendingPathComponent("\(podName)-\(name)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            switch volume {
            case .emptyDir: chmod(dir.path, 0o777)
            case .hostPath: break
            case .secret(let secret):
                chmod(dir.path, 0o755)
                for (file, content) in secrets[secret] ?? [:] {
                    try content.write(to: dir.appendingPathComponent(file), atomically: true, encoding: .utf8)
                    chmod(dir.appendingPathComponent(file).path, 0o644)
                }
            }
            dirs[name] = dir.path
        }
        let fields = ["spec.nodeName": node, "metadata.name": podName]
        var result = StartedPod(containers: [], initExits: [])
        for c in pod.initContainers {
            let args = try runArguments(
                pod, c, name: "\(podName)-init-\(c.name)", netns: netns, detach: false, volumes: dirs, fields: fields,
                env: env, mounts: mounts)
            let r = try podman(tools, args)
            result.initExits.append((c.name, r.status, r.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            guard r.status == 0 else { return result }
        }
        for c in pod.containers {
            let name = "\(podName)-\(c.name)"
            let r = try podman(
                tools,
                runArguments(
                    pod, c, name: name, netns: netns, detach: true, volumes: dirs, fields: fields, env: env,
                    mounts: mounts))
            guard r.status == 0 else { throw NamespaceError(message: "podman run \(name): \(r.output)") }
            started.append(name)
            result.containers.append((name, c))
        }
        return result
    }

    /// The processes in a container: (name, uid, effective capabilities).
    static func processes(_ tools: Tools, _ container: String) throws -> [(name: String, uid: String, caps: UInt64)] {
        let out = try podman(
            tools,
            [
                // Shell builtins only: the image has dash, not coreutils.
                "exec", container, "/bin/sh", "-c",
                "for p in /proc/[0-9]*; do read c < $p/comm; while read k a b r; do case $k in Uid:) u=$b;; CapEff:) e=$a;; esac; done < $p/status; echo \"$c $u $e\"; done",
            ]
        ).output
        return out.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 3, let caps = UInt64(f[2], radix: 16) else { return nil }
            return (f[0], f[1], caps)
        }
    }

    static func capabilityNames(_ mask: UInt64) -> String {
        let names = [
            0: "CHOWN", 1: "DAC_OVERRIDE", 3: "FOWNER", 4: "FSETID", 5: "KILL", 6: "SETGID", 7: "SETUID", 8: "SETPCAP",
            10: "NET_BIND_SERVICE", 12: "NET_ADMIN", 13: "NET_RAW", 18: "SYS_CHROOT", 21: "SYS_ADMIN", 27: "MKNOD",
            29: "AUDIT_WRITE", 31: "SETFCAP",
        ]
        let set = (0..<41).filter { mask & (UInt64(1) << UInt64($0)) != 0 }.map { names[$0] ?? "cap\($0)" }
        return set.isEmpty ? "none" : set.joined(separator: ",")
    }

    @Test(arguments: ManifestTests.overlays)
    func overlayRunsAsItsManifestsSayAndFailsOver(_ overlay: String) async throws {
        guard let tools = try Self.tools() else { return }
        guard let docs = try ManifestTests.render("overlays/\(overlay)") else { return }
        let watcherPod = try PodSpec(docs, kind: "Deployment")
        let actorPod = try PodSpec(docs, kind: "DaemonSet")
        #expect(actorPod.hostNetwork && !watcherPod.hostNetwork)

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
            if ProcessInfo.processInfo.environment["K8SLB_KEEP_TEST_LOGS"] == nil {
                try? FileManager.default.removeItem(at: work)
            }
        }
        do {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            chmod(work.path, 0o755)
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
            try topo.spawn(
                "be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", work.path],
                listening: 8080)
            // The containers' way to the API server: a kubeconfig for the listener on the bridge.
            let kubeconfigPath = work.appendingPathComponent("kubeconfig").path
            try writeKubeconfig(port: 8080, token: "k8slb", to: kubeconfigPath)
            let kubeconfig = try String(contentsOfFile: kubeconfigPath, encoding: .utf8).replacingOccurrences(
                of: "127.0.0.1:8080", with: "192.0.2.5:8080")
            try kubeconfig.write(toFile: kubeconfigPath, atomically: true, encoding: .utf8)
            chmod(kubeconfigPath, 0o644)
            // The operator's: the shipped example config, applied as the README says.
            let local = work.appendingPathComponent("kubeconfig-local").path
            try writeKubeconfig(port: port, token: "admin", to: local)
            let applied = try run(
                tools.kubectl,
                ["--kubeconfig", local, "apply", "-k", ManifestTests.manifests.appendingPathComponent("config").path])
            print(
                "container[\(overlay)]: kubectl apply -k manifests/config: \(applied.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
            #expect(applied.status == 0)

            for (node, address) in [("lb-a", "192.0.2.11"), ("lb-b", "192.0.2.12")] {
                _ = try await client.create(
                    Node(
                        metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                        addresses: [.init(type: "InternalIP", address: address)]))
            }
            let spec = Service.Spec(
                type: "LoadBalancer", ports: [.init(name: "http", port: 80, targetPort: .int(8080))],
                selector: ["app": "web"])
            _ = try await client.create(Service(metadata: ObjectMeta(name: "web", namespace: "default"), spec: spec))
            _ = try await client.create(
                EndpointSlice(
                    metadata: ObjectMeta(
                        name: "web-1", namespace: "default", labels: ["kubernetes.io/service-name": "web"]),
                    addressType: "IPv4", endpoints: [.init(addresses: ["192.0.2.21"], ready: true)],
                    ports: [.init(name: "http", protocol: "TCP", port: 8080)]))
            if overlay == "kubeproxy" {
                // kube-proxy's part on each LB node (what its nftables mode installs for a
                // LoadBalancer IP with ipMode VIP): DNAT to the endpoint, masquerade the rest.
                for node in ["lb-a", "lb-b"] {
                    let rules =
                        "table ip kubeproxy { chain pre { type nat hook prerouting priority dstnat; ip daddr \(Self.vip) tcp dport 80 dnat to 192.0.2.21:8080; }; "
                        + "chain post { type nat hook postrouting priority srcnat; ip daddr 192.0.2.21 tcp dport 8080 masquerade; }; }"
                    let r = try topo.exec(node, [tools.nft, rules])
                    #expect(r.status == 0, "nft on \(node): \(r.output)")
                    // Nodes forward (the kubelet's and the CNI's setting; a new namespace does not).
                    try topo.sh(["netns", "exec", topo.ns(node), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
                }
            }

            let env = ["KUBECONFIG": "/etc/k8slb/kubeconfig"]
            let mounts = ["\(kubeconfigPath):/etc/k8slb/kubeconfig:ro"]
            let watcher = try Self.start(
                tools, watcherPod, podName: "k8slb-watcher-\(topo.id)", netns: topo.ns("api"), node: "api", work: work,
                secrets: [:], env: env, mounts: mounts, started: &containers)
            var ingress: String?
            for _ in 0..<100 where ingress == nil {
                ingress = try? await client.get(Service.self, namespace: "default", name: "web").status?.loadBalancer?
                    .ingress?.first?.ip
                if ingress == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            print("container[\(overlay)]: watcher wrote ingress \(ingress ?? "none")")
            #expect(ingress == Self.vip)

            var actors: [String: StartedPod] = [:]
            for node in ["lb-a", "lb-b"] {
                let pod = try Self.start(
                    tools, actorPod, podName: "k8slb-actor-\(node)-\(topo.id)", netns: topo.ns(node), node: node,
                    work: work,
                    secrets: ["k8slb-certs": [:]], env: env, mounts: mounts, started: &containers)
                for (e, spec) in zip(pod.initExits, actorPod.initContainers) {
                    print(
                        "container[\(overlay)]: \(node) init container \(e.name) (\(spec.privileged ? "privileged" : Self.capabilityNames(PodSpec.capabilityMask(spec))), "
                            + "user \(spec.runAsUser.map(String.init) ?? "root")) exited \(e.status): \(e.output.replacingOccurrences(of: "\n", with: "; "))"
                    )
                    #expect(e.status == 0, "init container \(e.name) on \(node)")
                }
                #expect(pod.initExits.count == actorPod.initContainers.count)
                actors[node] = pod
            }

            func holders() throws -> [String] {
                try ["lb-a", "lb-b"].filter {
                    try topo.exec($0, [tools.ip, "-o", "addr", "show", "dev", "eth0"]).output.contains(" \(Self.vip)/")
                }
            }
            func serves(timeout: String = "1") throws -> Bool {
                try topo.exec("cl", [tools.curl, "-s", "-m", timeout, "http://\(Self.vip)/"]).output == "backend\n"
            }
            var served = false
            var stable = 0
            for _ in 0..<300 where stable < 5 {
                served = (try? serves()) ?? false
                stable = served && (try? holders().count) == 1 ? stable + 1 : 0
                if stable < 5 { try await Task.sleep(for: .milliseconds(100)) }
            }
            let holder = try holders().first ?? "none"
            print(
                "container[\(overlay)]: VIP \(Self.vip) served from inside the actor container on \(holder): \(served)")
            #expect(served && stable >= 5, "the VIP serves from exactly one LB node")

            // Who runs inside each container, as which user, with which capabilities: never more
            // than the container was granted.
            let all = watcher.containers + (actors[holder]?.containers ?? [])
            for (name, spec) in all {
                let granted = PodSpec.capabilityMask(spec)
                let procs = try Self.processes(tools, name)
                print(
                    "container[\(overlay)]: \(spec.name) granted \(Self.capabilityNames(granted)); user \(spec.runAsUser.map(String.init) ?? "root (image default)"); "
                        + "read-only root \(spec.readOnlyRoot), privileged \(spec.privileged)")
                for p in procs where p.name != "sh" {
                    print("container[\(overlay)]:   \(p.name) uid \(p.uid) caps \(Self.capabilityNames(p.caps))")
                    #expect(
                        p.caps & ~granted == 0,
                        "\(p.name) in \(name) holds \(Self.capabilityNames(p.caps & ~granted)) beyond its grant")
                }
                if let u = spec.runAsUser { #expect(procs.contains { $0.uid == String(u) }, "\(name) runs as \(u)") }
                if spec.command.first?.hasSuffix("k8slb-actor") == true {
                    let names = Set(procs.map(\.name))
                    var expected: Set<String> = ["k8slb-actor", "keepalived"]
                    if overlay != "kubeproxy" { expected.insert(overlay) }
                    #expect(
                        names.isSuperset(of: expected),
                        "\(expected.sorted()) run in the actor's container: \(names.sorted())")
                }
            }
            let inspect = try Self.podman(
                tools,
                [
                    "inspect", "--format",
                    "privileged={{.HostConfig.Privileged}} readonly={{.HostConfig.ReadonlyRootfs}}",
                    "k8slb-actor-\(holder)-\(topo.id)-actor",
                ]
            ).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(inspect == "privileged=false readonly=true", "\(inspect)")

            // Takeover: the holder's link goes down; the other node's container serves the VIP.
            let other = holder == "lb-a" ? "lb-b" : "lb-a"
            let down = Date()
            try topo.sh(["-n", topo.ns(holder), "link", "set", "eth0", "down"])
            var back: Double?
            for _ in 0..<100 where back == nil {
                if (try? serves(timeout: "0.2")) == true {
                    back = Date().timeIntervalSince(down)
                } else {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let now = try holders()
            print(
                "container[\(overlay)]: \(holder)'s link down; VIP served again after \(back.map { String(format: "%.3f", $0) } ?? "never") s, now held by \(now)"
            )
            #expect(back != nil && now.contains(other), "the other LB node's container took the VIP over")

            // The daemons loaded the example config without an alert or emergency, and the actor
            // logged no failed sysctl.
            for node in ["lb-a", "lb-b"] {
                let logs = try Self.podman(tools, ["logs", "k8slb-actor-\(node)-\(topo.id)-actor"]).output
                let bad = logs.split(separator: "\n").filter {
                    $0.contains("[ALERT]") || $0.contains("[emerg]") || $0.contains("sysctl")
                }
                #expect(bad.isEmpty, "\(node): \(bad.joined(separator: "\n"))")
            }
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    /// The control-plane VIP's static pod, exactly as `k8slb-actor control-plane-manifest` prints
    /// it, run as the kubelet would on three "control-plane nodes" (nginx as each TLS apiserver,
    /// the config file and the cluster CA as the node's files): the container has exactly the
    /// DaemonSet actor's capabilities and no process in it holds more, the VIP is held by one node
    /// and serves the holder's apiserver over TLS, and when the holder's link goes down another
    /// node's container takes it over.
    @Test func controlPlaneStaticPodRunsWithTheDaemonSetsCapabilities() async throws {
        guard let tools = try Self.tools() else { return }
        guard let actor = builtExecutable("k8slb-actor"), let nginx = which("nginx"), let openssl = which("openssl")
        else {
            if requireIntegration { Issue.record("k8slb-actor, nginx and openssl are required when CI=true") }
            return
        }
        guard let docs = try ManifestTests.render("overlays/haproxy") else { return }
        let daemonSet = try PodSpec(docs, kind: "DaemonSet").containers[0]
        let nodes = ["cp1", "cp2", "cp3"]
        let vip = "192.0.2.10"
        let topo = Topology(ip: tools.ip)
        var containers: [String] = []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-ctrcp-\(topo.id)")
        func cleanUp() {
            for c in containers { _ = try? Self.podman(tools, ["rm", "-f", "-t", "5", c]) }
            topo.tearDown()
            try? FileManager.default.removeItem(at: work)
        }
        do {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            chmod(work.path, 0o755)
            try makeTestCertificates(openssl: openssl, dir: work.path, [("apiserver", "cp.test")])
            chmod(work.appendingPathComponent("ca.crt").path, 0o644)
            try topo.bridge()
            for (i, node) in nodes.enumerated() { try topo.host(node, addresses: ["192.0.2.1\(i + 1)/24"]) }
            try topo.host("cl", addresses: ["192.0.2.100/24"])
            let peers = nodes.enumerated().flatMap { ["--peer", "\($0.element)=192.0.2.1\($0.offset + 1)"] }
            for node in nodes {
                try ControlPlaneVIPTests.startAPIServer(node, in: topo, work: work.path, nginx: nginx)
                let flags = ["--node-name", node, "--vip", vip, "--interface", "eth0", "--vrid", "1"] + peers
                let config = try run(actor, ["control-plane-manifest", "--print", "config"] + flags)
                let manifest = try run(actor, ["control-plane-manifest"] + flags)
                #expect(config.status == 0 && manifest.status == 0, "\(config.output)\(manifest.output)")
                let configFile = work.appendingPathComponent("\(node)-control-plane.json").path
                try config.output.write(toFile: configFile, atomically: true, encoding: .utf8)
                chmod(configFile, 0o644)
                let doc = try #require(try Yams.load(yaml: manifest.output) as? [String: Any])
                let pod = try PodSpec([doc], kind: "Pod")
                let c = try #require(pod.containers.first)
                #expect(pod.hostNetwork)
                #expect(
                    c.capsAdd == daemonSet.capsAdd && c.capsDrop == daemonSet.capsDrop
                        && c.readOnlyRoot == daemonSet.readOnlyRoot && c.privileged == daemonSet.privileged
                        && c.allowPrivilegeEscalation == daemonSet.allowPrivilegeEscalation
                        && c.seccomp == daemonSet.seccomp,
                    "the static pod's container is confined as the DaemonSet actor's")
                _ = try Self.start(
                    tools, pod, podName: "k8slb-cp-\(node)-\(topo.id)", netns: topo.ns(node), node: node, work: work,
                    secrets: [:], env: [:], mounts: [], started: &containers,
                    hostPaths: [
                        "/etc/k8slb/control-plane.json": configFile,
                        "/etc/kubernetes/pki/ca.crt": work.appendingPathComponent("ca.crt").path,
                    ])
            }
            func holders() throws -> [String] {
                try nodes.filter {
                    try topo.exec($0, [tools.ip, "-o", "addr", "show", "dev", "eth0", "up"]).output.contains(
                        " \(vip)/32 ")
                }
            }
            func answer(timeout: String = "1") throws -> String {
                try topo.exec(
                    "cl",
                    [
                        tools.curl, "-s", "-m", timeout, "--cacert", work.appendingPathComponent("ca.crt").path,
                        "--resolve", "cp.test:6443:\(vip)", "https://cp.test:6443/",
                    ]
                ).output.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            var holder = ""
            var stable = 0
            for _ in 0..<300 where stable < 5 {
                let h = (try? holders()) ?? []
                stable = h.count == 1 && h[0] == holder ? stable + 1 : 0
                holder = h.count == 1 ? h[0] : ""
                if stable < 5 { try await Task.sleep(for: .milliseconds(100)) }
            }
            let served = try answer()
            print("container[control-plane]: VIP \(vip) held by \(holder); TLS through it answered by \(served)")
            #expect(stable >= 5 && served == holder, "one holder, serving its own apiserver")

            let name = "k8slb-cp-\(holder)-\(topo.id)-control-plane"
            let spec = try PodSpec(
                [
                    try #require(
                        try Yams.load(yaml: run(actor, ["control-plane-manifest", "--vip", vip]).output)
                            as? [String: Any])
                ], kind: "Pod"
            ).containers[0]
            let granted = PodSpec.capabilityMask(spec)
            let procs = try Self.processes(tools, name)
            print(
                "container[control-plane]: granted \(Self.capabilityNames(granted)) (the DaemonSet actor's: \(Self.capabilityNames(PodSpec.capabilityMask(daemonSet))))"
            )
            for p in procs where p.name != "sh" {
                print("container[control-plane]:   \(p.name) uid \(p.uid) caps \(Self.capabilityNames(p.caps))")
                #expect(
                    p.caps & ~granted == 0,
                    "\(p.name) holds \(Self.capabilityNames(p.caps & ~granted)) beyond its grant")
            }
            #expect(Set(procs.map(\.name)).isSuperset(of: ["k8slb-actor", "keepalived"]))
            let inspect = try Self.podman(
                tools,
                [
                    "inspect", "--format",
                    "privileged={{.HostConfig.Privileged}} readonly={{.HostConfig.ReadonlyRootfs}}", name,
                ]
            ).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(inspect == "privileged=false readonly=true", "\(inspect)")

            let down = Date()
            try topo.sh(["-n", topo.ns(holder), "link", "set", "eth0", "down"])
            var back: Double?
            var now = ""
            for _ in 0..<200 where back == nil {
                now = (try? answer(timeout: "0.2")) ?? ""
                if !now.isEmpty && now != holder {
                    back = Date().timeIntervalSince(down)
                } else {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            print(
                "container[control-plane]: \(holder)'s link down; VIP served again after \(back.map { String(format: "%.3f", $0) } ?? "never") s, by \(now)"
            )
            #expect(back != nil, "another node's container took the VIP over")
        } catch {
            cleanUp()
            throw error
        }
        cleanUp()
    }
}
