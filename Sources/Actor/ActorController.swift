import Core
import DataPlane
import Foundation
import KubeClient
import Logging
import Observability

/// The actor's control loop on one LB node: reads the published assignments, the config, the
/// Services' EndpointSlices and its own Node, computes what the node should run (`NodePlan`, pure)
/// and has the data plane apply it; reports what happened (Events, metrics).
///
/// One consumer: every input change only marks the node dirty (a newest-1 stream), and a single
/// loop syncs — so at most one sync runs, a change arriving mid-sync causes exactly one more, and
/// every sync reads the newest inputs. Changes within `settings.coalesce` are applied together.
/// Files: +Inputs (config, assignments, slices, nodes), +Certificates, +Live (which VIPs are here,
/// VIPActive Events), +Events.
actor ActorController {
    nonisolated let client: KubeClient
    nonisolated let settings: ActorSettings
    nonisolated let logger: Logger
    nonisolated let metrics: ActorMetrics
    nonisolated let dataPlane: any NodeDataPlane
    nonisolated let readiness: Readiness?

    let configMaps: Informer<ConfigMap>
    let slices: Informer<EndpointSlice>
    /// LB nodes (unicast VRRP peers).
    let lbNodes: Informer<Node>
    /// This node only (its labels decide eligibility).
    let ownNode: Informer<Node>
    /// The LB nodes' published VRRP groups (ordered removal, +Removal).
    let groupLeases: Informer<Lease>
    /// `kubernetes.io/tls` Secrets (`loadbalancer/tls-secret`; +Secrets).
    let secrets: Informer<Secret>
    /// Every Node (pools with `"backends": "nodeports"`).
    let allNodes: Informer<Node>
    let layout: AssignmentConfigMaps

    var config: UserConfig?
    var lastConfigText: String?
    var document: AssignmentDocument?
    var interfaces: [PoolName: InterfaceName] = [:]
    /// Last certificate problem reported per pool (reported once per change).
    var certificateProblems: [PoolName: String] = [:]
    /// Last TLS Secret problem reported per Service.
    var secretProblems: [ServiceKey: String] = [:]
    /// BGP VIPs announced from this node (bound on lo), as last reported.
    var announcedBefore: Set<IPAddress> = []
    /// Last "not routed" reason reported per Service (shared VIP:port by host name).
    var unroutedReported: [ServiceKey: String] = [:]
    var live: Set<IPAddress> = []
    var eligible: Bool?
    var cleanedUp = false
    /// Instances kept after their group left the assignments, until the other nodes dropped theirs.
    var lingering = LingeringGroups()
    /// New groups held back here (another node is their preferred node).
    var deferred = DeferredGroups()
    /// The groups last published in this node's record (nil: not yet).
    var publishedGroups: Set<VRRPGroupID>?
    let epoch = ContinuousClock.now
    /// True once a proxy config (or, for kubeproxy, the keepalived config) has been applied.
    private(set) var isReady = false

    let syncRequests: AsyncStream<Void>
    let syncContinuation: AsyncStream<Void>.Continuation
    let liveRequests: AsyncStream<Void>
    let liveContinuation: AsyncStream<Void>.Continuation
    /// A delayed re-sync already waiting (deferred Runtime API deletes).
    private var retryScheduled = false

    init(client: KubeClient, settings: ActorSettings, logger: Logger, metrics: ActorMetrics, dataPlane: any NodeDataPlane,
         readiness: Readiness? = nil) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.dataPlane = dataPlane
        self.readiness = readiness
        configMaps = Informer(client: client, namespace: settings.namespace)
        slices = Informer(client: client, labelSelector: "kubernetes.io/service-name")
        lbNodes = Informer(client: client, labelSelector: settings.nodeSelector.description)
        ownNode = Informer(client: client, fieldSelector: "metadata.name=\(settings.nodeName)")
        groupLeases = Informer(client: client, namespace: settings.namespace, labelSelector: NodeGroupsRecord.label)
        secrets = Informer(client: client, namespace: settings.tlsSecretScope == .system ? settings.namespace : nil,
                           fieldSelector: "type=kubernetes.io/tls")
        allNodes = Informer(client: client)
        layout = AssignmentConfigMaps(base: settings.assignmentsName)
        (syncRequests, syncContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (liveRequests, liveContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: running

    /// Runs until `stop()` (or cancellation); a sync in progress finishes first.
    func run() async {
        let sync = syncContinuation, live = liveContinuation
        await dataPlane.monitorAddresses { live.yield() }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.configMaps.run { _ in sync.yield() } }
            group.addTask { await self.slices.run { _ in sync.yield() } }
            group.addTask { await self.lbNodes.run { _ in sync.yield() } }
            group.addTask { await self.ownNode.run { _ in sync.yield() } }
            group.addTask { await self.groupLeases.run { _ in sync.yield() } }
            if settings.backend != .kubeproxy { group.addTask { await self.secrets.run { _ in sync.yield() } } }
            group.addTask { await self.allNodes.run { _ in sync.yield() } }
            // Certificates are files, not API objects: look again now and then (and a resync
            // re-applies anything a daemon restart may have lost; unchanged output costs nothing).
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.settings.resync)
                    sync.yield()
                }
            }
            group.addTask { await self.liveLoop() }
            // The proxy's health decides BGP announcements: a change is a sync.
            await self.dataPlane.onProxyHealthChange { sync.yield() }
            group.addTask { await self.bgpStatusLoop() }
            await self.syncLoop()
            live.finish()
            group.cancelAll()
        }
    }

    /// Ends the loops: no new sync starts; the one running completes.
    nonisolated func stop() {
        syncContinuation.finish()
        liveContinuation.finish()
    }

    private func syncLoop() async {
        for await _ in syncRequests {
            try? await Task.sleep(for: settings.coalesce)
            if Task.isCancelled { break }
            settings.onSync?(.started)
            await sync()
            settings.onSync?(.finished)
        }
    }

    /// Recomputes the desired state from the newest inputs and applies what differs.
    func sync() async {
        guard await configMaps.hasSynced, await slices.hasSynced, await lbNodes.hasSynced, await ownNode.hasSynced,
              await groupLeases.hasSynced, await allNodes.hasSynced else { return }
        if settings.backend != .kubeproxy, !(await secrets.hasSynced) { return }
        await loadConfig()
        let before = document
        await loadDocument()
        guard let config = effectiveConfig, let document else { return }
        if before != document { logger.debug("trace: assignments read", metadata: ["vips": "\(document.vips.count)"]) }
        await updateLingering(previous: before, current: document)
        deferred.update(previous: before, current: document, node: settings.nodeName, now: monotonicSeconds, delay: 1)
        // keepalived's VIPs are removed the moment it dies; BGP VIPs on lo are this actor's own.
        await dataPlane.setPoolNetworks(config.pools.filter { $0.announce == .vrrp }.map(\.network))
        if !cleanedUp {
            // Start-up: VIPs left by an earlier run (a SIGKILLed keepalived, a BGP VIP of a
            // Service deleted meanwhile) must not linger.
            await dataPlane.removeStaleVIPs(in: config.pools.map(\.network))
            cleanedUp = true
        }
        await detectInterfaces(config, document)
        let nodePortPools = Set(config.pools.filter { $0.backends == .nodeports }.map(\.name))
        let endpoints = EndpointMap.resolve(document, slices: await sliceInputs(for: document),
                                            nodes: nodePortPools.isEmpty ? [] : await backendNodes(), nodePortPools: nodePortPools)
        let tlsPools = await checkCertificates(config, document)
        let secretCerts = await secretCertificates(document)
        let nowEligible = await nodeEligible()
        metrics.vipsServed(document.vips.count)

        var inputs = NodePlan.Inputs(node: settings.nodeName, eligible: nowEligible, backend: settings.backend, document: document,
                                     config: config, endpoints: endpoints, tlsPools: tlsPools, interfaces: interfaces)
        inputs.haproxy.statsSocket = settings.runDirectory + "/haproxy.sock"
        inputs.haproxy.hardStopAfterSeconds = settings.drainSeconds
        inputs.haproxy.healthPort = settings.haproxyHealthPort
        inputs.haproxy.certDirectory = settings.certDirectory
        inputs.nginx.runDirectory = settings.runDirectory
        inputs.nginx.shutdownTimeoutSeconds = settings.drainSeconds
        inputs.nginx.healthPort = settings.nginxHealthPort
        inputs.nginx.certDirectory = settings.certDirectory
        inputs.trackFile = try? SafePath(parsing: settings.trackFile)
        if settings.unicast { inputs.unicastPeers = await peerAddresses() }
        inputs.lingering = lingering.instances
        inputs.deferred = deferred.ids
        inputs.serviceCertificates = secretCerts.byService
        inputs.certificateDigest = secretCerts.digest
        inputs.localTrackDirectory = try? SafePath(parsing: settings.runDirectory)
        inputs.labels = await ownNode.get(settings.nodeName)?.metadata.labels ?? [:]
        inputs.proxyHealthy = await dataPlane.proxyHealthy()
        let plan = NodePlan.make(inputs)
        for s in plan.skipped { logger.error("VRRP group not rendered", metadata: ["group": "\(s)"]) }
        await reportUnrouted(plan.unrouted)
        // Secret bundles on disk before the proxy reads them; the local track files before
        // keepalived reads them.
        let changedBundles = await dataPlane.installCertificates(secretCerts.bundles)
        await dataPlane.setLocalTracks(plan.localGroups)

        // An ineligible node hands its VIPs over first (FAULT), before anything else changes.
        if eligible != plan.holdsVIPs {
            if !plan.holdsVIPs { logger.warning("node is not an eligible LB node (selector or exclude label): handing its VIPs over") }
            else if eligible != nil { logger.info("node is an eligible LB node again") }
            eligible = plan.holdsVIPs
        }
        await dataPlane.setEligible(plan.holdsVIPs)

        // The proxy and keepalived apply at the same time: a new VIP's frontend and its address
        // come up together (a reload takes 50-200 ms; waiting for it before keepalived would add
        // that to every new VIP). Existing VIPs are unaffected either way.
        let dataPlane = self.dataPlane
        async let proxyApplied = dataPlane.applyProxy(plan.proxy)
        let keepalivedResult: Result<Void, DaemonError>
        do throws(DaemonError) {
            try await dataPlane.applyKeepalived(plan.keepalived)
            keepalivedResult = .success(())
        } catch {
            keepalivedResult = .failure(error)
        }
        let outcome = await proxyApplied
        switch keepalivedResult {
        case .success:
            metrics.keepalivedApply("ok")
            logger.debug("trace: keepalived applied")
            await publishGroups(plan.vrrpGroups)
        case .failure(let error):
            metrics.keepalivedApply("failed")
            logger.error("keepalived config not applied; the running one keeps serving", metadata: ["error": "\(error)"])
        }
        record(outcome)
        if outcome != .unchanged && outcome != .none { logger.debug("trace: proxy applied", metadata: ["outcome": "\(outcome)"]) }
        // A renewed Secret whose file the running proxy already loaded: replace it in place
        // (HAProxy's Runtime API; a reload or start has just read the new files anyway).
        if !changedBundles.isEmpty, outcome == .unchanged || outcome.isRuntime {
            let (updated, failures) = await dataPlane.refreshCertificates(changedBundles, bundles: secretCerts.bundles)
            if updated > 0 {
                metrics.certificatesUpdated(updated)
                logger.info("certificates replaced in the running proxy (no reload)", metadata: ["count": "\(updated)"])
            }
            for f in failures { logger.error("certificate not replaced at runtime", metadata: ["error": "\(f)"]) }
        }
        if outcome.applied || settings.backend == .kubeproxy { markReady() }
        // keepalived reads the proxy's verdict from the track file: refresh it after a (re)start.
        if outcome == .started { await dataPlane.probeProxy() }
        // BGP: FRR's config (peers, pools), then the VIPs on lo — their addresses are the
        // announcements.
        do throws(DaemonError) {
            try await dataPlane.applyFRR(plan.frr)
        } catch {
            metrics.daemonError(error.code)
            logger.error("FRR config not applied; the running one keeps serving", metadata: ["error": "\(error)", "code": "\(error.code.rawValue)"])
        }
        let failures = await dataPlane.bind(plan.bindings)
        for failure in failures { logger.error("VIP binding failed", metadata: ["error": "\(failure)"]) }
        await reportAnnouncements(plan.announced, document: document)
        liveContinuation.yield()
        for (daemon, n) in await dataPlane.restarts() { metrics.daemonRestarts(daemon, n) }
        if case .runtime(_, let deferred) = outcome, deferred > 0 { retry(after: .seconds(2)) }
        // Lingering instances end when the other nodes' records change (a sync) or at the timeout.
        if !lingering.entries.isEmpty { retry(after: .seconds(1)) }
        if let next = deferred.nextRelease { retry(after: .milliseconds(max(10, Int64((next - monotonicSeconds) * 1000) + 10))) }
    }

    private func markReady() {
        guard !isReady else { return }
        isReady = true
        readiness?.isReady = true
    }

    private func record(_ outcome: ProxyOutcome) {
        switch outcome {
        case .unchanged, .none: break
        case .started: metrics.proxyApply("start"); logger.info("proxy started")
        case .reloaded: metrics.proxyApply("reload"); logger.info("proxy reloaded")
        case .runtime(let n, _):
            metrics.runtimeCommands(n)
            metrics.proxyApply("runtime")
            logger.debug("servers changed through the Runtime API", metadata: ["commands": "\(n)"])
        case .failed(let error):
            metrics.proxyApply("failed")
            metrics.daemonError(error.code)
            logger.error("proxy config not applied; the running one keeps serving", metadata: ["error": "\(error)", "code": "\(error.code.rawValue)"])
        }
    }

    /// One more sync after `delay` (at most one waiting).
    private func retry(after delay: Duration) {
        guard !retryScheduled else { return }
        retryScheduled = true
        let sync = syncContinuation
        Task {
            try? await Task.sleep(for: delay)
            await self.clearRetry()
            sync.yield()
        }
    }

    private func clearRetry() { retryScheduled = false }

    /// The config with the actor's overrides.
    var effectiveConfig: UserConfig? {
        guard var c = config else { return nil }
        if let advert = settings.advertIntervalCentiseconds { c.vrrp.advertIntervalCentiseconds = advert }
        return c
    }
}
