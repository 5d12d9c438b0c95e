import Core
import Foundation
import Glibc
import KubeClient
import Testing
import TestSupport

/// Service created → first successful request through its VIP, end to end: the real watcher and
/// two real actors (keepalived + HAProxy in LB namespaces) against the test API server, a backend
/// and a client namespace. Each trial creates a Service and its EndpointSlice, then polls the
/// status and curls the VIP from the client; the stage trace comes from the processes' logs
/// (millisecond timestamps, `trace:` lines at debug level). `scripts/bench` runs it with
/// K8SLB_E2E_TRIALS=20; CI runs 4 trials as a smoke run.
@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3").and(built: "k8slb-actor", "k8slb-watcher")))
struct EndToEndBenchmarkTests {
    struct Trial {
        var newInstance: Bool
        var stages: [(String, Double)]  // stage → ms after the create
        var firstRequest: Double?
    }

    static let stageMarks: [(name: String, process: String, match: String)] = [
        ("status written", "watcher", "trace: status written"),
        ("published", "watcher", "trace: assignments published"),
        ("actor read", "holder", "trace: assignments read"),
        ("proxy applied", "holder", "trace: proxy applied"),
        ("keepalived applied", "holder", "trace: keepalived applied"),
        ("VIP up", "holder", "VIP active on this node"),
    ]

    nonisolated(unsafe) static let stamp: ISO8601DateFormatter = {  // only read after creation
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    /// Milliseconds after `t0` of the first line of `log` after `t0` containing `match` (and
    /// `also`, when given).
    static func mark(_ log: String, _ match: String, also: String? = nil, after t0: Date) -> Double? {
        for line in log.split(separator: "\n") where line.contains(match) && (also.map { line.contains($0) } ?? true) {
            guard let first = line.split(separator: " ").first, let t = stamp.date(from: String(first)), t >= t0 else { continue }
            return t.timeIntervalSince(t0) * 1000
        }
        return nil
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded(.up)))]
    }

    @Test func createdToFirstRequest() async throws {
        guard let tools = ActorHarness.tools() else { return }
        let trials = Int(ProcessInfo.processInfo.environment["K8SLB_E2E_TRIALS"] ?? "4") ?? 4
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            for (i, node) in nodes.enumerated() {
                try h.topo.host(node, addresses: ["192.0.2.\(11 + i)/24"])
                _ = try await h.client.create(Node(metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                                                   addresses: [.init(type: "InternalIP", address: "192.0.2.\(11 + i)")]))
            }
            try h.topo.host("be", addresses: ["192.0.2.21/24"])
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            try "backend\n".write(to: h.work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try h.topo.spawn("be", [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", h.work.path])
            try await h.writeConfig(#"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.99"}},"vrrp":{"advertInterval":0.1}}"#)
            try h.startWatcher(logLevel: "debug")
            for node in nodes { try h.startActor(node, logLevel: "debug") }
            try await Task.sleep(for: .seconds(2))

            func instances(_ node: String) -> Int {
                let text = (try? String(contentsOfFile: h.work.appendingPathComponent("\(node)/keepalived.conf").path, encoding: .utf8)) ?? ""
                return text.components(separatedBy: "vrrp_instance").count - 1
            }
            var results: [Trial] = []
            for i in 0..<trials {
                let key = ServiceKey(namespace: "default", name: "s\(i)")
                let before = nodes.map(instances)
                let t0 = Date()
                try await h.createService(key, ports: [("http", 80)])
                try await h.setSlice(key, name: "s\(i)-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
                var ip: String?
                var first: Double?
                let deadline = Date().addingTimeInterval(10)
                while first == nil && Date() < deadline {
                    if ip == nil {
                        ip = try await h.client.get(Service.self, namespace: "default", name: key.name).status?.loadBalancer?.ingress?.first?.ip
                    }
                    if let ip, try h.topo.exec("cl", [tools.curl, "-s", "-m", "0.3", "http://\(ip)/"]).output == "backend\n" {
                        first = Date().timeIntervalSince(t0) * 1000
                    } else {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
                let holder = ip.flatMap { try? h.holders($0, among: nodes).first } ?? nodes[0]
                let after = nodes.map(instances)
                var stages: [(String, Double)] = []
                for m in Self.stageMarks {
                    let log = h.log(m.process == "watcher" ? "watcher" : holder)
                    let also: String? = m.match == "trace: status written" ? "default/s\(i)" : (m.match.hasPrefix("VIP active") ? ip : nil)
                    if let ms = Self.mark(log, m.match, also: also, after: t0) { stages.append((m.name, ms)) }
                }
                let trial = Trial(newInstance: zip(before, after).contains { $0 < $1 }, stages: stages, firstRequest: first)
                results.append(trial)
                let trace = stages.map { "\($0.0) \(Int($0.1))" }.joined(separator: ", ")
                print("e2e trial \(i + 1) (\(trial.newInstance ? "new VRRP instance" : "joins a running instance"), VIP \(ip ?? "-") on \(holder)): \(trace), first request \(first.map { "\(Int($0)) ms" } ?? "never")")
                #expect(first != nil, "trial \(i + 1): the VIP never served")
                try await Task.sleep(for: .milliseconds(300))
            }
            for (label, group) in [("joins a running instance", results.filter { !$0.newInstance }), ("new VRRP instance", results.filter(\.newInstance))] {
                let firsts = group.compactMap(\.firstRequest)
                guard !firsts.isEmpty else { continue }
                var stageSummary: [String] = []
                for m in Self.stageMarks {
                    let values = group.compactMap { t in t.stages.first { $0.0 == m.name }?.1 }
                    if !values.isEmpty { stageSummary.append("\(m.name) \(Int(Self.percentile(values, 0.5)))") }
                }
                print("e2e: created → first request, \(label): \(firsts.count) trials, median \(Int(Self.percentile(firsts, 0.5))) ms, p99 \(Int(Self.percentile(firsts, 0.99))) ms, worst \(Int(firsts.max()!)) ms; stage medians (ms): \(stageSummary.joined(separator: ", "))")
            }
        }
    }
}
