import ArgumentParser
import CLibc
import Certificates
import Core
import Foundation
import KubeClient
import Logging
import Netlink
import Observability
import ServiceLifecycle
import UnixSignals

/// `k8slb-actor`: runs on every LB node and turns assignments into VIPs and proxy config.
/// What the executables call (`k8slb-actor`, and `k8slb` under that name): the arguments after the
/// program name.
package enum ActorMain {
    package static func main(_ arguments: [String]) async {
        OpenFiles.raise()
        await ActorCommand.main(arguments)
    }
}

/// The actor's open-file limit, which its daemons inherit. A container runtime's default soft
/// limit (1,024) holds only a few hundred HAProxy listeners, so the actor raises it to the hard
/// limit, but never past 2^20: some runtimes set the hard limit to 2^30, and daemons that size
/// tables by the limit (FRR, anything that closes every descriptor before exec) then take
/// gigabytes or minutes. Done once, in `main`, not as a side effect of library code (tests run
/// the controller in their own process).
enum OpenFiles {
    /// 2^20: Debian's `fs.nr_open` and the usual container limit; HAProxy at maxconn 500,000.
    static let cap = 1 << 20

    /// What the soft limit is raised to: the hard limit, capped (nil if unreadable).
    static var target: Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return Int(min(limit.rlim_max, rlim_t(cap)))
    }

    /// Raises the soft limit to `target`.
    static func raise() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, let target, limit.rlim_cur < rlim_t(target)
        else { return }
        limit.rlim_cur = rlim_t(target)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

