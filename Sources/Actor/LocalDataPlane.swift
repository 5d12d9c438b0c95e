import Certificates
import Core
import DataPlane
import Foundation
import Glibc
import Logging
import Netlink
import Synchronization

/// The node's real data plane: HAProxy or nginx and keepalived as supervised children, netlink
/// on its own thread, the proxy health probe and keepalived's track file. Every blocking call runs
/// on a thread of its own (each daemon's `DaemonThread`, the netlink thread, the probe's thread),
/// never on the cooperative pool. Called from the controller's one sync loop.
actor LocalDataPlane: NodeDataPlane {
    private let settings: ActorSettings
    private let logger: Logger
    private let netlink: NetlinkWorker
    private let haproxy: HAProxyProcess?
    private let nginx: NginxProcess?
    private let keepalived: KeepalivedProcess
    /// The VRRP groups' VIPs beyond keepalived's anchors.
    private let followers: VRRPFollowers
    private let probe: ProxyHealthProbe?
    private let trackFile: TrackFile?
    /// FRR for BGP pools (started by the first config naming a BGP pool).
    private let frr: FRRProcess
    /// Who to tell when the proxy's health changes (the controller's sync: BGP withdraws).
    private let healthListeners = HealthListeners()
    private let files = DaemonThread(name: "certificates")
    /// The pools' networks, shared with keepalived's exit handler (which runs off the actor).
    private let poolNetworks = SharedNetworks()
    /// What the running HAProxy has, for the Runtime API decision.
    private var lastHAProxy: HAProxyRenderer.Rendered?
    /// Servers put in maintenance whose `del server` was refused (connections left): retried.
    private var pendingDeletes: Set<String> = []
    /// VIPs this node bound itself (pools without VRRP), by interface.
    private var bound: [IPAddress: InterfaceName] = [:]
    /// The Secret bundles as last written.
    private var installed: [SafePath: Data] = [:]
    private var arpSettingsTried = false
    /// The local track files as last written.
    private var localTracks: [SafePath: Bool] = [:]
    /// Adverts of the groups this node stepped down for (split brain).
    private let adverts: VRRPAdvertListener
    private var advertFailureLogged = false
    /// The connection-handover ruleset as last applied, and whether the local-delivery route is in.
    private var handoverApplied: String?
    private var localDeliveryReady = false
    private let handoverThread = DaemonThread(name: "handover")
    private let launcher: [String]

    init(settings: ActorSettings, logger: Logger, netlink: NetlinkWorker) {
        self.settings = settings
        self.logger = logger
        self.netlink = netlink
        adverts = VRRPAdvertListener(namespace: settings.networkNamespace)
        adverts.start()
        let launcher = settings.networkNamespace.map { [settings.ipBinary, "netns", "exec", $0] } ?? []
        self.launcher = launcher
        switch settings.backend {
        case .haproxy:
            haproxy = HAProxyProcess(
                paths: .init(binary: settings.haproxyBinary, directory: settings.runDirectory), launcher: launcher)
            nginx = nil
        case .nginx:
            haproxy = nil
            nginx = NginxProcess(
                paths: .init(binary: settings.nginxBinary, directory: settings.runDirectory), launcher: launcher)
        case .kubeproxy:
            haproxy = nil
            nginx = nil
        }
        let networks = poolNetworks
        let log = logger
        keepalived = KeepalivedProcess(
            paths: .init(binary: settings.keepalivedBinary, directory: settings.runDirectory), launcher: launcher
        ) {
            // keepalived died on its own: its VIPs must go now (a backup is taking them over).
            // VIPs this actor binds itself (no VRRP) are re-added by the next sync.
            Self.removeStale(netlink, networks: networks.value, logger: log)
        }
        followers = VRRPFollowers(netlink: netlink, logger: logger, namespace: settings.networkNamespace)
        do {
            trackFile = try TrackFile(path: settings.trackFile, proxyHealthy: settings.backend == .kubeproxy)
        } catch {
            logger.error(
                "cannot write keepalived's track file; keepalived keeps this node's VIPs in FAULT",
                metadata: ["error": "\(error)"])
            trackFile = nil
        }
        frr = FRRProcess(
            paths: .init(
                libexec: settings.frrDirectory, vtysh: settings.vtyshBinary, directory: settings.runDirectory + "/frr"),
            launcher: launcher)
        if settings.backend == .kubeproxy {
            probe = nil
        } else {
            let track = trackFile
            let listeners = healthListeners
            let p = ProxyHealthProbe(
                settings: .init(port: settings.proxyHealthPort, namespace: settings.networkNamespace)
            ) { ok in
                track?.set(proxyHealthy: ok)
                if ok {
                    log.info("proxy healthy")
                } else {
                    log.warning(
                        "proxy health check failing; keepalived hands this node's VIPs over and BGP VIPs are withdrawn")
                }
                listeners.notify()
            }
            p.start()
            probe = p
        }
    }

    // MARK: certificates and interfaces

    func checkCertificate(pool: PoolName) async -> Result<Date, CertificateFault> {
        let base = "\(settings.certDirectory)/\(pool.rawValue)"
        let nginx = settings.backend == .nginx
        let checked = try? await files.run { () throws(DaemonError) in
            nginx
                ? CertificateCheck.pair(certificate: base + ".pem", key: base + ".key")
                : CertificateCheck.bundle(at: base + ".pem")
        }
        guard let result = checked else { return .failure(CertificateFault(description: "the check did not run")) }
        switch result {
        case .success(let info): return .success(info.notAfter)
        case .failure(let problem): return .failure(CertificateFault(description: "\(problem)"))
        }
    }

    func routeInterface(for address: IPAddress) async -> InterfaceName? {
        guard let name = try? await netlink.run({ sock in try sock.routeInterface(for: address) }) else { return nil }
        return try? InterfaceName(parsing: name)
    }

    // MARK: addresses

    func setPoolNetworks(_ networks: [IPRange]) async { poolNetworks.value = networks }

    func removeStaleVIPs(in networks: [IPRange]) async {
        let worker = netlink
        let log = logger
        _ = try? await files.run { () throws(DaemonError) in Self.removeStale(worker, networks: networks, logger: log) }
    }

    /// Removes /32 and /128 addresses inside `networks` (start-up: a previous run may have left
    /// them; keepalived died: its VIPs must go before a backup takes them over).
    nonisolated static func removeStale(_ netlink: NetlinkWorker, networks: [IPRange], logger: Logger) {
        guard !networks.isEmpty else { return }
        do {
            let removed: [String] = try netlink.runBlocking { sock in
                var out: [String] = []
                for a in try sock.addresses()
                where a.prefixLength == a.address.family.bitWidth
                    && networks.contains(where: { $0.contains(a.address) })
                {
                    try sock.remove(a.address, interface: a.interface)
                    out.append("\(a.address)")
                }
                // IPv6 VRRP followers are local routes, not addresses (VRRPFollowers).
                for a in try sock.vipRoutes() where networks.contains(where: { $0.contains(a) }) {
                    try sock.removeVIPRoute(a)
                    out.append("\(a)")
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

    func bind(_ wanted: [IPAddress: InterfaceName]) async -> [String] {
        var failures: [String] = []
        for (address, iface) in bound.sorted(by: { $0.key < $1.key }) where wanted[address] != iface {
            do {
                try await netlink.run { try $0.remove(address, interface: iface.rawValue) }
                bound[address] = nil
            } catch { failures.append("cannot remove VIP \(address): \(error)") }
        }
        for (address, iface) in wanted.sorted(by: { $0.key < $1.key }) where bound[address] != iface {
            do {
                try await netlink.run { try $0.add(address, interface: iface.rawValue) }
                bound[address] = iface
                logger.info(
                    "VIP bound (no VRRP for this pool)", metadata: ["lb.vip": "\(address)", "lb.interface": "\(iface)"])
            } catch { failures.append("cannot bind VIP \(address): \(error)") }
        }
        return failures
    }

    /// The node's addresses and the VIPs routed here (IPv6 VRRP followers).
    func addresses() async -> Set<IPAddress>? {
        guard let present = try? await netlink.run({ sock in try sock.addresses().map(\.address) + sock.vipRoutes() })
        else { return nil }
        return Set(present)
    }

    func monitorAddresses(_ onChange: @escaping @Sendable () -> Void) async {
        netlink.monitorAddresses(namespace: settings.networkNamespace, onChange: onChange)
        followers.observe(onChange)  // IPv6 followers are routes: no address event
    }

    // MARK: proxy and keepalived

    func applyProxy(_ proxy: NodePlan.Proxy) async -> ProxyOutcome {
        switch proxy {
        case .none: return .none
        case .nginx(let config):
            guard let nginx else { return .none }
            do {
                return try await nginx.apply(
                    config.text, temporaryDirectories: config.temporaryDirectories, workerUser: config.workerUser)
                    ? .reloaded : .unchanged
            } catch { return .failed(error) }
        case .haproxy(let rendered):
            guard let haproxy else { return .none }
            if let last = lastHAProxy, haproxy.masterPID != nil {
                if last.text == rendered.text && pendingDeletes.isEmpty { return .unchanged }
                if let commands = HAProxyRuntimePlan.commands(from: last, to: rendered, pendingDeletes: pendingDeletes)
                {
                    do {
                        let deferred = try await haproxy.updateServers(rendered.text, commands: commands)
                        pendingDeletes = Set(deferred)
                        lastHAProxy = rendered
                        return .runtime(commands: commands.count, deferred: deferred.count)
                    } catch {
                        logger.warning("Runtime API update failed; reloading instead", metadata: ["error": "\(error)"])
                    }
                }
            }
            do {
                let outcome = try await haproxy.apply(rendered.text)
                lastHAProxy = rendered
                pendingDeletes = []
                switch outcome {
                case .unchanged: return .unchanged
                case .started: return .started
                case .reloaded: return .reloaded
                }
            } catch {
                return .failed(error)
            }
        }
    }

    func probeProxy() async { _ = await probe?.probeNow() }

    func setEligible(_ eligible: Bool) async { trackFile?.set(eligible: eligible) }

    func applyKeepalived(_ text: String) async throws(DaemonError) {
        try await keepalived.apply(text)
    }

    func follow(_ groups: [KeepalivedRenderer.Followers]) async { await followers.set(groups) }

    func restarts() async -> [String: Int] {
        var out = ["keepalived": keepalived.restarts]
        if let haproxy { out["haproxy"] = haproxy.restarts }
        if let nginx { out["nginx"] = nginx.restarts }
        return out
    }

    // MARK: FRR (BGP pools)

    func applyFRR(_ text: String?) async throws(DaemonError) {
        if text == nil && !frr.running { return }
        if text != nil && !arpSettingsTried {
            // BGP VIPs sit on lo of every LB node: with arp_ignore 1 / arp_announce 2 a node does
            // not answer ARP for them on its other interfaces. Best effort: a container without a
            // writable /proc/sys logs it, and the operator sets them on the host (docs/bgp.md).
            arpSettingsTried = true
            for (key, value) in [
                ("net/ipv4/conf/all/arp_ignore", "1"), ("net/ipv4/conf/all/arp_announce", "2"),
                ("net/ipv6/conf/all/keep_addr_on_down", "1"),
            ] {
                do { try await netlink.sysctl(key, value) } catch {
                    logger.warning(
                        "sysctl not written; set it on the host",
                        metadata: ["lb.sysctl": "\(key)", "value": "\(value)", "error": "\(error)"])
                }
            }
        }
        try await frr.apply(text)
    }

    func bgpStatus() async -> BGPStatus? {
        guard frr.running, let summary = await frr.show("show bgp summary json") else { return nil }
        let bfd = await frr.show("show bfd peers json")
        return BGPStatus.parse(summary: summary, bfd: bfd)
    }

    func proxyHealthy() async -> Bool {
        guard let probe else { return true }
        return probe.healthy ?? false
    }

    func onProxyHealthChange(_ body: @escaping @Sendable () -> Void) async { healthListeners.add(body) }

    /// SIGTERM: every BGP session shut down (the routers drop this node's routes) while the VIPs
    /// stay bound and served, then 0.4 s for the routers to reprogram their FIB (docs/architecture.md, "Data-plane facts: FRR"; measured
    /// 0.15-0.17 s after the NOTIFICATION; a loaded router takes longer, and a SIGTERM is not in
    /// a hurry).
    private func withdrawAll() async {
        guard frr.running else { return }
        let started = ContinuousClock.now
        await frr.shutdownSessions()
        try? await Task.sleep(for: .milliseconds(400))
        let waited = ContinuousClock.now - started
        logger.info(
            "BGP VIPs withdrawn",
            metadata: [
                "ms": "\(waited.components.seconds * 1000 + waited.components.attoseconds / 1_000_000_000_000_000)"
            ])
    }

    // MARK: certificates from Secrets, local track files

    func installCertificates(_ bundles: [SafePath: Data]) async -> [SafePath] {
        var changed: [SafePath] = []
        for (path, data) in bundles.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where installed[path] != data {
            let dir = (path.rawValue as NSString).deletingLastPathComponent
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                // Written beside, readable by the owner only, then renamed: the proxy never reads
                // half a key.
                let tmp = path.rawValue + ".tmp"
                guard
                    FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600])
                else {
                    logger.error("cannot write certificate bundle", metadata: ["file": "\(path)"])
                    continue
                }
                try ChildProcessFiles.rename(tmp, path.rawValue)
            } catch {
                logger.error("cannot write certificate bundle", metadata: ["file": "\(path)", "error": "\(error)"])
                continue
            }
            if installed[path] != nil { changed.append(path) }
            installed[path] = data
        }
        for path in installed.keys where bundles[path] == nil {
            try? FileManager.default.removeItem(atPath: path.rawValue)
            installed[path] = nil
        }
        return changed
    }

    func refreshCertificates(_ changed: [SafePath], bundles: [SafePath: Data]) async -> (
        updated: Int, failures: [String]
    ) {
        guard let haproxy, haproxy.masterPID != nil, let text = lastHAProxy?.text else { return (0, []) }
        var updated = 0
        var failures: [String] = []
        for path in changed where text.contains(" crt \(path.rawValue)") {
            guard let data = bundles[path] else { continue }
            do {
                try await haproxy.updateCertificate(path: path.rawValue, pem: String(decoding: data, as: UTF8.self))
                updated += 1
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        return (updated, failures)
    }

    func setLocalTracks(_ groups: [NodePlan.LocalGroup]) async {
        for g in groups where localTracks[g.file] != g.hasLocalEndpoint {
            do {
                try (g.hasLocalEndpoint ? "0\n" : "1\n").write(
                    toFile: g.file.rawValue, atomically: true, encoding: .utf8)
                localTracks[g.file] = g.hasLocalEndpoint
                logger.info(
                    g.hasLocalEndpoint
                        ? "a ready local endpoint runs here: may hold the VIP"
                        : "no ready local endpoint here: VIP handed over",
                    metadata: ["lb.group": "\(g.id)"])
            } catch {
                logger.error("cannot write a local track file", metadata: ["file": "\(g.file)", "error": "\(error)"])
            }
        }
        for file in localTracks.keys where !groups.contains(where: { $0.file == file }) {
            try? FileManager.default.removeItem(atPath: file.rawValue)
            localTracks[file] = nil
        }
    }

    // MARK: split brain

    func watchAdverts(_ groups: Set<VRRPGroupID>, onHeard: @escaping @Sendable () -> Void) async {
        adverts.onHeard(onHeard)
        adverts.watch(groups)
        if let failure = adverts.failure, !advertFailureLogged {
            advertFailureLogged = true
            logger.error(
                "cannot hear VRRP adverts; a node that stepped down in a split brain resumes only when the holder's record goes",
                metadata: ["error": "\(failure)"])
        }
    }

    func advertsHeard() async -> [VRRPGroupID: Int] { adverts.heard }

    /// Twice, 0.3 s apart (one announcement may be lost); only VIPs still on the node (one
    /// that left must never be announced from here).
    func announce(_ vips: [IPAddress: InterfaceName]) async {
        for round in 0..<2 {
            if round > 0 { try? await Task.sleep(for: .milliseconds(300)) }
            guard let present = await addresses() else { return }
            for (vip, interface) in vips.sorted(by: { $0.key < $1.key }) where present.contains(vip) {
                do { try await netlink.announce(vip, on: interface.rawValue) } catch {
                    logger.warning("cannot announce a VIP", metadata: ["lb.vip": "\(vip)", "error": "\(error)"])
                }
            }
        }
    }

    // MARK: connection handover

    func applyHandover(_ ruleset: String) async {
        guard settings.handover, ruleset != handoverApplied else { return }
        if !localDeliveryReady {
            do {
                try await netlink.ensureLocalDelivery(
                    mark: Handover.deliverMark, table: Handover.table, priority: Handover.rulePriority)
                localDeliveryReady = true
            } catch {
                logger.error(
                    "cannot route handed-over connections locally; planned moves reset them",
                    metadata: ["error": "\(error)"])
                return
            }
        }
        let path = settings.runDirectory + "/handover.nft"
        let nft = settings.nftBinary
        let launcher = self.launcher
        let result = try? await handoverThread.run { () throws(DaemonError) in
            do { try ruleset.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw DaemonError(.writeFailed, "cannot write \(path): \(error)")
            }
            return ChildProcess.run([nft, "-f", path], launcher: launcher)
        }
        if let result, result.status == 0 {
            handoverApplied = ruleset
            logger.debug("handover rules applied")
        } else {
            logger.error(
                "handover rules not applied; planned moves reset connections",
                metadata: ["error": "\(result?.output ?? "nft did not run")"])
        }
    }

    // MARK: shutdown

    func shutdown() async {
        adverts.stop()
        await keepalived.stop()
        await followers.clear()
        followers.stop()
        // BGP: the routers stop sending new connections here first; only then do the VIPs go.
        await withdrawAll()
        _ = await bind([:])
        probe?.stop()
        await haproxy?.drain()
        await nginx?.stop(drain: .seconds(settings.drainSeconds + 5))
        await frr.stop()
    }
}

/// Callbacks for proxy health changes (registered from the controller, called on the probe's thread).
final class HealthListeners: Sendable {
    private let list = Mutex<[@Sendable () -> Void]>([])
    func add(_ body: @escaping @Sendable () -> Void) { list.withLock { $0.append(body) } }
    func notify() { for body in list.withLock({ $0 }) { body() } }
}

/// rename(2) as a throwing call.
enum ChildProcessFiles {
    struct Failure: Error, CustomStringConvertible { let description: String }
    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw Failure(description: "rename \(from): \(String(cString: strerror(errno)))")
        }
    }
}

/// A value shared with callbacks that run outside the actor (keepalived's exit handler).
final class SharedNetworks: Sendable {
    private let storage = Mutex<[IPRange]>([])
    var value: [IPRange] {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
