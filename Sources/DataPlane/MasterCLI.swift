import Foundation
import Glibc

/// HAProxy's master CLI (`-S <socket>`): one command per connection.
package enum MasterCLI {
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Sends `command` and returns the whole reply (the connection is closed by the master).
    /// `payload`: a multi-line argument (`set ssl cert PATH <<` + lines + an empty line); it must
    /// hold no empty line itself.
    package static func send(
        _ command: String, payload: String? = nil, socket path: String, timeout: Duration = .seconds(2)
    ) throws(Failure) -> String {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else { throw Failure(description: "connect \(path): \(String(cString: strerror(errno)))") }
        // The master CLI keeps the connection open after a reply; "; quit" makes it close.
        let line = Array((payload.map { command + " <<\n" + $0 + "\n\n" } ?? command + "; quit\n").utf8)
        // MSG_NOSIGNAL: a socket HAProxy closes under us (a reload, a dying worker) is an error
        // here, not a SIGPIPE that kills the whole process.
        guard Glibc.send(fd, line, line.count, Int32(MSG_NOSIGNAL)) == line.count else {
            throw Failure(description: "send: \(String(cString: strerror(errno)))")
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            reply += buffer[..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// The parts of `show proc` that tell whether a reload worked.
    package struct ProcessTable: Equatable {
        package let masterReloads: Int
        package let failedReloads: Int
        package let currentWorkers: [Int32]
        package let oldWorkers: [Int32]
    }

    /// Parses `show proc` (HAProxy 2.6):
    /// `<PID> master 0 [failed: 0] …` then `# workers`, `<PID> worker …`, `# old workers`, ….
    package static func parseShowProc(_ text: String) -> ProcessTable? {
        var reloads = 0
        var failed = 0
        var section = ""
        var current: [Int32] = []
        var old: [Int32] = []
        var sawMaster = false
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") {
                section = line.lowercased()
                continue
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let pid = Int32(fields[0]) else { continue }
            if fields[1] == "master" {
                sawMaster = true
                reloads = Int(fields[2]) ?? 0
                if let r = line.range(of: "[failed: "), let end = line[r.upperBound...].firstIndex(of: "]") {
                    failed = Int(line[r.upperBound..<end]) ?? 0
                }
            } else if fields[1] == "worker" {
                if section.contains("old") { old.append(pid) } else { current.append(pid) }
            }
        }
        return sawMaster
            ? ProcessTable(masterReloads: reloads, failedReloads: failed, currentWorkers: current, oldWorkers: old)
            : nil
    }
}
