import CLibc
import Core
import Foundation
import Glibc

/// Watches the local proxy's health endpoint (`GET /healthz` on 127.0.0.1) from a thread of its
/// own — inside the node's network namespace when one is given — and reports the verdict (the
/// actor mirrors it into keepalived's track file, `TrackFile`). keepalived reads the file through
/// inotify, so a dead proxy moves its VIPs within `fall × interval`, without a script run per
/// second (scripts also need CAP_SETGID, which the DaemonSet does not grant).
package final class ProxyHealthProbe: @unchecked Sendable {
    package struct Settings: Sendable {
        package var port: UInt16
        /// Network namespace (`/run/netns/<name>`) the proxy listens in; nil: this process's.
        package var namespace: String?
        package var interval: Duration = .milliseconds(200)
        package var timeout: Duration = .milliseconds(300)
        package var rise = 2
        package var fall = 2

        package init(port: UInt16, namespace: String? = nil) {
            self.port = port
            self.namespace = namespace
        }
    }

    private let settings: Settings
    private let onChange: @Sendable (Bool) -> Void
    private let condition = NSCondition()
    private var stopped = false
    private var wake = false
    private var waiters: [CheckedContinuation<Bool, Never>] = []
    private var tracker: HealthTracker
    private var thread: Thread?

    /// `onChange` runs on the probe's thread whenever the verdict changes (and on the first one).
    package init(settings: Settings, onChange: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.settings = settings
        self.onChange = onChange
        tracker = HealthTracker(rise: settings.rise, fall: settings.fall)
    }

    /// The current verdict (nil before the first probe).
    package var healthy: Bool? { condition.withLock { tracker.healthy } }

    /// Probes every `interval` until `stop()`.
    package func start() {
        let t = Thread { [self] in
            if let ns = settings.namespace {
                let fd = open("/run/netns/\(ns)", O_RDONLY)
                guard fd >= 0, clibc_setns_net(fd) == 0 else {
                    if fd >= 0 { close(fd) }
                    return
                }
                close(fd)
            }
            loop()
        }
        t.name = "proxy-health"
        thread = t
        t.start()
    }

    /// Probes at once and returns the verdict after it (the caller waits without blocking a thread).
    package func probeNow() async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            condition.lock()
            if stopped {
                let v = tracker.healthy ?? false
                condition.unlock()
                c.resume(returning: v)
                return
            }
            waiters.append(c)
            wake = true
            condition.signal()
            condition.unlock()
        }
    }

    package func stop() {
        condition.lock()
        stopped = true
        let pending = waiters
        waiters = []
        let verdict = tracker.healthy ?? false
        condition.signal()
        condition.unlock()
        for w in pending { w.resume(returning: verdict) }
    }

    private func loop() {
        while true {
            let ok = Self.get(port: settings.port, timeout: settings.timeout)
            condition.lock()
            let changed = tracker.record(ok)
            let verdict = tracker.healthy ?? false
            let done = waiters
            waiters = []
            condition.unlock()
            if let changed { onChange(changed) }
            for w in done { w.resume(returning: verdict) }
            condition.lock()
            let deadline = Date().addingTimeInterval(
                Double(settings.interval.components.attoseconds) / 1e18 + Double(settings.interval.components.seconds))
            while !wake && !stopped && condition.wait(until: deadline) {}
            wake = false
            let end = stopped
            condition.unlock()
            if end { return }
        }
    }

    /// keepalived's track file: "0" = OK, "1" = fault (weight 0). Written whole, then renamed.
    static func write(_ path: String, healthy: Bool) throws(DaemonError) {
        let tmp = path + ".tmp"
        do { try (healthy ? "0\n" : "1\n").write(toFile: tmp, atomically: false, encoding: .utf8) } catch {
            throw DaemonError(.writeFailed, "cannot write \(tmp): \(error)")
        }
        try ChildProcess.replace(path, with: tmp)
    }

    /// One `GET /healthz` to 127.0.0.1:`port`: true on an HTTP 200 within `timeout`.
    static func get(port: UInt16, timeout: Duration) -> Bool {
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            guard errno == EINPROGRESS, wait(fd, Int16(POLLOUT), ms) else { return false }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0, err == 0 else { return false }
        }
        let request = Array("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while reply.count < 12 {
            guard wait(fd, Int16(POLLIN), ms) else { return false }
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            reply += buffer[..<n]
        }
        let status = String(decoding: reply.prefix(12), as: UTF8.self)
        return status.hasPrefix("HTTP/1.") && status.hasSuffix(" 200")
    }

    private static func wait(_ fd: Int32, _ events: Int16, _ ms: Int32) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        return poll(&p, 1, ms) == 1 && (p.revents & events) != 0
    }
}
