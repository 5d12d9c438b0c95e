import Core
import Foundation
import KubeClient

/// `k8slb.io/Serving`: which LB nodes hold each Service's VIPs, from the nodes' records (the
/// actors publish the VIPs live on their node in their Lease). A VIP no node holds is reported
/// only after `servingGrace` (a failover takes well under it).
extension WatcherController {
    static let servingGrace: Duration = .seconds(3)

    func refreshServing() async {
        var holders: [IPAddress: [String]] = [:]
        let eligible = Set(nodes)
        for lease in await nodeRecords.list() {
            guard let node = lease.spec?.holderIdentity, eligible.contains(node),
                let text = lease.metadata.annotations?[NodeGroupsRecord.liveAnnotation]
            else { continue }
            for vip in NodeGroupsRecord.parseLive(text) { holders[vip, default: []].append(node) }
        }
        let now = ContinuousClock.now
        var recheck = false
        for key in allocator.assignedServices where key.gatewayNamespace == nil {
            guard let svc = await services.get(key.description) else { continue }
            let assigned = allocator.addresses(of: key)
            let bgp = assigned.contains { config?.pool(named: $0.pool)?.announce == .bgp }
            let value = ServiceConditions.serving(assigned.map(\.address), holders: holders, bgp: bgp)
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
            await writeCondition(svc, value)
        }
        for key in notServingSince.keys where allocator.addresses(of: key).isEmpty { notServingSince[key] = nil }
        if recheck { await queue.add(.serving, after: Self.servingGrace) }
    }
}
