import CLibc
import Core
import Foundation
import Glibc
import Netlink
import Spawn
import TestSupport
import Testing

/// Runs `body` on a thread of its own inside network namespace `name` (setns affects only the
/// calling thread), returning its result.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

func inNamespace<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        defer { done.signal() }
        let fd = open("/var/run/netns/\(name)", O_RDONLY)
        guard fd >= 0, clibc_setns_net(fd) == 0 else {
            box.result = .failure(NamespaceError(message: "setns \(name): \(String(cString: strerror(errno)))"))
            return
        }
        close(fd)
        box.result = Result { try body() }
    }
    thread.start()
    done.wait()
    return try box.result!.get()
}

@Suite(.serialized, .needs(.root("ip"))) struct NetlinkTests {
    @Test func vipsRoutesAndListingInANamespace() throws {
        guard getuid() == 0, let ip = which("ip") else {
            if requireIntegration { Issue.record("root and iproute2 are required when CI=true") }
            return
        }
        let ns = "k8slb-nl-\(namespaceSuffix(ip: ip))"
        try run(ip, ["netns", "add", ns])
        defer { _ = try? run(ip, ["netns", "del", ns]) }
        for args in [
            ["link", "add", "eth0", "type", "veth", "peer", "name", "peer0"], ["link", "set", "eth0", "up"],
            ["link", "set", "peer0", "up"], ["addr", "add", "192.0.2.1/24", "dev", "eth0"],
            ["-6", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad"],
        ] {
            let r = try run(ip, ["-n", ns] + args)
            #expect(r.status == 0, "ip \(args): \(r.output)")
        }
        let v4 = try IPAddress(parsing: "192.0.2.50")
        let v6 = try IPAddress(parsing: "2001:db8::50")
        let outside = try IPAddress(parsing: "198.51.100.1")
        let (detected, noRoute, listed, v6Flags) = try inNamespace(ns) {
            () throws -> (String?, String?, [NetlinkSocket.Address], UInt32?) in
            let nl = try NetlinkSocket()
            let detected = try nl.routeInterface(for: v4)
            let noRoute = try nl.routeInterface(for: outside)
            try nl.add(v4, interface: "eth0", label: "eth0:lb50")
            try nl.add(v4, interface: "eth0", label: "eth0:lb50")  // idempotent
            try nl.add(v6, interface: "eth0")
            let listed = try nl.addresses()
            let flags = listed.first { $0.address == v6 }?.flags
            return (detected, noRoute, listed, flags)
        }
        #expect(detected == "eth0")
        #expect(noRoute == nil, "no route out of the namespace")
        #expect(listed.contains { $0.address == v4 && $0.interface == "eth0" && $0.prefixLength == 32 })
        #expect(listed.contains { $0.address == v6 && $0.prefixLength == 128 })
        #expect((v6Flags ?? 0) & 0x02 != 0, "IPv6 VIP is nodad")
        let shown = try run(ip, ["-n", ns, "addr", "show", "dev", "eth0"]).output
        #expect(shown.contains("192.0.2.50/32") && shown.contains("eth0:lb50"), "\(shown)")
        #expect(
            shown.contains("2001:db8::50/128") && shown.contains("nodad") && shown.contains("deprecated"), "\(shown)")

        let (afterRemove, errors) = try inNamespace(ns) { () throws -> ([NetlinkSocket.Address], [String]) in
            let nl = try NetlinkSocket()
            try nl.remove(v4, interface: "eth0")
            try nl.remove(v4, interface: "eth0")  // absent: success
            try nl.remove(v6, interface: "eth0")
            var errors: [String] = []
            do { try nl.add(v4, interface: "nosuch0") } catch let e as NetlinkError { errors.append(e.message) }
            do { try nl.add(v4, interface: "eth0", label: "eth0:a-label-too-long") } catch let e as NetlinkError {
                errors.append("\(e.code)")
            }
            return (try nl.addresses(), errors)
        }
        #expect(!afterRemove.contains { $0.address == v4 || $0.address == v6 })
        #expect(errors.count == 2 && errors[0] == "no interface named nosuch0")
    }
}

/// What a test process that died leaves (its namespaces, a process inside one) is removed by the
/// next one; a live owner's namespaces are left alone.
@Suite(.serialized, .needs(.root("ip"))) struct LeftoverNamespaceTests {
    @Test func deadOwnersNamespacesAndTheirProcessesAreRemoved() throws {
        guard getuid() == 0, let ip = which("ip") else {
            if requireIntegration { Issue.record("root and iproute2 are required when CI=true") }
            return
        }
        // A PID that just exited stands for the dead test process.
        let gone = try Child.start(["/bin/true"])
        gone.waitUntilExit()
        let dead = "k8slb-left-p\(gone.processIdentifier)x1"
        let live = "k8slb-left-\(namespaceSuffix(ip: ip))"
        for n in [dead, live] { try run(ip, ["netns", "add", n]) }
        defer { for n in [dead, live] { _ = try? run(ip, ["netns", "del", n]) } }
        let inside = try Child.start([ip, "netns", "exec", dead, "/bin/sleep", "60"])
        defer { if inside.isRunning { kill(inside.processIdentifier, SIGKILL) } }
        _ = inside.wait(timeout: .milliseconds(100))

        let removed = removeLeftoverNamespaces(ip: ip)
        #expect(removed == [dead])
        let left = try run(ip, ["netns", "list"]).output
        #expect(!left.contains(dead) && left.contains(live), "\(left)")
        #expect(
            inside.wait(timeout: .seconds(5)) == 128 + SIGKILL,
            "the process inside the dead owner's namespace was ended")
    }
}
