package import Core
import Foundation
package import Logging

/// Binds each VRRP group's followers (`KeepalivedRenderer.Followers`: its VIPs beyond the few
/// keepalived carries) while one of the group's anchors is on this node, and removes them the
/// moment none is. It looks at the node's addresses, not at keepalived: address events (its own
/// netlink monitor) and every new plan start a pass, so a takeover, a hand-over, FAULT, a
/// keepalived that died (its anchors removed by the exit handler) or a group dropped from the
/// config all end in the same state.
///
/// keepalived then stays small at any size: a Service joining a running group is one address
/// added here without a keepalived reload, and keepalived's single thread keeps sending adverts
/// while thousands of addresses come and go (docs/architecture.md, "keepalived at thousands of
/// VIPs").
///
/// IPv6 followers are not addresses: each is a local route (`local <vip>/128 dev lo table local
/// proto 248`, `NetlinkSocket.addVIPRoute`), and `NDPResponder` answers neighbour solicitations
/// for them on the group's interface. The kernel walks every route to remove one IPv6 address
/// (about 1 ms each beside 5,000, more with more: `scripts/ipv6-address-cost`) and joins a
/// solicited-node group to add one on a multicast interface; both made a takeover of thousands
/// take half a minute. A route takes microseconds either way (docs/architecture.md, "IPv6
/// followers").
package final class VRRPFollowers: @unchecked Sendable {
    private let netlink: NetlinkWorker
    private let logger: Logger
    private let lock = NSLock()
    /// The groups of the plan last applied (under `lock`).
    private var groups: [KeepalivedRenderer.Followers] = []
    /// Followers this node holds, with the interface their group runs on (an IPv4 one is an
    /// address there, an IPv6 one a route; both are announced there): netlink thread only.
    private var held: [IPAddress: String] = [:]
    /// `held`'s IPv6 followers by interface: what the responder answers for.
    private var heldIPv6: [String: Set<IPAddress>] = [:]
    private let responder: NDPResponder

    /// Adds per pass before the netlink thread serves other work (a route or an IPv4 address
    /// takes the kernel tens of microseconds; the announcements about as much).
    static let addsPerPass = 1024
    static let announceEvery = 16

    package init(netlink: NetlinkWorker, logger: Logger, namespace: String?) {
        self.netlink = netlink
        self.logger = logger
        responder = NDPResponder(logger: logger, namespace: namespace)
        netlink.monitorAddresses(namespace: namespace) { [weak self] in
            guard let self, !self.netlink.isStopped else { return }
            _ = try? self.netlink.runBlocking { sock in self.pass(sock) }
        }
    }

    /// The plan's followers; binds or removes what differs now.
    package func set(_ groups: [KeepalivedRenderer.Followers]) async {
        lock.withLock { self.groups = groups }
        _ = try? await netlink.run { sock in self.pass(sock) }
    }

    /// `set`, waiting on the calling thread (never the netlink thread).
    package func setBlocking(_ groups: [KeepalivedRenderer.Followers]) {
        lock.withLock { self.groups = groups }
        _ = try? netlink.runBlocking { sock in self.pass(sock) }
    }

    /// Removes every follower this node holds (shutdown).
    package func clear() async { await set([]) }

    /// Calls `onChange` after a pass that added or removed followers: IPv6 followers are routes,
    /// which the address monitor does not see (the actor's live VIPs).
    package func observe(_ onChange: @escaping @Sendable () -> Void) { lock.withLock { observer = onChange } }
    private var observer: (@Sendable () -> Void)?

    /// Stops answering for IPv6 followers (after `clear`, at shutdown).
    package func stop() { responder.stop() }

    /// The IPv6 followers answered for on `interface` (tests).
    package func answered(on interface: String) -> Set<IPAddress> { responder.answered(on: interface) }

    /// One pass on the netlink thread: what should be here, from the addresses present.
    private func pass(_ sock: NetlinkSocket) {
        let groups = lock.withLock { self.groups }
        guard !groups.isEmpty || !held.isEmpty else { return }
        let present: [NetlinkSocket.Address]
        let routed: Set<IPAddress>
        do {
            present = try sock.addresses()
            routed = Set(try sock.vipRoutes())
        } catch {
            logger.error("cannot read the node's addresses; VRRP followers unchanged", metadata: ["error": "\(error)"])
            return
        }
        var on: [IPAddress: String] = [:]
        for a in present where a.prefixLength == a.address.family.bitWidth { on[a.address] = a.interface }
        /// Whether follower `a` of a group on `interface` is in place: an IPv6 one routed here,
        /// an IPv4 one an address there.
        func inPlace(_ a: IPAddress, _ interface: String) -> Bool {
            a.family == .ipv6 ? routed.contains(a) : on[a] == interface
        }
        // Each follower wanted here, with its group's interface.
        var wanted: [IPAddress: String] = [:]
        var unwanted = Set<IPAddress>()
        var anchors = Set<IPAddress>()
        for g in groups {
            anchors.formUnion(g.anchors)
            if g.anchors.contains(where: { on[$0] == g.interface.rawValue }) {
                for a in g.addresses { wanted[a] = g.interface.rawValue }
            } else {
                unwanted.formUnion(g.addresses.filter { routed.contains($0) || on[$0] != nil })
            }
        }
        // Held followers no group lists any more go too, unless keepalived now carries them.
        for a in held.keys where wanted[a] == nil && !anchors.contains(a) && (routed.contains(a) || on[a] != nil) {
            unwanted.insert(a)
        }
        // What is held: wanted and in place. The responder stops answering for what goes before
        // it goes.
        held = wanted.filter { inPlace($0.key, $0.value) }
        publishIPv6()
        var removed = 0
        for a in unwanted.sorted() {
            do {
                if routed.contains(a) { try sock.removeVIPRoute(a) }
                // An address, unless keepalived carries it (an anchor of a group still here).
                if let iface = on[a], !anchors.contains(a) { try sock.remove(a, interface: iface) }
                removed += 1
            } catch {
                logger.error("cannot remove a VRRP follower", metadata: ["lb.vip": "\(a)", "error": "\(error)"])
            }
        }
        var added: [(IPAddress, String)] = []
        var more = false
        var unannounced = 0
        for (a, iface) in wanted.sorted(by: { $0.key < $1.key }) where held[a] == nil {
            guard added.count < Self.addsPerPass else {
                more = true
                break
            }
            do {
                if a.family == .ipv6 {
                    try sock.addVIPRoute(a)
                    heldIPv6[iface, default: []].insert(a)
                } else {
                    try sock.add(a, interface: iface)
                }
                held[a] = iface
                added.append((a, iface))
            } catch { logger.error("cannot bind a VRRP follower", metadata: ["lb.vip": "\(a)", "error": "\(error)"]) }
            // Answered and announced every few adds: clients still send to the old holder's MAC
            // until then.
            if added.count - unannounced == Self.announceEvery {
                responder.set(heldIPv6)
                announce(added[unannounced...])
                unannounced = added.count
            }
        }
        responder.set(heldIPv6)
        announce(added[unannounced...])
        if !added.isEmpty || removed > 0 {
            logger.debug("VRRP followers", metadata: ["added": "\(added.count)", "removed": "\(removed)"])
            lock.withLock { observer }?()
        }
        if more { Task { _ = try? await self.netlink.run { sock in self.pass(sock) } } }
        if !added.isEmpty {
            // Once more a second later (one announcement may be lost), if still held here.
            let again = added
            Task {
                try? await Task.sleep(for: .seconds(1))
                _ = try? await self.netlink.run { _ in self.announce(again.filter { self.held[$0.0] == $0.1 }[...]) }
            }
        }
    }

    /// Hands the responder `held`'s IPv6 followers (rebuilt once a pass; the adds then insert).
    private func publishIPv6() {
        var out: [String: Set<IPAddress>] = [:]
        for (a, iface) in held where a.family == .ipv6 { out[iface, default: []].insert(a) }
        heldIPv6 = out
        responder.set(out)
    }

    /// Gratuitous ARP / unsolicited NA for followers just bound (keepalived does it for anchors).
    private func announce(_ addresses: ArraySlice<(IPAddress, String)>) {
        for (a, iface) in addresses {
            do { try NetlinkWorker.announceHere(a, on: iface) } catch {
                logger.warning("cannot announce a VRRP follower", metadata: ["lb.vip": "\(a)", "error": "\(error)"])
            }
        }
    }
}
