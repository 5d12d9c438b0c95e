import ArgumentParser
import Core
import Foundation
import KubeClient
import Logging
import Observability

/// `k8slb-watcher run`: campaign for leadership; while leading, run the controller.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the watcher against the cluster (the default command).")

    @Option(help: "Kubeconfig file (env KUBECONFIG); in-cluster credentials when absent.")
    var kubeconfig: String?

    @Option(help: "Namespace of the config, assignments and lease.")
    var namespace = "k8slb-system"

    @Option(name: .customLong("config-map"), help: "ConfigMap holding the k8slb config.")
    var configMap = "global"

    @Option(name: .customLong("config-key"), help: "Key of the config in that ConfigMap.")
    var configKey = "config"

    @Option(help: "Name of the published assignments ConfigMap (shards are <name>-N).")
    var assignments = "assignments"

    @Option(name: .customLong("node-selector"), help: "Label selector of the LB nodes (env NODE_SELECTOR).")
    var nodeSelector: String?

    @Option(name: .customLong("load-balancer-class"), help: "spec.loadBalancerClass to serve; default: Services without a class.")
    var loadBalancerClass: String?

    @Option(name: .customLong("status-mode"), help: "ip (Kubernetes 1.30+, with --ip-mode) or hostname (older clusters).")
    var statusMode = "ip"

    @Option(name: .customLong("ip-mode"), help: "status ipMode: Proxy for the haproxy/nginx backends, VIP for kubeproxy.")
    var ipMode = "Proxy"

    @Option(name: .customLong("hostname-suffix"), help: "DNS suffix in hostname mode: <ip-with-dashes>.<suffix>.")
    var hostnameSuffix = "k8slb.local"

    @Option(help: "Lease name for leader election.")
    var lease = "k8slb-watcher"

    @Option(help: "Leader identity (env POD_NAME, else the host name).")
    var identity: String?

    @Option(name: .customLong("lease-duration"), help: "Seconds a standby waits after the last renewal.")
    var leaseDuration = 15

    @Option(name: .customLong("renew-deadline"), help: "Seconds the leader keeps trying to renew before stepping down.")
    var renewDeadline = 10

    @Option(name: .customLong("retry-period"), help: "Seconds between lease attempts.")
    var retryPeriod = 2

    @Option(name: .customLong("metrics-address"), help: "HOST:PORT for /metrics, /healthz, /readyz ('' disables).")
    var metricsAddress = "0.0.0.0:9090"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        guard ["ip", "hostname"].contains(statusMode) else { throw ValidationError("--status-mode must be ip or hostname") }
        guard ["Proxy", "VIP"].contains(ipMode) else { throw ValidationError("--ip-mode must be Proxy or VIP") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        guard renewDeadline < leaseDuration, retryPeriod < renewDeadline else {
            throw ValidationError("need retry-period < renew-deadline < lease-duration")
        }
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "k8slb-watcher")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var settings = WatcherSettings()
        settings.namespace = namespace
        settings.configMapName = configMap
        settings.configKey = configKey
        settings.assignmentsName = assignments
        settings.nodeSelector = nodeSelector ?? env["NODE_SELECTOR"] ?? "type=loadBalancer"
        settings.loadBalancerClass = loadBalancerClass
        settings.statusMode = statusMode == "hostname" ? .hostname(suffix: hostnameSuffix) : .ip(ipMode: ipMode)

        let cluster = try ClusterConfig.resolve(kubeconfig: kubeconfig)
        let client = KubeClient(config: cluster)
        let metrics = WatcherMetrics()
        let state = LeadershipState()
        let health = try await HealthServer.serve(address: metricsAddress, registry: metrics.registry) { state.ready }
        var election = LeaderElector.Settings(namespace: namespace, name: lease,
                                              identity: identity ?? env["POD_NAME"] ?? ProcessInfo.processInfo.hostName)
        election.leaseDuration = .seconds(leaseDuration)
        election.renewDeadline = .seconds(renewDeadline)
        election.retryPeriod = .seconds(retryPeriod)
        let elector = LeaderElector(client: client, settings: election)
        logger.info("starting", metadata: ["identity": "\(election.identity)", "server": "\(cluster.server)"])
        metrics.isLeader(false)

        let log = logger, watcherSettings = settings
        let main = Task {
            await elector.run {
                metrics.isLeader(true)
                log.info("leading")
                let controller = WatcherController(client: client, settings: watcherSettings, logger: log, metrics: metrics)
                state.controller = controller
                await controller.run()
                state.controller = nil
                metrics.isLeader(false)
                log.info("stopped leading")
            }
        }
        await SignalWaiter.waitForTermination()
        logger.info("terminating: releasing the lease")
        main.cancel()
        await main.value
        try? await health?.stop()
    }
}

/// Readiness as the health server sees it: a standby is ready; a leader once it has restored.
final class LeadershipState: @unchecked Sendable {
    private let lock = NSLock()
    private var _controller: WatcherController?
    private var _ready = true

    var controller: WatcherController? {
        get { lock.withLock { _controller } }
        set {
            lock.withLock { _controller = newValue; _ready = newValue == nil }
            if let c = newValue {
                Task {
                    while await !c.isReady { try? await Task.sleep(for: .milliseconds(100)) }
                    self.lock.withLock { if self._controller === c { self._ready = true } }
                }
            }
        }
    }

    var ready: Bool { lock.withLock { _ready } }
}
