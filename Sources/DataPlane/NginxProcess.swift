import CLibc
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
        daemon = Supervisor(
            .init(
                daemon: "nginx",
                arguments: [paths.binary, "-e", "stderr", "-c", paths.config, "-g", "daemon off; master_process on;"],
                launcher: launcher, initialBackoff: .milliseconds(100),
                leftoverPidFiles: [paths.directory + "/nginx.pid"],
                configPath: paths.config))
    }

    package var restarts: Int { daemon.restarts }
    package var masterPID: Int32? { daemon.pid }

    /// `applyBlocking` on the daemon's own thread, after creating `temporaryDirectories` owned by
    /// `workerUser` (`prepareDirectories`).
    @discardableResult
    package func apply(_ text: String, temporaryDirectories: [String] = [], workerUser: String = "nobody")
        async throws(ApplyError) -> Bool
    {
        try await thread.run { () throws(DaemonError) in
            try Self.prepareDirectories(temporaryDirectories, owner: workerUser)
            return try self.applyBlocking(text)
        }
    }

    /// Creates `directories` (mode 0700) owned by `owner`, the user nginx's workers run as: they
    /// write request bodies and buffered responses there. nginx, started as root, would chown
    /// them itself, which needs CAP_CHOWN. Instead each one is made *as* that user: this thread's
    /// filesystem uid is set to it for the `mkdir` (CAP_SETUID, which nginx's own switch to the
    /// workers' user needs anyway; the parent must be writable by the user, as an emptyDir is).
    /// Where that is refused (a parent only root may write), `mkdir` as root and `chown` (root
    /// with every capability, as in the tests). A directory already owned by `owner` is kept;
    /// when the actor is not root, nginx switches no user and plain directories do.
    package static func prepareDirectories(_ directories: [String], owner: String) throws(DaemonError) {
        guard !directories.isEmpty else { return }
        let root = geteuid() == 0
        var uid = geteuid()
        if root {
            guard let entry = getpwnam(owner) else {
                throw DaemonError(
                    .spawnFailed,
                    "nginx's worker user '\(owner)' does not exist here: name another with a 'user' line in nginx.global"
                )
            }
            uid = entry.pointee.pw_uid
        }
        for path in directories {
            var st = stat()
            if lstat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw DaemonError(.writeFailed, "\(path) exists and is not a directory")
                }
                if st.st_uid == uid { continue }
                if chown(path, uid, gid_t.max) == 0 { continue }
                // Ours from an earlier start as another user: made again below.
                guard rmdir(path) == 0 else {
                    throw DaemonError(
                        .writeFailed,
                        "\(path) is owned by uid \(st.st_uid), not \(owner) (\(uid)), and cannot be changed: \(String(cString: strerror(errno)))"
                    )
                }
            }
            if root {
                let previous = clibc_setfsuid(uid)
                let made = mkdir(path, 0o700)
                let failure = errno
                _ = clibc_setfsuid(UInt32(bitPattern: previous))
                if made == 0, lstat(path, &st) == 0, st.st_uid == uid { continue }
                if made == 0 { _ = rmdir(path) } else if failure == EEXIST { continue }
            }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw DaemonError(
                    .writeFailed,
                    "cannot create nginx's temporary directory \(path): \(String(cString: strerror(errno)))")
            }
            if root && chown(path, uid, gid_t.max) != 0 {
                let reason = String(cString: strerror(errno))
                _ = rmdir(path)
                throw DaemonError(
                    .writeFailed,
                    "cannot create \(path) for nginx's workers (\(owner)): neither as that user (needs CAP_SETUID and a parent it may write) nor by chown (\(reason); needs CAP_CHOWN)"
                )
            }
        }
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
        try ChildProcess.install(
            text, at: paths.config, check: { [paths.binary, "-t", "-q", "-e", "stderr", "-c", $0] }, launcher: launcher,
            daemon: "nginx -t")
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
