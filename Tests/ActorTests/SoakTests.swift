import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// The soak (issue 22): `K8SLB_SOAK_MINUTES` (default 1; `scripts/soak` runs 30) of Service
/// create/delete, endpoint churn on a long-lived Service, config edits, an actor restart every
/// sixth of the time (the two LB nodes in turn) and one watcher failover at half time, with a
/// client probing the long-lived VIP every 50 ms throughout. It prints the watchers' and actors'
/// RSS and open file descriptors at the start, the middle and the end, and the probe's failures;
/// at the end every daemon is stopped and nothing may be left: no daemon, no VIP, no file beyond
/// what the run started with.
@Suite(
    .serialized,
    .needs(.root("ip", "haproxy", "keepalived", "curl", "python3").and(built: "k8slb-actor", "k8slb-watcher")))
struct SoakTests {
    struct Usage: CustomStringConvertible {
        var rssKB: Int
        var fds: Int
        var description: String { String(format: "%.1f MB, %d FDs", Double(rssKB) / 1024, fds) }
    }

    static func usage(_ pid: Int32) -> Usage? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]),
            let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
        else { return nil }
        return Usage(rssKB: kb, fds: fds.count)
    }

    @Test(.benchmark) func soak() async throws {
        guard let tools = ActorHarness.tools() else { return }
        let minutes = Double(ProcessInfo.processInfo.environment["K8SLB_SOAK_MINUTES"] ?? "1") ?? 1
        let total = minutes * 60
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            try await h.addLBNodes(nodes)
            let backends = ["192.0.2.21", "192.0.2.22"]
            for (i, address) in backends.enumerated() {
                try h.topo.host("be\(i)", addresses: ["\(address)/24"])
                try h.topo.spawn(
                    "be\(i)",
                    [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", h.work.path],
                    listening: 8080)
            }
            try "backend\n".write(to: h.work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            // Config edits: the pool's range grows and shrinks back; every third edit is invalid
            // (a second pool overlapping the first) and is reported, the last good config serving on
            // (an actor restarted meanwhile serves from the watcher's copy of it).
            func config(_ edit: Int) -> String {
                let pools =
                    edit % 3 == 2
                    ? #""default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.90"},"spare":{"network":"192.0.2.0/24","range":"192.0.2.91-192.0.2.99"}"#
                    : #""default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.\#(edit % 2 == 0 ? 90 : 95)"}"#
                return #"{"pools":{"# + pools + #"},"vrrp":{"advertInterval":0.1}}"#
            }
            try await h.writeConfig(config(0))
            try h.startWatcher(name: "watcher", identity: "w1")
            try h.startWatcher(name: "watcher-2", identity: "w2")
            for node in nodes { try h.startActor(node) }

            let web = ServiceKey(namespace: "default", name: "web")
            try await h.createService(web, ports: [("http", 80)])
            try await h.setSlice(web, name: "web-1", addresses: backends, ports: [("http", "TCP", 8080)])
            var vip = ""
            #expect(
                await eventually(.seconds(30)) {
                    vip =
                        try await h.client.get(Service.self, namespace: "default", name: "web").status?.loadBalancer?
                        .ingress?.first?.ip ?? ""
                    guard !vip.isEmpty else { return false }
                    return try h.topo.exec("cl", [tools.curl, "-s", "-m", "1", "http://\(vip)/"]).output == "backend\n"
                }, "the long-lived VIP serves")
            guard !vip.isEmpty else { return }

            let probeLog = h.work.appendingPathComponent("probe.log").path
            let probe = try h.topo.spawn(
                "cl",
                [
                    "bash", "-c",
                    "while true; do echo \"$(\(tools.curl) -s -o /dev/null -m 2 -w '%{http_code} %{errormsg}' http://\(vip)/) $(date +%T.%N)\" >> \(probeLog); sleep 0.05; done",
                ])
            func probeResults() -> (ok: Int, failed: [String]) {
                let lines = ((try? String(contentsOfFile: probeLog, encoding: .utf8)) ?? "").split(separator: "\n")
                let failed = lines.filter { !$0.hasPrefix("200 ") }.map(String.init)
                return (lines.count - failed.count, failed)
            }
            func runFiles() -> Set<String> {
                Set(
                    nodes.flatMap { node in
                        ((try? FileManager.default.contentsOfDirectory(
                            atPath: h.work.appendingPathComponent(node).path)) ?? []).map { "\(node)/\($0)" }
                    })
            }
            let filesAtStart = runFiles()
            var table: [String] = []
            func sample(_ label: String) {
                var cells: [String] = []
                for name in ["watcher", "watcher-2"] + nodes {
                    guard let p = h.actors[name], p.isRunning, let u = Self.usage(p.processIdentifier) else {
                        cells.append("\(name): -")
                        continue
                    }
                    cells.append("\(name): \(u)")
                }
                let r = probeResults()
                let row = "soak \(label): \(cells.joined(separator: "; ")); probe \(r.ok) ok, \(r.failed.count) failed"
                print(row)
                table.append(row)
            }
            var usageAt: [String: [String: Usage]] = [:]
            func record(_ label: String) {
                for name in ["watcher", "watcher-2"] + nodes {
                    if let p = h.actors[name], p.isRunning, let u = Self.usage(p.processIdentifier) {
                        usageAt[label, default: [:]][name] = u
                    }
                }
                sample(label)
            }
            record("0.0 min")

            let start = ContinuousClock.now
            func elapsed() -> Double {
                let d = ContinuousClock.now - start
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            }
            var created = 0
            var deleted = 0
            var sliceStep = 0
            var configEdits = 0
            var restarts: [String] = []
            var failedOver = false
            var middleDone = false
            var nextRestart = total / 12
            var lastRestart = -100.0
            var nextConfig = 20.0
            var churn: [ServiceKey] = []
            while elapsed() < total {
                // Service churn: one created, the oldest of more than five deleted.
                let key = ServiceKey(namespace: "default", name: "churn-\(created)")
                try await h.createService(key, ports: [("http", 80)])
                try await h.setSlice(
                    key, name: "\(key.name)-1", addresses: [backends[created % 2]], ports: [("http", "TCP", 8080)])
                churn.append(key)
                created += 1
                if churn.count > 5 {
                    let old = churn.removeFirst()
                    try await h.client.delete(Service.self, namespace: old.namespace, name: old.name)
                    try? await h.client.delete(EndpointSlice.self, namespace: old.namespace, name: "\(old.name)-1")
                    deleted += 1
                }
                // Endpoint churn on the long-lived Service (one ready backend at least, always).
                let sets = [backends, [backends[0]], backends, [backends[1]]]
                try await h.setSlice(web, name: "web-1", addresses: sets[sliceStep % 4], ports: [("http", "TCP", 8080)])
                sliceStep += 1
                // A config edit: a second pool added or removed.
                if elapsed() >= nextConfig {
                    configEdits += 1
                    try await h.writeConfig(config(configEdits))
                    nextConfig += max(20, total / 15)
                }
                // An actor restart (SIGTERM, then started again), the nodes in turn.
                if elapsed() >= nextRestart {
                    let node = nodes[restarts.count % 2]
                    h.stopActor(node)
                    try h.startActor(node)
                    restarts.append(String(format: "%@ at %.0f s", node, elapsed()))
                    lastRestart = elapsed()
                    nextRestart += total / 6
                }
                // The watcher failover: the leader is stopped; the standby takes the Lease over;
                // the stopped one comes back as a standby.
                if !failedOver && elapsed() >= total / 2 {
                    let lease = try await h.client.get(Lease.self, namespace: "k8slb-system", name: "k8slb-watcher")
                    let leader = lease.spec?.holderIdentity == "w2" ? "watcher-2" : "watcher"
                    h.stopActor(leader)
                    try h.startWatcher(name: leader, identity: leader == "watcher" ? "w1" : "w2")
                    failedOver = true
                    lastRestart = elapsed()
                    print(
                        String(format: "soak: watcher failover at %.0f s (%@ stopped and restarted)", elapsed(), leader)
                    )
                }
                if !middleDone && elapsed() >= total / 2 && elapsed() - lastRestart >= 4 {
                    record(String(format: "%.1f min", minutes / 2))
                    middleDone = true
                }
                try await Task.sleep(for: .seconds(2))
            }
            try await Task.sleep(for: .seconds(5))
            record(String(format: "%.1f min", minutes))
            kill(probe.processIdentifier, SIGKILL)  // our own loop, by PID
            probe.waitUntilExit()
            let r = probeResults()
            print(
                "soak: \(String(format: "%.0f", total)) s: \(created) Services created, \(deleted) deleted, \(sliceStep) endpoint changes, \(configEdits) config edits, actor restarts \(restarts), watcher failover \(failedOver); probe of \(vip): \(r.ok) ok, \(r.failed.count) failed \(r.failed.prefix(5))"
            )
            #expect(r.failed.isEmpty, "failed requests on the long-lived VIP: \(r.failed.prefix(10))\n\(h.actorLogs())")
            #expect(r.ok > Int(total * 5), "the probe ran throughout")
            #expect(failedOver && restarts.count >= 5)

            // Flat: the end within 25% (plus 10 MB) of the middle, FDs within 8.
            let middle = usageAt[String(format: "%.1f min", minutes / 2)] ?? [:]
            let end = usageAt[String(format: "%.1f min", minutes)] ?? [:]
            for (name, u) in end {
                guard let m = middle[name] else { continue }
                #expect(
                    Double(u.rssKB) <= Double(m.rssKB) * 1.25 + 10_240 && u.fds <= m.fds + 8,
                    "\(name) grows: \(m) at the middle, \(u) at the end")
            }

            // Nothing left: every daemon stopped with its actor, no VIP, no file the run did not start with.
            let daemonPIDs = nodes.flatMap { node in
                ["haproxy.pid", "keepalived.pid"].compactMap { f in
                    (try? String(contentsOfFile: h.work.appendingPathComponent("\(node)/\(f)").path, encoding: .utf8))
                        .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                }
            }
            for node in nodes { h.stopActor(node) }
            let alive = daemonPIDs.filter { kill($0, 0) == 0 }
            let vips = try nodes.flatMap { node in
                try h.topo.exec(node, [h.topo.ip, "-o", "-4", "addr", "show", "dev", "eth0"]).output.split(
                    separator: "\n"
                )
                .filter { !$0.contains("192.0.2.1\(nodes.firstIndex(of: node)! + 1)/") }.map { "\(node): \($0)" }
            }
            let extra = runFiles().subtracting(filesAtStart).sorted()
            print(
                "soak: after stopping the actors: daemons alive \(alive), VIPs left \(vips), files beyond the start \(extra)"
            )
            #expect(alive.isEmpty && vips.isEmpty && extra.isEmpty)
            print("soak table:\n" + table.joined(separator: "\n"))
        }
    }
}
