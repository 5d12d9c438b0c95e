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

    package typealias ApplyError = DaemonError

    package let paths: Paths
    private let lock = NSLock()
    private let daemon: Supervisor
    private let launcher: [String]
    private let thread = DaemonThread(name: "nginx")
    private var current: String?

    package init(paths: Paths, launcher: [String] = []) {
        self.paths = paths
        self.launcher = launcher
        daemon = Supervisor(.init(daemon: "nginx", arguments: [paths.binary, "-e", "stderr", "-c", paths.config, "-g", "daemon off; master_process on;"],
                                  launcher: launcher, initialBackoff: .milliseconds(100), leftoverPidFiles: [paths.directory + "/nginx.pid"],
                                  configPath: paths.config))
    }

    package var restarts: Int { daemon.restarts }
    package var masterPID: Int32? { daemon.pid }

    /// `applyBlocking` on the daemon's own thread.
    @discardableResult
    package func apply(_ text: String) async throws(ApplyError) -> Bool {
        try await thread.run { () throws(DaemonError) in try self.applyBlocking(text) }
    }

    /// `stopBlocking` on the daemon's own thread.
    package func stop(drain: Duration = .seconds(35)) async {
        _ = try? await thread.run { () throws(DaemonError) in self.stopBlocking(drain: drain) }
    }

    /// `true` when it started or reloaded, `false` when the text was unchanged.
    @discardableResult
    package func applyBlocking(_ text: String) throws(ApplyError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if text == current, daemon.pid != nil { return false }
        try ChildProcess.install(text, at: paths.config, check: { [paths.binary, "-t", "-q", "-e", "stderr", "-c", $0] }, launcher: launcher, daemon: "nginx -t")
        current = text
        if let pid = daemon.pid {
            kill(pid, SIGHUP)
        } else {
            try daemon.start()
        }
        return true
    }

    /// SIGQUIT: graceful shutdown (workers finish their connections, bounded by the config's
    /// `worker_shutdown_timeout`); SIGTERM (fast) if it is still running after `drain`.
    package func stopBlocking(drain: Duration = .seconds(35)) {
        lock.withLock { current = nil }
        daemon.stop(signal: SIGQUIT, escalate: drain)
    }
}
