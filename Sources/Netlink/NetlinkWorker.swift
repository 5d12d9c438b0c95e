import CAnnounce
import CLibc
import CNetlink
package import Core
import Foundation
import Glibc

/// A thread that owns the node's netlink sockets (libnl sockets are not thread-safe), optionally
/// inside a named network namespace (`/run/netns/<name>`: the local demo and the tests run several
/// "nodes" on one host). Everything that must see the node's network — netlink, interface names,
/// `/proc/sys/net` — runs on this thread.
package final class NetlinkWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopped = false
    private var socket: NetlinkSocket?

    /// Starts the thread (entering `namespace` first when given).
    package init(namespace: String? = nil) throws(NetlinkError) {
        let ready = NSCondition()
        nonisolated(unsafe) var failure: NetlinkError?
        nonisolated(unsafe) var started = false
        let thread = Thread { [self] in
            if let namespace, !Self.enter(namespace: namespace) {
                failure = NetlinkError(
                    operation: "setns", code: -1,
                    message: "network namespace \(namespace): \(String(cString: strerror(errno)))")
            }
            if failure == nil {
                do throws(NetlinkError) { socket = try NetlinkSocket() } catch { failure = error }
            }
            ready.lock()
            started = true
            ready.signal()
            ready.unlock()
            guard failure == nil else { return }
            loop()
        }
        thread.name = "netlink"
        thread.start()
        ready.lock()
        while !started { ready.wait() }
        ready.unlock()
        if let failure { throw failure }
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Queues `job` for the netlink thread.
    private func enqueue(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on the netlink thread with its socket.
    package func run<T: Sendable>(_ body: @escaping @Sendable (NetlinkSocket) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            enqueue { [self] in
                do { cont.resume(returning: try body(socket!)) } catch { cont.resume(throwing: error) }
            }
        }
    }

    /// Runs `body` on the netlink thread and waits for it (for callers outside Swift concurrency,
    /// e.g. a process exit handler; never call it from the netlink thread itself).
    package func runBlocking<T: Sendable>(_ body: @escaping @Sendable (NetlinkSocket) throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, any Error>?
        enqueue { [self] in
            result = Result { try body(socket!) }
            done.signal()
        }
        done.wait()
        return try result!.get()
    }

    /// Sets a sysctl of this node's network namespace, e.g. `net/ipv4/ip_nonlocal_bind`. One that
    /// already has `value` is not written (a container's /proc/sys is read-only, and the nginx
    /// overlay's init container sets these before the actor starts).
    package func sysctl(_ key: String, _ value: String) async throws {
        try await run { _ in
            let path = "/proc/sys/" + key
            if let current = try? String(contentsOfFile: path, encoding: .utf8),
                current.trimmingCharacters(in: .whitespacesAndNewlines) == value
            {
                return
            }
            let fd = open(path, O_WRONLY)
            guard fd >= 0 else {
                throw NetlinkError(operation: "sysctl \(key)", code: -1, message: String(cString: strerror(errno)))
            }
            defer { close(fd) }
            let bytes = Array(value.utf8)
            guard write(fd, bytes, bytes.count) == bytes.count else {
                throw NetlinkError(operation: "sysctl \(key)", code: -1, message: String(cString: strerror(errno)))
            }
        }
    }

    /// See `NetlinkSocket.ensureLocalDelivery`.
    package func ensureLocalDelivery(mark: UInt32, table: UInt32, priority: UInt32) async throws {
        try await run { socket in try socket.ensureLocalDelivery(mark: mark, table: table, priority: priority) }
    }

    /// Announces `address` (held here) on `interface`: a gratuitous ARP (IPv4) or an unsolicited
    /// Neighbor Advertisement (IPv6), so neighbours switch to this node's MAC at once.
    package func announce(_ address: IPAddress, on interface: String) async throws {
        try await run { _ in try Self.announceHere(address, on: interface) }
    }

    /// `announce`, sent from the calling thread (on the netlink thread: the node's namespace).
    package static func announceHere(_ address: IPAddress, on interface: String) throws(NetlinkError) {
        let bytes = address.networkBytes
        let err = k8slb_announce(interface, bytes, Int32(bytes.count))
        guard err == 0 else {
            throw NetlinkError(
                operation: "announce \(address) on \(interface)", code: -1, message: String(cString: strerror(err)))
        }
    }

    /// Calls `onChange` (on a thread of its own, in the node's namespace) whenever an address is
    /// added or removed on the node, until `stop()`.
    package func monitorAddresses(namespace: String?, onChange: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            guard let sk = nl_socket_alloc() else { return }
            if let namespace { Self.enter(namespace: namespace) }
            nl_socket_disable_seq_check(sk)
            guard nl_connect(sk, NETLINK_ROUTE) == 0 else {
                nl_socket_free(sk)
                return
            }
            _ = nl_socket_add_membership(sk, Int32(RTNLGRP_IPV4_IFADDR.rawValue))
            _ = nl_socket_add_membership(sk, Int32(RTNLGRP_IPV6_IFADDR.rawValue))
            _ = nl_socket_set_nonblocking(sk)
            let fd = nl_socket_get_fd(sk)
            while !isStopped {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&p, 1, 250)
                if n > 0 {
                    while nl_recvmsgs_default(sk) > 0 {}
                    onChange()
                }
            }
            nl_close(sk)
            nl_socket_free(sk)
        }
        thread.name = "netlink-monitor"
        thread.start()
    }

    /// Moves the calling thread into the network namespace `/run/netns/<name>` (the local demo
    /// and the tests run nodes in namespaces); false, with `errno`, when it cannot.
    @discardableResult
    package static func enter(namespace name: String) -> Bool {
        let fd = open("/run/netns/\(name)", O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return clibc_setns_net(fd) == 0
    }

    /// True once `stop()` was called (a job queued after that may never run).
    package var isStopped: Bool { condition.withLock { stopped } }

    /// Ends the threads once queued jobs are done.
    package func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}
