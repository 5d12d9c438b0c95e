import Foundation
import Glibc
package import Spawn

/// True when integration tests must run (CI): missing tools then fail instead of skipping.
package let requireIntegration = ProcessInfo.processInfo.environment["CI"] == "true"

/// Finds an executable on PATH or in the usual system directories.
package func which(_ name: String) -> String? {
    let path: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    let dirs: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    for dir in dirs {
        let p = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// Runs a command to completion, returning its status and combined output.
@discardableResult
package func run(_ path: String, _ args: [String], environment: [String: String]? = nil) throws -> (
    status: Int32, output: String
) {
    let r = Child.run([path] + args, environment: environment)
    if r.status == -1 { throw SpawnError(description: r.output) }  // it did not start
    return r
}

/// An executable of this package built beside the test bundle (`k8slb-actor`, `k8slb-watcher`, …),
/// or in K8SLB_BIN_DIR when that is set (the benchmarks at scale run release builds from there).
package func builtExecutable(_ name: String) -> String? {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var candidates = [dir, dir.deletingLastPathComponent()]
    if let override = ProcessInfo.processInfo.environment["K8SLB_BIN_DIR"], !override.isEmpty {
        candidates = [URL(fileURLWithPath: override)]
    }
    for candidate in candidates {
        let p = candidate.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// Writes a kubeconfig for the test API server at `http://127.0.0.1:<port>` to `path`.
package func writeKubeconfig(port: Int, token: String, to path: String) throws {
    try """
    apiVersion: v1
    kind: Config
    clusters: [{name: t, cluster: {server: "http://127.0.0.1:\(port)"}}]
    users: [{name: t, user: {token: \(token)}}]
    contexts: [{name: t, context: {cluster: t, user: t}}]
    current-context: t
    """.write(toFile: path, atomically: true, encoding: .utf8)
}

/// Runs a command to completion with its output in a file, and returns status and output. For
/// commands that leave a daemon behind holding their stdout (`podman run -d` leaves conmon):
/// `run` reads a pipe to its end, which would wait for the daemon.
package func runDetaching(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent(
        "k8slb-run-\(UUID().uuidString.prefix(8)).out"
    ).path
    defer { unlink(out) }
    let status = try Child.start([path] + args, output: .file(out)).waitUntilExit()
    return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}

/// Busy loops saturating every core (`2 × cores` of them) for the no-flapping tests; ended by PID.
package final class CPUBurners {
    package private(set) var processes: [Child] = []

    package init() throws {
        for _ in 0..<(2 * ProcessInfo.processInfo.activeProcessorCount) {
            let p = try Child.start(["/bin/sh", "-c", "while :; do :; done"])
            processes.append(p)
        }
    }

    /// Ends them (SIGKILL to our own PIDs).
    package func stop() {
        for p in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
    }

    deinit { stop() }
}
