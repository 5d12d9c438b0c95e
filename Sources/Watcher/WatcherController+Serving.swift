import Core
import Foundation
import KubeClient
import Logging

/// `k8slb.io/Serving`: which LB nodes hold each Service's VIPs, from the nodes' fresh records
/// (the actors publish the VIPs live on their node in their Lease and renew it every 4 s; a
/// crashed node's record stops counting after `recordStale`). A VIP no node holds is reported
/// only after `servingGrace` (a failover takes well under it).
extension WatcherController {
    static let servingGrace: Duration = .seconds(3)
    /// A VRRP VIP on two nodes for longer than this is a split brain, not a handover.
    static let splitBrainGrace: Duration = .seconds(2)

    static let recordStale: Duration = .seconds(12)

    func recordObserved(_ lease: Lease) {
        guard let node = lease.spec?.holderIdentity, let rv = lease.metadata.resourceVersion else { return }
        // First sight counts as fresh (a restarted watcher keeps the conditions it finds).
        if recordsSeen[node]?.resourceVersion != rv { recordsSeen[node] = (rv, ContinuousClock.now) }
    }

    /// The nodes whose records changed within `recordStale`.
    func currentFreshRecords() -> Set<String> {
        let now = ContinuousClock.now
        return Set(recordsSeen.filter { now - $0.value.at < Self.recordStale }.keys)
    }

    func freshRecordsChanged() -> Bool { currentFreshRecords() != freshRecords }

    func refreshServing() async {
        var holders: [IPAddress: [String]] = [:]
        let eligible = Set(nodes)
        freshRecords = currentFreshRecords()
        for lease in await nodeRecords.list() {
            guard let node = lease.spec?.holderIdentity, eligible.contains(node), freshRecords.contains(node),
                let text = lease.metadata.annotations?[NodeGroupsRecord.liveAnnotation]
            else { continue }
            for vip in NodeGroupsRecord.parseLive(text) { holders[vip, default: []].append(node) }
        }
        let now = ContinuousClock.now
        var recheck = false
        var split = 0
        var writes: [(ServiceSummary, Condition)] = []
        for key in allocator.assignedServices where key.gatewayNamespace == nil {
            guard let svc = await services.get(key.description) else { continue }
            let assigned = allocator.addresses(of: key)
            let bgp = assigned.contains { config?.pool(named: $0.pool)?.announce == .bgp }
            let value = ServiceConditions.serving(assigned.map(\.address), holders: holders, bgp: bgp)
            if value.reason == "VIPOnTwoNodes" {
                split += 1
                let since = onTwoNodesSince[key] ?? now
                onTwoNodesSince[key] = since
                if now - since >= Self.splitBrainGrace {
                    if reported.isNews(.service(key), .vipOnTwoNodes, value.message) {
                        logger.warning(
                            "VIP on two LB nodes",
                            metadata: ["k8s.service": "\(key)", "lb.holders": "\(value.message)"])
                        await event(svc, .vipOnTwoNodes, "VRRP split brain: \(value.message)")
                    }
                } else {
                    recheck = true
                }
            } else if onTwoNodesSince.removeValue(forKey: key) != nil {
                reported.clear(.service(key), .vipOnTwoNodes)
            }
            if value.status {
                notServingSince[key] = nil
            } else {
                let since = notServingSince[key] ?? now
                notServingSince[key] = since
                if now - since < Self.servingGrace {
                    recheck = true
                    continue
                }
            }
            if let c = condition(svc, value) { writes.append((svc, c)) }
        }
        await writeConditions(writes)
        for key in notServingSince.keys where allocator.addresses(of: key).isEmpty { notServingSince[key] = nil }
        for key in onTwoNodesSince.keys where allocator.addresses(of: key).isEmpty { onTwoNodesSince[key] = nil }
        metrics.vipsOnTwoNodes(split)
        if recheck { await queue.add(.serving, after: Self.splitBrainGrace) }
    }
}
