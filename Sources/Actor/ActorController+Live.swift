import Core
import Foundation
import Logging

/// Which VIPs are on this node (netlink address events): a metric per VIP and a `VIPActive`
/// Event when one arrives. A loop of its own (newest-1 stream), beside the sync loop.
extension ActorController {
    func liveLoop() async {
        for await _ in liveRequests { await addressesChanged() }
    }

    private func addressesChanged() async {
        guard let document, let present = await dataPlane.addresses() else { return }
        let vips = Set(document.vips.map(\.address))
        let now = present.intersection(vips)
        guard now != live else { return }
        let arrived = now.subtracting(live)
        let left = live.subtracting(now)
        live = now
        for a in left { metrics.vipLive(a, false) }
        for a in now { metrics.vipLive(a, true) }
        metrics.vipsLive(now.count)
        for vip in document.vips where arrived.contains(vip.address) {
            logger.info("VIP active on this node", metadata: ["lb.vip": "\(vip.address)"])
            for entry in vip.services {
                event(entry.key, .vipActive, "VIP \(vip.address) is now served by node \(settings.nodeName)")
            }
        }
        for a in left { logger.info("VIP left this node", metadata: ["lb.vip": "\(a)"]) }
        handReportsOver()
    }
}
