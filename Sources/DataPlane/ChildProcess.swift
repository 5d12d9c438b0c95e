import Foundation
import Glibc
import Spawn

/// Launching, running and ending the daemons (HAProxy, keepalived), optionally through a launcher
/// prefix (tests: `ip netns exec <ns>`). One place for what both supervisors do. Children are
/// `Spawn.Child`ren (posix_spawn, reaped by a thread of their own), not Foundation `Process`es.
package enum ChildProcess {
    /// Starts `arguments` (binary first); `onExit` runs when it ends. The daemon's own log lines
    /// (keepalived's state changes, HAProxy's alerts, nginx's errors) go to this process's stderr
    /// prefixed `[label]` — what `kubectl logs` shows — except HAProxy's per-proxy "stopped"
    /// notices, one per frontend and backend at every reload (20,000 lines at 10,000 Services).
    static func spawn(
        _ arguments: [String], launcher: [String], label: String,
        onExit: @escaping @Sendable (Child) -> Void
    ) throws(SpawnError) -> Child {
        let forwarder = LineForwarder(prefix: "[\(label)] ")
        return try Child.start(
            launcher + arguments, output: .stream({ data in if !data.isEmpty { forwarder.feed(data) } }), onExit: onExit
        )
    }

    /// Runs `arguments` (binary first) to completion: status and combined output. A check, a
    /// vtysh command or an nft load that has not ended within `timeout` is killed and counts as
    /// failed, so one stuck child never holds a sync (and every sync after it) forever.
    package static func run(
        _ arguments: [String], launcher: [String] = [], timeout: Duration = .seconds(60)
    ) -> (status: Int32, output: String) {
        Child.run(launcher + arguments, timeout: timeout)
    }

    /// Ends a daemon left running by an earlier instance of this process (e.g. after a crash):
    /// the PID from `pidFile`, only if its command line names `marker` (our config path), so a
    /// recycled PID is never touched. SIGTERM, then SIGKILL after 3 s.
    static func endLeftover(pidFile: String, marker: String) {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
            let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
            String(decoding: cmdline.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(marker)
        else { return }
        kill(pid, SIGTERM)
        for _ in 0..<60 where kill(pid, 0) == 0 { usleep(50_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    /// Runs `body` after `delay` on a global queue.
    static func after(_ delay: Duration, _ body: @escaping @Sendable () -> Void) {
        let ms = Int(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms), execute: body)
    }
}

/// Restart delay of a supervised daemon: doubles from `initial` up to 5 s while it keeps dying;
/// back to `initial` after it has stayed up.
struct RestartBackoff {
    let initial: Duration
    private(set) var current: Duration

    init(initial: Duration) {
        self.initial = initial
        self.current = initial
    }

    mutating func next() -> Duration {
        defer { current = min(current * 2, .seconds(5)) }
        return current
    }

    mutating func reset() { current = initial }
}

/// Why a daemon's config was not applied or the daemon not started: a code callers can switch on
/// (and count in metrics) and the message with the daemon's own words.
package struct DaemonError: Error, CustomStringConvertible, Equatable {
    package enum Code: String, Sendable, CaseIterable {
        /// The daemon's own check (`haproxy -c`, `keepalived -t`, `nginx -t`) refused the config.
        case checkRefused = "check_refused"
        /// A reload was sent but not confirmed (`show proc`), or it failed there.
        case reloadUnconfirmed = "reload_unconfirmed"
        /// Writing or renaming a file failed.
        case writeFailed = "write_failed"
        /// The daemon could not be started, or did not come up.
        case spawnFailed = "spawn_failed"
        /// A Runtime API command was refused or the socket failed.
        case runtimeAPI = "runtime_api"
        /// The daemon is not running (nothing to change at runtime).
        case notRunning = "not_running"
    }

    package let code: Code
    package let message: String
    package var description: String { message }
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ChildProcess {
    /// Writes `text` to `<path>.tmp`, runs the daemon's own check on it (`check(tmp)`, through
    /// `launcher`), then renames it over `path`. Nothing changes on disk when the check fails.
    static func install(
        _ text: String, at path: String, check: (String) -> [String], launcher: [String], daemon: String
    ) throws(DaemonError) {
        let tmp = path + ".tmp"
        do { try text.write(toFile: tmp, atomically: false, encoding: .utf8) } catch {
            throw DaemonError(.writeFailed, "cannot write \(tmp): \(error)")
        }
        let result = run(check(tmp), launcher: launcher)
        guard result.status == 0 else {
            // The daemon's own words, without its banner (HAProxy's NOTICE lines).
            let why = result.output.split(separator: "\n").filter { !$0.contains("[NOTICE]") }.joined(separator: "\n")
            throw DaemonError(
                .checkRefused,
                "\(daemon) rejected the new config, keeping the old one: \(why.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        try replace(path, with: tmp)
    }

    /// Atomically puts `tmp` in place of `path`.
    static func replace(_ path: String, with tmp: String) throws(DaemonError) {
        guard rename(tmp, path) == 0 else {
            throw DaemonError(.writeFailed, "rename \(tmp): \(String(cString: strerror(errno)))")
        }
    }
}

/// One daemon run as a supervised child — what the HAProxy, keepalived and nginx wrappers share:
/// started through the launcher (daemons a SIGKILLed earlier run left behind are ended first),
/// restarted with a doubling backoff when it dies on its own, never after `stop`.
final class Supervisor: @unchecked Sendable {
    struct Settings: Sendable {
        var daemon: String
        /// Binary first.
        var arguments: [String]
        var launcher: [String]
        var initialBackoff: Duration
        /// PID files an earlier run of the same daemon may have left, and the config path its
        /// command line must name for the PID to be ours.
        var leftoverPidFiles: [String]
        var configPath: String
    }

    private let settings: Settings
    /// Runs before each spawn (e.g. remove a stale socket).
    private let prepare: @Sendable () -> Void
    /// Runs after each spawn and decides whether the start worked (e.g. wait for a worker).
    private let ready: @Sendable () throws(DaemonError) -> Void
    /// Runs at once when the child dies on its own, before the restart delay.
    private let onUnexpectedExit: @Sendable () -> Void
    private let lock = NSLock()
    private var process: Child?
    private var supervising = true
    private var backoff: RestartBackoff
    private var _restarts = 0
    private var checkedLeftovers = false

    init(
        _ settings: Settings, prepare: @escaping @Sendable () -> Void = {},
        ready: @escaping @Sendable () throws(DaemonError) -> Void = {},
        onUnexpectedExit: @escaping @Sendable () -> Void = {}
    ) {
        self.settings = settings
        self.prepare = prepare
        self.ready = ready
        self.onUnexpectedExit = onUnexpectedExit
        backoff = RestartBackoff(initial: settings.initialBackoff)
    }

    /// Restarts after the daemon died on its own.
    var restarts: Int { lock.withLock { _restarts } }

    /// The daemon's PID while it runs.
    var pid: Int32? { lock.withLock { process?.isRunning == true ? process?.processIdentifier : nil } }

    func start() throws(DaemonError) {
        lock.lock()
        defer { lock.unlock() }
        try startLocked()
    }

    private func startLocked() throws(DaemonError) {
        if !checkedLeftovers {
            for file in settings.leftoverPidFiles {
                ChildProcess.endLeftover(pidFile: file, marker: settings.configPath)
            }
            checkedLeftovers = true
        }
        supervising = true
        prepare()
        do {
            process = try ChildProcess.spawn(settings.arguments, launcher: settings.launcher, label: settings.daemon) {
                [weak self] exited in self?.exited(exited)
            }
        } catch { throw DaemonError(.spawnFailed, "cannot start \(settings.daemon): \(error)") }
        try ready()
    }

    /// Died without `stop()`: restart from the config on disk after a backoff that doubles
    /// (initial … 5 s) while it keeps dying, and resets once it stays up for 30 s.
    private func exited(_ p: Child) {
        let delay: Duration? = lock.withLock {
            guard supervising, process === p else { return nil }
            return backoff.next()
        }
        guard let delay else { return }
        onUnexpectedExit()
        ChildProcess.after(delay) { [weak self] in
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            guard self.supervising, self.process === p else { return }
            self._restarts += 1
            do { try self.startLocked() } catch {
                // Try again later: the start failed, so no termination handler will fire.
                ChildProcess.after(.seconds(1)) { [weak self] in self?.exited(p) }
                return
            }
            ChildProcess.after(.seconds(30)) { [weak self] in self?.lock.withLock { self?.backoff.reset() } }
        }
    }

    /// Stops supervising and ends the daemon: `signal` to its PID, then waits; with `escalate`,
    /// SIGTERM once `escalate` has passed. The lock is released before waiting, so the exit
    /// handler never blocks on it.
    func stop(signal: Int32 = SIGTERM, escalate: Duration? = nil) {
        let p: Child? = lock.withLock {
            supervising = false
            defer { process = nil }
            return process
        }
        guard let p, p.isRunning else { return }
        kill(p.processIdentifier, signal)
        if let escalate, p.wait(timeout: escalate) == nil { kill(p.processIdentifier, SIGTERM) }
        p.waitUntilExit()
    }
}

/// Splits a daemon's output into lines and writes the ones worth reading to stderr.
final class LineForwarder: @unchecked Sendable {
    private let prefix: [UInt8]
    private var partial: [UInt8] = []
    private let lock = NSLock()

    init(prefix: String) { self.prefix = Array(prefix.utf8) }

    static func isNoise(_ line: String) -> Bool {
        // HAProxy's per-proxy notice at every reload; FRR's daemons each read the integrated
        // frr.conf and name every line that belongs to another daemon.
        line.contains("stopped (cumulated conns:") || line.contains("No such command on config line")
    }

    func feed(_ data: Data) {
        lock.lock()
        defer { lock.unlock() }
        partial += data
        var out: [UInt8] = []
        while let nl = partial.firstIndex(of: 0x0A) {
            let line = Array(partial[..<nl])
            partial.removeSubrange(...nl)
            if Self.isNoise(String(decoding: line, as: UTF8.self)) { continue }
            out += prefix + line + [0x0A]
        }
        if partial.count > 65_536 {  // a daemon writing without newlines: pass it on as it is
            out += prefix + partial + [0x0A]
            partial = []
        }
        if !out.isEmpty { FileHandle.standardError.write(Data(out)) }
    }
}
