import CLibc
package import Core
import Foundation
import Glibc
import Synchronization

/// Hears VRRP adverts on this node — raw IPv4 and IPv6 sockets for IP protocol 112, inside the
/// node's network namespace when one is given — and counts them per watched group. A node that
/// stepped down for a group in a split brain (`SplitBrain`) has no keepalived instance for it,
/// so this is how it learns that the group's adverts reach it again.
///
/// The sockets are open only while some group is watched (nothing is parsed otherwise). They
/// join the VRRP multicast groups (224.0.0.18, ff02::12) on every interface, since no keepalived
/// instance may be left on the interface to have joined them; unicast adverts arrive anyway.
/// A raw socket sees packets after the netfilter input hook: what a firewall drops before
/// keepalived, it drops before this too.
package final class VRRPAdvertListener: Sendable {
    private struct State {
        var watched: Set<VRRPGroupID> = []
        var heard: [VRRPGroupID: Int] = [:]
        var stopped = false
        var failure: String?
        var onHeard: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    private let namespace: String?
    /// How often the thread looks at the watched set (and re-joins the multicast groups).
    private let pollMilliseconds: Int32 = 200

    package init(namespace: String?) {
        self.namespace = namespace
    }

    /// Starts the listening thread (it sleeps while nothing is watched).
    package func start() {
        let t = Thread { [self] in
            if let ns = namespace {
                let fd = open("/run/netns/\(ns)", O_RDONLY)
                guard fd >= 0, clibc_setns_net(fd) == 0 else {
                    if fd >= 0 { close(fd) }
                    state.withLock { $0.failure = "cannot enter network namespace \(ns)" }
                    return
                }
                close(fd)
            }
            loop()
        }
        t.name = "vrrp-adverts"
        t.start()
    }

    package func stop() { state.withLock { $0.stopped = true } }

    /// Watches exactly `groups`: a newly watched group counts from 0, an unwatched one is dropped.
    package func watch(_ groups: Set<VRRPGroupID>) {
        state.withLock { s in
            s.watched = groups
            s.heard = s.heard.filter { groups.contains($0.key) }
        }
    }

    /// Called (on the listener's thread) whenever an advert of a watched group arrives.
    package func onHeard(_ body: @escaping @Sendable () -> Void) { state.withLock { $0.onHeard = body } }

    /// Adverts heard per watched group since it was first watched.
    package var heard: [VRRPGroupID: Int] { state.withLock { $0.heard } }

    /// Why the sockets could not be opened (nil: they could, or were never needed).
    package var failure: String? { state.withLock { $0.failure } }

    private func loop() {
        var fd4: Int32 = -1
        var fd6: Int32 = -1
        var joinedAt = ContinuousClock.now - .seconds(60)
        defer {
            if fd4 >= 0 { close(fd4) }
            if fd6 >= 0 { close(fd6) }
        }
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let (stopped, watching) = state.withLock { ($0.stopped, !$0.watched.isEmpty) }
            if stopped { return }
            if !watching {
                if fd4 >= 0 { close(fd4) }
                if fd6 >= 0 { close(fd6) }
                fd4 = -1
                fd6 = -1
                usleep(UInt32(pollMilliseconds) * 1000)
                continue
            }
            if fd4 < 0 && fd6 < 0 {
                fd4 = socket(AF_INET, Int32(SOCK_RAW.rawValue), 112)
                fd6 = socket(AF_INET6, Int32(SOCK_RAW.rawValue), 112)
                if fd4 < 0 && fd6 < 0 {
                    let reason = String(cString: strerror(errno))
                    state.withLock { $0.failure = "raw VRRP sockets: \(reason)" }
                    usleep(UInt32(pollMilliseconds) * 1000)
                    continue
                }
                joinedAt = ContinuousClock.now - .seconds(60)
            }
            // Interfaces come and go: join again now and then (a repeated join is refused, harmlessly).
            if ContinuousClock.now - joinedAt > .seconds(5) {
                Self.joinMulticast(fd4: fd4, fd6: fd6)
                joinedAt = ContinuousClock.now
            }
            var fds = [
                pollfd(fd: fd4, events: Int16(POLLIN), revents: 0), pollfd(fd: fd6, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 2, pollMilliseconds)
            guard n > 0 else { continue }
            for (i, p) in fds.enumerated() where p.fd >= 0 && p.revents & Int16(POLLIN) != 0 {
                let got = buffer.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard got > 0 else { continue }
                let advert = buffer.withUnsafeBufferPointer {
                    Self.parse(UnsafeBufferPointer(rebasing: $0.prefix(got)), family: i == 0 ? .ipv4 : .ipv6)
                }
                if let advert { record(advert) }
            }
        }
    }

    private func record(_ group: VRRPGroupID) {
        let callback: (@Sendable () -> Void)? = state.withLock { s in
            guard s.watched.contains(group) else { return nil }
            s.heard[group, default: 0] += 1
            return s.onHeard
        }
        callback?()
    }

    /// The group of a VRRP advert (v2 or v3, type 1) as a raw socket returns it: IPv4 with its IP
    /// header, IPv6 without. nil for anything else.
    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>, family: IPFamily) -> VRRPGroupID? {
        var offset = 0
        if family == .ipv4 {
            guard let first = bytes.first, first >> 4 == 4 else { return nil }
            offset = Int(first & 0x0f) * 4
        }
        guard offset >= 0, bytes.count >= offset + 8 else { return nil }
        let versionType = bytes[offset]
        let vrid = Int(bytes[offset + 1])
        guard versionType >> 4 == 2 || versionType >> 4 == 3, versionType & 0x0f == 1, (1...255).contains(vrid) else {
            return nil
        }
        return VRRPGroupID(family: family, vrid: vrid)
    }

    /// Joins 224.0.0.18 and ff02::12 on every interface but loopback.
    private static func joinMulticast(fd4: Int32, fd6: Int32) {
        guard let list = if_nameindex() else { return }
        defer { if_freenameindex(list) }
        var p = list
        while p.pointee.if_index != 0 {
            let index = p.pointee.if_index
            let name = p.pointee.if_name.map { String(cString: $0) } ?? ""
            p += 1
            if name == "lo" { continue }
            if fd4 >= 0 {
                var m = ip_mreqn()
                m.imr_multiaddr.s_addr = inet_addr("224.0.0.18")
                m.imr_ifindex = Int32(index)
                _ = setsockopt(fd4, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &m, socklen_t(MemoryLayout<ip_mreqn>.size))
            }
            if fd6 >= 0 {
                var m = ipv6_mreq()
                _ = inet_pton(AF_INET6, "ff02::12", &m.ipv6mr_multiaddr)
                m.ipv6mr_interface = index
                _ = setsockopt(
                    fd6, Int32(IPPROTO_IPV6), IPV6_ADD_MEMBERSHIP, &m, socklen_t(MemoryLayout<ipv6_mreq>.size))
            }
        }
    }
}
