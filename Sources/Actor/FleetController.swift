import Core
import DataPlane
import Foundation
import KubeClient
import Logging
import Observability

/// One fleet LB machine serving several clusters (`k8slb-actor run --fleet FILE`,
/// docs/fleet.md). Each cluster is read by an `ActorController` of its own (its client, its
/// informers, its Events and node records in that cluster); none of them syncs alone. Any input
/// change asks the fleet for a sync, which gathers every cluster's inputs, decides what of each is
/// served (`FleetPlan`, Core), plans the node once and applies once to this machine's
/// keepalived, proxy and FRR. Each cluster then hears about its own part: its VRRP groups, its
/// Services not routed, and every refusal as an Event in that cluster.
///
/// A cluster whose API server is unreachable keeps its last known inputs (its informers' caches)
/// and so keeps being served; a log line and `k8slb_fleet_cluster_reachable` say since when.
actor FleetController {
    struct Member: Sendable {
        let cluster: FleetFile.Cluster
        let controller: ActorController
    }

    nonisolated let members: [Member]
    nonisolated let fleet: FleetFile
    nonisolated let dataPlane: any NodeDataPlane
    nonisolated let logger: Logger
    nonisolated let metrics: ActorMetrics
    nonisolated let coalesce: Duration
    /// `/readyz?verbose` lists the clusters (`checks`).
    nonisolated let readiness: Readiness?
    /// Each cluster's last verdict, for that view.
    private var verdicts: [ClusterName: FleetPlan.Verdict] = [:]

    private var claims = FleetPlan.Claims()
    private var admitted: [ClusterName: FleetPlan.Member] = [:]
    /// Refusals last reported per cluster (each is reported when it appears).
    private var reported: [ClusterName: Set<FleetPlan.Refusal>] = [:]
    private var unreachable: [ClusterName: ContinuousClock.Instant] = [:]

    private let syncRequests: AsyncStream<Void>
    private let syncContinuation: AsyncStream<Void>.Continuation

    init(
        members: [Member], fleet: FleetFile, dataPlane: any NodeDataPlane, logger: Logger, metrics: ActorMetrics,
        readiness: Readiness? = nil, coalesce: Duration = .milliseconds(10)
    ) {
        self.readiness = readiness
        self.members = members
        self.fleet = fleet
        self.dataPlane = dataPlane
        self.logger = logger
        self.metrics = metrics
        self.coalesce = coalesce
        (syncRequests, syncContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs every cluster's controller and the fleet's sync loop until `stop()`.
    func run() async {
        let sync = syncContinuation
        for m in members { await m.controller.joinFleet { sync.yield() } }
        await withDiscardingTaskGroup { group in
            for m in members { group.addTask { await m.controller.run() } }
            group.addTask { await self.reachabilityLoop() }
            for await _ in syncRequests {
                try? await Task.sleep(for: coalesce)
                if Task.isCancelled { break }
                await self.sync()
            }
            group.cancelAll()
        }
    }

    nonisolated func stop() {
        syncContinuation.finish()
        for m in members { m.controller.stop() }
    }

    /// The controller that applies the node plan (its node-level state: eligibility, drains).
    nonisolated var primary: ActorController { members[0].controller }

    /// Gathers every cluster, plans the fleet and the node, applies once, reports per cluster.
    func sync() async {
        let started = ContinuousClock.now
        var gathered: [(member: Member, inputs: ActorController.SyncInputs)] = []
        for m in members {
            if let inputs = await m.controller.gather() { gathered.append((m, inputs)) }
        }
        guard !gathered.isEmpty else { return }
        let collected = ContinuousClock.now
        let fleetMembers = gathered.map {
            FleetPlan.Member(cluster: $0.member.cluster.name, limits: $0.member.cluster.limits, inputs: $0.inputs.plan)
        }
        let plan = FleetPlan.make(
            members: fleetMembers, settings: fleet.settings, previous: claims, lastAdmitted: admitted)
        claims = plan.claims
        admitted.merge(plan.admitted) { $1 }
        verdicts.merge(plan.verdicts) { $1 }
        updateChecks()
        for (cluster, verdict) in plan.verdicts.sorted(by: { $0.key < $1.key }) {
            metrics.fleetCluster(
                cluster, vips: verdict.vips.count, refusals: verdict.refusals.count,
                configRefused: verdict.refusedWhole || verdict.servingLastAdmitted)
        }
        guard let merged = plan.merged else {
            reportRefusals(plan, gathered.map(\.member), documents: [:])
            return
        }
        var secrets = ActorController.SecretCertificates()
        for g in gathered { secrets.bundles.merge(g.inputs.secrets.bundles) { a, _ in a } }
        // The fleet's plan counts as planning in the trace: gathered = when the clusters were.
        let (node, applied) = await primary.planAndApply(
            merged, secrets: secrets, started: started, gathered: collected)
        var documents: [ClusterName: AssignmentDocument] = [:]
        for (g, member) in zip(gathered, fleetMembers) {
            let cluster = g.member.cluster.name
            documents[cluster] = g.inputs.plan.document
            await g.member.controller.setFleetVIPs(plan.verdicts[cluster]?.vips ?? [])
            await g.member.controller.report(
                plan.share(of: node, for: member), applied, document: g.inputs.plan.document)
            await g.member.controller.scheduleFollowUps(applied)
        }
        reportRefusals(plan, gathered.map(\.member), documents: documents)
    }

    /// Each cluster's new refusals: a log line, and an Event in that cluster (on the config
    /// ConfigMap for whole-config refusals, else on each Service of the VIP).
    private func reportRefusals(
        _ plan: FleetPlan, _ members: [Member], documents: [ClusterName: AssignmentDocument]
    ) {
        for m in members {
            let cluster = m.cluster.name
            let now = Set(plan.verdicts[cluster]?.refusals ?? [])
            let new = now.subtracting(reported[cluster] ?? [])
            reported[cluster] = now
            for r in new.sorted(by: { $0.description < $1.description }) {
                logger.warning(
                    "fleet: refused for a cluster", metadata: ["lb.cluster": "\(cluster)", "reason": "\(r)"])
                guard let reason = EventReason(rawValue: r.reason) else { continue }
                if let vip = r.vip {
                    let keys = documents[cluster]?.vips.first { $0.address == vip }?.services.map(\.key) ?? []
                    for key in keys { m.controller.reporter.event(key, reason, r.description) }
                } else {
                    m.controller.reporter.configEvent(reason, r.description)
                }
            }
        }
    }

    /// One line per cluster for `/readyz?verbose`: `[+]` while it is reachable and served as it
    /// asks, `[-]` otherwise, with what is served and since when it is unreachable.
    private func updateChecks() {
        guard let readiness else { return }
        readiness.checks = members.map { m in
            let cluster = m.cluster.name
            let v = verdicts[cluster]
            var parts: [String] = []
            if let since = unreachable[cluster] {
                parts.append(
                    "unreachable for \((ContinuousClock.now - since).components.seconds) s, served from its last known state"
                )
            } else {
                parts.append("reachable")
            }
            if let v {
                parts.append("\(v.vips.count) VIPs served")
                if v.refusedWhole { parts.append("config refused, nothing admitted") }
                if v.servingLastAdmitted { parts.append("config refused, the last admitted one serves") }
                if !v.refusals.isEmpty { parts.append("\(v.refusals.count) refusals (Events in the cluster)") }
            } else {
                parts.append("not synced yet")
            }
            let ok = unreachable[cluster] == nil && v != nil && !(v!.refusedWhole || v!.servingLastAdmitted)
            return "\(ok ? "[+]" : "[-]")cluster \(cluster): " + parts.joined(separator: "; ")
        }
    }

    /// Logs when a cluster's API server stops answering and when it is back; the metric follows.
    private func reachabilityLoop() async {
        while !Task.isCancelled {
            var live = 0
            for m in members { live += await m.controller.live.count }
            metrics.vipsLive(live)
            for m in members {
                let cluster = m.cluster.name
                let since = await m.controller.failingSince()
                if let since, unreachable[cluster] == nil {
                    unreachable[cluster] = since
                    logger.error(
                        "fleet: cluster unreachable; its VIPs keep serving with the last known endpoints",
                        metadata: ["lb.cluster": "\(cluster)"])
                } else if since == nil, let was = unreachable.removeValue(forKey: cluster) {
                    logger.info(
                        "fleet: cluster reachable again",
                        metadata: ["lb.cluster": "\(cluster)", "unreachable_for": "\(ContinuousClock.now - was)"])
                }
                metrics.fleetReachable(cluster, since: since.map { ContinuousClock.now - $0 })
            }
            updateChecks()
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

extension ActorController {
    /// The VIPs the fleet serves for this cluster (the live view follows at once).
    func setFleetVIPs(_ vips: Set<IPAddress>) {
        guard fleetVIPs != vips else { return }
        fleetVIPs = vips
        liveContinuation.yield()
    }

    /// Since when this cluster's API server has failed every list and watch (nil: it answers).
    func failingSince() async -> ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for since in [await configMaps.failingSince, await slices.failingSince, await allNodes.failingSince] {
            // All of them failing is the server; one of them failing is a refusal (RBAC) or a blip.
            guard let since else { return nil }
            earliest = min(earliest ?? since, since)
        }
        return earliest
    }
}
