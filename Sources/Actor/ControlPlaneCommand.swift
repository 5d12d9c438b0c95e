import ArgumentParser
import Core
import Foundation
import Logging
import Netlink
import Observability
import ServiceLifecycle
import UnixSignals

/// `k8slb-actor control-plane`: the cluster's own API address, without the API
/// (docs/control-plane.md). Runs as a static pod or a systemd unit on each control-plane node.
struct ControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Hold the control-plane VIP on a node whose kube-apiserver is ready (no Kubernetes API needed).",
        discussion: """
            Reads a JSON file listing the VIPs, their interface and VRID and the peer control-plane \
            nodes; runs keepalived (unicast VRRP to the peers) and probes the local kube-apiserver's \
            /readyz over TLS. A node whose apiserver is ready holds the VIP; when no node's is, the \
            current holder keeps it.
            """)

    @Option(help: "The control-plane config file (JSON; docs/control-plane.md).")
    var config = "/etc/k8slb/control-plane.json"

    @Option(name: .customLong("node-name"), help: "This node's name (default: the file's \"node\").")
    var nodeName: String?

    @Option(name: .customLong("run-dir"), help: "Directory for keepalived's config, pid files and the track file.")
    var runDir = "/run/k8slb-control-plane"

    @OptionGroup var binaries: DaemonBinaries

    @Option(name: .customLong("metrics-address"), help: "HOST:PORT for /metrics, /healthz, /readyz ('' disables).")
    var metricsAddress = "0.0.0.0:9092"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevel = .info

    func validate() throws {
        do { _ = try SafePath(parsing: runDir) } catch { throw ValidationError("--run-dir: \(error)") }
    }

    func run() async throws {
        K8slbLogHandler.bootstrap()
        var logger = Logger(label: "k8slb-control-plane")
        logger.logLevel = logLevel.level
        let text: String
        do { text = try String(contentsOfFile: config, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(config): \(error.localizedDescription)")
        }
        let parsed: (config: ControlPlaneConfig, warnings: [ConfigIssue])
        do { parsed = try ControlPlaneConfig.parse(text, node: nodeName) } catch {
            throw ValidationError("\(config) is not valid:\n\(error.description)")
        }
        for w in parsed.warnings { logger.warning("config warning", metadata: ["config.issue": "\(w)"]) }
        var caPEM: [UInt8]?
        if let ca = parsed.config.probe.caFile {
            guard let data = FileManager.default.contents(atPath: ca.rawValue) else {
                throw ValidationError("apiserver.caFile: cannot read \(ca)")
            }
            caPEM = Array(data)
        }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let netlink = try NetlinkWorker()
        let metrics = ControlPlaneMetrics()
        let readiness = Readiness(true)
        let node = ControlPlaneNode(
            settings: .init(
                config: parsed.config, runDirectory: try SafePath(parsing: runDir), binaries: binaries),
            caPEM: caPEM, logger: logger, metrics: metrics, netlink: netlink)
        logger.info(
            "starting", metadata: ["lb.node": "\(parsed.config.node)", "version": "\(K8slbVersion.current)"])
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(
                        service: HealthService(
                            address: metricsAddress, registry: metrics.registry, readiness: readiness),
                        serviceName: "health"),
                    .init(
                        service: ControlPlaneService(node: node),
                        successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "control-plane"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        netlink.stop()
    }
}

/// Runs the node until graceful shutdown (keepalived stops with priority 0: a peer takes over).
struct ControlPlaneService: ServiceLifecycle.Service {
    let node: ControlPlaneNode

    func run() async throws {
        let node = self.node
        try await withGracefulShutdownHandler {
            try await node.run()
        } onGracefulShutdown: {
            node.stop()
        }
    }
}
