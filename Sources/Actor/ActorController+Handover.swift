import Core
import Foundation
import KubeClient
import Logging

/// Connections that survive a planned move (`Handover` decides, pure). The old holder publishes
/// the VIPs it hands over in its record and waits a moment (the other nodes install their
/// forwarding rules from the record), then lets the VIPs go; it keeps its proxy's connections for
/// the drain period and clears the list after it. Every node keeps its ruleset in step with the
/// records (evaluated with the split-brain view, in the records loop).
extension ActorController {
    /// How long the old holder waits after its record lists the VIPs it hands over: the other
    /// nodes see the record (a watch event) and apply their rules well within it.
    static let handoverLead: Duration = .milliseconds(300)

    /// Brings this node's handover ruleset in step with the other nodes' records.
    /// HAProxy only: its VIP binds are `transparent`, which the old holder's delivery matches
    /// (nginx binds through `ip_nonlocal_bind`; kube-proxy has no sockets of its own).
    var handoverEnabled: Bool { settings.handover && settings.backend == .haproxy }

    func updateHandover(draining: [String: Set<IPAddress>]) async {
        guard handoverEnabled, let document, let config = effectiveConfig else { return }
        let plan = Handover.plan(
            node: settings.nodeName, document: document, config: config, interfaces: interfaces, draining: draining,
            addresses: await peerAddresses())
        if plan.forward != handoverForwards {
            for f in plan.forward where !handoverForwards.contains(f) {
                logger.info(
                    "forwarding a draining node's connections for the VIP",
                    metadata: ["lb.vip": "\(f.vip)", "lb.target": "\(f.target)"])
            }
            handoverForwards = plan.forward
        }
        await dataPlane.applyHandover(Handover.ruleset(plan))
    }

    /// The node becomes ineligible while holding VIPs: publish them as handed over (and wait for
    /// the other nodes to prepare) before keepalived lets them go; cleared after the drain.
    func beginDraining() async {
        guard handoverEnabled, !live.isEmpty else { return }
        let vips = live
        let written = await reporter.publishDraining(vips)
        logger.info(
            "handing VIPs over: established connections stay here for the drain period",
            metadata: [
                "lb.vips": "\(vips.sorted().map(\.description).joined(separator: ","))", "written": "\(written)",
            ])
        if written { try? await Task.sleep(for: Self.handoverLead) }
        let reporter = self.reporter
        let drain = Duration.seconds(settings.drainSeconds)
        drainEnd?.cancel()
        drainEnd = Task {
            try? await Task.sleep(for: drain)
            guard !Task.isCancelled else { return }
            _ = await reporter.publishDraining([])
        }
    }

    /// Eligible again: nothing is handed over any more.
    func endDraining() async {
        drainEnd?.cancel()
        drainEnd = nil
        _ = await reporter.publishDraining([], timeout: .zero)
    }

    /// Shutdown (SIGTERM), before keepalived stops: this node's record lists the VIPs it holds as
    /// handed over (written directly: the reporter has stopped), then the other nodes get
    /// `handoverLead` to prepare.
    func drainForShutdown() async {
        guard handoverEnabled, !live.isEmpty else { return }
        let vips = NodeGroupsRecord.formatLive(live)
        if await editRecord({ $0[Handover.drainingAnnotation] = vips }) {
            logger.info("handing VIPs over before stopping", metadata: ["lb.vips": "\(vips)"])
            try? await Task.sleep(for: Self.handoverLead)
        }
    }

    /// Changes this node's record with `change` (one GET and PUT, retried on a conflict; at most
    /// 2 s). True when written.
    nonisolated func editRecord(_ change: @escaping @Sendable (inout [String: String]) -> Void) async -> Bool {
        let client = self.client
        let settings = self.settings
        let write = Task { () -> Bool in
            let name = NodeGroupsRecord.leaseName(node: settings.nodeName)
            for _ in 0..<3 {
                guard var lease = try? await client.get(Lease.self, namespace: settings.namespace, name: name)
                else { return false }
                var annotations = lease.metadata.annotations ?? [:]
                change(&annotations)
                lease.metadata.annotations = annotations
                lease.spec?.renewTime = Timestamp.micro(Date())
                do {
                    _ = try await client.update(lease)
                    return true
                } catch let e as KubeAPIError where e.isConflict {
                    continue
                } catch {
                    return false
                }
            }
            return false
        }
        let timeout = Task {
            try? await Task.sleep(for: .seconds(2))
            write.cancel()
        }
        let written = await write.value
        timeout.cancel()
        return written
    }
}
