import ArgumentParser
import Foundation
import Glibc

/// `k8slb-actor sysctl KEY=VALUE ...`: sets network sysctls of the current network namespace and
/// reads each back, as `sysctl -w` would (the image carries no procps). The nginx overlay's
/// privileged init container runs it for the `ip_nonlocal_bind` pair; only `net.*` keys are taken.
struct SysctlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sysctl",
        abstract: "Set network sysctls (net.*) of this network namespace and print them, like sysctl -w.")

    @Argument(help: "KEY=VALUE pairs, e.g. net.ipv4.ip_nonlocal_bind=1.")
    var settings: [String]

    /// One parsed `KEY=VALUE`: the key a dotted `net.` path of letters, digits and `_`, the value
    /// digits (what the network sysctls take).
    struct Setting: Equatable {
        let key: String
        let value: String
        var path: String { "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/") }

        init(parsing text: String) throws {
            let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ValidationError("\(text): expected KEY=VALUE") }
            let key = String(parts[0])
            let value = String(parts[1])
            let components = key.split(separator: ".", omittingEmptySubsequences: false)
            guard components.count >= 3, components[0] == "net",
                components.allSatisfy({
                    !$0.isEmpty
                        && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
                })
            else { throw ValidationError("\(key): not a network sysctl (net.<family>.<name>)") }
            guard !value.isEmpty, value.count <= 20, value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw ValidationError("\(key): value '\(value)' is not a number")
            }
            self.key = key
            self.value = value
        }
    }

    func validate() throws {
        guard !settings.isEmpty else { throw ValidationError("give at least one KEY=VALUE") }
        for s in settings { _ = try Setting(parsing: s) }
    }

    func run() throws {
        for text in settings {
            let s = try Setting(parsing: text)
            let fd = open(s.path, O_WRONLY)
            guard fd >= 0 else {
                throw ExitError("\(s.key): cannot open \(s.path): \(String(cString: strerror(errno)))")
            }
            let bytes = Array(s.value.utf8)
            let written = write(fd, bytes, bytes.count)
            let failure = errno
            close(fd)
            guard written == bytes.count else {
                throw ExitError("\(s.key): cannot write \(s.path): \(String(cString: strerror(failure)))")
            }
            let now =
                (try? String(contentsOfFile: s.path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? "?"
            guard now == s.value else { throw ExitError("\(s.key): wrote \(s.value) but it reads \(now)") }
            print("\(s.key) = \(now)")
        }
    }

    /// A failure printed on stderr with exit status 1.
    struct ExitError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
