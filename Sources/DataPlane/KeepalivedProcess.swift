import Foundation
import Glibc

/// keepalived (VRRP only, foreground) as a child of this process. Applies configs after
/// `keepalived -t` (SIGHUP to reload). If it dies on its own, `cleanup` runs at once, before any
/// restart: a SIGKILLed keepalived leaves its VIPs on the interface while a backup takes them
/// over, which is a duplicate IP on the network (DATAPLANE.md §2.9).
package final class KeepalivedProcess: @unchecked Sendable {
    package struct Paths: Sendable {
        package var binary: String
        package var directory: String
        package var config: String { directory + "/keepalived.conf" }
        package var pidFile: String { directory + "/keepalived.pid" }
        package var vrrpPidFile: String { directory + "/vrrp.pid" }
        package init(binary: String, directory: String) {
            self.binary = binary
            self.directory = directory
        }
    }

    package struct ApplyError: Error, CustomStringConvertible {
        package let description: String
    }

    package let paths: Paths
    private let launcher: [String]
    private let cleanup: @Sendable () -> Void
    private let lock = NSLock()
    private var process: Process?
    private var current: String?
    private var supervising = true
    private var backoff = RestartBackoff(initial: .milliseconds(200))
    private var _restarts = 0

    package init(paths: Paths, launcher: [String] = [], cleanup: @escaping @Sendable () -> Void) {
        self.paths = paths
        self.launcher = launcher
        self.cleanup = cleanup
    }

    package var restarts: Int { lock.withLock { _restarts } }

    /// PIDs of the main and VRRP processes, from their pid files.
    package var pids: [Int32] {
        [paths.pidFile, paths.vrrpPidFile].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Checks and applies `text` (start, or SIGHUP when running); unchanged text does nothing.
    package func apply(_ text: String) throws(ApplyError) {
        lock.lock()
        defer { lock.unlock() }
        if text == current, process?.isRunning == true { return }
        let tmp = paths.config + ".tmp"
        do { try text.write(toFile: tmp, atomically: false, encoding: .utf8) } catch { throw ApplyError(description: "cannot write \(tmp): \(error)") }
        let check = ChildProcess.run([paths.binary, "-t", "-f", tmp], launcher: launcher)
        guard check.status == 0 else {
            throw ApplyError(description: "keepalived -t rejected the new config, keeping the old one: \(check.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard rename(tmp, paths.config) == 0 else { throw ApplyError(description: "rename: \(String(cString: strerror(errno)))") }
        current = text
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGHUP)
        } else {
            try start()
        }
    }

    private var checkedLeftover = false

    private func start() throws(ApplyError) {
        if !checkedLeftover {
            for file in [paths.pidFile, paths.vrrpPidFile] { ChildProcess.endLeftover(pidFile: file, marker: paths.config) }
            checkedLeftover = true
        }
        supervising = true
        do {
            process = try ChildProcess.spawn([paths.binary, "-n", "-l", "-P", "-f", paths.config, "-p", paths.pidFile, "-r", paths.vrrpPidFile],
                                             launcher: launcher) { [weak self] exited in self?.exited(exited) }
        } catch { throw ApplyError(description: "cannot start keepalived: \(error)") }
    }

    /// Died on its own: remove its VIPs now, restart after a backoff (200 ms … 5 s).
    private func exited(_ p: Process) {
        let delay: Duration? = lock.withLock {
            guard supervising, process === p else { return nil }
            return backoff.next()
        }
        guard let delay else { return }
        // A VRRP child may outlive the main process: end it too (its PID from its own pid file).
        if let vrrp = (try? String(contentsOfFile: paths.vrrpPidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
           kill(vrrp, 0) == 0 {
            kill(vrrp, SIGKILL)
        }
        cleanup()
        ChildProcess.after(delay) { [weak self] in
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            guard self.supervising, self.process === p else { return }
            self._restarts += 1
            do { try self.start() } catch {
                ChildProcess.after(.seconds(1)) { [weak self] in self?.exited(p) }
                return
            }
            ChildProcess.after(.seconds(30)) { [weak self] in self?.lock.withLock { self?.backoff.reset() } }
        }
    }

    /// Graceful stop (SIGTERM: keepalived sends priority 0 and removes its VIPs itself).
    package func stop() {
        let p: Process? = lock.withLock {
            supervising = false
            defer { process = nil; current = nil }
            return process
        }
        ChildProcess.terminate(p)
    }
}
