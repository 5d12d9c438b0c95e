import Foundation
import Glibc

/// nginx (the `nginx` backend) as a child in the foreground: apply = write a temp file →
/// `nginx -t` → atomic rename → SIGHUP to the master (nginx starts new workers and lets the old
/// ones finish their connections). Restarted with backoff when it dies on its own.
package final class NginxProcess: @unchecked Sendable {
    package struct Paths: Sendable {
        package var binary: String
        package var directory: String
        package var config: String { directory + "/nginx.conf" }
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
    private let lock = NSLock()
    private var process: Process?
    private var current: String?
    private var supervising = true
    private var backoff = RestartBackoff(initial: .milliseconds(100))
    private var _restarts = 0

    package init(paths: Paths, launcher: [String] = []) {
        self.paths = paths
        self.launcher = launcher
    }

    package var restarts: Int { lock.withLock { _restarts } }
    package var masterPID: Int32? { lock.withLock { process?.isRunning == true ? process?.processIdentifier : nil } }

    /// `true` when it started or reloaded, `false` when the text was unchanged.
    @discardableResult
    package func apply(_ text: String) throws(ApplyError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if text == current, process?.isRunning == true { return false }
        let tmp = paths.config + ".tmp"
        do { try text.write(toFile: tmp, atomically: false, encoding: .utf8) } catch { throw ApplyError(description: "cannot write \(tmp): \(error)") }
        let check = ChildProcess.run([paths.binary, "-t", "-q", "-e", "stderr", "-c", tmp], launcher: launcher)
        guard check.status == 0 else {
            throw ApplyError(description: "nginx -t rejected the new config, keeping the old one: \(check.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard rename(tmp, paths.config) == 0 else { throw ApplyError(description: "rename: \(String(cString: strerror(errno)))") }
        current = text
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGHUP)
        } else {
            try start()
        }
        return true
    }

    private var checkedLeftover = false

    private func start() throws(ApplyError) {
        if !checkedLeftover {
            ChildProcess.endLeftover(pidFile: paths.directory + "/nginx.pid", marker: paths.config)
            checkedLeftover = true
        }
        supervising = true
        do {
            process = try ChildProcess.spawn([paths.binary, "-e", "stderr", "-c", paths.config, "-g", "daemon off; master_process on;"],
                                             launcher: launcher) { [weak self] exited in self?.exited(exited) }
        } catch { throw ApplyError(description: "cannot start nginx: \(error)") }
    }

    private func exited(_ p: Process) {
        let delay: Duration? = lock.withLock {
            guard supervising, process === p, current != nil else { return nil }
            return backoff.next()
        }
        guard let delay else { return }
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

    /// SIGQUIT: graceful shutdown (workers finish their connections, bounded by the config's
    /// `worker_shutdown_timeout`); SIGTERM (fast) if it is still running after `drain`.
    package func stop(drain: Duration = .seconds(35)) {
        let p: Process? = lock.withLock {
            supervising = false
            defer { process = nil; current = nil }
            return process
        }
        guard let p, p.isRunning else { return }
        kill(p.processIdentifier, SIGQUIT)
        let deadline = ContinuousClock.now + drain
        while p.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        p.waitUntilExit()
    }
}
