import Core
import Foundation
import KubeClient
import Logging

/// Freed addresses and VRRP IDs are not handed out again for `settings.releaseQuarantine`: the LB
/// node that held a deleted Service's VIP keeps its VRRP instance until the other nodes have
/// dropped theirs (ordered removal, up to 10 s), and a new Service must not get that address or
/// VRID meanwhile (a duplicate IP, or two groups on one VRID).
extension WatcherController {
    /// The allocator entry that holds a freed address during its quarantine (never a real
    /// Service: `-` is no valid namespace; never published: it has no entry).
    static func quarantineKey(_ address: IPAddress) -> ServiceKey {
        ServiceKey(namespace: "-", name: "released-\(address)")
    }

    /// Holds every address of `assignments` nobody holds any more, and frees it after the quarantine.
    func quarantine(_ assignments: [AddressAssignment]) async {
        guard settings.releaseQuarantine > .zero else { return }
        for a in assignments where allocator.holders(of: a.address).isEmpty {
            let key = Self.quarantineKey(a.address)
            // Not static and under a key of its own: no Service can share it meanwhile.
            let request = AllocationRequest(
                service: key, pools: [a.pool], ports: [],
                sharingKey: try? SharingKey(
                    parsing: "k8slb-quarantine-"
                        + String(a.address.description.map { $0.isLetter || $0.isNumber ? $0 : "-" })))
            if (try? allocator.restore(request, addresses: [a.address])) != nil {
                logger.debug(
                    "address quarantined",
                    metadata: ["lb.vip": "\(a.address)", "seconds": "\(settings.releaseQuarantine)"])
                await queue.add(.quarantineOver(a.address), after: settings.releaseQuarantine)
            }
        }
    }

    /// The quarantine of `address` is over: it is free, and waiting Services get another try.
    func endQuarantine(_ address: IPAddress) {
        guard !allocator.release(Self.quarantineKey(address)).isEmpty else { return }
        metrics.poolUsage(allocator.usage)
        requeuePending()
    }

    /// VRIDs of groups that just disappeared (reserved until their quarantine ends), pruned.
    func reservedVRIDs(now: ContinuousClock.Instant) -> Set<VRRPGroupID> {
        vridQuarantine = vridQuarantine.filter { $0.value > now }
        return Set(vridQuarantine.keys)
    }

    /// Notes the groups of `previous` that `plan` no longer has.
    func quarantineVanishedGroups(previous: [VRRPPlan.Group], plan: [VRRPPlan.Group], now: ContinuousClock.Instant) {
        guard settings.releaseQuarantine > .zero else { return }
        let kept = Set(plan.map(\.id))
        for g in previous where !kept.contains(g.id) { vridQuarantine[g.id] = now + settings.releaseQuarantine }
    }
}
