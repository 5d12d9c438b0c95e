import Core
import Foundation
import KubeClient
import Logging

/// Ordered removal of VRRP groups across nodes. When a group leaves the assignments (its last
/// VIP deleted), every node drops its instance — but the node holding the VIPs drops it last: a
/// dropped MASTER instance sends a priority-0 advert, and a backup whose actor has not yet applied
/// the change would take the deleted VIP over. So each node publishes the groups its keepalived
/// runs (a Lease per node), and the holder keeps a vanished group's instance until no other LB
/// node lists it (at most `removalTimeout`, for nodes that publish nothing).
extension ActorController {
    static let removalTimeout: Double = 10

    /// Seconds on a monotonic clock (for the lingering bookkeeping).
    var monotonicSeconds: Double {
        let d = ContinuousClock.now - epoch
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Updates the instances this node keeps after their group left the assignments.
    func updateLingering(previous: AssignmentDocument?, current: AssignmentDocument) async {
        let now = monotonicSeconds
        let before = Set(lingering.entries.keys)
        lingering.update(previous: previous, current: current, live: live, now: now)
        let others = Set(current.nodes + (await lbNodes.list()).compactMap(\.metadata.name)).subtracting([
            settings.nodeName
        ])
        lingering.release(
            others: others.sorted(), records: await groupRecords(), now: now, timeout: Self.removalTimeout)
        let after = Set(lingering.entries.keys)
        for id in after.subtracting(before) {
            logger.info(
                "VRRP group gone from the assignments; keeping its instance until the other LB nodes have dropped it",
                metadata: ["lb.group": "\(id)"])
        }
        for id in before.subtracting(after) { logger.info("VRRP group dropped", metadata: ["lb.group": "\(id)"]) }
    }

    /// Every other node's published groups, by node.
    func groupRecords() async -> [String: Set<VRRPGroupID>] {
        var out: [String: Set<VRRPGroupID>] = [:]
        for lease in await groupLeases.list() {
            guard let node = lease.spec?.holderIdentity, node != settings.nodeName,
                let text = lease.metadata.annotations?[NodeGroupsRecord.annotation]
            else { continue }
            out[node] = NodeGroupsRecord.parse(text)
        }
        return out
    }

    /// Hands the groups this node's keepalived now runs to the reporter, which publishes them
    /// (only when they changed; retried until they land).
    func publishGroups(_ groups: Set<VRRPGroupID>) async {
        await reporter.publish(groups)
    }
}
