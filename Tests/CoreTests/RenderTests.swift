import Foundation
import TestSupport
import Testing

@testable import Core

extension RenderFixture {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/golden")

    /// Compares with the golden file byte for byte; K8SLB_RECORD_GOLDEN=1 rewrites it.
    static func expectGolden(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["K8SLB_RECORD_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(
            text == expected, "differs from \(name); re-record with K8SLB_RECORD_GOLDEN=1 if intended",
            sourceLocation: sourceLocation)
    }
}

@Suite struct RenderGoldenTests {
    @Test func haproxyGolden() throws { try RenderFixture.expectGolden(RenderFixture.haproxy(), "haproxy.cfg") }
    @Test func nginxGolden() throws { try RenderFixture.expectGolden(RenderFixture.nginx(), "nginx.conf") }
    @Test func keepalivedGoldenPerNode() throws {
        for node in ["lb-a", "lb-b"] {
            try RenderFixture.expectGolden(RenderFixture.keepalived(node: node), "keepalived-\(node).conf")
        }
    }

    @Test func deterministic() {
        #expect(RenderFixture.haproxy() == RenderFixture.haproxy())
        #expect(RenderFixture.keepalived() == RenderFixture.keepalived())
    }

    @Test func nginxKeepsAliveToThePodsInHTTPOnlyAndAnOperatorsKeepaliveWins() throws {
        let text = RenderFixture.nginx()
        let http = text[..<text.range(of: "\nstream {")!.lowerBound]
        let stream = text[text.range(of: "\nstream {")!.lowerBound...]
        #expect(
            http.components(separatedBy: "keepalive 32;").count - 1 == http.components(separatedBy: "upstream up_")
                .count - 1,
            "every HTTP upstream keeps connections")
        #expect(!stream.contains("keepalive"), "stream upstreams have no keep-alive")
        var config = RenderFixture.config
        config.nginx.upstream = [try RawConfigLine(parsing: "keepalive 8;")]
        let own = NginxRenderer(options: .init()).render(
            RenderFixture.document, endpoints: RenderFixture.endpoints, config: config)
        #expect(!own.contains("keepalive 32;") && own.contains("keepalive 8;"))
        config.nginx.upstream = [
            try RawConfigLine(parsing: "\tkeepalive\t16;"), try RawConfigLine(parsing: "keepalive_timeout 30s;"),
        ]
        let indented = NginxRenderer(options: .init()).render(
            RenderFixture.document, endpoints: RenderFixture.endpoints, config: config)
        #expect(
            !indented.contains("keepalive 32;"),
            "an indented keepalive is the operator's too; keepalive_timeout is another directive")
    }

    @Test func missingCertificateDisablesTLSForThatPoolOnly() {
        let text = RenderFixture.haproxy(certs: [try! PoolName(parsing: "v6")])
        #expect(!text.contains("/etc/certs/default.pem"))
        #expect(text.contains("bind [2001:db8::10]:443 transparent ssl crt /etc/certs/v6.pem"))
        #expect(text.contains("bind 192.0.2.10:443 transparent\n"))
    }

    @Test func prioritiesAreDistinctPerGroup() {
        let doc = RenderFixture.document
        for group in doc.groups {
            var seen = Set<Int>()
            for node in doc.nodes {
                let text = RenderFixture.keepalived(node: node)
                let header = "vrrp_instance VI_\(group.family == .ipv4 ? 4 : 6)_\(group.vrid) {\n"
                guard let start = text.range(of: header) else { continue }
                let rest = text[start.upperBound...]
                let line = rest.split(separator: "\n").first { $0.contains("priority") }!
                seen.insert(Int(line.split(separator: " ").last!)!)
            }
            #expect(seen.count == doc.nodes.count, "group \(group.vrid): \(seen)")
        }
    }

    /// keepalived carries a group's first 16 VIPs (its anchors); the rest are followers the actor
    /// binds while an anchor is on the node: never in keepalived.conf, every VIP in exactly one
    /// of the two, and a group of 16 or fewer has none.
    @Test func keepalivedCarriesAnchorsAndTheActorTheFollowers() throws {
        let addresses = (1...40).map { try! IPAddress(parsing: "198.51.100.\($0)") }
        let plan = VRRPPlan.make(vips: addresses.map { ($0, .default) }, nodes: ["lb-a"], previous: [], vridOffset: 0)
        let document = AssignmentDocument(
            vips: addresses.map { .init(address: $0, pool: .default, services: [], vrid: plan.vridOf[$0]) },
            nodes: ["lb-a"], groups: plan.groups)
        let eth0 = try InterfaceName(parsing: "eth0")
        let renderer = KeepalivedRenderer(options: .init(node: "lb-a", interfaces: [.default: eth0]))
        let (text, _, groups, followers) = renderer.render(document, config: RenderFixture.config)
        #expect(groups.count == 1)
        let f = try #require(followers.first)
        #expect(followers.count == 1 && f.interface == eth0 && f.id == groups[0].id)
        #expect(f.anchors == Array(addresses.prefix(KeepalivedRenderer.anchorsPerInstance)))
        #expect(f.addresses == Array(addresses.dropFirst(KeepalivedRenderer.anchorsPerInstance)))
        for a in f.anchors { #expect(text.contains("    \(a)/32 dev eth0\n")) }
        for a in f.addresses { #expect(!text.contains("\(a)/32")) }
        #expect(!text.contains("excluded"))

        var small = document
        small.vips = Array(document.vips.prefix(KeepalivedRenderer.anchorsPerInstance))
        let (smallText, _, _, none) = renderer.render(small, config: RenderFixture.config)
        #expect(none.isEmpty)
        for v in small.vips { #expect(smallText.contains("    \(v.address)/32 dev eth0\n")) }
    }
}

@Suite struct EndpointResolutionTests {
    static let web = ServiceKey(namespace: "shop", name: "web")
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    static let document = AssignmentDocument(vips: [
        .init(
            address: ip("192.0.2.10"), pool: .default,
            services: [
                .init(
                    key: web,
                    ports: [
                        .init(name: "http", port: 80, targetPort: .name("web-http")),
                        .init(name: "dns", proto: .udp, port: 53, targetPort: .number(5353)),
                    ])
            ])
    ])

    /// A named targetPort resolves per slice (pods may number the named port differently);
    /// not-ready endpoints are left out; ports match by name and protocol.
    @Test func namedPortsReadinessAndProtocols() {
        let slices: [ServiceKey: [EndpointSliceInput]] = [
            Self.web: [
                .init(
                    service: Self.web,
                    ports: [.init(name: "http", proto: .tcp, port: 8080), .init(name: "dns", proto: .udp, port: 5353)],
                    endpoints: [
                        .init(addresses: [Self.ip("198.51.100.1")], ready: true),
                        .init(addresses: [Self.ip("198.51.100.2")], ready: false),
                    ]),
                .init(
                    service: Self.web,
                    ports: [.init(name: "http", proto: .tcp, port: 9090), .init(name: "dns", proto: .tcp, port: 5353)],
                    endpoints: [.init(addresses: [Self.ip("198.51.100.3")], ready: true)]),
            ]
        ]
        let map = EndpointMap.resolve(Self.document, slices: slices)
        let ports = Self.document.vips[0].services[0].ports
        let http = ports.first { $0.name == "http" }!
        let dns = ports.first { $0.name == "dns" }!
        #expect(
            map.ready(Self.web, http) == [
                .init(address: Self.ip("198.51.100.1"), port: 8080),
                .init(address: Self.ip("198.51.100.3"), port: 9090),
            ])
        #expect(map.ready(Self.web, dns) == [.init(address: Self.ip("198.51.100.1"), port: 5353)])
    }

    @Test func unnamedPortAndNoSlices() {
        let single = AssignmentDocument(vips: [
            .init(
                address: Self.ip("192.0.2.10"), pool: .default,
                services: [
                    .init(key: Self.web, ports: [.init(port: 80, targetPort: .number(8080))])
                ])
        ])
        let slices: [ServiceKey: [EndpointSliceInput]] = [
            Self.web: [
                .init(
                    service: Self.web, ports: [.init(name: "", proto: .tcp, port: 8080)],
                    endpoints: [.init(addresses: [Self.ip("2001:db8::5")], ready: true)])
            ]
        ]
        #expect(
            EndpointMap.resolve(single, slices: slices).ready(Self.web, single.vips[0].services[0].ports[0])
                == [.init(address: Self.ip("2001:db8::5"), port: 8080)])
        #expect(EndpointMap.resolve(single, slices: [:]).ready(Self.web, single.vips[0].services[0].ports[0]).isEmpty)
    }

    /// Equal skeleton digests ⇔ only server lines differ (the actor then uses the Runtime API).
    @Test func skeletonDigestIgnoresOnlyServers() {
        let renderer = HAProxyRenderer(options: HAProxyRenderer.Options())
        let doc = RenderFixture.document
        var eps = RenderFixture.endpoints
        let a = renderer.renderWithServers(doc, endpoints: eps, config: RenderFixture.config)
        eps.endpoints[.init(service: ServiceKey(namespace: "shop", name: "web"), port: 80, proto: .tcp)] = [
            .init(address: Self.ip("198.51.100.99"), port: 8080)
        ]
        let b = renderer.renderWithServers(doc, endpoints: eps, config: RenderFixture.config)
        #expect(a.text != b.text)
        #expect(a.skeletonDigest == b.skeletonDigest)
        #expect(a.servers != b.servers)
        // A backend losing all its servers, or getting its first, is a server change too.
        eps.endpoints[.init(service: ServiceKey(namespace: "shop", name: "web"), port: 80, proto: .tcp)] = []
        let empty = renderer.renderWithServers(doc, endpoints: eps, config: RenderFixture.config)
        #expect(empty.text != b.text)
        #expect(empty.skeletonDigest == b.skeletonDigest)
        var other = doc
        other.vips[0].services[0].ports[0].port = 81
        #expect(
            renderer.renderWithServers(other, endpoints: eps, config: RenderFixture.config).skeletonDigest
                != b.skeletonDigest)
    }
}

