import Core
import DataPlane
import Foundation
import Glibc
import KubeClient
import Logging

/// One sync, in four steps: read the newest inputs (`gather`), plan (`NodePlan.make`, pure),
/// apply the plan to the data plane (`apply`), then report (`report`: Events and the published
/// VRRP groups go to the reporter, which writes them on its own) and schedule what must follow.
/// Nothing before the data plane is applied waits on an API write.
extension ActorController {
    /// What one sync works from.
    struct SyncInputs {
        var plan: NodePlan.Inputs
        var secrets: SecretCertificates
    }

    /// What applying a plan did.
    struct Applied {
        var proxy: ProxyOutcome
        var keepalived: Result<Void, DaemonError>
        /// How long each took (they run at the same time).
        var proxyTime: Duration = .zero
        var keepalivedTime: Duration = .zero
    }

    /// The open-file limit HAProxy is sized to: the hard limit (HAProxy raises its own soft limit
    /// as far as that), capped like the soft limit `ActorMain` raises (`OpenFiles`).
    static let openFileLimit: Int? = OpenFiles.target

    /// Says when HAProxy's maxconn had to be lowered to fit the open-file limit, or
    /// when even that does not fit (its reloads then fail: new VIPs are not served).
    func reportDescriptors(_ proxy: NodePlan.Proxy, configured: Int) {
        guard case .haproxy(let rendered) = proxy, let limit = Self.openFileLimit else { return }
        // 0: as configured, 1: lowered, 2: does not fit; said when it changes, not for every size.
        let state = rendered.descriptorsNeeded > limit ? 2 : rendered.maxConnections < configured ? 1 : 0
        guard state != (lastDescriptorReport ?? 0) else { return }
        lastDescriptorReport = state
        if rendered.descriptorsNeeded > limit {
            logger.error(
                "HAProxy needs more file descriptors than the open-file limit allows: its reloads fail and new VIPs are not served; raise the container's nofile limit",
                metadata: ["needed": "\(rendered.descriptorsNeeded)", "limit": "\(limit)"])
        } else if rendered.maxConnections < configured {
            logger.warning(
                "HAProxy's maxconn lowered to fit the open-file limit (one descriptor per listener and checked server); raise the container's nofile limit for more",
                metadata: ["maxconn": "\(rendered.maxConnections)", "limit": "\(limit)"])
        }
    }

    static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Recomputes the desired state from the newest inputs and applies what differs.
    func sync() async {
        let started = ContinuousClock.now
        guard let inputs = await gather() else { return }
        let (plan, applied) = await planAndApply(inputs.plan, secrets: inputs.secrets, started: started)
        await report(plan, applied, document: inputs.plan.document)
        scheduleFollowUps(applied)
    }

    /// The node's part of a sync, alone or for a fleet (`inputs` then merges every cluster's):
    /// the pools' networks (VIPs left by an earlier run removed once), the plan, and its apply.
    /// `started` and `gathered`: when the sync began and its inputs were ready (the trace below).
    func planAndApply(
        _ inputs: NodePlan.Inputs, secrets: SecretCertificates, started: ContinuousClock.Instant,
        gathered: ContinuousClock.Instant = .now
    ) async -> (NodePlan, Applied) {
        // keepalived's VIPs are removed the moment it dies; BGP VIPs on lo are this actor's own.
        await dataPlane.setPoolNetworks(inputs.config.pools.filter { $0.announce == .vrrp }.map(\.network))
        if !cleanedUp {
            // Start-up: VIPs left by an earlier run (a SIGKILLed keepalived, a BGP VIP of a
            // Service deleted meanwhile) must not linger.
            await dataPlane.removeStaleVIPs(in: inputs.config.pools.map(\.network))
            cleanedUp = true
        }
        metrics.vipsServed(inputs.document.vips.count)
        let plan = NodePlan.make(inputs)
        let planned = ContinuousClock.now
        reportDescriptors(plan.proxy, configured: inputs.haproxy.maxConnections)
        let applied = await apply(plan, secrets: secrets)
        // Where a sync's time goes (the benchmarks at size read it from debug logs).
        logger.debug(
            "trace: sync timings",
            metadata: [
                "gather_ms": "\(Self.milliseconds(gathered - started))",
                "plan_ms": "\(Self.milliseconds(planned - gathered))",
                "proxy_ms": "\(Self.milliseconds(applied.proxyTime))",
                "keepalived_ms": "\(Self.milliseconds(applied.keepalivedTime))",
                "lb.vips": "\(inputs.document.vips.count)",
            ])
        return (plan, applied)
    }

