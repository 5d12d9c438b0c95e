import Certificates
import CLibc
import Core
import DataPlane
import Foundation
import KubeClient
import Logging
import Netlink
import Synchronization

/// The actor's control loop on one LB node: reads the published assignments, the config and the
/// Services' EndpointSlices, renders the proxy and keepalived configs (Core, pure), applies them
/// (validate → rename → reload, or the HAProxy Runtime API when only servers changed), binds the
/// VIPs keepalived does not manage, and reports what happened (Events, metrics).
///
/// Level-triggered: every change only schedules a sync; a sync recomputes the whole desired state
/// from the caches and applies the difference. Changes within `settings.coalesce` are applied
/// together, so a burst of endpoint changes costs one apply.
actor ActorController {
    nonisolated let client: KubeClient
    nonisolated let settings: ActorSettings
    nonisolated let logger: Logger
    nonisolated let metrics: ActorMetrics
    nonisolated let netlink: NetlinkWorker

    private let configMaps: Informer<ConfigMap>
    private let slices: Informer<EndpointSlice>
    private let nodeInformer: Informer<Node>
    private let haproxy: HAProxyProcess?
    private let nginx: NginxProcess?
    private let keepalived: KeepalivedProcess
    /// The proxy's health as keepalived sees it (its track file); nil for kubeproxy (no proxy).
    private let healthProbe: ProxyHealthProbe?
    /// The pools' networks, shared with keepalived's exit handler (which runs off the actor).
    private let poolNetworks: SharedNetworks

    private var config: UserConfig?
    private var lastConfigText: String?
    private var document: AssignmentDocument?
    private var lastIndexText: String?
    private var lastHAProxy: HAProxyRenderer.Rendered?
    /// Servers put in maintenance whose `del server` was refused (connections left): retried.
    private var pendingDeletes: Set<String> = []
    /// VIPs this actor bound itself (pools without VRRP), by interface.
    private var bound: [IPAddress: String] = [:]
    private var interfaces: [PoolName: InterfaceName] = [:]
    /// Last certificate problem reported per pool (reported once per change).
    private var certificateProblems: [PoolName: String] = [:]
    private var live: Set<IPAddress> = []
    private var syncScheduled = false
    private var cleanedUp = false
    private var stopping = false
    /// True once a proxy config (or, for kubeproxy, the keepalived config) has been applied.
    private(set) var isReady = false

    init(client: KubeClient, settings: ActorSettings, logger: Logger, metrics: ActorMetrics, netlink: NetlinkWorker) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.netlink = netlink
        configMaps = Informer(client: client, namespace: settings.namespace)
        slices = Informer(client: client, labelSelector: "kubernetes.io/service-name")
        nodeInformer = Informer(client: client, labelSelector: settings.nodeSelector)
        let launcher = settings.networkNamespace.map { [settings.ipBinary, "netns", "exec", $0] } ?? []
        switch settings.backend {
        case .haproxy:
            haproxy = HAProxyProcess(paths: .init(binary: settings.haproxyBinary, directory: settings.runDirectory), launcher: launcher)
            nginx = nil
        case .nginx:
            haproxy = nil
            nginx = NginxProcess(paths: .init(binary: settings.nginxBinary, directory: settings.runDirectory), launcher: launcher)
        case .kubeproxy:
            haproxy = nil
            nginx = nil
        }
        switch settings.backend {
        case .haproxy, .nginx:
            let port = settings.backend == .haproxy ? settings.haproxyHealthPort : settings.nginxHealthPort
            let log = logger
            healthProbe = ProxyHealthProbe(settings: .init(port: port, file: settings.healthFile, namespace: settings.networkNamespace)) { ok in
                if ok { log.info("proxy healthy") } else { log.warning("proxy health check failing; keepalived hands this node's VIPs over") }
            }
        case .kubeproxy:
            healthProbe = nil
        }
        let worker = netlink
        let log = logger
        let networks = SharedNetworks()
        poolNetworks = networks
        keepalived = KeepalivedProcess(paths: .init(binary: settings.keepalivedBinary, directory: settings.runDirectory), launcher: launcher) {
            // keepalived died on its own: its VIPs must go now (a backup is taking them over).
            // VIPs this actor binds itself (no VRRP) are re-added by the next sync.
            Self.removeStaleVIPs(worker, networks: networks.value, logger: log)
        }
    }

    // MARK: running

    /// Runs until cancelled.
    func run() async {
        do { try healthProbe?.start() } catch {
            logger.error("cannot write the proxy health file; keepalived will hold this node's VIPs in FAULT", metadata: ["error": "\(error)"])
        }
        netlink.monitorAddresses(namespace: settings.networkNamespace) { [weak self] in
            guard let self else { return }
            Task { await self.addressesChanged() }
        }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.configMaps.run { _ in await self.scheduleSync() } }
            group.addTask { await self.slices.run { _ in await self.scheduleSync() } }
            if settings.unicast {
                group.addTask { await self.nodeInformer.run { _ in await self.scheduleSync() } }
            }
            // Certificates are files, not API objects: look again now and then (and a resync
            // re-applies anything a daemon restart may have lost; unchanged output costs nothing).
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.settings.resync)
                    await self.scheduleSync()
                }
            }
        }
    }

    private func scheduleSync(after delay: Duration? = nil) {
        guard !syncScheduled, !stopping else { return }
        syncScheduled = true
        let wait = delay ?? settings.coalesce
        Task {
            try? await Task.sleep(for: wait)
            await self.sync()
        }
    }

    /// Recomputes the desired state and applies what differs.
    func sync() async {
        syncScheduled = false
        guard !stopping else { return }
        guard await configMaps.hasSynced, await slices.hasSynced else { scheduleSync(); return }
        if settings.unicast, await !nodeInformer.hasSynced { scheduleSync(); return }
        await loadConfig()
        await loadDocument()
        guard let config = effectiveConfig, let document else { return }
        poolNetworks.value = config.pools.map(\.network)
        if !cleanedUp {
            // Start-up: VIPs left by an earlier run (a SIGKILLed keepalived) must not linger.
            let worker = netlink, networks = poolNetworks.value, log = logger
            await Task.detached { Self.removeStaleVIPs(worker, networks: networks, logger: log) }.value
            cleanedUp = true
        }
        await detectInterfaces(config, document)
        let endpoints = EndpointMap.resolve(document, slices: await sliceInputs(for: document))
        let tlsPools = await checkCertificates(config, document)
        metrics.vipsServed(document.vips.count)

        switch settings.backend {
        case .haproxy: applyHAProxy(document, endpoints, config, tlsPools)
        case .nginx: applyNginx(document, endpoints, config, tlsPools)
        case .kubeproxy: isReady = true
        }
        // keepalived reads the verdict from the track file: have it current before (re)starting it.
        if let healthProbe { _ = await healthProbe.probeNow() }
        applyKeepalived(document, config, peers: settings.unicast ? await peerAddresses() : [:])
        await bindUnmanaged(document, config)
        await addressesChanged()
        metrics.daemonRestarts("keepalived", keepalived.restarts)
        if let haproxy { metrics.daemonRestarts("haproxy", haproxy.restarts) }
        if let nginx { metrics.daemonRestarts("nginx", nginx.restarts) }
        if !pendingDeletes.isEmpty { scheduleSync(after: .seconds(2)) }
    }

    /// The config with the actor's overrides.
    private var effectiveConfig: UserConfig? {
        guard var c = config else { return nil }
        if let advert = settings.advertIntervalCentiseconds { c.vrrp.advertIntervalCentiseconds = advert }
        return c
    }

    // MARK: inputs

    private func loadConfig() async {
        let name = "\(settings.namespace)/\(settings.configMapName)"
        guard let text = await configMaps.get(name)?.data?[settings.configKey] else {
            if config == nil { logger.warning("no config yet", metadata: ["configmap": "\(name)"]) }
            return
        }
        guard text != lastConfigText else { return }
        lastConfigText = text
        do {
            config = try UserConfig.parse(text).config
            metrics.configStale(false)
            logger.info("config loaded", metadata: ["configmap": "\(name)"])
        } catch {
            // The watcher reports it on the ConfigMap (Event); the actor keeps the last good one.
            metrics.configStale(true)
            logger.error("invalid config, keeping the last good one", metadata: ["configmap": "\(name)", "errors": "\(error.errors.map(\.description))"])
        }
    }

    /// Reads the sharded document; a set whose digests do not match the index (a publish in
    /// progress) is skipped until the next change completes it.
    private func loadDocument() async {
        let prefix = "\(settings.namespace)/\(settings.assignmentsName)"
        guard let indexText = await configMaps.get(prefix)?.data?["index"] else {
            if document == nil {
                logger.info("no assignments published yet", metadata: ["configmap": "\(prefix)"])
                document = AssignmentDocument(vips: [])
            }
            return
        }
        do {
            let index = try JSONDecoder().decode(AssignmentShards.Index.self, from: Data(indexText.utf8))
            var shards: [[UInt8]] = []
            for i in index.shards.indices {
                guard let text = await configMaps.get("\(prefix)-\(i)")?.data?["vips"] else { return }
                shards.append(Array(text.utf8))
            }
            document = try AssignmentShards.decode(index: Array(indexText.utf8), shards: shards)
            lastIndexText = indexText
        } catch AssignmentShards.ShardError.digestMismatch {
            return  // half-written; the rest of the update follows
        } catch {
            logger.error("assignments unreadable, keeping the last good ones", metadata: ["error": "\(error)"])
        }
    }

    /// EndpointSlices of the Services in `document`, parsed into typed values.
    private func sliceInputs(for document: AssignmentDocument) async -> [ServiceKey: [EndpointSliceInput]] {
        var wanted = Set<ServiceKey>()
        for vip in document.vips { for e in vip.services { wanted.insert(e.key) } }
        var out: [ServiceKey: [EndpointSliceInput]] = [:]
        for slice in await slices.list() {
            guard let ns = slice.metadata.namespace, let svc = slice.metadata.labels?["kubernetes.io/service-name"] else { continue }
            let key = ServiceKey(namespace: ns, name: svc)
            guard wanted.contains(key), let input = SliceMapping.input(slice, service: key) else { continue }
            out[key, default: []].append(input)
        }
        return out
    }

    /// Each pool's interface: from the config, else the one whose route covers the pool.
    private func detectInterfaces(_ config: UserConfig, _ document: AssignmentDocument) async {
        let used = Set(document.vips.map(\.pool))
        for pool in config.pools where used.contains(pool.name) {
            if let i = pool.interface { interfaces[pool.name] = i; continue }
            let probe = pool.network.start
            let found = try? await netlink.run { sock in try sock.routeInterface(for: probe) }
            if let name = found ?? nil, let parsed = try? InterfaceName(parsing: name) {
                if interfaces[pool.name] != parsed {
                    logger.info("pool interface detected", metadata: ["pool": "\(pool.name)", "interface": "\(name)"])
                }
                interfaces[pool.name] = parsed
            } else if interfaces[pool.name] == nil {
                logger.error("no route covers the pool and it names no interface; its VIPs are not bound",
                             metadata: ["pool": "\(pool.name)", "network": "\(pool.network)"])
            }
        }
    }

    // MARK: certificates

    /// Pools with a TLS port whose certificate is usable; a bad one turns TLS off for that pool
    /// only (Event on its Services, metric), and every other pool keeps updating.
    private func checkCertificates(_ config: UserConfig, _ document: AssignmentDocument) async -> Set<PoolName> {
        guard settings.backend != .kubeproxy else { return [] }
        var needs: [PoolName: [ServiceKey]] = [:]
        for vip in document.vips {
            for entry in vip.services where entry.ports.contains(where: { PortPolicy.resolve(entry, $0).terminateTLS }) {
                needs[vip.pool, default: []].append(entry.key)
            }
        }
        var ok = Set<PoolName>()
        for (pool, services) in needs.sorted(by: { $0.key < $1.key }) {
            let base = "\(settings.certDirectory)/\(pool.rawValue)"
            let result = settings.backend == .nginx
                ? CertificateCheck.pair(certificate: base + ".pem", key: base + ".key")
                : CertificateCheck.bundle(at: base + ".pem")
            switch result {
            case .success:
                ok.insert(pool)
                metrics.certificateProblem(pool: pool, false)
                if certificateProblems.removeValue(forKey: pool) != nil {
                    logger.info("certificate usable again; TLS back on", metadata: ["pool": "\(pool)"])
                }
            case .failure(let problem):
                metrics.certificateProblem(pool: pool, true)
                let message = "certificate for pool \(pool) unusable, TLS termination off for this pool: \(problem)"
                if certificateProblems[pool] != message {
                    certificateProblems[pool] = message
                    logger.error("certificate problem", metadata: ["pool": "\(pool)", "problem": "\(problem)"])
                    for key in Set(services).sorted() { await event(key, "Warning", "CertificateInvalid", message) }
                }
            }
        }
        return ok
    }

    // MARK: proxies

    private func applyHAProxy(_ document: AssignmentDocument, _ endpoints: EndpointMap, _ config: UserConfig, _ tlsPools: Set<PoolName>) {
        // A sync suspended at an await may resume after shutdown began: never restart daemons then.
        guard !stopping else { return }
        guard let haproxy else { return }
        var options = HAProxyRenderer.Options()
        options.statsSocket = haproxy.paths.statsSocket
        options.hardStopAfterSeconds = settings.drainSeconds
        options.healthPort = settings.haproxyHealthPort
        options.certDirectory = settings.certDirectory
        options.poolsWithCertificates = tlsPools
        let rendered = HAProxyRenderer(options: options).renderWithServers(document, endpoints: endpoints, config: config)
        if let last = lastHAProxy, haproxy.masterPID != nil {
            if last.text == rendered.text && pendingDeletes.isEmpty { return }
            if last.skeletonDigest == rendered.skeletonDigest, let commands = runtimeCommands(from: last, to: rendered) {
                do {
                    let deferred = try haproxy.updateServers(rendered.text, commands: commands)
                    pendingDeletes = Set(deferred)
                    lastHAProxy = rendered
                    metrics.runtimeCommands(commands.count)
                    metrics.proxyApply("runtime")
                    logger.debug("servers changed through the Runtime API", metadata: ["commands": "\(commands.count)"])
                    return
                } catch {
                    logger.warning("Runtime API update failed; reloading instead", metadata: ["error": "\(error)"])
                }
            }
        }
        do {
            let outcome = try haproxy.apply(rendered.text)
            lastHAProxy = rendered
            pendingDeletes = []
            isReady = true
            switch outcome {
            case .unchanged: break
            case .started: metrics.proxyApply("start"); logger.info("haproxy started")
            case .reloaded: metrics.proxyApply("reload"); logger.info("haproxy reloaded")
            }
        } catch {
            metrics.proxyApply("failed")
            logger.error("haproxy config not applied; the running one keeps serving", metadata: ["error": "\(error)"])
        }
    }

    /// Runtime API commands turning `old`'s servers into `new`'s; nil when a server changed in
    /// place or a backend came or went (that needs a reload).
    private func runtimeCommands(from old: HAProxyRenderer.Rendered, to new: HAProxyRenderer.Rendered) -> [HAProxyProcess.RuntimeCommand]? {
        guard Set(old.servers.keys) == Set(new.servers.keys) else { return nil }
        var commands: [HAProxyProcess.RuntimeCommand] = []
        for (backend, servers) in new.servers.sorted(by: { $0.key < $1.key }) {
            let before = Dictionary(old.servers[backend]!.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let after = Dictionary(servers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for (name, s) in after.sorted(by: { $0.key < $1.key }) {
                if let b = before[name] {
                    if b != s { return nil }
                } else if pendingDeletes.remove("\(backend)/\(name)") != nil {
                    // Still there in maintenance (its delete was refused): back into service.
                    commands += HAProxyProcess.RuntimeCommand.ready(backend: backend, name: name)
                } else {
                    commands += HAProxyProcess.RuntimeCommand.add(backend: backend, name: name, address: s.address, options: s.options)
                }
            }
            for name in before.keys.sorted() where after[name] == nil {
                commands += HAProxyProcess.RuntimeCommand.remove(backend: backend, name: name)
            }
        }
        for server in pendingDeletes.sorted() {
            let parts = server.split(separator: "/", maxSplits: 1).map(String.init)
            if parts.count == 2 { commands += HAProxyProcess.RuntimeCommand.remove(backend: parts[0], name: parts[1]) }
        }
        return commands
    }

    private func applyNginx(_ document: AssignmentDocument, _ endpoints: EndpointMap, _ config: UserConfig, _ tlsPools: Set<PoolName>) {
        guard !stopping else { return }
        guard let nginx else { return }
        var options = NginxRenderer.Options()
        options.runDirectory = settings.runDirectory
        options.shutdownTimeoutSeconds = settings.drainSeconds
        options.healthPort = settings.nginxHealthPort
        options.certDirectory = settings.certDirectory
        options.poolsWithCertificates = tlsPools
        let text = NginxRenderer(options: options).render(document, endpoints: endpoints, config: config)
        do {
            if try nginx.apply(text) { metrics.proxyApply("reload"); logger.info("nginx config applied") }
            isReady = true
        } catch {
            metrics.proxyApply("failed")
            logger.error("nginx config not applied; the running one keeps serving", metadata: ["error": "\(error)"])
        }
    }

    // MARK: VRRP and VIPs

    /// `peers`: the LB nodes' addresses for unicast VRRP (empty: multicast).
    private func applyKeepalived(_ document: AssignmentDocument, _ config: UserConfig, peers: [String: IPAddress]) {
        guard !stopping else { return }
        var options = KeepalivedRenderer.Options(node: settings.nodeName, interfaces: interfaces)
        options.healthFile = healthProbe == nil ? nil : try? SafePath(parsing: settings.healthFile)
        options.unicastPeers = peers
        options.unicastSource = peers[settings.nodeName]
        let (text, skipped) = KeepalivedRenderer(options: options).render(document, config: config)
        for s in skipped { logger.error("VRRP group not rendered", metadata: ["group": "\(s)"]) }
        do {
            try keepalived.apply(text)
            metrics.keepalivedApply("ok")
        } catch {
            metrics.keepalivedApply("failed")
            logger.error("keepalived config not applied; the running one keeps serving", metadata: ["error": "\(error)"])
        }
    }

    /// VIPs of pools without VRRP (`"ha": false`) are bound here directly; VIPs no longer wanted
    /// are removed.
    /// The LB nodes' InternalIPs (unicast VRRP peers).
    private func peerAddresses() async -> [String: IPAddress] {
        var peers: [String: IPAddress] = [:]
        for node in await nodeInformer.list() {
            guard let name = node.metadata.name,
                  let internalIP = node.status?.addresses?.first(where: { $0.type == "InternalIP" }),
                  let a = try? IPAddress(parsing: internalIP.address) else { continue }
            peers[name] = a
        }
        return peers
    }

    private func bindUnmanaged(_ document: AssignmentDocument, _ config: UserConfig) async {
        guard !stopping else { return }
        var wanted: [IPAddress: String] = [:]
        for vip in document.vips {
            guard let pool = config.pool(named: vip.pool), !pool.highAvailability, let iface = interfaces[vip.pool] else { continue }
            // Without VRRP exactly one node may hold it: the group's preferred node.
            guard document.groups.first(where: { $0.family == vip.family && $0.vrid == vip.vrid })?.node == settings.nodeName else { continue }
            wanted[vip.address] = iface.rawValue
        }
        for (address, iface) in bound where wanted[address] != iface {
            do {
                try await netlink.run { try $0.remove(address, interface: iface) }
                bound[address] = nil
            } catch { logger.error("cannot remove VIP", metadata: ["vip": "\(address)", "error": "\(error)"]) }
        }
        for (address, iface) in wanted where bound[address] != iface {
            do {
                try await netlink.run { try $0.add(address, interface: iface) }
                bound[address] = iface
                logger.info("VIP bound (no VRRP for this pool)", metadata: ["vip": "\(address)", "interface": "\(iface)"])
            } catch { logger.error("cannot bind VIP", metadata: ["vip": "\(address)", "error": "\(error)"]) }
        }
    }

    /// Which VIPs are on this node now (netlink address events): metric per VIP, and an Event on
    /// the Services of a VIP that just arrived here.
    func addressesChanged() async {
        guard let document, !stopping else { return }
        guard let present = try? await netlink.run({ sock in try sock.addresses().map(\.address) }) else { return }
        let vips = Set(document.vips.map(\.address))
        let now = Set(present).intersection(vips)
        guard now != live else { return }
        let arrived = now.subtracting(live), left = live.subtracting(now)
        live = now
        for a in left { metrics.vipLive(a, false) }
        for a in now { metrics.vipLive(a, true) }
        metrics.vipsLive(now.count)
        for vip in document.vips where arrived.contains(vip.address) {
            logger.info("VIP active on this node", metadata: ["vip": "\(vip.address)"])
            for entry in vip.services {
                await event(entry.key, "Normal", "VIPActive", "VIP \(vip.address) is now served by node \(settings.nodeName)")
            }
        }
        for a in left { logger.info("VIP left this node", metadata: ["vip": "\(a)"]) }
    }

    /// Removes /32 and /128 addresses inside `networks` (start-up: a previous run may have left
    /// them; keepalived died: its VIPs must go before a backup takes them over).
    nonisolated static func removeStaleVIPs(_ netlink: NetlinkWorker, networks: [IPRange], logger: Logger) {
        guard !networks.isEmpty else { return }
        do {
            let removed: [String] = try netlink.runBlocking { sock in
                var out: [String] = []
                for a in try sock.addresses() where a.prefixLength == a.address.family.bitWidth
                    && networks.contains(where: { $0.contains(a.address) }) {
                    try sock.remove(a.address, interface: a.interface)
                    out.append("\(a.address)")
                }
                return out
            }
            if !removed.isEmpty { logger.warning("removed VIPs left without VRRP", metadata: ["vips": "\(removed)"]) }
        } catch {
            logger.error("cannot clean up VIPs", metadata: ["error": "\(error)"])
        }
    }

    // MARK: shutdown

    /// SIGTERM: release the VIPs first (keepalived's graceful stop sends priority 0 so a backup
    /// takes over at once; VIPs bound here are removed), then let the proxy drain its connections.
    func shutdown() async {
        stopping = true
        keepalived.stop()
        healthProbe?.stop()
        for (address, iface) in bound { try? await netlink.run { try $0.remove(address, interface: iface) } }
        bound = [:]
        haproxy?.drain()
        nginx?.stop(drain: .seconds(settings.drainSeconds + 5))
    }

    // MARK: events

    private func event(_ key: ServiceKey, _ type: String, _ reason: String, _ message: String) async {
        let uid = try? await client.get(Service.self, namespace: key.namespace, name: key.name).metadata.uid
        let ref = ObjectReference(apiVersion: "v1", kind: "Service", namespace: key.namespace, name: key.name, uid: uid)
        do { _ = try await client.create(Event.about(ref, type: type, reason: reason, message: message, component: settings.component)) } catch {
            logger.warning("cannot record event", metadata: ["reason": "\(reason)", "error": "\(error)"])
        }
    }
}

/// A value shared with callbacks that run outside the actor.
final class SharedNetworks: Sendable {
    private let storage = Mutex<[IPRange]>([])
    var value: [IPRange] {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
