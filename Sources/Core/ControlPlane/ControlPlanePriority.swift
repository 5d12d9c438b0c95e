/// The VRRP priority of a control-plane node: who should hold the cluster's API address.
///
/// keepalived adds the number the actor writes into the track file to the instance's base
/// priority of 1 (`weight 1`), so the actor sets the priority itself, from two facts:
///
/// | this node | priority |
/// |---|---|
/// | apiserver ready, holds the VIP | 241 |
/// | apiserver ready, does not hold it | 201 − rank |
/// | apiserver not ready, holds the VIP | 101 |
/// | apiserver not ready, does not hold it | 51 − rank |
///
/// - A ready node always outranks an unready one: an unready holder is preempted by a ready
///   backup after one master-down interval (3 adverts + skew).
/// - The holder outranks everyone in its own health class: a ready node joining, or one whose
///   apiserver recovers, does not take the VIP from a ready holder (no needless move, no reset
///   connections); with every apiserver unready (etcd lost quorum) the VIP stays where it is
///   instead of vanishing or moving around.
/// - `rank` (the node's place among the peers by name) keeps backups' priorities distinct, so
///   two backups never time out at the same moment.
package enum ControlPlanePriority {
    /// The number for the track file (priority − 1). `rank` is below `ControlPlaneConfig.maxPeers`.
    package static func trackValue(ready: Bool, holding: Bool, rank: Int) -> Int {
        let r = min(max(rank, 0), ControlPlaneConfig.maxPeers - 1)
        switch (ready, holding) {
        case (true, true): return 240
        case (true, false): return 200 - r
        case (false, true): return 100
        case (false, false): return 50 - r
        }
    }
}
