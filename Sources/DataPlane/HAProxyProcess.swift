package import Core
import Foundation
import Glibc

/// HAProxy in master-worker mode (`-W -S`), as a child of this process, with hitless reloads:
/// write a temp file → `haproxy -c` → atomic rename → SIGUSR2 to the master → check `show proc`
/// (the reload failed if the failure count went up or the worker did not change). Unchanged
/// configs are not rewritten and cause no reload.
package final class HAProxyProcess: @unchecked Sendable {
    package struct Paths: Sendable {
        package var binary: String
        package var directory: String
        package var config: String { directory + "/haproxy.cfg" }
        package var masterSocket: String { directory + "/haproxy-master.sock" }
        /// The workers' stats socket (Runtime API, `level admin`); the config must declare it.
        package var statsSocket: String { directory + "/haproxy.sock" }
        package var pidFile: String { directory + "/haproxy.pid" }
        package init(binary: String, directory: String) {
            self.binary = binary
            self.directory = directory
        }
    }

    /// What `apply` did.
    package enum Outcome: Equatable, Sendable {
        case unchanged
        case started
        case reloaded(workers: [Int32])
    }

    package typealias ApplyError = DaemonError

    package let paths: Paths
    private let lock = NSLock()
    private let daemon: Supervisor
    private let thread = DaemonThread(name: "haproxy")
    private var current: String?

    /// How many times the master was restarted after dying on its own.
    package var restarts: Int { daemon.restarts }

    /// Runs the child with `launcher` as prefix (tests: `ip netns exec <ns>`).
    package init(paths: Paths, launcher: [String] = []) {
        self.paths = paths
        let masterSocket = paths.masterSocket
        daemon = Supervisor(
            .init(
                daemon: "haproxy",
                arguments: [paths.binary, "-W", "-S", paths.masterSocket, "-p", paths.pidFile, "-f", paths.config],
                launcher: launcher, initialBackoff: .milliseconds(50), leftoverPidFiles: [paths.pidFile],
                configPath: paths.config),
            prepare: { try? FileManager.default.removeItem(atPath: masterSocket) },
            ready: { () throws(DaemonError) in
                for _ in 0..<500 {
                    if FileManager.default.fileExists(atPath: masterSocket),
                        let table = (try? MasterCLI.send("show proc", socket: masterSocket)).flatMap(
                            MasterCLI.parseShowProc),
                        !table.currentWorkers.isEmpty
                    {
                        return
                    }
                    usleep(10_000)
                }
                throw DaemonError(.spawnFailed, "haproxy did not come up (no worker in show proc)")
            })
    }

    /// PID of the master, when running.
    package var masterPID: Int32? { daemon.pid }

    /// `applyBlocking` on the daemon's own thread.
    @discardableResult
    package func apply(_ text: String) async throws(ApplyError) -> Outcome {
        try await thread.run { () throws(DaemonError) in try self.applyBlocking(text) }
    }

    /// `updateServersBlocking` on the daemon's own thread.
    package func updateServers(_ text: String, commands: [HAProxyRuntimeCommand]) async throws(ApplyError) -> [String] {
        try await thread.run { () throws(DaemonError) in try self.updateServersBlocking(text, commands: commands) }
    }

    /// `drainBlocking` on the daemon's own thread.
    package func drain() async {
        _ = try? await thread.run { () throws(DaemonError) in self.drainBlocking() }
    }

    /// Validates and applies `text`; on any failure the running config keeps serving. Blocks
    /// (the check, up to 5 s of reload confirmation): call it from a thread of its own.
    @discardableResult
    package func applyBlocking(_ text: String) throws(ApplyError) -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        if text == current, daemon.pid != nil { return .unchanged }
        try ChildProcess.install(
            text, at: paths.config, check: { [paths.binary, "-c", "-f", $0] }, launcher: [], daemon: "haproxy -c")
        current = text
        guard let master = daemon.pid else {
            try daemon.start()
            return .started
        }
        let before = (try? MasterCLI.send("show proc", socket: paths.masterSocket)).flatMap(MasterCLI.parseShowProc)
        kill(master, SIGUSR2)
        // The master re-execs and forks a new worker; wait for `show proc` to say how it went.
        // Polled every 10 ms: the new worker is usually there 50-150 ms after the signal.
        for _ in 0..<500 {
            usleep(10_000)
            guard
                let now = (try? MasterCLI.send("show proc", socket: paths.masterSocket)).flatMap(
                    MasterCLI.parseShowProc)
            else { continue }
            if let before, now.failedReloads > before.failedReloads {
                throw DaemonError(
                    .reloadUnconfirmed,
                    "reload failed (show proc: failed \(now.failedReloads)); the old workers keep serving")
            }
            if let before, now.masterReloads > before.masterReloads, !now.currentWorkers.isEmpty,
                Set(now.currentWorkers) != Set(before.currentWorkers)
            {
                return .reloaded(workers: now.currentWorkers)
            }
        }
        throw DaemonError(.reloadUnconfirmed, "reload not confirmed by show proc within 5 s")
    }

    /// Changes servers of the running workers through the Runtime API (no reload) and stores
    /// `text` (the same state) as the config file, so the next reload keeps it (docs/architecture.md, "Data-plane facts: HAProxy").
    /// Throws when any command fails: the caller then applies `text` with a reload instead.
    package func updateServersBlocking(_ text: String, commands: [HAProxyRuntimeCommand]) throws(ApplyError) -> [String]
    {
        lock.lock()
        defer { lock.unlock() }
        guard daemon.pid != nil, current != nil else { throw DaemonError(.notRunning, "haproxy is not running") }
        var deferred: [String] = []
        for c in commands {
            let reply: String
            do { reply = try MasterCLI.send(c.text, socket: paths.statsSocket) } catch {
                throw DaemonError(.runtimeAPI, "runtime API: \(error)")
            }
            let trimmed = reply.trimmingCharacters(in: .whitespacesAndNewlines)
            if c.expectEmpty ? trimmed.isEmpty : trimmed.contains(c.expect) { continue }
            if c.mayDefer {
                deferred.append(c.server)
                continue
            }
            throw DaemonError(.runtimeAPI, "runtime API '\(c.text)': \(trimmed)")
        }
        let tmp = paths.config + ".tmp"
        do { try text.write(toFile: tmp, atomically: false, encoding: .utf8) } catch {
            throw DaemonError(.writeFailed, "cannot write \(tmp): \(error)")
        }
        try ChildProcess.replace(paths.config, with: tmp)
        current = text
        return deferred
    }

    /// `updateCertificateBlocking` on the daemon's own thread.
    package func updateCertificate(path: String, pem: String) async throws(ApplyError) {
        try await thread.run { () throws(DaemonError) in try self.updateCertificateBlocking(path: path, pem: pem) }
    }

    /// Replaces a loaded certificate's contents in the running workers (Runtime API `set ssl
    /// cert` + `commit ssl cert`): no reload, no connection touched (docs/architecture.md, "Data-plane facts: HAProxy"). The file at
    /// `path` must hold the same bundle already (the next reload reads it).
    package func updateCertificateBlocking(path: String, pem: String) throws(ApplyError) {
        lock.lock()
        defer { lock.unlock() }
        guard daemon.pid != nil else { throw DaemonError(.notRunning, "haproxy is not running") }
        let body = pem.split(separator: "\n", omittingEmptySubsequences: true).joined(separator: "\n")
        do {
            let set = try MasterCLI.send("set ssl cert \(path)", payload: body, socket: paths.statsSocket)
            guard set.contains("Transaction created") || set.contains("Transaction updated") else {
                throw DaemonError(
                    .runtimeAPI, "set ssl cert \(path): \(set.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            let commit = try MasterCLI.send("commit ssl cert \(path)", socket: paths.statsSocket)
            guard commit.contains("Success!") else {
                _ = try? MasterCLI.send("abort ssl cert \(path)", socket: paths.statsSocket)
                throw DaemonError(
                    .runtimeAPI, "commit ssl cert \(path): \(commit.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        } catch let e as DaemonError {
            throw e
        } catch {
            throw DaemonError(.runtimeAPI, "runtime API: \(error)")
        }
    }

    /// Graceful stop: SIGUSR1 to the master (soft stop: listeners close, established
    /// connections finish, bounded by `hard-stop-after`), then waits for it.
    package func drainBlocking() {
        lock.withLock { current = nil }
        daemon.stop(signal: SIGUSR1)
    }

    /// Stops the master and its workers (SIGTERM to the master's PID, which ends its workers).
    package func stop() async {
        _ = try? await thread.run { () throws(DaemonError) in self.stopBlocking() }
    }

    package func stopBlocking() {
        lock.withLock { current = nil }
        daemon.stop()
    }
}
