import CSpawn
package import Foundation
import Glibc

/// Why a child could not be started: the binary and the system's words.
package struct SpawnError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(description: String) { self.description = description }
}

/// A child process started with `posix_spawn`, reaped by a thread of its own with `waitpid`.
///
/// Not Foundation's `Process`, for three reasons measured here: its `run()` crashes now and then
/// (an over-read of `/proc/self/fd` entries, swift-corelibs-foundation PR #5472: seen as a SIGSEGV
/// in the test suite); its `waitUntilExit()` polls every 50 ms (every `haproxy -c` took 65 ms
/// instead of 15); and it notices an exit only when every holder of an internal socket pair has
/// closed it, which children spawned meanwhile on other threads inherit. Here the child starts
/// with only descriptors 0-2 (everything else closed before exec), no signal blocked and every
/// signal at its default disposition.
package final class Child: @unchecked Sendable {
    /// Where the child's stdout and stderr go (stdin is always /dev/null).
    package enum Output: Sendable {
        /// /dev/null.
        case discard
        /// This process's own stdout and stderr.
        case inherit
        /// Appended to the file at this path (created 0600 if missing).
        case file(String)
        /// Chunks as they arrive, on a reader thread; the last call is with empty data at EOF.
        case stream(@Sendable (Data) -> Void)
        /// Kept (stdout and stderr together) for `capturedOutput()`.
        case capture
    }

    package let processIdentifier: Int32
    private let condition = NSCondition()
    private var status: Int32?
    private var captured: [UInt8] = []
    private var outputClosed = false

    private init(pid: Int32) { processIdentifier = pid }

    /// True until the child has exited and been reaped.
    package var isRunning: Bool { condition.withLock { status == nil } }

    /// The exit code, or 128 + the signal that ended it; nil while it runs.
    package var exitStatus: Int32? { condition.withLock { status } }

    /// Blocks until the child has exited; its exit status.
    @discardableResult
    package func waitUntilExit() -> Int32 {
        condition.withLock {
            while status == nil { condition.wait() }
            return status!
        }
    }

    /// With `.capture`: blocks until the child has exited and its output has ended; the output.
    package func capturedOutput() -> String {
        waitUntilExit()
        return condition.withLock {
            while !outputClosed { condition.wait() }
            return String(decoding: captured, as: UTF8.self)
        }
    }

    /// Blocks until the child has exited or `timeout` has passed; the exit status or nil.
    package func wait(timeout: Duration) -> Int32? {
        let deadline = Date().addingTimeInterval(
            Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        return condition.withLock {
            while status == nil, condition.wait(until: deadline) {}
            return status
        }
    }

    /// Starts `arguments` (an absolute binary path first). `onExit` runs on the reaper thread once
    /// the child has exited (after `exitStatus` is set).
    package static func start(
        _ arguments: [String], environment: [String: String]? = nil, output: Output = .discard,
        onExit: (@Sendable (Child) -> Void)? = nil
    ) throws(SpawnError) -> Child {
        var readEnd: Int32 = -1
        let pid = try spawn(arguments, environment: environment, output: output, readEnd: &readEnd)
        let child = Child(pid: pid)
        var output = output
        if case .capture = output {
            output = .stream({ [weak child] data in
                guard let child else { return }
                child.condition.withLock {
                    if data.isEmpty { child.outputClosed = true } else { child.captured += data }
                    child.condition.broadcast()
                }
            })
        }
        if case .stream(let handler) = output {
            let fd = readEnd
            Thread.detachNewThread {
                readToEnd(fd) { handler(Data($0)) }
                handler(Data())
            }
        }
        Thread.detachNewThread {
            let code = reap(pid)
            child.condition.withLock {
                child.status = code
                child.condition.broadcast()
            }
            onExit?(child)
        }
        return child
    }

    /// Runs `arguments` (an absolute binary path first) to completion on the calling thread: its
    /// exit status and combined stdout and stderr. A child that cannot start gives status -1 and
    /// the reason as output. Bounded: a child still running after `timeout` is killed (status
    /// 128 + SIGKILL, and the output says so), and a child that exits while something it started
    /// still holds its output (a daemon it forked) ends the run all the same.
    package static func run(
        _ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(300)
    ) -> (status: Int32, output: String) {
        var readEnd: Int32 = -1
        let pid: Int32
        do { pid = try spawn(arguments, environment: environment, output: .stream({ _ in }), readEnd: &readEnd) } catch
        {
            return (-1, error.description)
        }
        defer { close(readEnd) }
        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        // Reads what is there within `ms`: false at EOF or on an error.
        func readSome(waiting ms: Int32) -> Bool? {
            var fd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fd, 1, ms)
            if ready == 0 || (ready < 0 && errno == EINTR) { return nil }  // nothing yet
            let n = ready > 0 ? read(readEnd, &buffer, buffer.count) : -1
            if n < 0 && errno == EINTR { return nil }
            guard n > 0 else { return false }
            output += buffer[0..<n]
            return true
        }
        var exited: Int32?
        // Output in slices of 200 ms, so an exited child is noticed even when its output never
        // reaches EOF; then what it wrote just before exiting.
        while exited == nil, readSome(waiting: 200) != false {
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                output += Array("\n(killed: still running after \(timeout))".utf8)
                break
            }
            exited = waitStatus(pid, blocking: false)
        }
        if exited != nil { while readSome(waiting: 0) == true {} }
        return (exited ?? waitStatus(pid, blocking: true) ?? -1, String(decoding: output, as: UTF8.self))
    }

    /// Reads `fd` until EOF, each chunk to `chunk`, then closes it.
    private static func readToEnd(_ fd: Int32, _ chunk: (ArraySlice<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            chunk(buffer[0..<n])
        }
        close(fd)
    }

    /// The child's exit code or 128 + signal, waiting for it when `blocking`; nil when it has
    /// not ended (not blocking) or cannot be waited for.
    private static func waitStatus(_ pid: Int32, blocking: Bool) -> Int32? {
        var raw: Int32 = 0
        while true {
            let r = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
            if r == pid { break }
            if r == 0 || errno != EINTR { return nil }
        }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// `waitpid` until the child is gone: exit code or 128 + signal (-1 if it cannot be waited for).
    private static func reap(_ pid: Int32) -> Int32 { waitStatus(pid, blocking: true) ?? -1 }

    private static func spawn(
        _ arguments: [String], environment: [String: String]?, output: Output, readEnd: inout Int32
    ) throws(SpawnError) -> Int32 {
        guard let binary = arguments.first else { throw SpawnError(description: "nothing to run") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // No signal blocked (Swift's threads block nearly all) and every signal at its default
        // disposition (an ignored SIGPIPE would otherwise carry over through exec).
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var writeEnd: Int32 = -1
        switch output {
        case .discard:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .inherit:
            break
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .stream, .capture:
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            readEnd = fds[0]
            writeEnd = fds[1]
            // dup2 onto 1 and 2 clears close-on-exec there; the originals close at exec.
            posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
            posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        }
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in
            env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { for e in envp ?? [] { free(e) } }
        var pid: Int32 = 0
        let rc: Int32 =
            if let envp { posix_spawn(&pid, binary, &actions, &attributes, argv, envp) } else {
                posix_spawn(&pid, binary, &actions, &attributes, argv, Glibc.environ)
            }
        if writeEnd >= 0 { close(writeEnd) }
        guard rc == 0 else {
            if readEnd >= 0 {
                close(readEnd)
                readEnd = -1
            }
            throw SpawnError(description: "cannot start \(binary): \(String(cString: strerror(rc)))")
        }
        return pid
    }
}
