import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// The control-plane VIP and the Service actor on the same two nodes, the same interface and
/// segment (docs/control-plane.md, "Beside the Service actor"): the k8slb config's
/// `vrrp.vridOffset` 1 keeps the Services' VRIDs above the control-plane VIP's VRID 1. Each
/// keeps its own keepalived, run directory and metrics port, and neither's changes touch the
/// other's VIP: a client requests both VIPs every 20 ms throughout.
@Suite struct ControlPlaneBesideTests {
    @Test(.needs(.root("ip", "haproxy", "keepalived", "nginx", "openssl", "python3", "curl").and(built: "k8slb-actor")))
    func controlPlaneVIPAndServiceVIPsOnTheSameNodes() async throws {
        guard let tools = ActorHarness.tools(), let nginx = which("nginx"), let openssl = which("openssl") else {
            if requireIntegration { Issue.record("nginx and openssl are required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            /// The document with Services `names` on 192.0.2.50, .51, … (created with their endpoint
            /// when new), VRIDs above the offset.
            func document(_ names: [String]) async throws -> AssignmentDocument {
                var vips: [AssignmentDocument.VIP] = []
                let addresses = try names.indices.map { try IPAddress(parsing: "192.0.2.\(50 + $0)") }
                let plan = VRRPPlan.make(
                    vips: addresses.map { ($0, .default) }, nodes: nodes, previous: [], vridOffset: 1)
                for (name, vip) in zip(names, addresses) {
                    let key = ServiceKey(namespace: "default", name: name)
                    if (try? await h.client.get(Service.self, namespace: "default", name: name)) == nil {
                        try await h.createService(key, ports: [("http", 80)])
                        try await h.setSlice(
                            key, name: "\(name)-1", addresses: ["192.0.2.21"], ports: [("http", "TCP", 8080)])
                    }
                    let entry = AssignmentDocument.ServiceEntry(
                        key: key, ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
                    vips.append(.init(address: vip, pool: .default, services: [entry], vrid: plan.vridOf[vip]))
                }
                return AssignmentDocument(vips: vips, nodes: nodes, groups: plan.groups)
            }
            let first = try await h.webScenario(nodes: nodes, tools: tools, vridOffset: 1)
            #expect(first.groups.allSatisfy { $0.vrid > 1 }, "the Services' VRIDs are above the offset")
            for node in nodes { try h.startActor(node) }

            let work = h.work.path
            try makeTestCertificates(openssl: openssl, dir: work, [("apiserver", "cp.test")])
            let peers = [("lb-a", "192.0.2.11"), ("lb-b", "192.0.2.12")]
            var cpActors: [String: Child] = [:]
            for node in nodes {
                try ControlPlaneVIPTests.startAPIServer(node, in: h.topo, work: work, nginx: nginx)
                cpActors[node] = try ControlPlaneVIPTests.startControlPlaneActor(
                    node, peers: peers, vip: "192.0.2.10", vrid: 1, in: h.topo, work: work, binary: h.binary,
                    keepalived: tools.keepalived)
            }
            #expect(await eventually(.seconds(20)) { try h.webServes(tools) }, "Service VIP not served")
            var cpHolder: [String] = []
            #expect(
                await eventually(.seconds(10)) {
                    cpHolder = try h.holders("192.0.2.10", among: nodes)
                    return cpHolder.count == 1
                }, "control-plane VIP not held by one node: \(cpHolder)")
            guard let holder = cpHolder.first else { return }
            let other = nodes.first { $0 != holder }!

            // Apart: instance names, VRIDs, run directories, metrics ports.
            let serviceConf = try String(contentsOfFile: "\(work)/\(holder)/keepalived.conf", encoding: .utf8)
            let cpConf = try String(contentsOfFile: "\(work)/\(holder)/cp-run/keepalived.conf", encoding: .utf8)
            #expect(!serviceConf.contains("virtual_router_id 1\n") && serviceConf.contains("VI_4_"))
            #expect(cpConf.contains("virtual_router_id 1\n") && cpConf.contains("vrrp_instance CP_4_1"))
            #expect(!cpConf.contains("192.0.2.50") && !serviceConf.contains("192.0.2.10/"))
            // The metric follows the address on its own (netlink event), moments after it.
            var cpMetrics = ""
            #expect(
                await eventually(.seconds(2)) {
                    cpMetrics = try h.topo.exec(holder, [tools.curl, "-s", "-m", "2", "http://127.0.0.1:9092/metrics"])
                        .output
                    return cpMetrics.contains("k8slb_control_plane_vip_master{vip=\"192.0.2.10\"} 1")
                }, "\(cpMetrics)")

            // Both VIPs requested every 20 ms while each side changes.
            let ip = tools.ip
            let cpProbe = try ConnectProbe.start(
                ip: ip, python: tools.python, namespace: h.topo.ns("cl"), host: "192.0.2.10", port: 6080, seconds: 6,
                every: 20)
            let webProbe = try ConnectProbe.start(
                ip: ip, python: tools.python, namespace: h.topo.ns("cl"), host: "192.0.2.50", port: 80, seconds: 6,
                every: 20)
            usleep(500_000)
            // The Service side: a second Service (keepalived and HAProxy reload on both nodes).
            try await h.publish(try await document(["web", "api"]))
            usleep(1_500_000)
            // The control-plane side: the backup's control-plane actor restarts.
            if let p = cpActors[other] {
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
            }
            cpActors[other] = try ControlPlaneVIPTests.startControlPlaneActor(
                other, peers: peers, vip: "192.0.2.10", vrid: 1, in: h.topo, work: work, binary: h.binary,
                keepalived: tools.keepalived)
            let cp = ConnectProbe.results(cpProbe)
            let web = ConnectProbe.results(webProbe)
            let cpFailed = cp.filter { !$0.ok }.count
            let webFailed = web.filter { !$0.ok }.count
            print(
                "control-plane beside the Service actor: Service added (both nodes reloaded) and \(other)'s control-plane actor restarted; control-plane VIP \(cp.count - cpFailed) ok, \(cpFailed) failed; Service VIP \(web.count - webFailed) ok, \(webFailed) failed"
            )
            #expect(cpFailed == 0 && webFailed == 0)
            #expect(Set(cp.map(\.body)) == [holder], "the control-plane VIP stayed on \(holder)")
            #expect(try h.holders("192.0.2.10", among: nodes) == [holder])
            let api = try h.topo.exec("cl", [tools.curl, "-s", "-m", "1", "http://192.0.2.51/"]).output
            #expect(api == "backend\n", "the second Service is served")

            // The control-plane VIP moves (its holder's apiserver fails); the Service VIP does not notice.
            let webProbe2 = try ConnectProbe.start(
                ip: ip, python: tools.python, namespace: h.topo.ns("cl"), host: "192.0.2.50", port: 80, seconds: 3,
                every: 20)
            usleep(300_000)
            _ = FileManager.default.createFile(atPath: "\(work)/\(holder)/unready", contents: Data())
            let web2 = ConnectProbe.results(webProbe2)
            let moved = try h.holders("192.0.2.10", among: nodes)
            print(
                "control-plane beside the Service actor: \(holder)'s apiserver unready → control-plane VIP on \(moved); Service VIP \(web2.filter(\.ok).count) ok, \(web2.filter { !$0.ok }.count) failed"
            )
            #expect(moved == [other])
            #expect(web2.allSatisfy { $0.ok })
            for p in cpActors.values where p.isRunning {
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
            }
        }
    }
}
