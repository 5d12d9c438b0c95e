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
        var runDirectory: SafePath
        var binaries: DaemonBinaries
    }

    private let settings: Settings
    private let plan: ControlPlanePlan
    private let logger: Logger
    private let metrics: ControlPlaneMetrics
    private let netlink: NetlinkWorker
    private let keepalived: KeepalivedProcess
    private let haproxy: HAProxyProcess?
    /// UDP roles.
    private let nginx: NginxProcess?
    /// BGP VIPs: bgpd announces what is bound on lo.
    private let frr: FRRProcess?
    private let frrConfig: String?
    /// The local apiserver's `/readyz` (TLS) and the local HAProxy's `/vip/<address>` (plain).
    private let apiserver: HTTPTransport
    private let local = HTTPTransport(tls: TLSSettings(), lanes: 1)
    private let stopped = Mutex(false)
    private let keepalivedRenderer: ControlPlaneKeepalivedRenderer

    init(settings: Settings, caPEM: [UInt8]?, logger: Logger, metrics: ControlPlaneMetrics, netlink: NetlinkWorker) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.netlink = netlink
        plan = ControlPlanePlan.make(settings.config)
        keepalivedRenderer = ControlPlaneKeepalivedRenderer(
            config: settings.config, trackDirectory: settings.runDirectory)
        let vips = settings.config.vips
        let log = logger
        keepalived = KeepalivedProcess(
            paths: .init(binary: settings.binaries.keepalived, directory: settings.runDirectory.rawValue)
        ) {
            // keepalived died on its own: its VIPs must go now (a backup is taking them over).
            Self.remove(vips, netlink: netlink, logger: log)
        }
        haproxy =
            plan.proxy.frontends.isEmpty
            ? nil
            : HAProxyProcess(paths: .init(binary: settings.binaries.haproxy, directory: settings.runDirectory.rawValue))
        nginx =
            plan.udp.frontends.isEmpty
            ? nil
            : NginxProcess(
                paths: .init(binary: settings.binaries.nginx, directory: settings.runDirectory.rawValue + "/nginx"))
        frrConfig = ControlPlaneFRRRenderer.render(settings.config)
        frr =
            frrConfig == nil
            ? nil
            : FRRProcess(
                paths: .init(
                    libexec: settings.binaries.frrDirectory, vtysh: settings.binaries.vtysh,
                    directory: settings.runDirectory.rawValue + "/frr"))
        var tls = TLSSettings(caPEM: caPEM, insecureSkipVerify: caPEM == nil)
        tls.verifyHostName = false
        apiserver = HTTPTransport(tls: tls, lanes: 1)
    }

    /// Starts HAProxy (balanced VIPs, roles) and keepalived, and probes until `stop()`; then stops
    /// keepalived (priority 0: a backup takes the VIPs at once; keepalived removes them here) and
    /// HAProxy.
    /// What the probe loop carries from one round to the next.
    private struct LoopState {
        var trackers: [IPAddress: HealthTracker] = [:]
        /// The value last written into each VRRP VIP's track file.
        var written: [IPAddress: Int] = [:]
        /// BGP VIPs: whether the host route (rather than the fallback) is bound.
        var announcing: [IPAddress: Bool] = [:]
        var held: Set<IPAddress> = []
    }

    func run() async throws {
        var state = try await start()
        let interval = Duration.milliseconds(settings.config.probe.intervalMilliseconds)
        let clock = ContinuousClock()
        while !stopped.withLock({ $0 }) {
            let started = clock.now
            await round(&state)
            try? await clock.sleep(until: started + interval)
        }
        await keepalived.stop()
        Self.remove(settings.config.vips, netlink: netlink, logger: logger)
        await frr?.stop()
        await haproxy?.drain()
        await nginx?.stop(drain: .seconds(5))
    }

    /// Everything unready, the proxies, FRR and keepalived started.
    private func start() async throws -> LoopState {
        let config = settings.config
        // A previous run killed with SIGKILL may have left the VIPs: they must not stay up
        // beside the holder's.
        Self.remove(config.vips, netlink: netlink, logger: logger)
        var state = LoopState()
        for vip in config.vips {
            state.trackers[vip.address] = HealthTracker(rise: config.probe.rise, fall: config.probe.fall)
            if vip.announce == .bgp {
                bindBGP(vip, ready: false)
                state.announcing[vip.address] = false
            } else {
                let value = ControlPlanePriority.trackValue(ready: false, holding: false, rank: config.rank)
                try write(value, to: keepalivedRenderer.trackFile(vip))
                state.written[vip.address] = value
            }
        }
        let directory = settings.runDirectory
        if let haproxy { _ = try await haproxy.apply(plan.haproxyConfig(runDirectory: directory)) }
        if let nginx { try await startNginx(nginx, directory) }
        if let frr, let frrConfig { try await frr.apply(frrConfig) }
        if config.vips.contains(where: { $0.announce == .vrrp }) {
            try await keepalived.apply(keepalivedRenderer.render())
        }
        logger.info(
            "control-plane VIPs configured",
            metadata: [
                "lb.vips": "\(config.vips.map(\.address))", "lb.probe": "\(config.probe.url)",
                "lb.peers": "\(config.peers.map(\.name))",
                "lb.follows": "\(config.vips.map { "\($0.address): \(plan.follows($0.address))" })",
            ])
        return state
    }

    private func startNginx(_ nginx: NginxProcess, _ directory: SafePath) async throws {
        let dir = try SafePath(parsing: directory.rawValue + "/nginx")
        guard let rendered = plan.nginxConfig(runDirectory: dir) else { return }
        // nginx has no transparent bind: VIPs this node does not hold need ip_nonlocal_bind (a
        // host sysctl; the static pod cannot write it: docs/control-plane.md).
        for key in ["net/ipv4/ip_nonlocal_bind", "net/ipv6/ip_nonlocal_bind"] {
            do { try await netlink.sysctl(key, "1") } catch {
                logger.warning(
                    "cannot enable non-local binds; nginx binds UDP roles' VIPs only where they are held or the host sysctl is set",
                    metadata: ["lb.sysctl": "\(key)", "error": "\(error)"])
            }
        }
        try FileManager.default.createDirectory(atPath: dir.rawValue, withIntermediateDirectories: true)
        _ = try await nginx.apply(
            rendered.text, temporaryDirectories: rendered.temporaryDirectories,
            workerUser: NginxRenderer.defaultWorkerUser)
    }

    /// One probe round: what each VIP follows, then its priority (VRRP) or its route (BGP).
    private func round(_ state: inout LoopState) async {
        let config = settings.config
        let apiserverReady =
            config.vips.contains { plan.follows($0.address) == .apiserver } ? await probeAPIServer() : false
        let holding = self.holding()
        if holding != state.held {
            logger.notice(
                holding.isEmpty ? "VIPs no longer on this node" : "VIPs active on this node",
                metadata: ["lb.vips": "\(holding.isEmpty ? state.held.sorted() : holding.sorted())"])
            state.held = holding
        }
        for vip in config.vips {
            let follows = plan.follows(vip.address)
            let ok: Bool
            switch follows {
            case .apiserver: ok = apiserverReady
            case .haproxy: ok = await probeProxy(vip.address)
            case .nginx:
                ok = await get(
                    local, "http://127.0.0.1:\(ControlPlaneConfig.nginxHealthPort)/healthz",
                    timeout: config.probe.timeoutMilliseconds)
            }
            if let verdict = state.trackers[vip.address]?.record(ok) {
                if verdict {
                    logger.notice("\(follows.rawValue)", metadata: ["lb.vip": "\(vip.address)"])
                } else {
                    logger.warning(
                        "not ready: this node yields the VIP to a node that is",
                        metadata: ["lb.vip": "\(vip.address)", "lb.follows": "\(follows.rawValue)"])
                }
            }
            let ready = state.trackers[vip.address]?.healthy ?? false
            let holds = holding.contains(vip.address)
            if vip.announce == .bgp {
                if state.announcing[vip.address] != ready {
                    bindBGP(vip, ready: ready)
                    state.announcing[vip.address] = ready
                }
                metrics.record(vip: vip.address, ready: ready, priority: 0, holding: holds)
                continue
            }
            let value = ControlPlanePriority.trackValue(ready: ready, holding: holds, rank: config.rank)
            if value != state.written[vip.address] {
                do {
                    try write(value, to: keepalivedRenderer.trackFile(vip))
                    state.written[vip.address] = value
                } catch {
                    logger.error("cannot write keepalived's track file", metadata: ["error": "\(error)"])
                }
            }
            metrics.record(vip: vip.address, ready: ready, priority: value + 1, holding: holds)
        }
    }

    func stop() { stopped.withLock { $0 = true } }

    /// One `GET /readyz` to the local apiserver: true on a 200 within the timeout.
    private func probeAPIServer() async -> Bool {
        let p = settings.config.probe
        return await get(apiserver, p.url, timeout: p.timeoutMilliseconds)
    }

    /// The local HAProxy: does `vip` have a backend with a server up?
    private func probeProxy(_ vip: IPAddress) async -> Bool {
        await get(
            local, "http://127.0.0.1:\(ControlPlaneConfig.proxyHealthPort)/vip/\(vip)",
            timeout: settings.config.probe.timeoutMilliseconds)
    }

    private func get(_ transport: HTTPTransport, _ url: String, timeout: Int) async -> Bool {
        do {
            return try await transport.send(HTTPRequest(method: "GET", url: url, timeoutMilliseconds: timeout)).status
                == 200
        } catch {
            return false
        }
    }

    /// The configured VIPs that are on this node now.
    private func holding() -> Set<IPAddress> {
        let wanted = Set(settings.config.vips.map(\.address))
        let present =
            (try? netlink.runBlocking { sock in
                try sock.addresses().filter { $0.prefixLength == $0.address.family.bitWidth }.map(\.address)
            }) ?? []
        return wanted.intersection(present)
    }

    /// A BGP VIP on lo: its host route while this node is ready (announced, preferred by the
    /// routers), its fallback prefix while not. IPv4 adds the new before removing the old (no
    /// moment without a route); IPv6 cannot hold one address twice, so it swaps.
    private func bindBGP(_ vip: ControlPlaneConfig.VIP, ready: Bool) {
        let host = vip.address.family.bitWidth
        let (add, remove) = ready ? (host, vip.fallbackPrefixLength) : (vip.fallbackPrefixLength, host)
        do {
            try netlink.runBlocking { sock in
                if vip.address.family == .ipv6 {
                    try sock.remove(vip.address, interface: "lo", prefixLength: remove)
                    try sock.add(vip.address, interface: "lo", prefixLength: add)
                } else {
                    try sock.add(vip.address, interface: "lo", prefixLength: add)
                    try sock.remove(vip.address, interface: "lo", prefixLength: remove)
                }
            }
            logger.notice(
                ready
                    ? "announcing the VIP (this node is ready)"
                    : "announcing only the VIP's fallback (this node is not ready)",
                metadata: ["lb.vip": "\(vip.address)", "lb.prefix": "/\(add)"])
        } catch {
            logger.error("cannot bind the VIP on lo", metadata: ["lb.vip": "\(vip.address)", "error": "\(error)"])
        }
    }

    private func write(_ value: Int, to path: String) throws {
        try "\(value)\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Removes the VIPs from their interfaces where present.
    static func remove(_ vips: [ControlPlaneConfig.VIP], netlink: NetlinkWorker, logger: Logger) {
        do {
            let removed: [String] = try netlink.runBlocking { sock in
                let present = try sock.addresses()
                var out: [String] = []
                for vip in vips {
                    for a in present where a.address == vip.address && a.interface == vip.interface.rawValue {
                        try sock.remove(vip.address, interface: vip.interface.rawValue, prefixLength: a.prefixLength)
                        out.append("\(vip.address)/\(a.prefixLength)")
                    }
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

    /// Per VIP: what its holder follows is ready here, the VRRP priority, whether this node holds it.
    func record(vip: IPAddress, ready: Bool, priority: Int, holding: Bool) {
        let labels = [("vip", "\(vip)")]
        Gauge(label: "k8slb_control_plane_ready", dimensions: labels, factory: factory).record(ready ? 1 : 0)
        Gauge(label: "k8slb_control_plane_priority", dimensions: labels, factory: factory).record(Double(priority))
        Gauge(label: "k8slb_control_plane_vip_master", dimensions: labels, factory: factory).record(holding ? 1 : 0)
    }
}
