import Core
import Foundation
import KubeClient
import Logging

extension ActorController {
    /// An Event on Service `key` (reason and type from the one table), handed to the reporter
    /// with the others of this sync once the data plane is applied (`handReportsOver`).
    func event(_ key: ServiceKey, _ reason: EventReason, _ message: String) {
        reports.append(Reporter.EventReport(subject: .service(key), reason: reason, message: message))
    }

    /// Gives the buffered Events to the reporter (it writes them; nothing here waits for the API).
    func handReportsOver() {
        for r in reports { reporter.send(r) }
        reports = []
    }
}

extension ActorController {
    /// Services the proxy does not route on a VIP:port shared by host name: a Warning Event once
    /// per reason; the Service that has the name keeps serving.
    func reportUnrouted(_ unrouted: [ServiceKey: [String]]) {
        for (key, reasons) in unrouted.sorted(by: { $0.key < $1.key }) {
            let message = reasons.joined(separator: "; ")
            guard unroutedReported[key] != message else { continue }
            unroutedReported[key] = message
            logger.warning("Service not routed", metadata: ["k8s.service": "\(key)", "reason": "\(message)"])
            event(key, .notRouted, message)
        }
        for key in unroutedReported.keys where unrouted[key] == nil { unroutedReported[key] = nil }
    }
}

extension ActorController {
    /// BGP announcements that started or stopped on this node: an Event on each Service of the VIP.
    func reportAnnouncements(_ announced: Set<IPAddress>, document: AssignmentDocument) {
        let started = announced.subtracting(announcedBefore)
        let stopped = announcedBefore.subtracting(announced)
        announcedBefore = announced
        for vip in document.vips where started.contains(vip.address) || stopped.contains(vip.address) {
            let on = started.contains(vip.address)
            logger.info(on ? "VIP announced by BGP" : "VIP withdrawn from BGP", metadata: ["lb.vip": "\(vip.address)"])
            for entry in vip.services {
                event(
                    entry.key, on ? .vipAnnounced : .vipWithdrawn,
                    on
                        ? "VIP \(vip.address) is announced by BGP from node \(settings.nodeName)"
                        : "VIP \(vip.address) is no longer announced from node \(settings.nodeName)")
            }
        }
        // Withdrawn VIPs whose Service is gone: logged only.
        for a in stopped where !document.vips.contains(where: { $0.address == a }) {
            logger.info("VIP withdrawn from BGP", metadata: ["lb.vip": "\(a)"])
        }
    }

    /// BGP session, prefix and BFD metrics, every 5 s while FRR runs.
    func bgpStatusLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            guard let status = await dataPlane.bgpStatus() else { continue }
            for peer in status.peers { metrics.bgpPeer(peer) }
        }
    }
}
