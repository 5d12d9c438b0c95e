import Foundation
import Glibc

/// keepalived (VRRP only, foreground) as a child of this process. Applies configs after
/// `keepalived -t` (SIGHUP to reload). If it dies on its own, `cleanup` runs at once, before any
/// restart: a SIGKILLed keepalived leaves its VIPs on the interface while a backup takes them
/// over, which is a duplicate IP on the network (docs/architecture.md, "Data-plane facts: keepalived").
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

    package typealias ApplyError = DaemonError

    package let paths: Paths
    private let lock = NSLock()
    private let daemon: Supervisor
    private let launcher: [String]
    private let thread = DaemonThread(name: "keepalived")
    private var current: String?

    /// `cleanup` runs the moment keepalived dies on its own (remove its VIPs), before the restart.
    package init(paths: Paths, launcher: [String] = [], cleanup: @escaping @Sendable () -> Void) {
        self.paths = paths
        self.launcher = launcher
        let vrrpPidFile = paths.vrrpPidFile
        daemon = Supervisor(
            .init(
                daemon: "keepalived",
                arguments: [
                    paths.binary, "-n", "-l", "-P", "-f", paths.config, "-p", paths.pidFile, "-r", paths.vrrpPidFile,
                ],
                launcher: launcher, initialBackoff: .milliseconds(200),
                leftoverPidFiles: [paths.pidFile, paths.vrrpPidFile],
                configPath: paths.config),
            onUnexpectedExit: {
                // A VRRP child may outlive the main process: end it too (its PID from its own pid file).
                if let vrrp = (try? String(contentsOfFile: vrrpPidFile, encoding: .utf8)).flatMap({
                    Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }),
                    kill(vrrp, 0) == 0
                {
                    kill(vrrp, SIGKILL)
                }
                cleanup()
            })
    }

    package var restarts: Int { daemon.restarts }

    /// PIDs of the main and VRRP processes, from their pid files.
    package var pids: [Int32] {
        [paths.pidFile, paths.vrrpPidFile].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// `applyBlocking` on the daemon's own thread.
    package func apply(_ text: String) async throws(ApplyError) {
        try await thread.run { () throws(DaemonError) in try self.applyBlocking(text) }
    }

    /// `stopBlocking` on the daemon's own thread.
    package func stop() async {
        _ = try? await thread.run { () throws(DaemonError) in self.stopBlocking() }
    }

    /// Checks and applies `text` (start, or SIGHUP when running); unchanged text does nothing.
    package func applyBlocking(_ text: String) throws(ApplyError) {
        lock.lock()
        defer { lock.unlock() }
        if text == current, daemon.pid != nil { return }
        try ChildProcess.install(
            text, at: paths.config, check: { [paths.binary, "-t", "-f", $0] }, launcher: launcher,
            daemon: "keepalived -t")
        current = text
        if let pid = daemon.pid {
            kill(pid, SIGHUP)
        } else {
            try daemon.start()
        }
    }

    /// Graceful stop (SIGTERM: keepalived sends priority 0 and removes its VIPs itself).
    package func stopBlocking() {
        lock.withLock { current = nil }
        daemon.stop()
    }
}
