import Foundation
import Glibc

/// Launching, running and ending the daemons (HAProxy, keepalived), optionally through a launcher
/// prefix (tests: `ip netns exec <ns>`). One place for what both supervisors do.
enum ChildProcess {
    /// Starts `arguments` (binary first) with output discarded; `onExit` runs when it ends.
    static func spawn(_ arguments: [String], launcher: [String], onExit: @escaping @Sendable (Process) -> Void) throws -> Process {
        let p = Process()
        let argv = launcher + arguments
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.terminationHandler = onExit
        try p.run()
        return p
    }

    /// Runs `arguments` (binary first) to completion: status and combined output.
    static func run(_ arguments: [String], launcher: [String] = []) -> (status: Int32, output: String) {
        let p = Process()
        let argv = launcher + arguments
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// SIGTERM to `p`'s PID (only a process we started), then waits for it.
    static func terminate(_ p: Process?) {
        guard let p, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
    }

    /// Ends a daemon left running by an earlier instance of this process (e.g. after a crash):
    /// the PID from `pidFile`, only if its command line names `marker` (our config path), so a
    /// recycled PID is never touched. SIGTERM, then SIGKILL after 3 s.
    static func endLeftover(pidFile: String, marker: String) {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
              let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmdline.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(marker) else { return }
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
