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
/// IPv6 followers are bound on `lo`, not on the group's interface, and `NDPResponder` answers
/// neighbour solicitations for them there: each IPv6 address on a multicast interface costs the
/// kernel a solicited-node group join, which made a takeover of thousands take half a minute
/// (docs/architecture.md, "IPv6 followers").
package final class VRRPFollowers: @unchecked Sendable {
    private let netlink: NetlinkWorker
    private let logger: Logger
    private let lock = NSLock()
    /// The groups of the plan last applied (under `lock`).
    private var groups: [KeepalivedRenderer.Followers] = []
    /// Followers this node added and holds, with the interface bound on: touched on the netlink
    /// thread only.
    private var held: [IPAddress: String] = [:]
    /// IPv6 followers held, by the interface their group runs on (where they are announced).
    private var heldIPv6: [String: Set<IPAddress>] = [:]
    private let responder: NDPResponder

    /// Where a follower of a group on `interface` is bound.
    static func bindingInterface(_ a: IPAddress, group interface: String) -> String {
        a.family == .ipv6 ? "lo" : interface
    }
    /// Adds per pass before the netlink thread serves other work (IPv6 addresses cost the kernel
    /// more the more an interface has: 5,000 took 18 s here, docs/architecture.md).
    static let addsPerPass = 256
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

    /// Stops answering for IPv6 followers (after `clear`, at shutdown).
    package func stop() { responder.stop() }

    /// The IPv6 followers answered for on `interface` (tests).
    package func answered(on interface: String) -> Set<IPAddress> { responder.answered(on: interface) }

    /// One pass on the netlink thread: what should be here, from the addresses present.
    private func pass(_ sock: NetlinkSocket) {
        let groups = lock.withLock { self.groups }
        guard !groups.isEmpty || !held.isEmpty else { return }
        let present: [NetlinkSocket.Address]
        do { present = try sock.addresses() } catch {
            logger.error("cannot read the node's addresses; VRRP followers unchanged", metadata: ["error": "\(error)"])
            return
        }
        var on: [IPAddress: String] = [:]
        for a in present where a.prefixLength == a.address.family.bitWidth { on[a.address] = a.interface }
        var wanted: [IPAddress: String] = [:]
        var unwanted: [IPAddress] = []
        var anchors = Set<IPAddress>()
        /// The interface each wanted follower's group runs on (announced there).
        var group: [IPAddress: String] = [:]
        for g in groups {
            anchors.formUnion(g.anchors)
            if g.anchors.contains(where: { on[$0] == g.interface.rawValue }) {
                for a in g.addresses {
                    wanted[a] = Self.bindingInterface(a, group: g.interface.rawValue)
                    group[a] = g.interface.rawValue
                }
            } else {
                unwanted += g.addresses.filter { on[$0] != nil }
            }
        }
        // Held followers no group lists any more go too, unless keepalived now carries them.
        for a in held.keys where wanted[a] == nil && !anchors.contains(a) && on[a] != nil { unwanted.append(a) }
        var removed = 0
        // Stop answering for what goes before it goes.
        publishIPv6(wanted: wanted, group: group, present: on, removing: Set(unwanted))
        for a in unwanted.sorted() {
            guard let iface = on[a] else { continue }
            do {
                try sock.remove(a, interface: iface)
                removed += 1
            } catch {
                logger.error("cannot remove a VRRP follower", metadata: ["lb.vip": "\(a)", "error": "\(error)"])
            }
            held[a] = nil
        }
        for a in held.keys where wanted[a] == nil { held[a] = nil }
        var added: [(IPAddress, String)] = []
        var more = false
        var unannounced = 0
        for (a, iface) in wanted.sorted(by: { $0.key < $1.key }) {
            if on[a] == iface {
                held[a] = iface
                continue
            }
            guard added.count < Self.addsPerPass else {
                more = true
                break
            }
            do {
                // On another interface (a follower moved from `lo` or to it): off there first.
                if let elsewhere = on[a] { try sock.remove(a, interface: elsewhere) }
                try sock.add(a, interface: iface)
                held[a] = iface
                added.append((a, group[a] ?? iface))
            } catch { logger.error("cannot bind a VRRP follower", metadata: ["lb.vip": "\(a)", "error": "\(error)"]) }
            // Announced every few adds: clients still send to the old holder's MAC until then.
            if added.count - unannounced == Self.announceEvery {
                announce(added[unannounced...])
                unannounced = added.count
            }
        }
        announce(added[unannounced...])
        publishIPv6(wanted: wanted, group: group, present: nil, removing: [])
        if !added.isEmpty || removed > 0 {
            logger.debug("VRRP followers", metadata: ["added": "\(added.count)", "removed": "\(removed)"])
        }
        if more { Task { _ = try? await self.netlink.run { sock in self.pass(sock) } } }
        if !added.isEmpty {
            // Once more a second later (one announcement may be lost), if still held here.
            let again = added
            Task {
                try? await Task.sleep(for: .seconds(1))
                _ = try? await self.netlink.run { _ in
                    self.announce(again.filter { self.held[$0.0] != nil && self.wantedGroup[$0.0] == $0.1 }[...])
                }
            }
        }
    }

    /// The group interface of each follower held (netlink thread only): where it is announced.
    private var wantedGroup: [IPAddress: String] = [:]

    /// Hands the responder the IPv6 followers held (bound on `lo`), by group interface: those
    /// `wanted` that are bound (`present`; nil: everything `held`) and not being removed.
    private func publishIPv6(
        wanted: [IPAddress: String], group: [IPAddress: String], present: [IPAddress: String]?,
        removing: Set<IPAddress>
    ) {
        var out: [String: Set<IPAddress>] = [:]
        var groups: [IPAddress: String] = [:]
        for (a, bound) in wanted {
            guard let g = group[a] else { continue }
            let isBound = present.map { $0[a] == bound } ?? (held[a] == bound)
            guard isBound, !removing.contains(a) else { continue }
            groups[a] = g
            if a.family == .ipv6 { out[g, default: []].insert(a) }
        }
        wantedGroup = groups
        guard out != heldIPv6 else { return }
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
