package import Core
import Foundation

/// A small but complete rendering scenario (3 VIPs, TLS, source ranges, IPv6, 3 LB nodes) shared
/// by the golden tests and the daemon validation tests.
package enum RenderFixture {

    package static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

    package static let config: UserConfig = try! UserConfig.parse(
        #"""
        {"pools": {
          "default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"},
          "v6": {"network": "2001:db8::/64", "range": "2001:db8::/120", "interface": "lb0"}
        },
        "keepalived": {"email": "ops@example.org", "emailFrom": "lb@example.org", "emailServer": "192.0.2.25:25"},
        "haproxy": {"global": ["tune.ssl.default-dh-param 2048"], "httpfront": ["option forwardfor"], "tcpback": ["option tcp-check"]},
        "vrrp": {"advertInterval": 0.1, "vridOffset": 10}}
        """#
    ).config

    package static var document: AssignmentDocument {
        var web = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "web"),
            ports: [
                .init(name: "http", port: 80, targetPort: .number(8080)),
                .init(name: "https", port: 443, targetPort: .number(8080)),
            ])
        web.ssl = .auto
        var db = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "db"),
            ports: [.init(name: "pg", port: 5432, targetPort: .number(5432))])
        db.sourceRanges = [try! IPNetwork(parsing: "203.0.113.0/24"), try! IPNetwork(parsing: "2001:db8:ffff::/48")]
        var api = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "api"),
            ports: [.init(name: "https", port: 443, targetPort: .name("api-tls"))])
        api.sslBackend = .on
        api.noCheck = true
        let vips: [AssignmentDocument.VIP] = [
            .init(address: ip("192.0.2.10"), pool: .default, services: [web, db]),
            .init(address: ip("192.0.2.11"), pool: .default, services: [api]),
            .init(address: ip("2001:db8::10"), pool: try! PoolName(parsing: "v6"), services: [web]),
        ]
        let nodes = ["lb-a", "lb-b", "lb-c"]
        let plan = VRRPPlan.make(
            vips: vips.map { ($0.address, $0.pool) }, nodes: nodes, previous: [], vridOffset: config.vrrp.vridOffset)
        return AssignmentDocument(
            vips: vips.map {
                var v = $0
                v.vrid = plan.vridOf[v.address]
                return v
            }, nodes: nodes, groups: plan.groups)
    }

    package static var endpoints: EndpointMap {
        let web = ServiceKey(namespace: "shop", name: "web")
        let db = ServiceKey(namespace: "shop", name: "db")
        let api = ServiceKey(namespace: "shop", name: "api")
        return EndpointMap([
            .init(service: web, port: 80, proto: .tcp): [
                .init(address: ip("198.51.100.7"), port: 8080), .init(address: ip("198.51.100.8"), port: 8080),
            ],
            .init(service: web, port: 443, proto: .tcp): [.init(address: ip("198.51.100.7"), port: 8080)],
            .init(service: db, port: 5432, proto: .tcp): [.init(address: ip("2001:db8:1::9"), port: 5432)],
            .init(service: api, port: 443, proto: .tcp): [.init(address: ip("198.51.100.20"), port: 9443)],
        ])
    }

    package static func haproxy(
        certDirectory: String = "/etc/certs", certs: Set<PoolName> = [.default, try! PoolName(parsing: "v6")],
        statsSocket: String = "/run/k8slb/haproxy.sock", config: UserConfig = config
    ) -> String {
        var options = HAProxyRenderer.Options()
        options.certDirectory = certDirectory
        options.poolsWithCertificates = certs
        options.statsSocket = statsSocket
        return HAProxyRenderer(options: options).render(document, endpoints: endpoints, config: config)
    }

    /// nginx: the fixture plus a UDP Service (stream block).
    package static func nginx(
        certDirectory: String = "/etc/certs", runDirectory: String = "/run/k8slb",
        certs: Set<PoolName> = [.default, try! PoolName(parsing: "v6")],
        moduleInclude: String? = "/etc/nginx/modules-enabled/*.conf",
        config: UserConfig = config
    ) -> String {
        var options = NginxRenderer.Options()
        options.certDirectory = certDirectory
        options.runDirectory = runDirectory
        options.poolsWithCertificates = certs
        options.moduleInclude = moduleInclude
        var doc = document
        let dns = ServiceKey(namespace: "shop", name: "dns")
        doc.vips[0].services.append(
            .init(key: dns, ports: [.init(name: "dns", proto: .udp, port: 53, targetPort: .number(5353))]))
        var eps = endpoints
        eps.endpoints[.init(service: dns, port: 53, proto: .udp)] = [.init(address: ip("198.51.100.30"), port: 5353)]
        return NginxRenderer(options: options).render(doc, endpoints: eps, config: config)
    }

    package static func keepalived(node: String = "lb-a", interface: String = "eth0") -> String {
        var options = KeepalivedRenderer.Options(
            node: node, interfaces: [.default: try! InterfaceName(parsing: interface)])
        options.healthFile = try! SafePath(parsing: "/run/k8slb/proxy-health")
        return KeepalivedRenderer(options: options).render(document, config: config).text
    }
}
