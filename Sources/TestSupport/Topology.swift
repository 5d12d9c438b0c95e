import Foundation
import Glibc
package import Spawn
import Testing

/// A namespace operation that failed.
package struct NamespaceError: Error, CustomStringConvertible {
    package let message: String
    package init(message: String) { self.message = message }
    package var description: String { message }
}

/// Writes a throwaway test CA and, per name, `<file>.crt`/`<file>.key` signed by it into `dir`:
/// `ca.crt`, then for each (file, dnsName) a certificate with that subjectAltName.
package func makeTestCertificates(openssl: String, dir: String, _ certs: [(file: String, dnsName: String)]) throws {
    func sh(_ args: [String]) throws {
        let r = try run(openssl, args)
        guard r.status == 0 else { throw NamespaceError(message: "openssl \(args.first ?? ""): \(r.output)") }
    }
    try sh([
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
        "/CN=k8slb-test-ca",
        "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.crt",
    ])
    for (file, name) in certs {
        try "subjectAltName=DNS:\(name)\n".write(toFile: "\(dir)/\(file).ext", atomically: true, encoding: .utf8)
        try sh([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=\(name)",
            "-keyout", "\(dir)/\(file).key", "-out", "\(dir)/\(file).csr",
        ])
        try sh([
            "x509", "-req", "-in", "\(dir)/\(file).csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
            "-CAcreateserial",
            "-days", "1", "-extfile", "\(dir)/\(file).ext", "-out", "\(dir)/\(file).crt",
        ])
    }
}

/// The suffix of every namespace a test creates: `p<pid>x<random>`, so that what a test process
/// leaves behind when it dies without tearing down (a crash, a SIGKILL, a timeout) names its owner.
/// The first call in a process removes such leftovers of test processes that are gone: their
/// namespaces, the processes inside them, and processes whose command line names them (actors run
/// with `--netns`, `ip netns exec` wrappers) — by PID, and only when the owner PID is not alive.
package func namespaceSuffix(ip: String) -> String {
    LeftoverNamespaces.removeOnce(ip: ip)
    return "p\(getpid())x\(String(UInt16.random(in: .min ... .max), radix: 16))"
}

private enum LeftoverNamespaces {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var done = false  // guarded by `lock`

    static func removeOnce(ip: String) {
        lock.withLock {
            guard !done else { return }
            done = true
            remove(ip: ip)
        }
    }

    /// The owner PID in a namespace name made with `namespaceSuffix`, when it is not ours.
    static func owner(_ name: String) -> Int32? {
        guard name.hasPrefix("k8slb-"), let last = name.split(separator: "-").last, last.hasPrefix("p") else {
            return nil
        }
        let parts = last.dropFirst().split(separator: "x")
        guard parts.count == 2, let pid = Int32(parts[0]), pid > 1, pid != getpid() else { return nil }
        return pid
    }

    @discardableResult
    static func remove(ip: String) -> [String] {
        let names = Child.run([ip, "netns", "list"]).output.split(separator: "\n").compactMap {
            $0.split(separator: " ").first.map(String.init)
        }
        let dead = names.filter { name in owner(name).map { kill($0, 0) != 0 && errno == ESRCH } ?? false }
        guard !dead.isEmpty else { return [] }
        var pids = Set<Int32>()
        for n in dead {
            for line in Child.run([ip, "netns", "pids", n]).output.split(separator: "\n") {
                if let p = Int32(line) { pids.insert(p) }
            }
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let cmdline = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if dead.contains(where: { cmdline.contains($0) }) { pids.insert(pid) }
        }
        for pid in pids { kill(pid, SIGKILL) }
        if !pids.isEmpty { usleep(200_000) }
        for n in dead { _ = Child.run([ip, "netns", "del", n]) }
        print("removed what dead test processes left: namespaces \(dead.sorted()), processes \(pids.sorted())")
        return dead.sorted()
    }
}

/// Removes now what `namespaceSuffix` removes once per process; the namespaces removed.
@discardableResult
package func removeLeftoverNamespaces(ip: String) -> [String] { LeftoverNamespaces.remove(ip: ip) }

