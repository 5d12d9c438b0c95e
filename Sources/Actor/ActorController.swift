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
/// A sync (+Sync) reads the inputs, plans, applies the plan to the data plane and only then hands
/// its reports to the `Reporter`, which writes them to the API on its own: a slow API server never
/// delays the data plane. Files: +Sync, +Inputs (config, assignments, slices, nodes),
/// +Certificates, +Secrets, +Live (which VIPs are here, VIPActive Events), +Events, +Removal.
actor ActorController {
    nonisolated let client: KubeClient
    nonisolated let settings: ActorSettings
    nonisolated let logger: Logger
    nonisolated let metrics: ActorMetrics
    nonisolated let dataPlane: any NodeDataPlane
    nonisolated let readiness: Readiness?
    /// Writes Events and the published VRRP groups off the sync path.
    nonisolated let reporter: Reporter

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
    /// The published index the document was read from: the index holds every shard's digest, so
    /// the same index is the same document (not decoded again: 120 ms at 10,000 Services).
    var lastDocumentIndex: String?
    /// Each EndpointSlice parsed, by namespace/name, with the resourceVersion it was parsed at
    /// (a sync parses only the slices that changed).
    var sliceCache: [String: (version: String, key: ServiceKey, input: EndpointSliceInput?)] = [:]
    /// The last maxconn / file-descriptor situation reported (reportDescriptors).
    var lastDescriptorReport: Int?
    /// Other nodes' live VIPs as last parsed from their records, with the text parsed.
    var liveRecordCache: [String: (text: String, vips: Set<IPAddress>)] = [:]
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
    /// The `k8slb_vip_master` series recorded (one per published VIP).
    var vipSeries: [IPAddress: (announce: String, live: Bool)] = [:]
    var eligible: Bool?
    /// Syncs in a row whose proxy or keepalived apply failed (the retry backoff).
    var failedApplies = 0
    var cleanedUp = false
    /// Instances kept after their group left the assignments, until the other nodes dropped theirs.
    var lingering = LingeringGroups()
    /// New groups held back here (another node is their preferred node).
    var deferred = DeferredGroups()
    /// Groups this node stepped down for in a split brain (+SplitBrain).
    var splitBrain = SplitBrain()
    /// The forwarding rules in place (connections of a draining node; +Handover).
    var handoverForwards: [Handover.Forward] = []
    /// Clears this node's handed-over VIPs at the end of the drain.
    var drainEnd: Task<Void, Never>?
    /// Each node record's last resourceVersion, and when this node saw it change.
    var recordsSeen: [String: (resourceVersion: String, at: Double)] = [:]
    /// Events of the sync (or address change) in progress, handed to the reporter once the data
    /// plane is applied.
    var reports: [Reporter.EventReport] = []
    let epoch = ContinuousClock.now
    /// On a fleet machine: asks the fleet for a sync instead of syncing alone (`joinFleet`).
    var fleetSync: (@Sendable () -> Void)?
    /// On a fleet machine: the VIPs the fleet serves for this cluster (`FleetPlan.Verdict`).
    /// Only these are this cluster's on the node: a VIP refused to it (another cluster's) never
    /// shows as live in its records, metrics or Events.
    var fleetVIPs: Set<IPAddress>?
    /// True once a proxy config (or, for kubeproxy, the keepalived config) has been applied.
    private(set) var isReady = false

    let syncRequests: AsyncStream<Void>
    let syncContinuation: AsyncStream<Void>.Continuation
    let liveRequests: AsyncStream<Void>
    let liveContinuation: AsyncStream<Void>.Continuation
    let splitRequests: AsyncStream<Void>
    let splitContinuation: AsyncStream<Void>.Continuation
    /// When the earliest delayed re-sync waiting is due (deferred Runtime API deletes, lingering
    /// groups, a failed apply's backoff).
    private var retryDue: ContinuousClock.Instant?

    init(
        client: KubeClient, settings: ActorSettings, logger: Logger, metrics: ActorMetrics,
        dataPlane: any NodeDataPlane,
        readiness: Readiness? = nil
    ) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.dataPlane = dataPlane
        self.readiness = readiness
        reporter = Reporter(client: client, settings: settings, logger: logger, metrics: metrics)
        configMaps = Informer(client: client, namespace: settings.namespace)
        slices = Informer(client: client, labelSelector: "kubernetes.io/service-name")
        lbNodes = Informer(client: client, labelSelector: settings.nodeSelector.description)
        ownNode = Informer(client: client, fieldSelector: "metadata.name=\(settings.nodeName)")
        groupLeases = Informer(client: client, namespace: settings.namespace, labelSelector: NodeGroupsRecord.label)
        secrets = Informer(
            client: client, namespace: settings.tlsSecretScope == .system ? settings.namespace : nil,
            fieldSelector: "type=kubernetes.io/tls")
        allNodes = Informer(client: client)
        layout = AssignmentConfigMaps(base: settings.assignmentsName)
        (syncRequests, syncContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (liveRequests, liveContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (splitRequests, splitContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: running

    /// Runs until `stop()` (or cancellation); a sync in progress finishes first.
    func run() async {
        let sync = syncContinuation
        let live = liveContinuation
        let split = splitContinuation
        await dataPlane.monitorAddresses { live.yield() }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.configMaps.run { _ in sync.yield() } }
            group.addTask { await self.slices.run { _ in sync.yield() } }
            group.addTask { await self.lbNodes.run { _ in sync.yield() } }
            group.addTask { await self.ownNode.run { _ in sync.yield() } }
            group.addTask {
                await self.groupLeases.run { change in
                    switch change {
                    case .added(let l):
                        await self.recordObserved(l)
                        sync.yield()
                    case .updated(let old, let new):
                        await self.recordObserved(new)
                        // A renewal (the record unchanged) is news for split brain only.
                        if old.metadata.annotations != new.metadata.annotations { sync.yield() }
                    default:
                        sync.yield()
                    }
                    split.yield()
                }
            }
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
            group.addTask { await self.splitBrainLoop() }
            group.addTask { await self.splitBrainTicker() }
            group.addTask { await self.reporter.run() }
            // The proxy's health decides BGP announcements: a change is a sync.
            await self.dataPlane.onProxyHealthChange { sync.yield() }
            group.addTask { await self.bgpStatusLoop() }
            await self.syncLoop()
            live.finish()
            split.finish()
            self.reporter.stop()
            group.cancelAll()
        }
    }

    /// Ends the loops: no new sync starts; the one running completes.
    nonisolated func stop() {
        syncContinuation.finish()
        liveContinuation.finish()
        splitContinuation.finish()
    }

    /// Makes this controller one cluster of a fleet machine: its inputs changing asks `notify`
    /// for a sync (the fleet gathers every cluster, plans once and applies once).
    func joinFleet(_ notify: @escaping @Sendable () -> Void) { fleetSync = notify }

    private func syncLoop() async {
        for await _ in syncRequests {
            if let fleetSync {
                fleetSync()
                continue
            }
            try? await Task.sleep(for: settings.coalesce)
            if Task.isCancelled { break }
            settings.onSync?(.started)
            await sync()
            settings.onSync?(.finished)
        }
    }

    func markReady() {
        guard !isReady else { return }
        isReady = true
        readiness?.isReady = true
    }

    func record(_ outcome: ProxyOutcome) {
        switch outcome {
        case .unchanged, .none: break
        case .started:
            metrics.proxyApply("start")
            logger.info("proxy started")
        case .reloaded:
            metrics.proxyApply("reload")
            logger.info("proxy reloaded")
        case .runtime(let n, _):
            metrics.runtimeCommands(n)
            metrics.proxyApply("runtime")
            logger.debug("servers changed through the Runtime API", metadata: ["commands": "\(n)"])
        case .failed(let error):
            metrics.proxyApply("failed")
            metrics.daemonError(error.code)
            logger.error(
                "proxy config not applied; the running one keeps serving",
                metadata: ["error": "\(error)", "code": "\(error.code.rawValue)"])
        }
    }

    /// One more sync after `delay`, unless one is already due by then: a long backoff never holds
    /// back a sooner follow-up.
    func retry(after delay: Duration) {
        let due = ContinuousClock.now + delay
        if let waiting = retryDue, waiting <= due { return }
        retryDue = due
        let sync = syncContinuation
        Task {
            try? await Task.sleep(until: due)
            self.retryFired(due)
            sync.yield()
        }
    }

    private func retryFired(_ due: ContinuousClock.Instant) { if retryDue == due { retryDue = nil } }

    /// The config with the actor's overrides.
    var effectiveConfig: UserConfig? {
        guard var c = config else { return nil }
        if let advert = settings.advertIntervalCentiseconds { c.vrrp.advertIntervalCentiseconds = advert }
        return c
    }
}
