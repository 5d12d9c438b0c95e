import Foundation
import PropertyBased
import Synchronization
import TestSupport
import Testing

@testable import Core

/// A scratch directory with a test certificate bundle per pool.
final class Scratch {
    let dir: URL
    init(pools: [String]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-render-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        guard let openssl = which("openssl") else { return }
        for pool in pools {
            let key = dir.appendingPathComponent("\(pool).key").path
            let crt = dir.appendingPathComponent("\(pool).crt").path
            try run(
                openssl,
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=\(pool).example.org", "-keyout", key, "-out", crt,
                ])
            let bundle = try String(contentsOfFile: crt, encoding: .utf8) + String(contentsOfFile: key, encoding: .utf8)
            try bundle.write(to: dir.appendingPathComponent("\(pool).pem"), atomically: true, encoding: .utf8)
        }
    }
    deinit { try? FileManager.default.removeItem(at: dir) }

    func write(_ text: String, _ name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite(.needs(.root("ip", "haproxy", "keepalived", "nginx", "openssl"))) struct ConfigValidationByDaemonsTests {
    static func tools() -> (haproxy: String, keepalived: String)? {
        guard let h = which("haproxy"), let k = which("keepalived"), which("openssl") != nil else {
            if requireIntegration { Issue.record("haproxy, keepalived and openssl are required when CI=true") }
            return nil
        }
        return (h, k)
    }

    @Test func renderedConfigsPassTheDaemonsOwnChecks() throws {
        guard let tools = Self.tools() else { return }
        let scratch = try Scratch(pools: ["default", "v6"])
        let haproxy = try scratch.write(RenderFixture.haproxy(certDirectory: scratch.dir.path), "haproxy.cfg")
        let h = try run(tools.haproxy, ["-c", "-q", "-f", haproxy])
        #expect(h.status == 0, "haproxy -c: \(h.output)")
        // keepalived checks that the interfaces exist (and refuses loopback): check inside a
        // network namespace of our own with a veth pair named like the config's interfaces.
        guard let ns = try CheckNamespace.make() else { return }
        defer { ns.delete() }
        for node in ["lb-a", "lb-b", "lb-c"] {
            let ka = try scratch.write(
                RenderFixture.keepalived(node: node, interface: "eth0"), "keepalived-\(node).conf")
            let k = try ns.exec([tools.keepalived, "-t", "-f", ka])
            #expect(k.status == 0, "keepalived -t (\(node)): \(k.output)")
        }
        // And the check bites: an interface that does not exist there is refused.
        let bad = try scratch.write(RenderFixture.keepalived(node: "lb-a", interface: "nosuch0"), "bad.conf")
        #expect(try ns.exec([tools.keepalived, "-t", "-f", bad]).status != 0)
    }

    /// The nginx config (http + stream, TLS with <pool>.pem + <pool>.key, UDP) passes `nginx -t`,
    /// and the check bites on a missing key.
    @Test func renderedNginxConfigPassesNginxT() throws {
        guard let nginx = which("nginx"), which("openssl") != nil else {
            if requireIntegration { Issue.record("nginx and openssl are required when CI=true") }
            return
        }
        // nginx -t binds the listeners: check inside a namespace of our own with non-local binds on.
        guard let ns = try CheckNamespace.make() else { return }
        defer { ns.delete() }
        let scratch = try Scratch(pools: ["default", "v6"])
        let text = RenderFixture.nginx(certDirectory: scratch.dir.path, runDirectory: scratch.dir.path)
        let conf = try scratch.write(text, "nginx.conf")
        let r = try ns.exec([nginx, "-t", "-q", "-e", "stderr", "-c", conf])
        #expect(r.status == 0, "nginx -t: \(r.output)")
        try FileManager.default.removeItem(atPath: scratch.dir.appendingPathComponent("v6.key").path)
        #expect(try ns.exec([nginx, "-t", "-q", "-e", "stderr", "-c", conf]).status != 0)
    }

    @Test func aBrokenConfigIsCaughtByTheCheck() throws {
        guard let tools = Self.tools() else { return }
        // The check really runs: a missing certificate fails it, as docs/architecture.md says.
        let scratch = try Scratch(pools: [])
        let text = RenderFixture.haproxy(certDirectory: scratch.dir.path)
        let h = try run(tools.haproxy, ["-c", "-q", "-f", try scratch.write(text, "haproxy.cfg")])
        #expect(h.status != 0)
    }

    /// Random Services, hostile names and annotation values included, go through the watcher's
    /// planning, the allocator, VRRP planning and the renderers: every haproxy.cfg passes
    /// `haproxy -c`, every keepalived.conf `keepalived -t` and every nginx.conf `nginx -t` (inside a
    /// namespace with the interface and non-local binds), and no user string appears in any. 100 runs of up to 200 Services each
    /// (about 10,000 Services; K8SLB_RENDER_CASES sets the runs).
    @Test func randomHostileServicesRenderValidConfigs() async throws {
        guard let tools = Self.tools() else { return }
        guard let ns = try CheckNamespace.make() else { return }
        defer { ns.delete() }
        let nginx = which("nginx")
        if nginx == nil, requireIntegration { Issue.record("nginx is required when CI=true") }
        let scratch = try Scratch(pools: ["default", "v6"])
        let config = try UserConfig.parse(
            #"""
            {"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.1-192.0.2.254"},
                       "v6": {"network": "2001:db8::/64", "range": "2001:db8::/112"}},
             "keepalived": {"email": "ops@example.org", "emailFrom": "lb@example.org", "emailServer": "192.0.2.25:25"},
             "vrrp": {"advertInterval": 0.1}}
            """#
        ).config
        let hostile = Gen.ascii.string(of: 1...30)
        let serviceGen = PropertyBased.zip(hostile, hostile, Gen.int(in: 1...65535), hostile, Gen.int(in: 0...7))
        let count = Int(ProcessInfo.processInfo.environment["K8SLB_RENDER_CASES"] ?? "100") ?? 100
        let interfaces: [PoolName: InterfaceName] = [
            .default: try InterfaceName(parsing: "eth0"),
            try PoolName(parsing: "v6"): try InterfaceName(parsing: "eth0"),
        ]
        // Valid host names to share port 443 of one IP with (user text too, but parsed: they may
        // appear); everything random must not.
        let names = ["a.example.com", "b.example.com", "www.example.org", "shop.example.net"]
        let shared = Mutex(0)  // runs whose haproxy.cfg routes a shared port by name
        await propertyCheck(count: count, input: serviceGen.array(of: 1...200)) { services in
            var allocator = IPAllocator(pools: config.pools)
            var entries: [ServiceKey: AssignmentDocument.ServiceEntry] = [:]
            var userStrings: [String] = []
            for (i, (name, annotation, port, portName, mode)) in services.enumerated() {
                let key = ServiceKey(namespace: "ns\(i)", name: name)
                var annotations = [
                    "loadbalancer/ssl": ["true", "false", "", annotation][mode % 4],
                    "loadbalancer/mode": ["http", "false", "", annotation][(mode + 1) % 4],
                    "loadbalancer/pool": mode >= 4 ? "v6" : "default",
                    // Issue 12's annotations, valid or hostile.
                    "loadbalancer/proxy-protocol": ["v1", "v2", "", annotation][(i + mode) % 4],
                    "loadbalancer/forwarded-headers": ["true", "false", annotation][i % 3],
                    "loadbalancer/tls-secret": i % 5 == 0 ? annotation : "site-tls",
                ]
                var ports: [ServiceInput.Port] = [
                    .init(name: portName, proto: "TCP", port: port, targetPort: .name(portName))
                ]
                if i % 3 == 0 {
                    // Name-based sharing of 192.0.2.7:443: a random subset of the valid names, or hostile text.
                    annotations["loadbalancer/hostnames"] =
                        i % 9 == 0
                        ? annotation
                        : names[(i / 3) % names.count] + (i % 2 == 0 ? "," + names[(i / 3 + 1) % names.count] : "")
                    annotations["loadbalancer/ip"] = mode >= 4 ? "2001:db8::7" : "192.0.2.7"
                    annotations["loadbalancer/sharing-key"] = "site"
                    ports = [.init(name: "https", proto: "TCP", port: 443, targetPort: .number(8443))]
                }
                let input = ServiceInput(
                    key: key, type: "LoadBalancer", annotations: annotations, ports: ports,
                    externalTrafficPolicy: i % 4 == 0 ? "Local" : "Cluster",
                    sessionAffinity: i % 2 == 0 ? "ClientIP" : "None",
                    affinityTimeoutSeconds: i % 4 == 0 ? 60 : nil, healthCheckNodePort: 32000)
                userStrings += [name, annotation, portName].filter { $0.count >= 6 }
                guard case .serve(let request, let entry, _) = ServicePlan.make(input, servedClass: nil),
                    (try? allocator.assign(request)) != nil
                else { continue }
                entries[key] = entry
            }
            var vips: [IPAddress: AssignmentDocument.VIP] = [:]
            var endpoints = EndpointMap()
            for key in allocator.assignedServices {
                guard let entry = entries[key] else { continue }
                for a in allocator.addresses(of: key) {
                    vips[a.address, default: .init(address: a.address, pool: a.pool, services: [])].services.append(
                        entry)
                }
                for p in entry.ports {
                    endpoints.endpoints[.init(service: key, port: p.port, proto: p.proto)] = [
                        .init(address: IPAddress(ipv4: 0xC633_6400 + UInt32(p.port % 200)), port: 8080)
                    ]
                }
            }
            let nodes = ["lb-a", "lb-b", "lb-c"]
            let plan = VRRPPlan.make(
                vips: vips.values.map { ($0.address, $0.pool) }, nodes: nodes, previous: [], vridOffset: 0)
            let doc = AssignmentDocument(
                vips: vips.values.map {
                    var v = $0
                    v.vrid = plan.vridOf[v.address]
                    return v
                }, nodes: nodes, groups: plan.groups)
            // Services naming a Secret get a (real) bundle, as the actor gives those that check out.
            var secretCerts: [ServiceKey: SafePath] = [:]
            for (key, entry) in entries where entry.tlsSecret != nil {
                secretCerts[key] = try? SafePath(parsing: scratch.dir.appendingPathComponent("default.pem").path)
            }
            var options = HAProxyRenderer.Options()
            options.certDirectory = scratch.dir.path
            options.poolsWithCertificates = [.default]
            options.serviceCertificates = secretCerts
            let text = HAProxyRenderer(options: options).render(doc, endpoints: endpoints, config: config)
            if text.contains("use_backend ") && text.contains("send-proxy") { shared.withLock { $0 += 1 } }
            let keepalived = KeepalivedRenderer(options: .init(node: "lb-b", interfaces: interfaces)).render(
                doc, config: config
            ).text
            var nginxOptions = NginxRenderer.Options()
            nginxOptions.certDirectory = scratch.dir.path
            nginxOptions.runDirectory = scratch.dir.path
            nginxOptions.poolsWithCertificates = [.default]
            nginxOptions.serviceCertificates = secretCerts
            nginxOptions.certificateDigest = 0xfeed
            let nginxText = NginxRenderer(options: nginxOptions).render(doc, endpoints: endpoints, config: config)
            for s in userStrings
            where !s.allSatisfy({ $0.isNumber || $0 == "." }) && !names.contains(where: { $0.contains(s.lowercased()) })
            {
                #expect(!text.contains(s), "user text \(s.debugDescription) reached haproxy.cfg")
                #expect(!keepalived.contains(s), "user text \(s.debugDescription) reached keepalived.conf")
                #expect(!nginxText.contains(s), "user text \(s.debugDescription) reached nginx.conf")
            }
            if let nginx {
                let npath = try? scratch.write(nginxText, "random-nginx.conf")
                let n = try? ns.exec([nginx, "-t", "-q", "-e", "stderr", "-c", npath ?? "/nonexistent"])
                #expect(n?.status == 0, "nginx -t rejected a rendered config: \(n?.output ?? "")")
            }
            let path = try? scratch.write(text, "random.cfg")
            let result = try? run(tools.haproxy, ["-c", "-q", "-f", path ?? "/nonexistent"])
            #expect(result?.status == 0, "haproxy -c rejected a rendered config: \(result?.output ?? "")")
            let kpath = try? scratch.write(keepalived, "random-keepalived.conf")
            let k = try? ns.exec([tools.keepalived, "-t", "-f", kpath ?? "/nonexistent"])
            #expect(k?.status == 0, "keepalived -t rejected a rendered config: \(k?.output ?? "")")
        }
        #expect(
            shared.withLock { $0 } > 0,
            "no run shared a port by host name with PROXY protocol on: the generator misses the case")
    }
}