/// A throwaway topology: bridge namespace, LB node, backend and client namespaces, documentation
/// addresses only, no route out; everything deleted (processes by PID) at the end.
package final class Topology {
    package let ip: String
    package let id: String
    package var namespaces: [String] = []
    package var children: [Child] = []

    package init(ip: String) {
        self.ip = ip
        id = namespaceSuffix(ip: ip)
    }

    package func ns(_ role: String) -> String { "k8slb-\(role)-\(id)" }

    package func sh(_ args: [String]) throws {
        let r = try run(ip, args)
        if r.status != 0 { throw NamespaceError(message: "ip \(args.joined(separator: " ")): \(r.output)") }
    }

    /// Adds namespace `role` with eth0 on the bridge and `addresses`.
    package func host(_ role: String, addresses: [String]) throws {
        let name = ns(role)
        try sh(["netns", "add", name])
        namespaces.append(name)
        try sh(["-n", name, "link", "set", "lo", "up"])
        let peer = "v\(role.prefix(5))\(id.prefix(4))"
        try sh(["-n", ns("sw"), "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", name])
        try sh(["-n", ns("sw"), "link", "set", peer, "master", "br0", "up"])
        try sh(["-n", name, "link", "set", "eth0", "up"])
        // IPv6 test addresses skip duplicate address detection (usable at once).
        for a in addresses {
            try sh(["-n", name, "addr", "add", a, "dev", "eth0"] + (a.contains(":") ? ["nodad"] : []))
        }
    }

    /// Namespace `role` behind namespace `router` on a link of their own (the router's `eth1`, the
    /// client's `eth0`): one (router, client) CIDR pair per family, the client's default routes via
    /// the router. The client reaches the LB segment only through the router (BGP tests).
    package func client(_ role: String, behind router: String, links: [(router: String, client: String)]) throws {
        let name = ns(role)
        try sh(["netns", "add", name])
        namespaces.append(name)
        try sh(["-n", name, "link", "set", "lo", "up"])
        try sh(["-n", ns(router), "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", name])
        try sh(["-n", ns(router), "link", "set", "eth1", "up"])
        try sh(["-n", name, "link", "set", "eth0", "up"])
        for link in links {
            let v6 = link.router.contains(":")
            try sh(["-n", ns(router), "addr", "add", link.router, "dev", "eth1"] + (v6 ? ["nodad"] : []))
            try sh(["-n", name, "addr", "add", link.client, "dev", "eth0"] + (v6 ? ["nodad"] : []))
            let gateway = String(link.router.split(separator: "/")[0])
            try sh(["-n", name] + (v6 ? ["-6"] : []) + ["route", "add", "default", "via", gateway])
        }
    }

    package func bridge() throws {
        try sh(["netns", "add", ns("sw")])
        namespaces.append(ns("sw"))
        try sh(["-n", ns("sw"), "link", "add", "br0", "type", "bridge"])
        try sh(["-n", ns("sw"), "link", "set", "br0", "up"])
    }

    /// Starts `args` inside namespace `role`; ended by PID in `tearDown`. With `listening`:
    /// returns once a TCP socket listens on that port in the namespace (a server a test starts
    /// must be up before the proxy's first health check, or the check fails and the server counts
    /// as down for `rise` more intervals).
    @discardableResult
    package func spawn(_ role: String, _ args: [String], listening port: Int? = nil) throws -> Child {
        let p = try Child.start([ip, "netns", "exec", ns(role)] + args)
        children.append(p)
        if let port {
            for _ in 0..<500 {
                guard p.isRunning else {
                    throw NamespaceError(message: "\(args.joined(separator: " ")) exited with \(p.exitStatus ?? -1)")
                }
                if try !run(ip, ["netns", "exec", ns(role), "ss", "-Hltn", "sport = :\(port)"]).output.isEmpty {
                    return p
                }
                usleep(10_000)
            }
            throw NamespaceError(
                message: "nothing listens on port \(port) in \(role) 5 s after starting \(args.joined(separator: " "))")
        }
        return p
    }

    package func exec(_ role: String, _ args: [String]) throws -> (status: Int32, output: String) {
        try run(ip, ["netns", "exec", ns(role)] + args)
    }

    /// The IPv6 VIPs routed to namespace `role`'s own stack (VRRP followers: `local <vip> dev lo
    /// table local proto 248`, NetlinkSocket.addVIPRoute), as `ip` prints them.
    package func vipRoutes(_ role: String) throws -> [String] {
        try exec(role, [ip, "-6", "route", "show", "table", "local", "proto", "248"]).output.split(separator: "\n")
            .compactMap { line in
                let f = line.split(separator: " ")
                return f.count >= 2 && f[0] == "local" ? String(f[1]) : nil
            }
    }

    package func tearDown() {
        for p in children where p.isRunning {
            kill(p.processIdentifier, SIGTERM)  // by PID: only processes this test started
            for _ in 0..<20 where p.isRunning { usleep(100_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        for n in namespaces.reversed() { _ = try? run(ip, ["netns", "del", n]) }
    }
}

/// A network namespace of a test's own for the daemons' config checks: `eth0` and `lb0` (a veth
/// pair, the interface names the fixtures use), `lo` up, non-local binds on (nginx -t binds its
/// listeners). Delete it with `delete()`.
package final class CheckNamespace {
    package let name: String
    private let ip: String

    /// nil without root or iproute2 (an Issue is recorded first when CI=true).
    package static func make() throws -> CheckNamespace? {
        guard getuid() == 0, let ip = which("ip") else {
            if requireIntegration { Issue.record("root and iproute2 are required when CI=true") }
            return nil
        }
        return try CheckNamespace(ip: ip)
    }

    private init(ip: String) throws {
        self.ip = ip
        name = "k8slb-ck-\(namespaceSuffix(ip: ip))"
        let add = try run(ip, ["netns", "add", name])
        guard add.status == 0 else { throw NamespaceError(message: "ip netns add: \(add.output)") }
        for args in [
            ["-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "lb0"],
            ["-n", name, "link", "set", "lo", "up"],
            [
                "netns", "exec", name, "sh", "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind; echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind",
            ],
        ] {
            let r = try run(ip, args)
            guard r.status == 0 else {
                delete()
                throw NamespaceError(message: "ip \(args.joined(separator: " ")): \(r.output)")
            }
        }
    }

    /// Runs `args` (binary first) inside the namespace.
    package func exec(_ args: [String]) throws -> (status: Int32, output: String) {
        try run(ip, ["netns", "exec", name] + args)
    }

    package func delete() { _ = try? run(ip, ["netns", "del", name]) }
}