    /// The newest inputs, once every informer has synced: config, assignments, endpoints,
    /// certificates (checked; problems become Events of this sync), eligibility and the node's
    /// own bookkeeping (lingering and deferred groups).
    func gather() async -> SyncInputs? {
        guard await configMaps.hasSynced, await slices.hasSynced, await lbNodes.hasSynced, await ownNode.hasSynced,
            await groupLeases.hasSynced, await allNodes.hasSynced
        else { return nil }
        if settings.backend != .kubeproxy, !(await secrets.hasSynced) { return nil }
        await loadConfig()
        let before = document
        await loadDocument()
        guard let config = effectiveConfig, let document else { return nil }
        if before != document {
            logger.debug("trace: assignments read", metadata: ["lb.vips": "\(document.vips.count)"])
        }
        await updateLingering(previous: before, current: document)
        deferred.update(previous: before, current: document, node: settings.nodeName, now: monotonicSeconds, delay: 1)
        await detectInterfaces(config, document)
        let nodePortPools = Set(config.pools.filter { $0.backends == .nodeports }.map(\.name))
        let endpoints = EndpointMap.resolve(
            document, slices: await sliceInputs(for: document),
            nodes: nodePortPools.isEmpty ? [] : await backendNodes(), nodePortPools: nodePortPools)
        let tlsPools = await checkCertificates(config, document)
        let secretCerts = await secretCertificates(document)

        var inputs = NodePlan.Inputs(
            node: settings.nodeName, eligible: await nodeEligible(), backend: settings.backend, document: document,
            config: config, endpoints: endpoints, tlsPools: tlsPools, interfaces: interfaces)
        inputs.haproxy.statsSocket = settings.runDirectory + "/haproxy.sock"
        inputs.haproxy.hardStopAfterSeconds = settings.drainSeconds
        inputs.haproxy.healthPort = settings.haproxyHealthPort
        inputs.haproxy.fileLimit = Self.openFileLimit
        inputs.haproxy.certDirectory = settings.certDirectory
        inputs.nginx.runDirectory = settings.runDirectory
        inputs.nginx.shutdownTimeoutSeconds = settings.drainSeconds
        inputs.nginx.healthPort = settings.nginxHealthPort
        inputs.nginx.certDirectory = settings.certDirectory
        inputs.trackFile = try? SafePath(parsing: settings.trackFile)
        if settings.unicast { inputs.unicastPeers = await peerAddresses() }
        inputs.lingering = lingering.instances
        inputs.deferred = deferred.ids.union(splitBrain.ids)
        inputs.serviceCertificates = secretCerts.byService
        inputs.gatewayCertificates = secretCerts.bySecret
        inputs.certificateDigest = secretCerts.digest
        inputs.localTrackDirectory = try? SafePath(parsing: settings.runDirectory)
        inputs.labels = await ownNode.get(settings.nodeName)?.metadata.labels ?? [:]
        inputs.proxyHealthy = await dataPlane.proxyHealthy()
        return SyncInputs(plan: inputs, secrets: secretCerts)
    }