/// HAProxy's maxconn sized to the open-file limit it runs under (two descriptors per connection,
/// one per listener and per checked server): the scale benchmark's 10,000 frontends at maxconn
/// 8000 asked for 36,040 under a limit of 20,000, and every reload failed.
@Suite struct MaxConnectionsFitTests {
    func rendered(limit: Int?) -> HAProxyRenderer.Rendered {
        var options = HAProxyRenderer.Options()
        options.fileLimit = limit
        return HAProxyRenderer(options: options).renderWithServers(
            RenderFixture.document, endpoints: RenderFixture.endpoints, config: RenderFixture.config)
    }

    @Test func fitsTheLimit() {
        let plain = rendered(limit: nil)
        #expect(plain.maxConnections == 8000 && plain.text.contains("maxconn 8000"))
        #expect(rendered(limit: 1_048_576).maxConnections == 8000, "a container runtime's usual limit: untouched")
        // 6 frontends and 2 listeners of its own, 7 checked servers (api's is not checked) and 64
        // for HAProxy itself: 79 beside the connections' 2 × maxconn.
        let fixed = plain.descriptorsNeeded - 2 * 8000
        #expect(fixed == 79)
        let tight = rendered(limit: 1087)
        #expect(tight.maxConnections == 504 && tight.text.contains("maxconn 504") && tight.descriptorsNeeded == 1087)
        // Not even 100 connections fit: rendered at 100, and the actor says the reload will fail.
        let none = rendered(limit: 150)
        #expect(none.maxConnections == 100 && none.descriptorsNeeded > 150)
    }

