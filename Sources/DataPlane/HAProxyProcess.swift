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

    package struct ApplyError: Error, CustomStringConvertible {
        package let description: String
    }

    package let paths: Paths
    /// Run the child with this prefix (tests: `ip netns exec <ns>`).
    private let launcher: [String]
    private let lock = NSLock()
    private var process: Process?
    private var current: String?
    /// False once `stop()` was called: exits are then expected, not restarted.
    private var supervising = true
    private var backoff = RestartBackoff(initial: .milliseconds(50))
    private var _restarts = 0

    /// How many times the master was restarted after dying on its own.
    package var restarts: Int { lock.withLock { _restarts } }

    package init(paths: Paths, launcher: [String] = []) {
        self.paths = paths
        self.launcher = launcher
    }

    /// PID of the master, when running.
    package var masterPID: Int32? { lock.withLock { process?.isRunning == true ? process?.processIdentifier : nil } }

    /// Validates and applies `text`; on any failure the running config keeps serving.
    @discardableResult
    package func apply(_ text: String) throws(ApplyError) -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        do {
            if text == current, process?.isRunning == true { return .unchanged }
            let tmp = paths.config + ".tmp"
            do { try text.write(toFile: tmp, atomically: false, encoding: .utf8) } catch {
                throw ApplyError(description: "cannot write \(tmp): \(error)")
            }
            let check = ChildProcess.run([paths.binary, "-c", "-q", "-f", tmp])
            guard check.status == 0 else {
                throw ApplyError(description: "haproxy -c rejected the new config, keeping the old one: \(check.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            guard rename(tmp, paths.config) == 0 else { throw ApplyError(description: "rename: \(String(cString: strerror(errno)))") }
            current = text
            guard let running = process, running.isRunning else {
                try start()
                return .started
            }
            let before = (try? MasterCLI.send("show proc", socket: paths.masterSocket)).flatMap(MasterCLI.parseShowProc)
            kill(running.processIdentifier, SIGUSR2)
            // The master re-execs and forks a new worker; wait for `show proc` to say how it went.
            for _ in 0..<100 {
                usleep(50_000)
                guard let now = (try? MasterCLI.send("show proc", socket: paths.masterSocket)).flatMap(MasterCLI.parseShowProc) else { continue }
                if let before, now.failedReloads > before.failedReloads {
                    throw ApplyError(description: "reload failed (show proc: failed \(now.failedReloads)); the old workers keep serving")
                }
                if let before, now.masterReloads > before.masterReloads, !now.currentWorkers.isEmpty,
                   Set(now.currentWorkers) != Set(before.currentWorkers) {
                    return .reloaded(workers: now.currentWorkers)
                }
            }
            throw ApplyError(description: "reload not confirmed by show proc within 5 s")
        }
    }

    /// Changes servers of the running workers through the Runtime API (no reload) and stores
    /// `text` (the same state) as the config file, so the next reload keeps it (DATAPLANE §1.3).
    /// Throws when any command fails: the caller then applies `text` with a reload instead.
    package func updateServers(_ text: String, commands: [RuntimeCommand]) throws(ApplyError) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        guard let running = process, running.isRunning, current != nil else { throw ApplyError(description: "haproxy is not running") }
        var deferred: [String] = []
        for c in commands {
            let reply: String
            do { reply = try MasterCLI.send(c.text, socket: paths.statsSocket) } catch {
                throw ApplyError(description: "runtime API: \(error)")
            }
            let trimmed = reply.trimmingCharacters(in: .whitespacesAndNewlines)
            if c.expectEmpty ? trimmed.isEmpty : trimmed.contains(c.expect) { continue }
            if c.mayDefer {
                deferred.append(c.server)
                continue
            }
            throw ApplyError(description: "runtime API '\(c.text)': \(trimmed)")
        }
        let tmp = paths.config + ".tmp"
        do { try text.write(toFile: tmp, atomically: false, encoding: .utf8) } catch {
            throw ApplyError(description: "cannot write \(tmp): \(error)")
        }
        guard rename(tmp, paths.config) == 0 else { throw ApplyError(description: "rename: \(String(cString: strerror(errno)))") }
        current = text
        return deferred
    }

    /// One Runtime API command and the reply that means success.
    package struct RuntimeCommand: Sendable, Equatable {
        package let text: String
        package let expect: String
        package let expectEmpty: Bool
        /// `del server` is refused while connections remain: the caller retries later.
        package let mayDefer: Bool
        package let server: String

        /// `add server`, `enable server`, `enable health` for `backend/name`.
        package static func add(backend: String, name: String, address: String, options: String) -> [RuntimeCommand] {
            let s = "\(backend)/\(name)"
            var out = [RuntimeCommand(text: "add server \(s) \(address) \(options)", expect: "New server registered", expectEmpty: false, mayDefer: false, server: s),
                       RuntimeCommand(text: "enable server \(s)", expect: "", expectEmpty: true, mayDefer: false, server: s)]
            if options.contains("check") {
                out.append(RuntimeCommand(text: "enable health \(s)", expect: "", expectEmpty: true, mayDefer: false, server: s))
            }
            return out
        }

        /// Back from maintenance (a server whose delete was deferred and that is wanted again).
        package static func ready(backend: String, name: String) -> [RuntimeCommand] {
            [RuntimeCommand(text: "set server \(backend)/\(name) state ready", expect: "", expectEmpty: true, mayDefer: false, server: "\(backend)/\(name)")]
        }

        /// Maintenance (no new traffic) then `del server`; the delete may be deferred.
        package static func remove(backend: String, name: String) -> [RuntimeCommand] {
            let s = "\(backend)/\(name)"
            return [RuntimeCommand(text: "set server \(s) state maint", expect: "", expectEmpty: true, mayDefer: false, server: s),
                    RuntimeCommand(text: "del server \(s)", expect: "Server deleted", expectEmpty: false, mayDefer: true, server: s)]
        }
    }

    private var checkedLeftover = false

    private func start() throws(ApplyError) {
        if !checkedLeftover {
            // A master from an earlier run of this actor (same directory) would keep serving an
            // old config beside ours: end it first.
            ChildProcess.endLeftover(pidFile: paths.pidFile, marker: paths.config)
            checkedLeftover = true
        }
        try? FileManager.default.removeItem(atPath: paths.masterSocket)
        supervising = true
        do {
            process = try ChildProcess.spawn([paths.binary, "-W", "-S", paths.masterSocket, "-p", paths.pidFile, "-f", paths.config], launcher: launcher) {
                [weak self] exited in self?.exited(exited)
            }
        } catch { throw ApplyError(description: "cannot start haproxy: \(error)") }
        for _ in 0..<100 {
            if FileManager.default.fileExists(atPath: paths.masterSocket),
               let table = (try? MasterCLI.send("show proc", socket: paths.masterSocket)).flatMap(MasterCLI.parseShowProc),
               !table.currentWorkers.isEmpty { return }
            usleep(50_000)
        }
        throw ApplyError(description: "haproxy did not come up (no worker in show proc)")
    }

    /// The master died without `stop()`: restart it from the config on disk, with a backoff that
    /// doubles (50 ms … 5 s) while it keeps dying.
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
                // Try again later: start() failed, so no termination handler will fire.
                ChildProcess.after(.seconds(1)) { [weak self] in self?.exited(p) }
                return
            }
            // Came back: reset the backoff once it has stayed up a while.
            ChildProcess.after(.seconds(30)) { [weak self] in self?.lock.withLock { self?.backoff.reset() } }
        }
    }

    /// Graceful stop: SIGUSR1 to the master (soft stop: listeners close, established
    /// connections finish, bounded by `hard-stop-after`), then waits for it.
    package func drain() {
        let p: Process? = lock.withLock {
            supervising = false
            defer { process = nil; current = nil }
            return process
        }
        guard let p, p.isRunning else { return }
        kill(p.processIdentifier, SIGUSR1)
        p.waitUntilExit()
    }

    /// Stops the master and its workers (SIGTERM to the master's PID, which ends its workers).
    /// The lock is released before waiting, so the termination handler never blocks on it.
    package func stop() {
        let p: Process? = lock.withLock {
            supervising = false
            defer { process = nil; current = nil }
            return process
        }
        ChildProcess.terminate(p)
    }
}
