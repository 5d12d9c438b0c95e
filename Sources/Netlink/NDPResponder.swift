import CAnnounce
package import Core
import Foundation
package import Logging

/// Answers IPv6 Neighbor Solicitations for VIPs this node holds as local routes (VRRP followers,
/// `NetlinkSocket.addVIPRoute`), on the interface their group runs on: the kernel answers only for
/// addresses on the interface a solicitation came in on, and thousands of IPv6 addresses cost it
/// a solicited-node group join each to add and a walk of every route each to remove
/// (docs/architecture.md, "IPv6 followers"). One thread per interface, in the node's network
/// namespace, with a packet socket that sees every multicast frame while it is open (MetalLB
/// answers the same way in layer 2 mode).
package final class NDPResponder: @unchecked Sendable {
    private let logger: Logger
    private let namespace: String?
    private let lock = NSLock()
    /// What to answer for, by interface (under `lock`).
    private var answering: [String: Set<IPAddress>] = [:]
    /// Interfaces with a thread running (under `lock`).
    private var running: Set<String> = []
    private var stopped = false

    package init(logger: Logger, namespace: String?) {
        self.logger = logger
        self.namespace = namespace
    }

    /// The addresses to answer for on each interface (an interface left out: answer none there).
    package func set(_ addresses: [String: Set<IPAddress>]) {
        let start: [String] = lock.withLock {
            guard !stopped else { return [] }
            answering = addresses
            let new = addresses.filter { !$0.value.isEmpty && !running.contains($0.key) }.map(\.key)
            running.formUnion(new)
            return new
        }
        for interface in start { spawn(interface) }
    }

    /// The addresses answered for on `interface` now.
    package func answered(on interface: String) -> Set<IPAddress> { lock.withLock { answering[interface] ?? [] } }

    /// Ends the threads (within a quarter of a second).
    package func stop() {
        lock.withLock {
            stopped = true
            answering = [:]
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func spawn(_ interface: String) {
        let thread = Thread { [self] in
            if let namespace { NetlinkWorker.enter(namespace: namespace) }
            serve(interface)
            lock.withLock { _ = running.remove(interface) }
        }
        thread.name = "ndp-\(interface)"
        thread.start()
    }

    /// Serves `interface` until stopped or nothing is left to answer there; retries opening it
    /// every second (it may not exist yet).
    private func serve(_ interface: String) {
        var index: Int32 = 0
        var mac = [UInt8](repeating: 0, count: 6)
        var fd: Int32 = -1
        var warned = false
        defer { if fd >= 0 { close(fd) } }
        var target = [UInt8](repeating: 0, count: 16)
        var source = [UInt8](repeating: 0, count: 16)
        var sourceMAC = [UInt8](repeating: 0, count: 6)
        while !isStopped {
            let wanted = lock.withLock { answering[interface] ?? [] }
            if wanted.isEmpty { return }
            if fd < 0 {
                fd = k8slb_ndp_open(interface, &index, &mac)
                if fd < 0 {
                    if !warned {
                        logger.error(
                            "cannot answer neighbour solicitations for IPv6 VIPs",
                            metadata: ["lb.interface": "\(interface)", "error": "\(String(cString: strerror(-fd)))"])
                        warned = true
                    }
                    usleep(1_000_000)
                    continue
                }
                logger.debug("answering neighbour solicitations", metadata: ["lb.interface": "\(interface)"])
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 250) > 0 else { continue }
            while true {
                let r = k8slb_ndp_read(fd, &target, &source, &sourceMAC)
                if r < 0 { break }
                guard r == 1, let asked = IPAddress(networkBytes: target), wanted.contains(asked) else { continue }
                // Answered with the set read at the top of this round; a follower let go since
                // is answered once more at most (its new holder's announcement overrides it).
                let err = k8slb_ndp_answer(fd, index, mac, target, source, sourceMAC)
                if err != 0 {
                    logger.warning(
                        "cannot answer a neighbour solicitation",
                        metadata: ["lb.vip": "\(asked)", "error": "\(String(cString: strerror(err)))"])
                }
            }
        }
    }
}
