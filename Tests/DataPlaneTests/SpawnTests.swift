import Foundation
import Glibc
import Spawn
import Testing

/// `Child`: what the daemons and their checks rely on — status and output, exit codes and
/// signals, a clean start (no inherited descriptors, no blocked or ignored signals), and waits that
/// end when the child does (not on a 50 ms poll).
@Suite struct SpawnTests {
    @Test func runGivesStatusAndCombinedOutput() {
        let ok = Child.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(ok.status == 3)
        #expect(ok.output.contains("out\n") && ok.output.contains("err\n"))
        let missing = Child.run(["/nonexistent/k8slb-binary"])
        #expect(missing.status == -1 && missing.output.contains("/nonexistent/k8slb-binary"), "\(missing)")
    }

    @Test func environmentReplacesTheParentsWhenGiven() {
        let r = Child.run(["/bin/sh", "-c", "echo \"[$K8SLB_X][$HOME]\""], environment: ["K8SLB_X": "1"])
        #expect(r.output == "[1][]\n")
    }

    @Test func runIsBoundedByItsTimeoutAndByTheChildsExit() {
        let clock = ContinuousClock()
        // A child that never ends is killed at the timeout, and the output says so.
        var started = clock.now
        let stuck = Child.run(["/bin/sh", "-c", "echo before; exec sleep 30"], timeout: .milliseconds(500))
        #expect(stuck.status == 128 + SIGKILL)
        #expect(stuck.output.hasPrefix("before\n") && stuck.output.contains("killed: still running after"))
        #expect(clock.now - started < .seconds(10))
        // A child that exits while a process it left behind keeps its output open (a daemon that
        // forked) ends the run with the child's own status and everything it wrote.
        started = clock.now
        let forked = Child.run(["/bin/sh", "-c", "sleep 30 & echo $!; echo parent; exit 4"])
        let lines = forked.output.split(separator: "\n")
        #expect(forked.status == 4 && lines.count == 2 && lines.last == "parent")
        #expect(clock.now - started < .seconds(10))
        // The grandchild is still running; end it by the PID it printed.
        if let first = lines.first, let pid = Int32(first), pid > 1 {
            #expect(kill(pid, 0) == 0)
            kill(pid, SIGKILL)
        } else {
            Issue.record("no PID in \(forked.output)")
        }
    }

    @Test func signalEndsAreReportedAs128PlusTheSignal() throws {
        let child = try Child.start(["/bin/sleep", "30"])
        #expect(child.isRunning && child.exitStatus == nil)
        kill(child.processIdentifier, SIGKILL)
        #expect(child.waitUntilExit() == 128 + SIGKILL)
        #expect(!child.isRunning && child.exitStatus == 128 + SIGKILL)
    }

    @Test func childStartsWithOnlyStdioAndNoBlockedOrIgnoredSignal() throws {
        // A descriptor of ours without close-on-exec must not reach the child.
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        #expect(fd > 2)
        let fds = Child.run(["/bin/sh", "-c", "ls /proc/self/fd"]).output.split(separator: "\n").compactMap { Int($0) }
        // 0-2, plus the descriptor ls reads the directory with.
        #expect(!fds.contains(Int(fd)), "inherited: \(fds)")
        #expect(fds.count <= 4, "\(fds)")
        // This thread blocks SIGTERM and ignores SIGPIPE; the child must have neither.
        var block = sigset_t()
        var old = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &block, &old)
        let previous = signal(SIGPIPE, SIG_IGN)
        defer {
            pthread_sigmask(SIG_SETMASK, &old, nil)
            signal(SIGPIPE, previous)
        }
        let status = Child.run(["/bin/sh", "-c", "grep -E '^(SigBlk|SigIgn)' /proc/self/status"]).output
        let masks = status.split(separator: "\n").map { $0.split(separator: "\t").last.map(String.init) ?? "" }
        #expect(masks.count == 2 && masks[0] == "0000000000000000", "\(status)")
        // sh itself may ignore a few; SIGPIPE (bit 13) must not be among them.
        if masks.count == 2, let ignored = UInt64(masks[1], radix: 16) {
            #expect(ignored & (1 << (SIGPIPE - 1)) == 0, "\(status)")
        }
    }

    @Test func captureStreamAndFileOutputs() throws {
        let captured = try Child.start(["/bin/sh", "-c", "echo one; sleep 0.05; echo two >&2"], output: .capture)
        #expect(captured.capturedOutput() == "one\ntwo\n")

        final class Chunks: @unchecked Sendable {
            let lock = NSLock()
            var text = ""
            var ended = false
        }
        let chunks = Chunks()
        let streamed = try Child.start(
            ["/bin/sh", "-c", "echo a; echo b"],
            output: .stream({ data in
                chunks.lock.withLock {
                    if data.isEmpty {
                        chunks.ended = true
                    } else {
                        chunks.text += String(decoding: data, as: UTF8.self)
                    }
                }
            }))
        streamed.waitUntilExit()
        for _ in 0..<200 where !chunks.lock.withLock({ chunks.ended }) { usleep(5000) }
        #expect(chunks.lock.withLock { chunks.text == "a\nb\n" && chunks.ended })

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-spawn-\(getpid()).log").path
        defer { unlink(path) }
        try "first\n".write(toFile: path, atomically: true, encoding: .utf8)
        try Child.start(["/bin/sh", "-c", "echo second; echo third >&2"], output: .file(path)).waitUntilExit()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first\nsecond\nthird\n")
    }

    @Test func waitsEndWithTheChildAndOnExitRunsAfterTheStatusIsSet() throws {
        let sleeper = try Child.start(["/bin/sleep", "5"])
        #expect(sleeper.wait(timeout: .milliseconds(50)) == nil)
        kill(sleeper.processIdentifier, SIGTERM)
        #expect(sleeper.wait(timeout: .seconds(5)) == 128 + SIGTERM)

        let seen = Chunk()
        let child = try Child.start(["/bin/true"], onExit: { c in seen.set(c.exitStatus) })
        child.waitUntilExit()
        for _ in 0..<200 where seen.get() == nil { usleep(5000) }
        #expect(seen.get() == 0)
    }

    final class Chunk: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Int32?
        func set(_ v: Int32?) { lock.withLock { value = v } }
        func get() -> Int32? { lock.withLock { value } }
    }
}
