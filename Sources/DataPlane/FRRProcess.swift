import Core
import Foundation
import Glibc

/// One FRR instance for BGP pools: zebra, bfdd and bgpd as supervised children in the foreground,
/// everything in a directory of its own (vty sockets, zserv socket, pid files, the config), so
/// several instances can run on one host (tests: one per network namespace; docs/architecture.md, "Data-plane facts: FRR").
///
/// Apply: `vtysh -C` checks the text (syntax and ranges); the first config starts the daemons with
/// it (`-f`, so bgpd's peers come up at once, not after vtysh's 4 s config-pending hold); later
/// ones go through vtysh as the commands `FRRReload` (Core) derives, which change only what
/// differs without resetting sessions (no Python: FRR's frr-reload.py is not in the image). A
/// change FRR cannot take in place restarts the daemons with the new config. The daemons run as user `frr` (FRR's own default; it needs CAP_SETUID/SETGID to get
/// there, then keeps only the capabilities it needs).
package final class FRRProcess: @unchecked Sendable {
    package struct Paths: Sendable {
        /// /usr/lib/frr (zebra, bfdd, bgpd).
        package var libexec: String
        package var vtysh: String
        package var directory: String
        package var config: String { directory + "/frr.conf" }
        package var zserv: String { directory + "/zserv.api" }
        package var bfdctl: String { directory + "/bfdd.sock" }
        package init(libexec: String = "/usr/lib/frr", vtysh: String = "/usr/bin/vtysh", directory: String) {
            self.libexec = libexec
            self.vtysh = vtysh
            self.directory = directory
        }
    }

    package typealias ApplyError = DaemonError

    package let paths: Paths
    private let lock = NSLock()
    private let launcher: [String]
    private let zebra: Supervisor
    private let bfdd: Supervisor
    private let bgpd: Supervisor
    private let thread = DaemonThread(name: "frr")
    private var current: String?
    /// Configs applied in place (vtysh), and changes that restarted FRR (sessions reset): a change
    /// FRR cannot take in place, or in-place commands it refused (`lastReloadFailure`).
    package private(set) var reloads = 0
    package private(set) var configRestarts = 0
    package private(set) var lastReloadFailure: String?

    /// FRR sizes its event loop's tables by the open-file limit (pointers and pollfds per
    /// descriptor, in every thread). Under a container runtime's limit of 2^30 that is gigabytes
    /// per daemon, and the daemons start too slowly to serve or not at all (MetalLB and frr-k8s
    /// pass the same limit for the same reason). A few BGP peers and BFD sessions need far fewer.
    package static let fileDescriptorLimit = 100_000

    package init(paths: Paths, launcher: [String] = []) {
        self.paths = paths
        self.launcher = launcher
        func daemon(_ name: String, extra: [String] = []) -> Supervisor {
            let pid = "\(paths.directory)/\(name).pid"
            return Supervisor(
                .init(
                    daemon: name,
                    arguments: [
                        "\(paths.libexec)/\(name)", "-P", "0", "--vty_socket", paths.directory, "-z", paths.zserv,
                        "-f", paths.config, "-i", pid, "--log", "stdout", "--log-level", "informational",
                        "--limit-fds", "\(Self.fileDescriptorLimit)",
                    ] + extra,
                    launcher: launcher, initialBackoff: .milliseconds(200), leftoverPidFiles: [pid],
                    configPath: paths.config),
                ready: {
                    // zebra first: the others connect to its zserv socket.
                    guard name == "zebra" else { return }
                    for _ in 0..<200 where !FileManager.default.fileExists(atPath: paths.zserv) { usleep(10_000) }
                })
        }
        zebra = daemon("zebra")
        bfdd = daemon("bfdd", extra: ["--bfdctl", paths.bfdctl])
        bgpd = daemon("bgpd")
    }

    package var restarts: Int { zebra.restarts + bfdd.restarts + bgpd.restarts }
    package var running: Bool { bgpd.pid != nil }

    /// `applyBlocking` on FRR's own thread; `nil` stops FRR.
    package func apply(_ text: String?) async throws(ApplyError) {
        try await thread.run { () throws(DaemonError) in try self.applyBlocking(text) }
    }

    /// `vtysh -c COMMAND` against this instance (off the cooperative pool); nil on failure.
    package func show(_ command: String) async -> String? {
        try? await thread.run { () throws(DaemonError) -> String? in
            let r = ChildProcess.run([self.paths.vtysh, "--vty_socket", self.paths.directory, "-c", command])
            return r.status == 0 ? r.output : nil
        }
    }

    /// Checks `text` and applies it: starts the daemons with it, or reloads the differences.
    /// Unchanged text does nothing; a refused text leaves the running config in place.
    package func applyBlocking(_ text: String?) throws(ApplyError) {
        lock.lock()
        defer { lock.unlock() }
        guard let text else {
            stopLocked()
            return
        }
        if text == current, bgpd.pid != nil { return }
        try prepareDirectory()
        let tmp = paths.directory + "/frr.conf.new"
        try write(text, to: tmp)
        let check = ChildProcess.run([paths.vtysh, "-C", "-f", tmp])
        guard check.status == 0 else {
            throw DaemonError(
                .checkRefused,
                "vtysh -C rejected the new FRR config, keeping the old one: \(check.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        if bgpd.pid != nil && zebra.pid != nil && bfdd.pid != nil, let old = current,
            let commands = FRRReload.commands(from: old, to: text)
        {
            // Running: change what differs, sessions untouched (FRRReload, Core).
            if commands.isEmpty {
                try ChildProcess.replace(paths.config, with: tmp)
                current = text
                return
            }
            var args = [paths.vtysh, "--vty_socket", paths.directory, "-c", "configure terminal"]
            for c in commands { args += ["-c", c] }
            let reload = ChildProcess.run(args)
            if reload.status == 0 && !reload.output.contains("%") {
                try ChildProcess.replace(paths.config, with: tmp)
                current = text
                reloads += 1
                return
            }
            lastReloadFailure = reload.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Not running, or a change FRR cannot take in place: (re)start the daemons with the text.
        try ChildProcess.replace(paths.config, with: tmp)
        let restarting = bgpd.pid != nil
        current = text
        for d in [bgpd, bfdd, zebra] { d.stop() }
        try zebra.start()
        try bfdd.start()
        try bgpd.start()
        try pushBFDBlock(text)
        if restarting { configRestarts += 1 }
    }

    /// bfdd (8.4) does not take its `bfd` block from `-f` ("No such command on config line: bfd";
    /// sessions then run at the 300 ms defaults): push the block through vtysh once the daemons
    /// run. Sessions that already name a profile pick it up without flapping (docs/architecture.md, "Data-plane facts: FRR").
    private func pushBFDBlock(_ text: String) throws(DaemonError) {
        var commands: [String] = []
        var inside = false
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if !raw.hasPrefix(" ") && line == "bfd" { inside = true }
            guard inside else { continue }
            if !raw.hasPrefix(" ") && line == "exit" { break }
            if !line.isEmpty { commands.append(line) }
        }
        guard !commands.isEmpty else { return }
        var args = [paths.vtysh, "--vty_socket", paths.directory, "-c", "configure terminal"]
        for c in commands { args += ["-c", c] }
        // bfdd's vty socket appears a moment after it starts.
        var last = ""
        for _ in 0..<50 {
            let r = ChildProcess.run(args)
            if r.status == 0 { return }
            last = r.output
            usleep(20_000)
        }
        throw DaemonError(
            .checkRefused, "bfdd did not take its profiles: \(last.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    /// The directory FRR's daemons write (sockets, pid files) after dropping to user `frr`: ours,
    /// group `frr`, mode 0770, so both sides write there without CAP_DAC_OVERRIDE (a container
    /// has none; the group change needs CAP_CHOWN, which components/bgp grants).
    private func prepareDirectory() throws(DaemonError) {
        do {
            try FileManager.default.createDirectory(atPath: paths.directory, withIntermediateDirectories: true)
        } catch { throw DaemonError(.writeFailed, "cannot create \(paths.directory): \(error)") }
        if let gr = getgrnam("frr") {
            chown(paths.directory, getuid(), gr.pointee.gr_gid)
        }
        chmod(paths.directory, 0o770)
    }

    private func write(_ text: String, to path: String) throws(DaemonError) {
        do { try text.write(toFile: path, atomically: false, encoding: .utf8) } catch {
            throw DaemonError(.writeFailed, "cannot write \(path): \(error)")
        }
        // The daemons read -f after dropping to user frr (group frr); the file holds BGP passwords.
        if let gr = getgrnam("frr") { chown(path, getuid(), gr.pointee.gr_gid) }
        chmod(path, 0o640)
    }

    /// Graceful withdraw of everything (SIGTERM, a rolling update): every BGP session is shut down
    /// (`neighbor … shutdown`: a NOTIFICATION, and the routers drop this node's routes at once,
    /// about 0.15 s, docs/architecture.md, "Data-plane facts: FRR") while the VIPs stay bound, so connections the routers still send
    /// here are served; returns when no session is established any more (at most 2 s).
    package func shutdownSessions() async {
        _ = try? await thread.run { () throws(DaemonError) in self.shutdownSessionsBlocking() }
    }

    private func shutdownSessionsBlocking() {
        guard let text = lock.withLock({ current }), bgpd.pid != nil else { return }
        var router: String?
        var peers: [String] = []
        for raw in text.split(separator: "\n") {
            let f = raw.split(separator: " ")
            if f.count == 3, f[0] == "router", f[1] == "bgp" { router = String(raw) }
            if f.count == 4, f[0] == "neighbor", f[2] == "remote-as" { peers.append(String(f[1])) }
        }
        guard let router, !peers.isEmpty else { return }
        var args = [paths.vtysh, "--vty_socket", paths.directory, "-c", "configure terminal", "-c", router]
        for p in peers { args += ["-c", "neighbor \(p) shutdown"] }
        _ = ChildProcess.run(args)
        for _ in 0..<100 {
            let r = ChildProcess.run([paths.vtysh, "--vty_socket", paths.directory, "-c", "show bgp summary json"])
            if r.status != 0 || !r.output.contains("\"state\":\"Established\"") { break }
            usleep(20_000)
        }
    }

    /// `stopBlocking` on FRR's own thread.
    package func stop() async {
        _ = try? await thread.run { () throws(DaemonError) in self.stopBlocking() }
    }

    /// SIGTERM to the three daemons at once (each takes 1-2 s; bgpd closes its sessions).
    package func stopBlocking() {
        lock.withLock { stopLocked() }
    }

    private func stopLocked() {
        current = nil
        // In parallel, each on a thread of its own (they take 1-2 s each).
        let group = DispatchGroup()
        for d in [bgpd, bfdd, zebra] {
            group.enter()
            Thread {
                d.stop(signal: SIGTERM, escalate: .seconds(5))
                group.leave()
            }.start()
        }
        group.wait()
    }
}
