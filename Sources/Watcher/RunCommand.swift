import ArgumentParser
import Core
import Foundation
import KubeClient
import Logging
import Observability
import ServiceLifecycle
import UnixSignals

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

    @Option(
        name: .customLong("node-selector"),
        help: "Label selector of the LB nodes (env NODE_SELECTOR; default \(WatcherSettings.defaultNodeSelector)).")
    var nodeSelector: String?

    @Option(
        name: .customLong("load-balancer-class"),
        help: "spec.loadBalancerClass to serve; default: Services without a class.")
    var loadBalancerClass: String?

    @Option(
        name: .customLong("status-mode"), help: "ip (Kubernetes 1.30+, with --ip-mode) or hostname (older clusters).")
    var statusMode: StatusModeFlag = .ip

    @Option(
        name: .customLong("ip-mode"), help: "status ipMode: Proxy for the haproxy/nginx backends, VIP for kubeproxy.")
    var ipMode: IPModeFlag = .proxy

    @Flag(
        name: .customLong("gateway-api"),
        help:
            "Serve Gateway API: GatewayClasses with controllerName \(GatewayAPI.controllerName) (install the CRDs first)."
    )
    var gatewayAPI = false

    @Option(help: "The actors' data plane (haproxy, nginx, kubeproxy): what Gateway listeners and routes may use.")
    var backend: ProxyBackend = .haproxy

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
    var logLevel: LogLevel = .info

    func validate() throws {
        guard renewDeadline < leaseDuration, retryPeriod < renewDeadline else {
            throw ValidationError("need retry-period < renew-deadline < lease-duration")
        }
        if let text = nodeSelector ?? ProcessInfo.processInfo.environment["NODE_SELECTOR"] {
            do { _ = try LabelSelector(parsing: text) } catch { throw ValidationError("--node-selector: \(error)") }
        }
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        K8slbLogHandler.bootstrap()
        var logger = Logger(label: "k8slb-watcher")
        logger.logLevel = logLevel.level

        var settings = WatcherSettings()
        settings.namespace = namespace
        settings.configMapName = configMap
        settings.configKey = configKey
        settings.assignmentsName = assignments
        if let text = nodeSelector ?? env["NODE_SELECTOR"] { settings.nodeSelector = try LabelSelector(parsing: text) }
        settings.loadBalancerClass = loadBalancerClass
        settings.gatewayAPI = gatewayAPI
        settings.backend = backend
        settings.statusMode = statusMode == .hostname ? .hostname(suffix: hostnameSuffix) : .ip(ipMode: ipMode.rawValue)

        let cluster = try ClusterConfig.resolve(kubeconfig: kubeconfig)
        let client = KubeClient(config: cluster)
        let metrics = WatcherMetrics()
        let readiness = Readiness()
        var election = LeaderElection.Settings(
            namespace: namespace, name: lease,
            identity: identity ?? env["POD_NAME"] ?? ProcessInfo.processInfo.hostName)
        election.leaseDuration = .seconds(leaseDuration)
        election.renewDeadline = .seconds(renewDeadline)
        election.retryPeriod = .seconds(retryPeriod)
        logger.info("starting", metadata: ["k8s.identity": "\(election.identity)", "server": "\(cluster.server)"])

        // Shut down in reverse order: the leader first (stop writing, then release the lease),
        // the health endpoint last.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(
                        service: HealthService(
                            address: metricsAddress, registry: metrics.registry, readiness: readiness),
                        serviceName: "health"),
                    .init(
                        service: LeaderService(
                            client: client, election: election, settings: settings, logger: logger, metrics: metrics,
                            readiness: readiness),
                        successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "leader"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}

extension LogLevel: ExpressibleByArgument {}
