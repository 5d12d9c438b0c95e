import Core
import DataPlane
import Foundation
import Glibc
import Netlink
import TestSupport
import Testing

@Suite(.serialized, .needs(.root("ip", "haproxy", "curl", "python3", "openssl"))) struct ServingTests {
    /// One LB node with an IPv4 and an IPv6 VIP: HTTP, HTTPS (TLS terminated with a bundle from a
    /// test CA, checked by SNI) and plain TCP reach the backend from the client namespace.
    @Test func tcpHttpHttpsAndIPv6ThroughVIPs() throws {
        guard getuid() == 0, let ip = which("ip"), let haproxy = which("haproxy"), let curl = which("curl"),
            let python = which("python3"), let openssl = which("openssl")
        else {
            if requireIntegration {
                Issue.record("root, iproute2, haproxy, curl, python3 and openssl are required when CI=true")
            }
            return
        }
        let topo = Topology(ip: ip)
        defer { topo.tearDown() }
        try topo.bridge()
        try topo.host("lb", addresses: ["192.0.2.11/24", "2001:db8::11/64"])
        try topo.host("be", addresses: ["192.0.2.21/24"])
        try topo.host("cl", addresses: ["192.0.2.100/24", "2001:db8::100/64"])
        _ = try topo.exec(
            "lb",
            ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind; echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind"])
        let v4 = try IPAddress(parsing: "192.0.2.50")
        let v6 = try IPAddress(parsing: "2001:db8::50")
        try inNamespace(topo.ns("lb")) {
            let nl = try NetlinkSocket()
            try nl.add(v4, interface: "eth0")
            try nl.add(v6, interface: "eth0")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-serve-\(topo.id)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try "backend\n".write(to: work.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try topo.spawn(
            "be", [python, "-m", "http.server", "8080", "--bind", "192.0.2.21", "--directory", work.path],
            listening: 8080)

        // Test CA and a bundle for pool "default" (certificate for web.example.org).
        let d = work.path
        try "subjectAltName=DNS:web.example.org\n".write(toFile: "\(d)/san.ext", atomically: true, encoding: .utf8)
        for args in [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=k8slb-test-ca", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                "/CN=web.example.org", "-keyout", "\(d)/web.key", "-out", "\(d)/web.csr",
            ],
            [
                "x509", "-req", "-in", "\(d)/web.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", "\(d)/san.ext", "-out", "\(d)/web.crt",
            ],
        ] {
            let r = try run(openssl, args)
            #expect(r.status == 0, "openssl: \(r.output)")
        }
        try
            (String(contentsOfFile: "\(d)/web.crt", encoding: .utf8)
            + String(contentsOfFile: "\(d)/web.key", encoding: .utf8))
            .write(toFile: "\(d)/default.pem", atomically: true, encoding: .utf8)

        let web = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "web"),
            ports: [
                .init(name: "http", port: 80, targetPort: .number(8080)),
                .init(name: "https", port: 443, targetPort: .number(8080)),
            ])
        var db = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "shop", name: "db"),
            ports: [.init(name: "db", port: 5432, targetPort: .number(8080))])
        db.mode = .tcp
        let doc = AssignmentDocument(vips: [
            .init(address: v4, pool: .default, services: [web, db]),
            .init(address: v6, pool: .default, services: [web]),
        ])
        let backend = [EndpointAddress(address: try IPAddress(parsing: "192.0.2.21"), port: 8080)]
        let endpoints = EndpointMap([
            .init(service: web.key, port: 80, proto: .tcp): backend,
            .init(service: web.key, port: 443, proto: .tcp): backend,
            .init(service: db.key, port: 5432, proto: .tcp): backend,
        ])
        let config = try UserConfig.parse(
            #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"},"v6":{"network":"2001:db8::/64","range":"2001:db8::/120"}}}"#
        ).config
        var options = HAProxyRenderer.Options()
        options.certDirectory = d
        options.poolsWithCertificates = [.default]
        options.statsSocket = "\(d)/stats.sock"
        let proxy = HAProxyProcess(
            paths: .init(binary: haproxy, directory: d), launcher: [ip, "netns", "exec", topo.ns("lb")])
        defer { proxy.stopBlocking() }
        #expect(
            try proxy.applyBlocking(HAProxyRenderer(options: options).render(doc, endpoints: endpoints, config: config))
                == .started)

        func get(_ args: [String]) -> String {
            (try? topo.exec("cl", [curl, "-s", "--max-time", "2"] + args).output) ?? ""
        }
        var up = false
        for _ in 0..<50 where !up {
            up = get(["http://192.0.2.50/"]) == "backend\n"
            if !up { usleep(100_000) }
        }
        #expect(up, "HTTP through the IPv4 VIP")
        #expect(
            get(["--cacert", "\(d)/ca.crt", "--resolve", "web.example.org:443:192.0.2.50", "https://web.example.org/"])
                == "backend\n",
            "HTTPS terminated with the pool's bundle, verified against the test CA by SNI name")
        #expect(
            get([
                "--cacert", "\(d)/ca.crt", "--resolve", "other.example.org:443:192.0.2.50",
                "https://other.example.org/",
            ]) == "",
            "a name the certificate does not carry fails verification")
        #expect(get(["http://192.0.2.50:5432/"]) == "backend\n", "plain TCP (mode tcp) through the VIP")
        #expect(get(["http://[2001:db8::50]/"]) == "backend\n", "HTTP through the IPv6 VIP")
        #expect(
            get([
                "--cacert", "\(d)/ca.crt", "--resolve", "web.example.org:443:[2001:db8::50]",
                "https://web.example.org/",
            ]) == "backend\n",
            "HTTPS through the IPv6 VIP")
    }
}
