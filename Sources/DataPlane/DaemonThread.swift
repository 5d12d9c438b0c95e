import Foundation

/// A thread of its own for one daemon's blocking work — config checks (`haproxy -c`), reload
/// confirmation (polling `show proc`), drains (waiting for the process to exit) — so none of it
/// runs on Swift's cooperative pool (two threads on a 2-core node: two such calls would stall
/// informers, metrics and health). Jobs run one at a time, in order.
package final class DaemonThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    package init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the thread; the caller awaits without holding a pool thread.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws(DaemonError) -> T) async throws(DaemonError)
        -> T
    {
        let result: Result<T, DaemonError> = await withCheckedContinuation { c in
            condition.lock()
            jobs.append {
                do throws(DaemonError) { c.resume(returning: .success(try body())) } catch {
                    c.resume(returning: .failure(error))
                }
            }
            condition.signal()
            condition.unlock()
        }
        return try result.get()
    }
}

/// keepalived's track file for this node (`track_file`, weight 0): "0" while the node may hold
/// VIPs — its proxy is healthy and the node is eligible — else "1", which puts every VRRP
/// instance in FAULT (a priority-0 advert, so a backup takes the VIPs over at once).
package final class TrackFile: @unchecked Sendable {
    package let path: String
    private let lock = NSLock()
    private var proxyHealthy: Bool
    private var eligible = true
    private var written: Bool?

    /// `proxyHealthy`: the initial verdict (false until a probe says otherwise; true when there
    /// is no proxy to watch). The file is written at once.
    package init(path: String, proxyHealthy: Bool) throws(DaemonError) {
        self.path = path
        self.proxyHealthy = proxyHealthy
        try ProxyHealthProbe.write(path, healthy: proxyHealthy)  // nothing shares the object yet
        written = proxyHealthy
    }

    package var holdsVIPs: Bool { lock.withLock { proxyHealthy && eligible } }

    package func set(proxyHealthy value: Bool) {
        lock.withLock {
            proxyHealthy = value
            try? writeLocked()
        }
    }

    package func set(eligible value: Bool) {
        lock.withLock {
            eligible = value
            try? writeLocked()
        }
    }

    private func writeLocked() throws(DaemonError) {
        let ok = proxyHealthy && eligible
        guard written != ok else { return }
        try ProxyHealthProbe.write(path, healthy: ok)
        written = ok
    }
}
