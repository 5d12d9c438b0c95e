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
        guard var document, let present = await dataPlane.addresses() else { return }
        if settings.fleetCluster != nil {
            let served = fleetVIPs ?? []  // before the fleet's first plan: none yet
            document.vips = document.vips.filter { served.contains($0.address) }
        }
        let vips = Set(document.vips.map(\.address))
        let now = present.intersection(vips)
        // Every published VIP has a series here (0 when another node holds it): an alert can
        // tell a VIP no node holds from one two nodes hold. Changes only.
        let bgp = Set(effectiveConfig?.pools.filter { $0.announce == .bgp }.map(\.name) ?? [])
        var series: [IPAddress: (announce: String, live: Bool)] = [:]
        for vip in document.vips {
            series[vip.address] = (bgp.contains(vip.pool) ? "bgp" : "vrrp", now.contains(vip.address))
        }
        for (vip, old) in vipSeries where series[vip]?.announce != old.announce {
            metrics.vipGone(vip, announce: old.announce)
        }
        for (vip, s) in series where vipSeries[vip].map({ $0.announce != s.announce || $0.live != s.live }) ?? true {
            metrics.vipLive(vip, announce: s.announce, s.live)
        }
        vipSeries = series
        guard now != live else { return }
        let arrived = now.subtracting(live)
        let left = live.subtracting(now)
        live = now
        if settings.fleetCluster == nil { metrics.vipsLive(now.count) }  // a fleet counts all its clusters
        await reporter.publishLive(now)
        splitContinuation.yield()
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
