import Core
import Foundation
import KubeClient
import TestAPIServer
import TestSupport
import Testing

/// The data plane never waits on the API: with the test API server answering Event writes (and
/// only those) after 5 s, a new VIP and an endpoint change reach traffic in the usual time, and
/// the Events (CertificateInvalid, NotRouted) of those same syncs arrive afterwards.
@Suite(.serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3"))) struct SlowAPITests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    @Test func eventsFiveSecondsLateDelayNeitherAVIPNorAnEndpointChange() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
            try h.topo.host("be", addresses: ["192.0.2.21/24"])
            try h.topo.host("be2", addresses: ["192.0.2.22/24"])
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            for (ns, text) in [("be", "backend"), ("be2", "backend2")] {
                let dir = h.work.appendingPathComponent(ns)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try "\(text)\n".write(to: dir.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
                try h.topo.spawn(
                    ns, [tools.python, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", dir.path],
                    listening: 8080)
            }
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            let web = ServiceKey(namespace: "default", name: "web")
            let shop = ServiceKey(namespace: "default", name: "shop")
            let dns = ServiceKey(namespace: "default", name: "dns")
            for (key, port) in [(web, 80), (shop, 443), (dns, 53)] {
                try await h.createService(key, ports: [("p", port)])
            }
            try await h.setSlice(web, name: "web-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
            let nodes = ["lb-a"]
            func document(_ entries: [(String, AssignmentDocument.ServiceEntry)]) -> AssignmentDocument {
                let vips = entries.map { (Self.ip($0.0), PoolName.default) }
                let plan = VRRPPlan.make(vips: vips, nodes: nodes, previous: [], vridOffset: 0)
                return AssignmentDocument(
                    vips: entries.map {
                        .init(
                            address: Self.ip($0.0), pool: .default, services: [$0.1], vrid: plan.vridOf[Self.ip($0.0)])
                    },
                    nodes: nodes, groups: plan.groups)
            }
            let webEntry = AssignmentDocument.ServiceEntry(
                key: web, ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
            // Terminates TLS on 443, but the pool has no certificate: a CertificateInvalid Event.
            let shopEntry = AssignmentDocument.ServiceEntry(
                key: shop, ports: [.init(name: "https", port: 443, targetPort: .number(8443))])
            // UDP through HAProxy: a NotRouted Event.
            let dnsEntry = AssignmentDocument.ServiceEntry(
                key: dns, ports: [.init(name: "dns", proto: .udp, port: 53, targetPort: .number(53))])
            try await h.publish(document([]))
            try h.startActor("lb-a")
            for _ in 0..<100 where !h.log("lb-a").contains("keepalived") {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(500))

            // From now on every Event write is answered (and stored) 5 s late.
            h.server.addRule(.init(method: "POST", segments: ["events"], delay: .seconds(5)))
            let created = Date()
            try await h.publish(document([("192.0.2.50", webEntry), ("192.0.2.51", shopEntry)]))
            var firstRequest: Double?
            for _ in 0..<400 where firstRequest == nil {
                if (try? h.webServes(tools)) == true {
                    firstRequest = Date().timeIntervalSince(created)
                } else {
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            let eventsAtFirstRequest = try await h.events(shop)
            print(
                "slow API: assignments published → first request through the new VIP: \(firstRequest.map { String(format: "%.3f s", $0) } ?? "never") (Events answered after 5 s)"
            )
            #expect(firstRequest.map { $0 < 2 } == true, "the new VIP serves in the usual time")
            #expect(
                eventsAtFirstRequest.isEmpty, "the CertificateInvalid Event is not written yet: \(eventsAtFirstRequest)"
            )

            // An endpoint change, in the same sync as a new unroutable Service (NotRouted Event).
            let changed = Date()
            try await h.publish(
                document([("192.0.2.50", webEntry), ("192.0.2.51", shopEntry), ("192.0.2.52", dnsEntry)]))
            try await h.setSlice(web, name: "web-1", addresses: ["192.0.2.22"], ports: [("http", "TCP", 8080)])
            var switched: Double?
            for _ in 0..<400 where switched == nil {
                let body = (try? h.topo.exec("cl", [tools.curl, "-s", "-m", "1", "http://192.0.2.50/"]).output) ?? ""
                if body == "backend2\n" {
                    switched = Date().timeIntervalSince(changed)
                } else {
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            print(
                "slow API: endpoint change → traffic on the new endpoint: \(switched.map { String(format: "%.3f s", $0) } ?? "never")"
            )
            #expect(switched.map { $0 < 2 } == true, "the endpoint change reaches traffic in the usual time")

            // The Events arrive afterwards: each written 5 s after it was handed over.
            var shopEvents: [(reason: String, message: String)] = []
            var dnsEvents: [(reason: String, message: String)] = []
            let waited = Date()
            while Date().timeIntervalSince(waited) < 30 {
                shopEvents = try await h.events(shop).filter { $0.reason == "CertificateInvalid" }
                dnsEvents = try await h.events(dns).filter { $0.reason == "NotRouted" }
                if !shopEvents.isEmpty && !dnsEvents.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let certificateAt = Date().timeIntervalSince(created)
            print(
                "slow API: CertificateInvalid and NotRouted Events stored \(String(format: "%.1f", certificateAt)) s after the first publish: "
                    + "\(shopEvents.map(\.message) + dnsEvents.map(\.message))")
            #expect(
                !shopEvents.isEmpty
                    && dnsEvents.first?.message.contains("UDP port 192.0.2.52:53 is not proxied") == true)
            #expect(certificateAt >= 5)
        }
    }
}