    /// A reload's new worker holds the listeners handed over and its own at once: HAProxy's
    /// budget (listeners, checks, 2 × maxconn) must hold two per listener, and a config whose
    /// listeners alone need more than the limit twice over cannot fit.
    @Test func aReloadNeedsTwoDescriptorsPerListener() throws {
        let entry = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "web"),
            ports: [.init(name: "http", port: 80, targetPort: .number(8080))])
        let addresses = (1...300).map { try! IPAddress(parsing: "2001:db8::\(String($0, radix: 16))") }
        let document = AssignmentDocument(vips: addresses.map { .init(address: $0, pool: .default, services: [entry]) })
        func rendered(_ limit: Int?) -> HAProxyRenderer.Rendered {
            var options = HAProxyRenderer.Options()
            options.fileLimit = limit
            return HAProxyRenderer(options: options).renderWithServers(
                document, endpoints: EndpointMap([:]), config: RenderFixture.config)
        }
        // 302 listeners, no checked server: 366 beside the connections, 668 at a reload.
        let roomy = rendered(1000)
        #expect(roomy.maxConnections == 317 && roomy.descriptorsNeeded == 1000)
        let tight = rendered(700)
        #expect(tight.maxConnections == 167 && tight.descriptorsNeeded == 700)
        let short = rendered(650)
        #expect(short.descriptorsNeeded == 668, "two per listener at a reload: more than 650")
        // Without a limit, maxconn never leaves less than two descriptors per listener.
        #expect(rendered(nil).maxConnections == 8000)
    }

    @Test func anOperatorsMaxconnWins() throws {
        let config = try UserConfig.parse(
            #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"}, "v6": {"network": "2001:db8::/64", "range": "2001:db8::/120", "interface": "lb0"}}, "haproxy": {"global": ["maxconn 300"]}}"#
        ).config
        var options = HAProxyRenderer.Options()
        options.fileLimit = 1087
        let text = HAProxyRenderer(options: options).render(
            RenderFixture.document, endpoints: RenderFixture.endpoints, config: config)
        #expect(text.contains("maxconn 300") && !text.contains("maxconn 504"))
    }
}
