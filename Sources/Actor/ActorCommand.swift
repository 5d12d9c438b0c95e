import ArgumentParser
import CNetlink
import COpenSSL
import Core
import Foundation
import KubeClient
import Logging
import Netlink
import Observability

/// `k8slb-actor`: runs on every LB node and turns assignments into VIPs and proxy config.
@main
struct ActorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8slb-actor",
        abstract: "Serves k8slb VIPs on a load-balancer node: keepalived VRRP plus HAProxy, nginx or kube-proxy.",
        discussion: """
            The actor (a DaemonSet on nodes labelled type=loadBalancer) reads the watcher's assignments \
            and the Services' ready endpoints, renders keepalived and proxy configuration, validates \
            and reloads it without dropping connections, and binds VIPs through netlink.
            """,
        version: "k8slb-actor \(K8slbVersion.current) (\(String(cString: cnetlink_version())); \(String(cString: copenssl_version())))",
        subcommands: [RunCommand.self],
        defaultSubcommand: RunCommand.self)
}

/// `k8slb-actor run`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the actor on this node (the default command).")

    @Option(help: "Kubeconfig file (env KUBECONFIG); in-cluster credentials when absent.")
    var kubeconfig: String?

    @Option(name: .customLong("node-name"), help: "This node's name (env NODE_NAME, else the host name).")
    var nodeName: String?

    @Option(help: "Namespace of the config and the assignments.")
    var namespace = "k8slb-system"

    @Option(name: .customLong("config-map"), help: "ConfigMap holding the k8slb config.")
    var configMap = "global"

    @Option(name: .customLong("config-key"), help: "Key of the config in that ConfigMap.")
    var configKey = "config"

    @Option(help: "Name of the published assignments ConfigMap (shards are <name>-N).")
    var assignments = "assignments"

    @Option(help: "Data plane: haproxy, nginx or kubeproxy (VIPs only; kube-proxy forwards).")
    var backend = "haproxy"

    @Option(name: .customLong("run-dir"), help: "Directory for the generated configs, sockets and pid files.")
    var runDir = "/run/k8slb"

    @Option(name: .customLong("cert-dir"), help: "Directory of the per-pool certificates (<pool>.pem; nginx also <pool>.key).")
    var certDir = "/etc/certs"

    @Option(name: .customLong("advert-interval"), help: "VRRP advert interval in seconds (e.g. 0.1); default: the config's vrrp.advertInterval.")
    var advertInterval: Double?

    @Flag(name: .customLong("unicast"), help: "VRRP by unicast to the other LB nodes' InternalIPs (default: multicast).")
    var unicast = false

    @Option(name: .customLong("node-selector"), help: "Label selector of the LB nodes, for unicast peers (env NODE_SELECTOR).")
    var nodeSelector: String?

    @Option(name: .customLong("netns"), help: "Run the node's network side inside this named network namespace (local demo, tests).")
    var netns: String?

    @Option(name: .customLong("haproxy"), help: "haproxy binary.")
    var haproxyBinary = "/usr/sbin/haproxy"

    @Option(name: .customLong("keepalived"), help: "keepalived binary.")
    var keepalivedBinary = "/usr/sbin/keepalived"

    @Option(name: .customLong("nginx"), help: "nginx binary.")
    var nginxBinary = "/usr/sbin/nginx"

    @Option(name: .customLong("drain-seconds"), help: "How long old proxy workers may finish connections after a reload or on shutdown.")
    var drainSeconds = 30

    @Option(name: .customLong("metrics-address"), help: "HOST:PORT for /metrics, /healthz, /readyz ('' disables).")
    var metricsAddress = "0.0.0.0:9091"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        guard ActorSettings.Backend(rawValue: backend) != nil else { throw ValidationError("--backend must be haproxy, nginx or kubeproxy") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        for (flag, value) in [("--run-dir", runDir), ("--cert-dir", certDir)] {
            do { _ = try SafePath(parsing: value) } catch { throw ValidationError("\(flag): \(error)") }
        }
        guard (1...3600).contains(drainSeconds) else { throw ValidationError("--drain-seconds must be between 1 and 3600") }
        if let a = advertInterval, !(0.01...255).contains(a) { throw ValidationError("--advert-interval must be between 0.01 and 255 seconds") }
        if let n = netns, !n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) || n.isEmpty {
            throw ValidationError("--netns: not a namespace name: \(n)")
        }
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "k8slb-actor")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var settings = ActorSettings(nodeName: nodeName ?? env["NODE_NAME"] ?? ProcessInfo.processInfo.hostName)
        settings.namespace = namespace
        settings.configMapName = configMap
        settings.configKey = configKey
        settings.assignmentsName = assignments
        settings.nodeSelector = nodeSelector ?? env["NODE_SELECTOR"] ?? "type=loadBalancer"
        settings.backend = ActorSettings.Backend(rawValue: backend) ?? .haproxy
        settings.runDirectory = runDir
        settings.certDirectory = certDir
        settings.advertIntervalCentiseconds = advertInterval.map { Int(($0 * 100).rounded()) }
        settings.unicast = unicast
        settings.drainSeconds = drainSeconds
        settings.networkNamespace = netns
        settings.haproxyBinary = haproxyBinary
        settings.keepalivedBinary = keepalivedBinary
        settings.nginxBinary = nginxBinary
        for candidate in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] where FileManager.default.isExecutableFile(atPath: candidate) {
            settings.ipBinary = candidate
            break
        }

        let cluster = try ClusterConfig.resolve(kubeconfig: kubeconfig)
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let netlink = try NetlinkWorker(namespace: netns)
        // Every VIP is bound by the proxy on every LB node, held or not (DESIGN §4). HAProxy binds
        // with `transparent` and needs no sysctl; nginx has no such option and needs
        // ip_nonlocal_bind, which only a privileged container (the nginx overlay's init container)
        // can set: /proc/sys is read-only otherwise.
        for key in ["net/ipv4/ip_nonlocal_bind", "net/ipv6/ip_nonlocal_bind"] {
            do { try await netlink.sysctl(key, "1") } catch {
                if settings.backend == .nginx, (try? String(contentsOfFile: "/proc/sys/" + key, encoding: .utf8))?.hasPrefix("1") != true {
                    logger.error("non-local binds are off and cannot be enabled; nginx cannot bind VIPs this node does not hold",
                                 metadata: ["sysctl": "\(key)", "error": "\(error)"])
                } else {
                    logger.debug("sysctl not written (not needed)", metadata: ["sysctl": "\(key)", "error": "\(error)"])
                }
            }
        }
        let metrics = ActorMetrics()
        let client = KubeClient(config: cluster)
        let controller = ActorController(client: client, settings: settings, logger: logger, metrics: metrics, netlink: netlink)
        let ready = ReadyFlag()
        let health = try await HealthServer.serve(address: metricsAddress, registry: metrics.registry) { ready.value }
        logger.info("starting", metadata: ["node": "\(settings.nodeName)", "backend": "\(backend)", "server": "\(cluster.server)",
                                           "netns": "\(netns ?? "-")"])
        let main = Task { await controller.run() }
        let readiness = Task {
            while !Task.isCancelled {
                ready.value = await controller.isReady
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        await SignalWaiter.waitForTermination()
        logger.info("terminating: releasing VIPs, then draining the proxy")
        readiness.cancel()
        ready.value = false
        main.cancel()
        await controller.shutdown()
        await main.value
        try? await health?.stop()
        netlink.stop()
        logger.info("stopped")
    }
}

/// Readiness as the health server reads it.
final class ReadyFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var _value = false
    var value: Bool {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
}