struct ActorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8slb-actor",
        abstract: "Serves k8slb VIPs on a load-balancer node: keepalived VRRP plus HAProxy, nginx or kube-proxy.",
        discussion: """
            The actor (a DaemonSet on nodes labelled type=loadBalancer) reads the watcher's assignments \
            and the Services' ready endpoints, renders keepalived and proxy configuration, validates \
            and reloads it without dropping connections, and binds VIPs through netlink.
            """,
        version:
            "k8slb-actor \(K8slbVersion.current) (\(NetlinkSocket.libraryVersion); \(CertificateCheck.libraryVersion))",
        subcommands: [RunCommand.self, ControlPlaneCommand.self, ControlPlaneManifestCommand.self, SysctlCommand.self],
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

    @Option(
        help:
            "Fleet file: serve several clusters from this LB machine with one keepalived and one proxy (docs/fleet.md); each cluster's kubeconfig and namespace come from it."
    )
    var fleet: String?

    @Option(help: "Namespace of the config and the assignments.")
    var namespace = "k8slb-system"

    @Option(name: .customLong("config-map"), help: "ConfigMap holding the k8slb config.")
    var configMap = "global"

    @Option(name: .customLong("config-key"), help: "Key of the config in that ConfigMap.")
    var configKey = "config"

    @Option(help: "Name of the published assignments ConfigMap (shards are <name>-N).")
    var assignments = "assignments"

    @Option(help: "Data plane: haproxy, nginx or kubeproxy (VIPs only; kube-proxy forwards).")
    var backend: ProxyBackend = .haproxy

    @Option(name: .customLong("run-dir"), help: "Directory for the generated configs, sockets and pid files.")
    var runDir = "/run/k8slb"

    @Option(
        name: .customLong("cert-dir"),
        help: "Directory of the per-pool certificates (<pool>.pem; nginx also <pool>.key).")
    var certDir = "/etc/certs"

    @Option(
        name: .customLong("tls-secrets"),
        help:
            "Where loadbalancer/tls-secret Secrets are read: system (the actor's namespace only) or service-namespace (the Service's namespace first; needs the tls-secrets-any-namespace overlay's ClusterRole)."
    )
    var tlsSecrets: TLSSecretScope = .system

    @Option(
        name: .customLong("advert-interval"),
        help: "VRRP advert interval in seconds (e.g. 0.1); default: the config's vrrp.advertInterval.")
    var advertInterval: Double?

    @Flag(
        name: .customLong("unicast"), help: "VRRP by unicast to the other LB nodes' InternalIPs (default: multicast).")
    var unicast = false

    @Option(
        name: .customLong("node-selector"),
        help:
            "Label selector of the LB nodes: this node holds VIPs only while it matches (and is not labelled node.kubernetes.io/exclude-from-external-load-balancers); unicast peers (env NODE_SELECTOR; default \(ActorSettings.defaultNodeSelector))."
    )
    var nodeSelector: String?

    @Option(
        name: .customLong("netns"),
        help: "Run the node's network side inside this named network namespace (local demo, tests).")
    var netns: String?

    @OptionGroup var binaries: DaemonBinaries

    @Option(
        name: .customLong("drain-seconds"),
        help: "How long old proxy workers may finish connections after a reload or on shutdown.")
    var drainSeconds = 30

    @Flag(
        name: .customLong("connection-handover"), inversion: .prefixedNo,
        help:
            "On a planned move (SIGTERM, node ineligible) the new holder forwards the old connections' packets to the old holder for --drain-seconds (nftables, conntrack while it lasts)."
    )
    var connectionHandover = true

    @Option(name: .customLong("metrics-address"), help: "HOST:PORT for /metrics, /healthz, /readyz ('' disables).")
    var metricsAddress = "0.0.0.0:9091"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevel = .info

    func validate() throws {
        if let text = nodeSelector ?? ProcessInfo.processInfo.environment["NODE_SELECTOR"] {
            do { _ = try LabelSelector(parsing: text) } catch { throw ValidationError("--node-selector: \(error)") }
        }
        for (flag, value) in [("--run-dir", runDir), ("--cert-dir", certDir)] {
            do { _ = try SafePath(parsing: value) } catch { throw ValidationError("\(flag): \(error)") }
        }
        if fleet != nil && backend == .kubeproxy {
            throw ValidationError(
                "--fleet needs a proxy (--backend haproxy or nginx): kube-proxy forwards only inside its own cluster")
        }
        guard (1...3600).contains(drainSeconds) else {
            throw ValidationError("--drain-seconds must be between 1 and 3600")
        }
        if let a = advertInterval, !(0.01...255).contains(a) {
            throw ValidationError("--advert-interval must be between 0.01 and 255 seconds")
        }
        if let n = netns,
            !n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) || n.isEmpty
        {
            throw ValidationError("--netns: not a namespace name: \(n)")
        }
    }

    func run() async throws {
        clibc_keep_large_buffers()  // big render buffers stay in the heap between syncs
        let env = ProcessInfo.processInfo.environment
        K8slbLogHandler.bootstrap()
        var logger = Logger(label: "k8slb-actor")
        logger.logLevel = logLevel.level

        var settings = ActorSettings(nodeName: nodeName ?? env["NODE_NAME"] ?? ProcessInfo.processInfo.hostName)
        settings.namespace = namespace
        settings.configMapName = configMap
        settings.configKey = configKey
        settings.assignmentsName = assignments
        if let text = nodeSelector ?? env["NODE_SELECTOR"] { settings.nodeSelector = try LabelSelector(parsing: text) }
        settings.backend = backend
        settings.runDirectory = runDir
        settings.certDirectory = certDir
        settings.advertIntervalCentiseconds = advertInterval.map { Int(($0 * 100).rounded()) }
        settings.unicast = unicast
        settings.tlsSecretScope = tlsSecrets
        settings.drainSeconds = drainSeconds
        settings.networkNamespace = netns
        settings.haproxyBinary = binaries.haproxy
        settings.keepalivedBinary = binaries.keepalived
        settings.nginxBinary = binaries.nginx
        settings.frrDirectory = binaries.frrDirectory
        settings.vtyshBinary = binaries.vtysh
        settings.nftBinary = binaries.nft
        settings.handover = connectionHandover
        for candidate in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            settings.ipBinary = candidate
            break
        }

        let fleetFile = try fleet.map { try Self.readFleet($0) }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let netlink = try NetlinkWorker(namespace: netns)
        // Every VIP is bound by the proxy on every LB node, held or not (docs/architecture.md, "Data-plane facts: HAProxy"). HAProxy binds
        // with `transparent` and needs no sysctl; nginx has no such option and needs
        // ip_nonlocal_bind, which only a privileged container (the nginx overlay's init container)
        // can set: /proc/sys is read-only otherwise.
        for key in ["net/ipv4/ip_nonlocal_bind", "net/ipv6/ip_nonlocal_bind"] {
            do { try await netlink.sysctl(key, "1") } catch {
                if settings.backend == .nginx {
                    logger.error(
                        "cannot enable non-local binds; nginx cannot bind VIPs this node does not hold unless they are on already",
                        metadata: ["lb.sysctl": "\(key)", "error": "\(error)"])
                } else {
                    logger.debug(
                        "sysctl not written (not needed)", metadata: ["lb.sysctl": "\(key)", "error": "\(error)"])
                }
            }
        }
        let metrics = ActorMetrics()
        let readiness = Readiness()
        let dataPlane = LocalDataPlane(settings: settings, logger: logger, netlink: netlink)
        let service: ActorService
        if let fleetFile {
            var members: [FleetController.Member] = []
            for (i, c) in fleetFile.clusters.enumerated() {
                var own = settings
                own.namespace = c.namespace
                own.fleetCluster = c.name
                var clusterLogger = logger
                clusterLogger[metadataKey: "lb.cluster"] = "\(c.name)"
                let config = try ClusterConfig.resolve(kubeconfig: c.kubeconfig.rawValue)
                let controller = ActorController(
                    client: KubeClient(config: config), settings: own, logger: clusterLogger, metrics: metrics,
                    dataPlane: dataPlane, readiness: i == 0 ? readiness : nil)
                members.append(FleetController.Member(cluster: c, controller: controller))
                logger.info(
                    "fleet: serving cluster", metadata: ["lb.cluster": "\(c.name)", "server": "\(config.server)"])
            }
            for w in fleetFile.warnings { logger.warning("fleet file", metadata: ["issue": "\(w)"]) }
            let fleetController = FleetController(
                members: members, fleet: fleetFile, dataPlane: dataPlane, logger: logger, metrics: metrics,
                readiness: readiness, coalesce: settings.coalesce)
            service = ActorService(fleet: fleetController, dataPlane: dataPlane, readiness: readiness, logger: logger)
        } else {
            let cluster = try ClusterConfig.resolve(kubeconfig: kubeconfig)
            let controller = ActorController(
                client: KubeClient(config: cluster), settings: settings, logger: logger, metrics: metrics,
                dataPlane: dataPlane, readiness: readiness)
            service = ActorService(controller: controller, dataPlane: dataPlane, readiness: readiness, logger: logger)
            logger.info("cluster", metadata: ["server": "\(cluster.server)"])
        }
        logger.info(
            "starting",
            metadata: [
                "lb.node": "\(settings.nodeName)", "backend": "\(backend.rawValue)",
                "clusters": "\(fleetFile?.clusters.count ?? 1)", "netns": "\(netns ?? "-")",
            ])
        // Shut down in reverse order: the actor first (keepalived, then the drain), the health
        // endpoint last.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(
                        service: HealthService(
                            address: metricsAddress, registry: metrics.registry, readiness: readiness),
                        serviceName: "health"),
                    .init(
                        service: service,
                        successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "actor"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        netlink.stop()
    }
}

extension RunCommand {
    /// The fleet file, validated; every error with its JSON path.
    static func readFleet(_ path: String) throws -> FleetFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("--fleet: cannot read \(path): \(error.localizedDescription)")
        }
        do { return try FleetFile.parse(text) } catch {
            throw ValidationError("--fleet: \(path) is not a valid fleet file:\n\(error.description)")
        }
    }
}

extension LogLevel: ExpressibleByArgument {}
