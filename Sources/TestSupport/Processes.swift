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
