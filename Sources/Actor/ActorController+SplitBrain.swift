import Core
import Foundation
import KubeClient
import Logging

/// Split brain, resolved (`SplitBrain` decides, pure), and the connection handover's rules
/// (+Handover), both from the nodes' records. A loop of its own beside the sync loop: it
/// evaluates when a node record changes, when this node's VIPs change, after every sync, when an
/// advert of a stepped-down group is heard, and every second while something is suspected or
/// stepped down.
/// A changed step-down set is a sync: the group's instance leaves (or rejoins) keepalived's
/// config, as a deferred group does.
///
/// A record is fresh while its Lease keeps changing: every actor renews its own every
/// `Reporter.renewInterval`, so a record not seen to change for `recordStale` belongs to a node
/// that is gone or cut off from the API (this node's own included). Freshness is what this node
/// observed (resourceVersion changes on its own clock), never a comparison of clocks.
extension ActorController {
    static let recordStale: Double = 12

    /// A node record's Lease was added or changed (called from the informer).
    func recordObserved(_ lease: Lease) {
        guard let node = lease.spec?.holderIdentity, let rv = lease.metadata.resourceVersion else { return }
        if let seen = recordsSeen[node] {
            // A re-list repeats objects unchanged: only a new resourceVersion is news.
            if seen.resourceVersion != rv { recordsSeen[node] = (rv, monotonicSeconds) }
        } else {
            // First sight (start-up list): its age is unknown, so it counts only once it changes.
            recordsSeen[node] = (rv, -Self.recordStale)
        }
    }

    /// On shutdown: this node's record lists no live VIP any more (one try, at most 2 s).
    nonisolated func clearLiveRecord() async {
        _ = await editRecord { $0[NodeGroupsRecord.liveAnnotation] = nil }
    }

    func splitBrainLoop() async {
        for await _ in splitRequests { await evaluateSplitBrain() }
    }

    /// Requests an evaluation every second while one can change with time alone.
    func splitBrainTicker() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if !splitBrain.steppedDown.isEmpty || !splitBrain.suspected.isEmpty { splitContinuation.yield() }
        }
    }

    /// A record's live VIPs, parsed once per text (a renewal leaves the text as it was; 10,000
    /// IPv6 VIPs took most of a sync's time to parse on every renewal).
    private func liveVIPs(of node: String, _ text: String) -> Set<IPAddress> {
        if let cached = liveRecordCache[node], cached.text == text { return cached.vips }
        let vips = NodeGroupsRecord.parseLive(text)
        liveRecordCache[node] = (text, vips)
        return vips
    }

    private func evaluateSplitBrain() async {
        guard let document else { return }
        let now = monotonicSeconds
        var records: [String: Set<IPAddress>] = [:]
        var draining: [String: Set<IPAddress>] = [:]
        var seen: [String: Double] = [:]
        for lease in await groupLeases.list() {
            guard let node = lease.spec?.holderIdentity, let observed = recordsSeen[node],
                now - observed.at < Self.recordStale
            else { continue }
            records[node] = liveVIPs(of: node, lease.metadata.annotations?[NodeGroupsRecord.liveAnnotation] ?? "")
            seen[node] = observed.at
            if let text = lease.metadata.annotations?[Handover.drainingAnnotation] {
                draining[node] = NodeGroupsRecord.parseLive(text)
            }
        }
        await updateHandover(draining: draining)
        var inputs = SplitBrain.Inputs(
            node: settings.nodeName, document: document, live: live, records: records, now: now)
        inputs.seen = seen
        inputs.heard = await dataPlane.advertsHeard()
        let changes = splitBrain.update(inputs)
        if let deadline = splitBrain.nextDeadline {
            let wait = max(0.01, deadline - now + 0.01)
            let split = splitContinuation
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
                split.yield()
            }
        }
        var stepChanges = false
        for change in changes {
            switch change {
            case .reannounce(let vips):
                // The other node let go: neighbours may still send to its MAC.
                var targets: [IPAddress: InterfaceName] = [:]
                for vip in document.vips where vips.contains(vip.address) {
                    if let i = effectiveConfig?.pool(named: vip.pool)?.interface ?? interfaces[vip.pool] {
                        targets[vip.address] = i
                    }
                }
                logger.info(
                    "VIPs released by a node ranked after this one: announcing them again",
                    metadata: ["lb.vips": "\(vips.map(\.description).joined(separator: ","))"])
                let dataPlane = self.dataPlane
                Task { await dataPlane.announce(targets) }
            case .confirm(let vips):
                logger.info(
                    "a node ranked after this one lists VIPs live here: confirming this node's record",
                    metadata: ["lb.vips": "\(vips.map(\.description).joined(separator: ","))"])
                await reporter.renewNow()
            case .steppedDown, .resumed:
                stepChanges = true
            }
        }
        guard stepChanges else { return }
        let split = splitContinuation
        await dataPlane.watchAdverts(splitBrain.ids) { split.yield() }
        metrics.groupsSteppedDown(splitBrain.steppedDown.count)
        let me = settings.nodeName
        for change in changes {
            switch change {
            case .steppedDown(let id, let s):
                logger.warning(
                    "split brain: a VIP of this VRRP group is also live on a node ranked before this one; stepping down for the group until its adverts are heard here",
                    metadata: [
                        "lb.group": "\(id)", "lb.holder": "\(s.holder)",
                        "lb.vips": "\(s.addresses.map(\.description).joined(separator: ","))",
                    ])
                for vip in document.vips where s.addresses.contains(vip.address) {
                    for e in vip.services {
                        event(
                            e.key, .vipOnTwoNodes,
                            "VIP \(vip.address) is live on \(s.holder) and \(me) (split brain: VRRP adverts of group \(id) between them are lost); \(me) steps down for the group until \(s.holder)'s adverts are heard here"
                        )
                    }
                }
            case .resumed(let id, let reason):
                logger.info(
                    "split brain over for this VRRP group: running it again",
                    metadata: ["lb.group": "\(id)", "reason": "\(reason.rawValue)"])
                guard reason != .groupGone else { continue }
                for vip in document.vips
                where vip.vrid == id.vrid && vip.family == id.family {
                    for e in vip.services {
                        event(e.key, .vrrpResumed, "\(me) runs VRRP group \(id) again: \(reason.rawValue)")
                    }
                }
            case .reannounce, .confirm: break
            }
        }
        handReportsOver()
        syncContinuation.yield()
    }
}
