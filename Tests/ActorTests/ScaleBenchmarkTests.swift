import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// Many Services end to end: the real watcher and two real actors (keepalived + HAProxy in LB
/// namespaces) against the test API server. K8SLB_SCALE_SERVICES Services (default 200; the full
/// `scripts/bench` run: 10,000) are created through the API as fast as it takes them, each with
/// its EndpointSlice; their VIPs come from an IPv6 pool (the documentation ranges have no room for
/// 10,000 IPv4 VIPs). It prints when the last one got its IP, when the last of 100 sampled VIPs
/// served its first request, each sync's stages on the LB nodes at full size (a reload with every
/// frontend: HAProxy's check and reload, keepalived's), the daemons' and k8slb's RSS, and a
/// failover's outage at that size (the holder of a sampled VIP loses its link).
@Suite(
    .serialized,
    .needs(.root("ip", "haproxy", "keepalived", "curl", "python3").and(built: "k8slb-actor", "k8slb-watcher")))
struct ScaleBenchmarkTests {
    /// The VIP range: 2001:db8:5::1 onwards.
    static func vip(_ i: Int) -> String { "2001:db8:5::\(String(i + 1, radix: 16))" }

    /// Resident set size in MB of the processes whose command line contains `marker` and whose
    /// name is `name` (a daemon's master and workers together).
    static func rss(name: String, marker: String) -> (mb: Double, processes: Int) {
        var kb = 0
        var n = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == name,
                let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")),
                String(decoding: cmd, as: UTF8.self).contains(marker),
                let usage = SoakTests.usage(pid)
            else { continue }
            kb += usage.rssKB
            n += 1
        }
        return (Double(kb) / 1024, n)
    }

    static func rss(pid: Int32) -> Double { SoakTests.usage(pid).map { Double($0.rssKB) / 1024 } ?? -1 }

    /// The `trace: sync timings` lines of a log after `t0` whose VIP count is `vips`: (gather,
    /// plan, proxy, keepalived) in ms.
    static func syncTimings(_ log: String, vips: Int, after t0: Date) -> [(
        gather: Int, plan: Int, proxy: Int, keepalived: Int
    )] {
        var out: [(Int, Int, Int, Int)] = []
        for line in log.split(separator: "\n")
        where line.contains("trace: sync timings") && line.contains("lb.vips=\(vips)") {
            guard let first = line.split(separator: " ").first,
                let t = EndToEndBenchmarkTests.stamp.date(from: String(first)), t >= t0
            else { continue }
            func value(_ key: String) -> Int {
                guard let r = line.range(of: "\(key)=") else { return -1 }
                return Int(line[r.upperBound...].prefix { $0.isNumber }) ?? -1
            }
            out.append((value("gather_ms"), value("plan_ms"), value("proxy_ms"), value("keepalived_ms")))
        }
        return out
    }

    /// Python, started once the holder's link is down: connects to every address given (IPv6,
    /// port 80: HAProxy accepts only where the address is held) every 20 ms, each try with a
    /// 0.2 s timeout, for argv[1] seconds; prints `ADDRESS EPOCH` when each first accepts, and
    /// exits once all have. Connects only, as the failover probes do: one Python backend answers
    /// a few dozen requests at a time, which would time the backend rather than the failover.
    static let parallelProbe = #"""
        import asyncio, sys, time
        async def one(ip, end):
            while time.time() < end:
                try:
                    r, w = await asyncio.wait_for(asyncio.open_connection(ip, 80), 0.2)
                    print(ip, time.time(), flush=True); w.close(); return
                except Exception:
                    await asyncio.sleep(0.02)
        async def main(seconds, ips):
            end = time.time() + seconds
            await asyncio.gather(*(one(ip, end) for ip in ips))
        asyncio.run(main(float(sys.argv[1]), sys.argv[2:]))
        """#

    /// Seconds after `t0` at which each address accepted again, from `parallelProbe`'s output.
    static func servedAgain(_ output: String, after t0: Date) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let t = Double(parts[1]) else { continue }
            out[String(parts[0])] = t - t0.timeIntervalSince1970
        }
        return out
    }

    @Test(.benchmark) func manyServicesEndToEnd() async throws {
        guard let tools = ActorHarness.tools() else { return }
        let count = Int(ProcessInfo.processInfo.environment["K8SLB_SCALE_SERVICES"] ?? "200") ?? 200
        try await ActorHarness.with(tools) { h in
            let nodes = try await h.sizedScenario(tools)
            let last = Self.vip(count + 10)
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.99"},"v6":{"network":"2001:db8:5::/112","range":"2001:db8:5::1-"#
                    + last + #"","interface":"eth0"}},"vrrp":{"advertInterval":0.1}}"#)
            // The open-file limit a container runtime usually gives (containerd, CRI-O: 1,048,576),
            // inherited by the actors and their daemons; this machine's default hard limit, 20,000,
            // cannot hold 10,000 listeners and their checked servers (HAProxy's maxconn is sized
            // to the limit; under 20,000 it does not fit at all, and the actor says so).
            // Where the hard limit cannot be raised (no CAP_SYS_RESOURCE, as on this build
            // machine), the Services go without health checks: a checked server holds a descriptor
            // of its own, and 10,000 listeners plus 10,000 checked servers exceed 20,000.
            var limit = rlimit(rlim_cur: 1_048_576, rlim_max: 1_048_576)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
            let checks = Int(limit.rlim_max) >= 3 * count + 1000
            // Two descriptors per listener (a reload hands them over), plus maxconn's: 10,000
            // frontends do not fit under 20,000 at all; the run says so instead of waiting.
            if Int(limit.rlim_max) < 2 * count + 600 {
                Issue.record(
                    "\(count) Services need more than the open-file limit \(limit.rlim_max) allows HAProxy (two descriptors per listener); K8SLB_SCALE_SERVICES ≤ \((Int(limit.rlim_max) - 600) / 2) here"
                )
                return
            }
            print(
                "scale: open-file limit \(limit.rlim_max); health checks \(checks ? "on" : "off (loadbalancer/nocheck: a checked server needs a descriptor of its own)")"
            )
            try h.startWatcher()
            for node in nodes { try h.startActor(node, logLevel: "debug") }
            try await Task.sleep(for: .seconds(2))

            // Created as fast as the API takes them: 32 at a time, each Service then its slice.
            let t0 = Date()
            let client = h.client
            try await ActorHarness.concurrently(count) { i in
                let key = ServiceKey(namespace: "default", name: "s\(i)")
                var service = ActorHarness.service(
                    key, ports: [("http", 80)],
                    annotations: ["loadbalancer/pool": "v6"].merging(
                        checks ? [:] : ["loadbalancer/nocheck": "true"], uniquingKeysWith: { a, _ in a }))
                // As on a real cluster at this size: 2,768 NodePorts would run out first.
                service.spec?.allocateLoadBalancerNodePorts = false
                _ = try await client.create(service)
                _ = try await client.create(
                    ActorHarness.slice(key, name: "s\(i)-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)]))
            }
            let created = Date().timeIntervalSince(t0)
            print("scale: \(count) Services and their EndpointSlices created in \(String(format: "%.1f", created)) s")

            // When the last one got its IP (a list every 0.5 s).
            var allAssigned: Double?
            var ips: [Int: String] = [:]
            let deadline = Date().addingTimeInterval(max(120, Double(count) / 20))
            while allAssigned == nil && Date() < deadline {
                let list = try await h.client.list(Service.self, namespace: "default")
                for s in list.items {
                    if let name = s.metadata.name, name.hasPrefix("s"), let i = Int(name.dropFirst()),
                        let ip = s.status?.loadBalancer?.ingress?.first?.ip
                    {
                        ips[i] = ip
                    }
                }
                if ips.count == count {
                    allAssigned = Date().timeIntervalSince(t0)
                } else {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            #expect(allAssigned != nil, "\(ips.count) of \(count) Services got an IP")

            // 100 sampled VIPs (every count/100-th Service): when each served its first request.
            let step = max(1, count / 100)
            var pending = Set(stride(from: 0, to: count, by: step).compactMap { ips[$0] })
            let sampled = pending.count
            var lastServed: Double?
            while !pending.isEmpty && Date() < deadline.addingTimeInterval(Double(count) / 20) {
                for ip in pending.sorted() {
                    let out = try h.topo.exec("cl", [tools.curl, "-g", "-s", "-m", "0.5", "http://[\(ip)]/"]).output
                    if out == "backend\n" {
                        pending.remove(ip)
                        lastServed = Date().timeIntervalSince(t0)
                    }
                }
                if !pending.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(pending.isEmpty, "\(pending.count) of \(sampled) sampled VIPs never served")

            // One more Service: a sync at full size with a reload of every frontend.
            let t1 = Date()
            let extra = ServiceKey(namespace: "default", name: "extra")
            try await h.createService(extra, ports: [("http", 80)], annotations: ["loadbalancer/pool": "v6"])
            try await h.setSlice(extra, name: "extra-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
            var timings: [String: (gather: Int, plan: Int, proxy: Int, keepalived: Int)] = [:]
            _ = await eventually(.seconds(60)) {
                for node in nodes {
                    if let t = Self.syncTimings(h.log(node), vips: count + 1, after: t1).max(by: { $0.proxy < $1.proxy }
                    ) {
                        timings[node] = t
                    }
                }
                return timings.count == nodes.count
            }
            #expect(timings.count == nodes.count, "both LB nodes synced \(count + 1) VIPs")

            var usage: [String] = []
            for node in nodes {
                let marker = h.work.appendingPathComponent(node).path
                let haproxy = Self.rss(name: "haproxy", marker: marker)
                let keepalived = Self.rss(name: "keepalived", marker: marker)
                let actor = h.actors[node].map { Self.rss(pid: $0.processIdentifier) } ?? -1
                usage.append(
                    String(
                        format: "%@: actor %.0f MB, HAProxy %.0f MB (%d processes), keepalived %.0f MB (%d processes)",
                        node, actor, haproxy.mb, haproxy.processes, keepalived.mb, keepalived.processes))
            }
            let watcher = h.actors["watcher"].map { Self.rss(pid: $0.processIdentifier) } ?? -1
            let haproxyConfig =
                (try? String(contentsOfFile: h.work.appendingPathComponent("lb-a/haproxy.cfg").path, encoding: .utf8))
                ?? ""
            let maxconn =
                haproxyConfig.split(separator: "\n").first { $0.hasPrefix("    maxconn ") }.map {
                    String($0.dropFirst(12))
                } ?? "?"
            let frontends = haproxyConfig.split(separator: "\n").filter { $0.hasPrefix("frontend ") }.count

            // A failover at this size: the holder of the first sampled VIP loses its link; every
            // sampled VIP it held is probed in parallel until it is served again, for up to two
            // minutes (the other node binds thousands of followers: the first are served at once,
            // the last later; IPv6 addresses cost the kernel more the more an interface has).
            let probeVIP = ips[0] ?? Self.vip(0)
            let holder = try h.holders(probeVIP, among: nodes).first ?? nodes[0]
            let heldThere = stride(from: 0, to: count, by: step).compactMap { ips[$0] }.filter {
                (try? h.holders($0, among: nodes))?.contains(holder) ?? false
            }
            let t2 = Date()
            try h.topo.sh(["-n", h.topo.ns(holder), "link", "set", "eth0", "down"])
            let probe = try Child.start(
                [tools.ip, "netns", "exec", h.topo.ns("cl"), tools.python, "-c", Self.parallelProbe, "120"] + heldThere,
                output: .capture)
            let served = Self.servedAgain(probe.capturedOutput(), after: t2)
            try h.topo.sh(["-n", h.topo.ns(holder), "link", "set", "eth0", "up"])
            let outage = served[probeVIP]
            let lastOutage = served.count == heldThere.count ? served.values.max() : nil
            #expect(outage != nil, "\(probeVIP) served again after \(holder) lost its link")
            #expect(served.count == heldThere.count, "\(served.count) of \(heldThere.count) sampled VIPs served again")

            // Every VIP went live on some node as the actors see it (IPv6 followers are routes,
            // not addresses: the live VIPs, their metrics and VIPActive Events must count them).
            var activated = Set<Substring>()
            for node in nodes {
                for line in h.log(node).split(separator: "\n") where line.contains("VIP active on this node") {
                    if let r = line.range(of: "lb.vip=") {
                        activated.insert(line[r.upperBound...].prefix { $0 != " " })
                    }
                }
            }
            #expect(activated.count >= count, "\(activated.count) of \(count + 1) VIPs seen live by an actor")
            // VRRP groups a node stepped down for (split brain: a VIP live on two nodes) during
            // the run: a keepalived busy reloading thousands of VIPs sends no adverts for longer
            // than the master-down interval, and the backup takes the group's VIPs meanwhile.
            let stepped = nodes.map { node in
                "\(node) \(h.log(node).components(separatedBy: "stepping down for the group").count - 1)"
            }
            print(
                "scale: split brains resolved (a node stepping down for a group) during the run: \(stepped.joined(separator: ", "))"
            )
            func s(_ v: Double?) -> String { v.map { String(format: "%.1f s", $0) } ?? "never" }
            print(
                "scale: \(count) Services: last EXTERNAL-IP at \(s(allAssigned)); last of \(sampled) sampled VIPs served at \(s(lastServed)) after the first create"
            )
            for node in nodes {
                if let t = timings[node] {
                    print(
                        "scale: \(node) sync at \(count + 1) VIPs (one Service added): gather \(t.gather) ms, plan \(t.plan) ms, HAProxy check + reload \(t.proxy) ms, keepalived check + reload \(t.keepalived) ms"
                    )
                }
            }
            print(
                "scale: lb-a's haproxy.cfg: \(frontends) frontends, maxconn \(maxconn), \(haproxyConfig.utf8.count / 1000) kB"
            )
            print(
                "scale: RSS at \(count + 1) Services: watcher \(String(format: "%.0f", watcher)) MB; "
                    + usage.joined(separator: "; "))
            // K8SLB_SCALE_LOGS=<dir>: keep the actors' and the watcher's logs there.
            if let keep = ProcessInfo.processInfo.environment["K8SLB_SCALE_LOGS"] {
                for node in nodes + ["watcher"] {
                    try? h.log(node).write(toFile: "\(keep)/\(node).log", atomically: true, encoding: .utf8)
                }
                print("scale: failover at \(t2.timeIntervalSince1970) (logs in \(keep))")
            }
            let times = served.values.sorted()
            if !times.isEmpty {
                let at = { (q: Double) in
                    String(format: "%.2f s", times[min(times.count - 1, Int(q * Double(times.count)))])
                }
                print(
                    "scale: failover: sampled VIPs served again after (of \(heldThere.count)): median \(at(0.5)), p90 \(at(0.9)); all: \(times.map { String(format: "%.2f", $0) }.joined(separator: " "))"
                )
            }
            print(
                "scale: failover at \(count + 1) VIPs: \(holder) lost its link, \(probeVIP) served again after \(outage.map { String(format: "%.3f s", $0) } ?? "never"); the last of the \(heldThere.count) sampled VIPs it held after \(lastOutage.map { String(format: "%.3f s", $0) } ?? "never")"
            )
        }
    }
}