    /// Applies `plan` to the data plane: certificate files and track files first, eligibility
    /// (an ineligible node hands its VIPs over before anything else changes), then the proxy and
    /// keepalived together, renewed certificates in place, FRR, and the VIPs bound here.
    func apply(_ plan: NodePlan, secrets: SecretCertificates) async -> Applied {
        for s in plan.skipped { logger.error("VRRP group not rendered", metadata: ["lb.group": "\(s)"]) }
        // Secret bundles on disk before the proxy reads them; the local track files before
        // keepalived reads them.
        let changedBundles = await dataPlane.installCertificates(secrets.bundles)
        await dataPlane.setLocalTracks(plan.localGroups)
        if eligible != plan.holdsVIPs {
            if !plan.holdsVIPs {
                logger.warning("node is not an eligible LB node (selector or exclude label): handing its VIPs over")
                if eligible == true { await beginDraining() }
            } else if eligible != nil {
                logger.info("node is an eligible LB node again")
                await endDraining()
            }
            eligible = plan.holdsVIPs
        }
        await dataPlane.setEligible(plan.holdsVIPs)
        metrics.eligible(plan.holdsVIPs)

        // The proxy and keepalived apply at the same time: a new VIP's frontend and its address
        // come up together (a reload takes 50-200 ms; waiting for it before keepalived would add
        // that to every new VIP). Existing VIPs are unaffected either way.
        let dataPlane = self.dataPlane
        let clock = ContinuousClock()
        let start = clock.now
        async let proxyApplied = { () async -> (ProxyOutcome, Duration) in
            let outcome = await dataPlane.applyProxy(plan.proxy)
            return (outcome, clock.now - start)
        }()
        let keepalived: Result<Void, DaemonError>
        do throws(DaemonError) {
            try await dataPlane.applyKeepalived(plan.keepalived)
            // Followers go with the config keepalived runs (a refused one keeps the last).
            await dataPlane.follow(plan.followers)
            keepalived = .success(())
        } catch {
            keepalived = .failure(error)
        }
        let keepalivedTime = clock.now - start
        let (outcome, proxyTime) = await proxyApplied
        // A renewed Secret whose file the running proxy already loaded: replace it in place
        // (HAProxy's Runtime API; a reload or start has just read the new files anyway).
        if !changedBundles.isEmpty, outcome == .unchanged || outcome.isRuntime {
            let (updated, failures) = await dataPlane.refreshCertificates(changedBundles, bundles: secrets.bundles)
            if updated > 0 {
                metrics.certificatesUpdated(updated)
                logger.info("certificates replaced in the running proxy (no reload)", metadata: ["count": "\(updated)"])
            }
            for f in failures { logger.error("certificate not replaced at runtime", metadata: ["error": "\(f)"]) }
        }
        // keepalived reads the proxy's verdict from the track file: refresh it after a (re)start.
        if outcome == .started { await dataPlane.probeProxy() }
        // BGP: FRR's config (peers, pools), then the VIPs on lo — their addresses are the
        // announcements.
        do throws(DaemonError) {
            try await dataPlane.applyFRR(plan.frr)
        } catch {
            metrics.daemonError(error.code)
            logger.error(
                "FRR config not applied; the running one keeps serving",
                metadata: ["error": "\(error)", "code": "\(error.code.rawValue)"])
        }
        for failure in await dataPlane.bind(plan.bindings) {
            logger.error("VIP binding failed", metadata: ["error": "\(failure)"])
        }
        return Applied(proxy: outcome, keepalived: keepalived, proxyTime: proxyTime, keepalivedTime: keepalivedTime)
    }

    /// What the sync did, told: logs and metrics now; Events and the published VRRP groups to
    /// the reporter (written on its own tasks).
    func report(_ plan: NodePlan, _ applied: Applied, document: AssignmentDocument) async {
        switch applied.keepalived {
        case .success:
            metrics.keepalivedApply("ok")
            logger.debug("trace: keepalived applied")
            await publishGroups(plan.vrrpGroups)
        case .failure(let error):
            metrics.keepalivedApply("failed")
            logger.error(
                "keepalived config not applied; the running one keeps serving", metadata: ["error": "\(error)"])
        }
        record(applied.proxy)
        if applied.proxy != .none, applied.proxy.applied || applied.proxy == .unchanged {
            // The Gateways this node's proxy now serves, at their generations.
            var gateways: [ServiceKey: Int64] = [:]
            for vip in document.vips {
                for e in vip.services { if let g = e.gateway { gateways[e.key] = g.generation } }
            }
            await reporter.publishGateways(gateways)
        }
        if applied.proxy != .unchanged && applied.proxy != .none {
            logger.debug("trace: proxy applied", metadata: ["outcome": "\(applied.proxy)"])
        }
        if applied.proxy.applied || settings.backend == .kubeproxy { markReady() }
        reportUnrouted(plan.unrouted)
        reportAnnouncements(plan.announced, document: document)
        handReportsOver()
        liveContinuation.yield()
        splitContinuation.yield()  // the handover rules follow the document's VIPs
        for (daemon, n) in await dataPlane.restarts() { metrics.daemonRestarts(daemon, n) }
    }

    /// Syncs that must follow this one: Runtime API deletes deferred while connections drain,
    /// lingering instances (released when the other nodes' records change, or at the timeout),
    /// deferred groups (released after their delay).
    func scheduleFollowUps(_ applied: Applied) {
        // A refused or unconfirmed apply is tried again with backoff (0.5 s doubling to 32 s): a
        // transient failure (a reload not confirmed under load) must not wait for the next input
        // change; the running config keeps serving meanwhile.
        if case .failure = applied.keepalived {
            failedApplies += 1
        } else if !applied.proxy.applied {
            failedApplies += 1
        } else {
            failedApplies = 0
        }
        if failedApplies > 0 { retry(after: .milliseconds(250 << min(failedApplies, 7))) }
        if case .runtime(_, let deferred) = applied.proxy, deferred > 0 { retry(after: .seconds(2)) }
        if !lingering.entries.isEmpty { retry(after: .seconds(1)) }
        if let next = deferred.nextRelease {
            retry(after: .milliseconds(max(10, Int64((next - monotonicSeconds) * 1000) + 10)))
        }
    }
}
