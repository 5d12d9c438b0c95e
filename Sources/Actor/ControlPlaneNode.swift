import Core
import DataPlane
import Foundation
import KubeClient
import Logging
import Metrics
import Netlink
import Prometheus
import Synchronization

/// One control-plane node's side of the cluster's API address (`k8slb-actor control-plane`,
/// docs/control-plane.md): keepalived with the VIPs' instances, and a loop that probes the local
/// kube-apiserver's `/readyz`, looks whether this node holds the VIPs, and writes the priority
/// that follows from both (`ControlPlanePriority`) into keepalived's track file. No Kubernetes
/// API is used: this is what that API is reached through.
final class ControlPlaneNode: Sendable {
    struct Settings: Sendable {
        var config: ControlPlaneConfig
        var runDirectory: String
        var keepalivedBinary: String
    }

    private let settings: Settings
    private let logger: Logger
    private let metrics: ControlPlaneMetrics
    private let netlink: NetlinkWorker
    private let keepalived: KeepalivedProcess
    private let transport: HTTPTransport
    private let trackFile: String
    private let stopped = Mutex(false)

    init(settings: Settings, caPEM: [UInt8]?, logger: Logger, metrics: ControlPlaneMetrics, netlink: NetlinkWorker) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.netlink = netlink
        trackFile = settings.runDirectory + "/apiserver-priority"
        let vips = settings.config.vips
        let log = logger
        keepalived = KeepalivedProcess(
            paths: .init(binary: settings.keepalivedBinary, directory: settings.runDirectory)
        ) {
            // keepalived died on its own: its VIPs must go now (a backup is taking them over).
            Self.remove(vips, netlink: netlink, logger: log)
        }
        var tls = TLSSettings(caPEM: caPEM, insecureSkipVerify: caPEM == nil)
        tls.verifyHostName = false
        transport = HTTPTransport(tls: tls, lanes: 1)
    }

    /// Starts keepalived and probes until `stop()`; then stops keepalived (priority 0: a backup
    /// takes the VIPs at once; keepalived removes them here).
    func run() async throws {
        let config = settings.config
        // A previous run killed with SIGKILL may have left the VIPs: they must not stay up
        // beside the holder's.
        Self.remove(config.vips, netlink: netlink, logger: logger)
        var tracker = HealthTracker(rise: config.probe.rise, fall: config.probe.fall)
        var written = ControlPlanePriority.trackValue(ready: false, holding: false, rank: config.rank)
        try write(written)
        let trackPath = try SafePath(parsing: trackFile)
        try await keepalived.apply(ControlPlaneKeepalivedRenderer(config: config, trackFile: trackPath).render())
        logger.info(
            "control-plane VIPs configured; following the local kube-apiserver",
            metadata: [
                "lb.vips": "\(config.vips.map(\.address))", "lb.probe": "\(config.probe.url)",
                "lb.peers": "\(config.peers.map(\.name))",
            ])
        let interval = Duration.milliseconds(config.probe.intervalMilliseconds)
        let clock = ContinuousClock()
        var held: Set<IPAddress> = []
        while !stopped.withLock({ $0 }) {
            let started = clock.now
            let ok = await probe()
            if let verdict = tracker.record(ok) {
                if verdict {
                    logger.notice("local kube-apiserver ready", metadata: ["lb.probe": "\(config.probe.url)"])
                } else {
                    logger.warning(
                        "local kube-apiserver not ready; this node yields the VIPs to a node whose apiserver is",
                        metadata: ["lb.probe": "\(config.probe.url)"])
                }
            }
            let holding = self.holding()
            if holding != held {
                logger.notice(
                    holding.isEmpty ? "VIPs no longer on this node" : "VIPs active on this node",
                    metadata: ["lb.vips": "\(holding.isEmpty ? held.sorted() : holding.sorted())"])
                held = holding
            }
            let ready = tracker.healthy ?? false
            let value = ControlPlanePriority.trackValue(ready: ready, holding: !holding.isEmpty, rank: config.rank)
            if value != written {
                do {
                    try write(value)
                    written = value
                } catch {
                    logger.error("cannot write keepalived's track file", metadata: ["error": "\(error)"])
                }
            }
            metrics.record(ready: ready, priority: value + 1, holding: holding, vips: config.vips.map(\.address))
            try? await clock.sleep(until: started + interval)
        }
        await keepalived.stop()
        Self.remove(config.vips, netlink: netlink, logger: logger)
    }

    func stop() { stopped.withLock { $0 = true } }

    /// One `GET /readyz`: true on a 200 within the timeout.
    private func probe() async -> Bool {
        let p = settings.config.probe
        do {
            let r = try await transport.send(
                HTTPRequest(method: "GET", url: p.url, timeoutMilliseconds: p.timeoutMilliseconds))
            return r.status == 200
        } catch {
            return false
        }
    }

    /// The configured VIPs that are on this node now.
    private func holding() -> Set<IPAddress> {
        let wanted = Set(settings.config.vips.map(\.address))
        let present = (try? netlink.runBlocking { sock in try sock.addresses().map(\.address) }) ?? []
        return wanted.intersection(present)
    }

    private func write(_ value: Int) throws {
        try "\(value)\n".write(toFile: trackFile, atomically: true, encoding: .utf8)
    }

    /// Removes the VIPs from their interfaces where present.
    static func remove(_ vips: [ControlPlaneConfig.VIP], netlink: NetlinkWorker, logger: Logger) {
        do {
            let removed: [String] = try netlink.runBlocking { sock in
                let present = try sock.addresses()
                var out: [String] = []
                for vip in vips where present.contains(where: { $0.address == vip.address }) {
                    try sock.remove(vip.address, interface: vip.interface.rawValue)
                    out.append("\(vip.address)")
                }
                return out
            }
            if !removed.isEmpty {
                logger.warning("removed VIPs left without VRRP", metadata: ["lb.vips": "\(removed)"])
            }
        } catch {
            logger.error("cannot clean up VIPs", metadata: ["error": "\(error)"])
        }
    }
}

/// The control-plane node's metrics (its own registry, its own port).
final class ControlPlaneMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    init() { factory = PrometheusMetricsFactory(registry: registry) }

    func record(ready: Bool, priority: Int, holding: Set<IPAddress>, vips: [IPAddress]) {
        Gauge(label: "k8slb_control_plane_apiserver_ready", factory: factory).record(ready ? 1 : 0)
        Gauge(label: "k8slb_control_plane_priority", factory: factory).record(Double(priority))
        for vip in vips {
            Gauge(label: "k8slb_control_plane_vip_master", dimensions: [("vip", "\(vip)")], factory: factory).record(
                holding.contains(vip) ? 1 : 0)
        }
    }
}
