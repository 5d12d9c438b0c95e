import Core
import Foundation
import KubeClient
import Logging
import Observability

/// What the reconcile worker processes: one Service, the config, or the LB node list.
enum WatcherKey: Hashable, Sendable, CustomStringConvertible {
    case service(ServiceKey)
    case config
    case nodes
    /// A freed address's quarantine is over.
    case quarantineOver(IPAddress)
    /// Gateway API: every Gateway and route (one plan for all).
    case gateways
    /// The `k8slb.io/Serving` conditions, from the LB nodes' records of their live VIPs.
    case serving

    var description: String {
        switch self {
        case .service(let k): "service/\(k)"
        case .config: "config"
        case .nodes: "nodes"
        case .quarantineOver(let a): "quarantine/\(a)"
        case .gateways: "gateways"
        case .serving: "serving"
        }
    }
}

/// The watcher's control loop, run while this replica leads: keeps every LoadBalancer Service's
/// IP, status, Events and the published assignments in line with the config and the cluster.
///
/// Two consumers, each one loop: the reconcile worker takes keys from the work queue (informer
/// changes only enqueue keys; a key is never processed twice at once), and the publish loop
/// writes the assignments whenever something marked them dirty (a newest-1 stream: a change during
/// a publish yields exactly one more publish, never a second concurrent one, and every publish
/// encodes the state as it is when it starts).
///
/// On start it waits for the full lists, restores every existing assignment (Service status, then
/// the published document) before allocating anything new, and reconciles already-assigned
/// Services first, so a restart never changes an IP. Files: +StartUp, +Services, +Config,
/// +Publish, +Events.
actor WatcherController {
    nonisolated let client: KubeClient
    nonisolated let settings: WatcherSettings
    nonisolated let logger: Logger
    nonisolated let metrics: WatcherMetrics
    nonisolated let readiness: Readiness?

    let queue = WorkQueue<WatcherKey, ContinuousClock>()
    let services: Informer<ServiceSummary>
    let configMaps: Informer<ConfigMap>
    let nodeInformer: Informer<Node>
    /// The LB nodes' records (Leases): their VRRP groups, applied Gateways (Programmed) and live
    /// VIPs (`k8slb.io/Serving`). One informer for both uses.
    let nodeRecords: Informer<Lease>
    /// Services with a VIP no LB node holds, since when (`Serving=False` only after a grace
    /// period: a failover is not an outage to report).
    var notServingSince: [ServiceKey: ContinuousClock.Instant] = [:]
    /// Services with a VRRP VIP live on two nodes, since when (reported after a grace period).
    var onTwoNodesSince: [ServiceKey: ContinuousClock.Instant] = [:]
    /// Each node record's last resourceVersion and when it was seen to change (the actors renew
    /// theirs every 4 s: one not seen to change for 12 s belongs to a node gone or cut off).
    var recordsSeen: [String: (resourceVersion: String, at: ContinuousClock.Instant)] = [:]
    /// The nodes whose records `refreshServing` last counted.
    var freshRecords: Set<String> = []
    /// Gateway API kinds (nil without `--gateway-api`).
    let gatewayInformers: GatewayInformers?
    let layout: AssignmentConfigMaps
    /// The Gateways served (allocator keys), and the routes whose status k8slb wrote.
    var gatewayKeys = Set<ServiceKey>()
    var routeStatuses = Set<GatewayPlan.RouteID>()

    var config: UserConfig?
    var allocator = IPAllocator(pools: [])
    /// What each served Service publishes (ports, proxy settings).
    var entries: [ServiceKey: AssignmentDocument.ServiceEntry] = [:]
    /// Services waiting for space (pool exhausted, IP taken): retried when addresses are freed.
    var pending = Set<ServiceKey>()
    /// The problems reported per object and reason (each once, until it goes away).
    var reported = ReportedProblems()
    /// The reasons the reconcile in progress reported for its Service.
    var reconcileReasons = Set<EventReason>()
    /// Eligible LB nodes (selector, minus exclude-from-external-load-balancers), sorted.
    var nodes: [String] = []
    /// The VRRP groups last published: their VRIDs are kept (VRRPPlan).
    var groups: [VRRPPlan.Group] = []
    /// Digest of each shard as last written (from the index): what changed is a digest compare.
    var lastShards: [Int: String] = [:]
    var lastIndex: [UInt8]?
    /// How long the last publish took: the next one waits at least 4x that (publishing costs
    /// O(document) however small the change, so this keeps it under ~20% of the time).
    var lastPublishCost: Duration = .zero
    var lastConfigText: String?
    /// VRIDs of vanished groups, not reused until then.
    var vridQuarantine: [VRRPGroupID: ContinuousClock.Instant] = [:]
    /// True once the start-up restore is done and the first publish was attempted.
    private(set) var isReady = false

    let publishRequests: AsyncStream<Void>
    let publishContinuation: AsyncStream<Void>.Continuation
    /// Events to write (`eventLoop`), in the order they were recorded.
    let events: AsyncStream<Event>
    let eventsContinuation: AsyncStream<Event>.Continuation

    init(
        client: KubeClient, settings: WatcherSettings, logger: Logger, metrics: WatcherMetrics,
        readiness: Readiness? = nil
    ) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.readiness = readiness
        services = Informer(client: client)
        configMaps = Informer(
            client: client, namespace: settings.namespace, fieldSelector: "metadata.name=\(settings.configMapName)")
        // Every Node: the LB nodes are filtered from them, and no Node's address may be a VIP.
        nodeInformer = Informer(client: client)
        nodeRecords = Informer(client: client, namespace: settings.namespace, labelSelector: NodeGroupsRecord.label)
        layout = AssignmentConfigMaps(base: settings.assignmentsName)
        gatewayInformers = settings.gatewayAPI ? GatewayInformers(client: client) : nil
        (publishRequests, publishContinuation) = AsyncStream.makeStream(
            of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (events, eventsContinuation) = AsyncStream.makeStream(of: Event.self)
    }

    // MARK: running

    /// Runs until cancelled; returns only when the worker and the publish loop have stopped (so
    /// the elector releases the lease after the last write).
    func run() async {
        let queue = self.queue
        let publishContinuation = self.publishContinuation
        let eventsContinuation = self.eventsContinuation
        let gateways = gatewayInformers != nil
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.services.run { change in
                    switch change {
                    case .added(let s), .updated(_, let s), .deleted(let s):
                        await queue.add(.service(s.serviceKey))
                        // Gateway routes name Services (their ports) as backends.
                        if gateways { await queue.add(.gateways) }
                    case .synced: break
                    }
                }
            }
            group.addTask {
                await self.configMaps.run { change in
                    if case .synced = change {
                    } else {
                        await queue.add(.config)
                        if gateways { await queue.add(.gateways) }
                    }
                }
            }
            group.addTask {
                await self.nodeInformer.run { change in
                    if case .synced = change {
                    } else {
                        await queue.add(.nodes)
                        if gateways { await queue.add(.gateways) }
                    }
                }
            }
            group.addTask {
                await self.nodeRecords.run { change in
                    switch change {
                    case .added(let l), .updated(_, let l): await self.recordObserved(l)
                    default: break
                    }
                    // A renewal (the record unchanged) is no news here.
                    if case .updated(let old, let new) = change, old.metadata.annotations == new.metadata.annotations {
                        return
                    }
                    if case .synced = change {} else { await queue.add(.serving) }
                    if gateways { await queue.add(.gateways) }
                }
            }
            if let gateways = self.gatewayInformers {
                group.addTask { await gateways.run { await queue.add(.gateways) } }
            }
            group.addTask { await self.publishLoop() }
            group.addTask { await self.eventLoop() }
            group.addTask {
                // A record going stale changes who serves: look every 4 s.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(4))
                    if await self.freshRecordsChanged() { await queue.add(.serving) }
                }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await self.work()
                } onCancel: {
                    Task { await queue.shutDown() }
                    publishContinuation.finish()
                    eventsContinuation.finish()
                }
            }
        }
    }

    /// The reconcile worker: one key at a time.
    private func work() async {
        while !Task.isCancelled {
            if await services.hasSynced, await configMaps.hasSynced, await nodeInformer.hasSynced { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if Task.isCancelled { return }
        await startUp()
        while let key = await queue.next() {
            let started = ContinuousClock.now
            do {
                try await process(key)
                await queue.forget(key)
            } catch {
                await failed(key, error)
            }
            await queue.done(key)
            metrics.reconciled(ContinuousClock.now - started)
        }
    }

    /// A failed reconcile, by class: transient (network, 5xx, 429) and conflicts are retried with
    /// backoff; a permanent refusal (400, 403, 422: the same request would be refused again) is
    /// reported on the Service with the API's message and not retried until the Service or the
    /// config changes (their informers enqueue it again).
    private func failed(_ key: WatcherKey, _ error: any Error) async {
        let failure = FailureClass(error)
        metrics.reconcileFailed(failure)
        switch failure {
        case .transient, .conflict, .gone:
            logger.warning(
                "reconcile failed, will retry",
                metadata: ["k8s.key": "\(key)", "error": "\(error)", "failure": "\(failure.label)"])
            await queue.addRateLimited(key)
        case .permanent:
            await queue.forget(key)
            logger.error(
                "reconcile refused by the API server; not retried until the object or the config changes",
                metadata: ["k8s.key": "\(key)", "error": "\(error)"])
            if case .service(let k) = key, let svc = await services.get(k.description) {
                await report(
                    svc, .statusNotWritten,
                    "status not written, retried when the Service or the config changes: \(error)")
            }
        }
    }

    private func process(_ key: WatcherKey) async throws {
        switch key {
        case .config: await reloadConfig()
        case .nodes: await refreshNodes()
        case .service(let k): try await reconcile(k)
        case .quarantineOver(let a): endQuarantine(a)
        case .gateways: try await reconcileGateways()
        case .serving: await refreshServing()
        }
    }

    /// Marks the published document dirty; the publish loop writes it.
    func schedulePublish() { publishContinuation.yield() }

    /// The publish loop: waits for a request, lets a burst settle (at least `publishDelay`, and 4x
    /// the last publish's cost), then publishes the state as it is now.
    private func publishLoop() async {
        for await _ in publishRequests {
            try? await Task.sleep(for: max(settings.publishDelay, lastPublishCost * 4))
            if Task.isCancelled { break }
            let ok = await publish()
            if !isReady {
                isReady = true
                readiness?.isReady = true
            }
            if !ok {
                try? await Task.sleep(for: .milliseconds(500))
                schedulePublish()
            }
        }
    }
}

extension ServiceSummary {
    var serviceKey: ServiceKey { ServiceKey(namespace: metadata.namespace ?? "default", name: metadata.name ?? "") }
}
