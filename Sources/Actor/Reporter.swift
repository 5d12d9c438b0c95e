import Core
import Foundation
import KubeClient
import Logging

/// Writes what the actor tells the cluster — Events on Services and this node's published VRRP
/// groups — on tasks of its own, so a slow or unreachable API server never delays a VIP, a proxy
/// change or keepalived. The sync hands reports over (no await on the API) and moves on.
///
/// Events go out in order. A transient failure (network, 5xx, 429, 409) is retried with backoff,
/// up to `eventAttempts` times, then dropped with a log line (an Event is news, not state); a
/// permanent one (400, 403, 422: the same request will not succeed) is dropped at once with the
/// API's message. The groups record is state: only the newest set is written, retried until it
/// lands (other nodes read it to remove deleted VRRP groups in order).
actor Reporter {
    struct EventReport: Sendable {
        /// What the Event is about: a Service (or, by its key, a Gateway), or the config
        /// ConfigMap in the actor's namespace.
        enum Subject: Sendable, CustomStringConvertible {
            case service(ServiceKey)
            case config
            var description: String {
                switch self {
                case .service(let key): "\(key)"
                case .config: "the config ConfigMap"
                }
            }
        }
        var subject: Subject
        var reason: EventReason
        var message: String
    }

    nonisolated let client: KubeClient
    nonisolated let settings: ActorSettings
    nonisolated let logger: Logger
    nonisolated let metrics: ActorMetrics
    static let eventAttempts = 5

    private let events: AsyncStream<EventReport>
    private let eventsContinuation: AsyncStream<EventReport>.Continuation
    private let groupRequests: AsyncStream<Void>
    private let groupsContinuation: AsyncStream<Void>.Continuation
    /// The record to publish (newest), and the one last written: the node's VRRP groups and the
    /// Gateway generations its proxy applied.
    private var wantedGroups: Set<VRRPGroupID>?
    private var wantedGateways: [ServiceKey: Int64] = [:]
    private var wantedLive: Set<IPAddress> = []
    private var wantedDraining: Set<IPAddress> = []
    private var publishedDraining: Set<IPAddress> = []
    private(set) var publishedGroups: Set<VRRPGroupID>?
    private var publishedGateways: [ServiceKey: Int64] = [:]
    private var publishedLive: Set<IPAddress> = []
    /// The record is due for its renewal (other nodes judge it fresh while it keeps changing).
    private var renewDue = false
    static let renewInterval: Duration = .seconds(4)
    /// Events handed over and not yet written or dropped.
    private(set) var pendingEvents = 0

    init(client: KubeClient, settings: ActorSettings, logger: Logger, metrics: ActorMetrics) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        (events, eventsContinuation) = AsyncStream.makeStream(of: EventReport.self)
        (groupRequests, groupsContinuation) = AsyncStream.makeStream(
            of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands an Event on Service `service` over (never waits for the API).
    nonisolated func event(_ service: ServiceKey, _ reason: EventReason, _ message: String) {
        send(EventReport(subject: .service(service), reason: reason, message: message))
    }

    /// Hands an Event on the config ConfigMap over (never waits for the API).
    nonisolated func configEvent(_ reason: EventReason, _ message: String) {
        send(EventReport(subject: .config, reason: reason, message: message))
    }

    /// Hands an Event over (never waits for the API).
    nonisolated func send(_ report: EventReport) { eventsContinuation.yield(report) }

    /// Hands this node's VRRP groups over for publishing (only the newest set is written).
    func publish(_ groups: Set<VRRPGroupID>) {
        guard groups != wantedGroups else { return }
        wantedGroups = groups
        groupsContinuation.yield()
    }

    /// Hands the Gateway generations the proxy now serves over (the watcher sets a Gateway
    /// Programmed once every LB node lists its generation).
    func publishGateways(_ applied: [ServiceKey: Int64]) {
        guard applied != wantedGateways else { return }
        wantedGateways = applied
        groupsContinuation.yield()
    }

    /// Hands the VIPs live on this node over (the watcher's `k8slb.io/Serving` condition).
    func publishLive(_ vips: Set<IPAddress>) {
        guard vips != wantedLive else { return }
        wantedLive = vips
        groupsContinuation.yield()
    }

    /// Hands the VIPs this node hands over in a planned move over (`Handover`); true once written
    /// (waits at most `timeout`).
    func publishDraining(_ vips: Set<IPAddress>, timeout: Duration = .seconds(1)) async -> Bool {
        if vips != wantedDraining {
            wantedDraining = vips
            groupsContinuation.yield()
        }
        let deadline = ContinuousClock.now + timeout
        while publishedDraining != vips {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// Writes until `stop()`; what is pending then is dropped.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.eventLoop() }
            group.addTask { await self.groupLoop() }
            group.addTask { await self.renewLoop() }
        }
    }

    nonisolated func stop() {
        eventsContinuation.finish()
        groupsContinuation.finish()
    }

    private func eventLoop() async {
        for await e in events {
            pendingEvents += 1
            await write(e)
            pendingEvents -= 1
        }
    }

    private func write(_ e: EventReport) async {
        var backoff = Backoff(base: .milliseconds(500), cap: .seconds(10))
        for attempt in 1...Self.eventAttempts {
            do {
                let ref: ObjectReference
                switch e.subject {
                case .config:
                    let (namespace, name) = (settings.namespace, settings.configMapName)
                    let uid = try? await client.get(ConfigMap.self, namespace: namespace, name: name).metadata.uid
                    ref = ObjectReference(
                        apiVersion: "v1", kind: "ConfigMap", namespace: namespace, name: name, uid: uid)
                case .service(let key):
                    if let gatewayNamespace = key.gatewayNamespace {
                        // A Gateway's VIP: the Event is about the Gateway.
                        ref = ObjectReference(
                            apiVersion: GatewayAPI.apiVersion, kind: "Gateway", namespace: gatewayNamespace,
                            name: key.name)
                    } else {
                        let uid = try? await client.get(Service.self, namespace: key.namespace, name: key.name)
                            .metadata.uid
                        ref = ObjectReference(
                            apiVersion: "v1", kind: "Service", namespace: key.namespace, name: key.name, uid: uid)
                    }
                }
                _ = try await client.create(
                    Event.about(
                        ref, type: e.reason.type, reason: e.reason.rawValue, message: e.message,
                        component: settings.component))
                return
            } catch {
                let failure = FailureClass(error)
                metrics.apiWriteFailed("event", failure)
                if failure == .permanent || attempt == Self.eventAttempts || Task.isCancelled {
                    logger.warning(
                        "cannot record event",
                        metadata: [
                            "k8s.reason": "\(e.reason.rawValue)", "k8s.service": "\(e.subject)",
                            "error": "\(error)", "attempts": "\(attempt)",
                        ])
                    return
                }
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Renews the record at once (split brain: confirming that this node holds its VIPs).
    func renewNow() {
        renewDue = true
        groupsContinuation.yield()
    }

    /// Renews the record every `renewInterval` (its renewTime, and a new resourceVersion the
    /// other nodes see): a record that stops changing belongs to a node gone or cut off.
    private func renewLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.renewInterval)
            renewDue = true
            groupsContinuation.yield()
        }
    }

    private func groupLoop() async {
        var backoff = Backoff(base: .milliseconds(200), cap: .seconds(5))
        for await _ in groupRequests {
            while let groups = wantedGroups,
                groups != publishedGroups || wantedGateways != publishedGateways || wantedLive != publishedLive
                    || wantedDraining != publishedDraining || renewDue,
                !Task.isCancelled
            {
                let gateways = wantedGateways
                let live = wantedLive
                let draining = wantedDraining
                do {
                    try await writeGroups(groups, gateways: gateways, live: live, draining: draining)
                    publishedGroups = groups
                    publishedGateways = gateways
                    publishedLive = live
                    publishedDraining = draining
                    renewDue = false
                    backoff.reset()
                } catch {
                    metrics.apiWriteFailed("groups", FailureClass(error))
                    logger.warning(
                        "cannot publish this node's VRRP groups; will retry", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: backoff.next())
                }
            }
        }
    }

    private func writeGroups(
        _ groups: Set<VRRPGroupID>, gateways: [ServiceKey: Int64], live: Set<IPAddress>, draining: Set<IPAddress>
    ) async throws {
        let name = NodeGroupsRecord.leaseName(node: settings.nodeName)
        let text = NodeGroupsRecord.format(groups)
        var annotations = [NodeGroupsRecord.annotation: text]
        if !gateways.isEmpty {
            annotations[NodeGroupsRecord.gatewaysAnnotation] = NodeGroupsRecord.formatGateways(gateways)
        }
        if !live.isEmpty { annotations[NodeGroupsRecord.liveAnnotation] = NodeGroupsRecord.formatLive(live) }
        if !draining.isEmpty { annotations[Handover.drainingAnnotation] = NodeGroupsRecord.formatLive(draining) }
        let now = Timestamp.micro(Date())
        if var lease = try? await client.get(Lease.self, namespace: settings.namespace, name: name) {
            lease.metadata.annotations = annotations
            lease.spec = Lease.Spec(holderIdentity: settings.nodeName, renewTime: now)
            _ = try await client.update(lease)
        } else {
            let meta = ObjectMeta(
                name: name, namespace: settings.namespace, labels: [NodeGroupsRecord.label: "true"],
                annotations: annotations)
            _ = try await client.create(
                Lease(metadata: meta, spec: Lease.Spec(holderIdentity: settings.nodeName, renewTime: now)))
        }
    }
}
