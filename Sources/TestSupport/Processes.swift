package import Foundation

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
package func run(_ path: String, _ args: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = environment }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// An executable of this package built beside the test bundle (`k8slb-actor`, `k8slb-watcher`, …).
package func builtExecutable(_ name: String) -> String? {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
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
