import Foundation
import Testing

@testable import Core

/// Issue 12 in Core: the client's address (PROXY protocol, forwarded headers, session affinity),
/// certificates from Secrets, several host names on one VIP, NodePort backends, and
/// externalTrafficPolicy Local in kube-proxy mode — parsed, allocated, planned and rendered.
@Suite struct L7FeatureTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static func host(_ s: String) -> HostName { try! HostName(parsing: s) }
    static let config = try! UserConfig.parse(
        #"""
        {"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"},
                   "edge": {"network": "198.51.100.0/24", "range": "198.51.100.10-198.51.100.20", "backends": "nodeports"}}}
        """#
    ).config

    static func entry(
        _ name: String, port: UInt16 = 443, portName: String = "https", hostnames: [String] = [],
        _ tweak: (inout AssignmentDocument.ServiceEntry) -> Void = { _ in }
    ) -> AssignmentDocument.ServiceEntry {
        var e = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "web", name: name),
            ports: [.init(name: portName, port: port, targetPort: .number(8443), nodePort: 30443)])
        e.hostnames = hostnames.map(host)
        tweak(&e)
        return e
    }

    static func endpoints(_ entries: [AssignmentDocument.ServiceEntry]) -> EndpointMap {
        var m = EndpointMap()
        for (i, e) in entries.enumerated() {
            for p in e.ports {
                m.endpoints[.init(service: e.key, port: p.port, proto: p.proto)] = [
                    .init(address: ip("203.0.113.\(i + 1)"), port: 8443)
                ]
            }
        }
        return m
    }

    static func haproxy(
        _ entries: [AssignmentDocument.ServiceEntry], pool: PoolName = .default, certs: [ServiceKey: SafePath] = [:],
        endpoints: EndpointMap? = nil
    ) -> HAProxyRenderer.Rendered {
        var o = HAProxyRenderer.Options()
        o.poolsWithCertificates = [.default]
        o.serviceCertificates = certs
        let doc = AssignmentDocument(vips: [
            .init(address: ip(pool == .default ? "192.0.2.10" : "198.51.100.10"), pool: pool, services: entries)
        ])
        return HAProxyRenderer(options: o).renderWithServers(
            doc, endpoints: endpoints ?? Self.endpoints(entries), config: config)
    }

    // MARK: annotations

    @Test func newAnnotationsParseIntoTypes() throws {
        let (a, problems) = ServiceAnnotations.parse([
            "loadbalancer/proxy-protocol": "V2", "loadbalancer/forwarded-headers": "false",
            "loadbalancer/tls-secret": "web-tls", "loadbalancer/hostnames": "B.example.com, a.example.com",
        ])
        #expect(problems.isEmpty)
        #expect(a.proxyProtocol == .v2 && !a.forwardedHeaders && a.tlsSecret?.rawValue == "web-tls")
        #expect(a.hostnames.map(\.rawValue) == ["a.example.com", "b.example.com"])
    }

    @Test func badProxyProtocolIsIgnoredWithAWarningOthersRefuse() {
        let (a, problems) = ServiceAnnotations.parse(["loadbalancer/proxy-protocol": "v3"])
        #expect(a.proxyProtocol == nil)
        #expect(
            problems.count == 1 && problems[0].isWarning && !problems[0].isUnknown
                && problems[0].description.contains("served without it"))
        for (key, value) in [
            ("loadbalancer/tls-secret", "Web_TLS"), ("loadbalancer/hostnames", "a.example.com,a.example.com"),
            ("loadbalancer/hostnames", "bad host"), ("loadbalancer/tls-secret", "x\ny"),
        ] {
            let (_, p) = ServiceAnnotations.parse([key: value])
            #expect(p.count == 1 && !p[0].isWarning, "\(key)=\(value.debugDescription) is refused")
        }
        // The plan serves the Service without PROXY protocol and reports the ignored value.
        let input = ServiceInput(
            key: ServiceKey(namespace: "a", name: "b"), type: "LoadBalancer",
            annotations: ["loadbalancer/proxy-protocol": "v3"], ports: [.init(port: 80)])
        guard case .serve(_, let entry, let warnings) = ServicePlan.make(input, servedClass: nil) else {
            Issue.record("served")
            return
        }
        #expect(entry.proxyProtocol == nil && warnings.count == 1 && !warnings[0].isUnknown)
    }

    @Test func docsTableIsTheAnnotationTable() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("docs/config.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        #expect(
            text.contains(ServiceAnnotations.markdownTable),
            "docs/config.md's annotation table is ServiceAnnotations.markdownTable:\n\(ServiceAnnotations.markdownTable)"
        )
    }

    @Test func specFieldsReachTheEntry() {
        let input = ServiceInput(
            key: ServiceKey(namespace: "a", name: "b"), type: "LoadBalancer", ports: [.init(port: 80, nodePort: 31000)],
            externalTrafficPolicy: "Local", sessionAffinity: "ClientIP", affinityTimeoutSeconds: 600,
            healthCheckNodePort: 32000)
        guard case .serve(_, let entry, _) = ServicePlan.make(input, servedClass: nil) else {
            Issue.record("served")
            return
        }
        #expect(entry.localTraffic && entry.affinitySeconds == 600 && entry.healthCheckNodePort == 32000)
        var bad = input
        bad.sessionAffinity = "Sticky"
        #expect(
            ServicePlan.make(bad, servedClass: nil)
                == .invalid(["spec.sessionAffinity: \"Sticky\" is not None or ClientIP"]))
        // Round trip through the published document.
        let doc = AssignmentDocument(vips: [.init(address: Self.ip("192.0.2.10"), pool: .default, services: [entry])])
        let data = try! JSONEncoder().encode(doc)
        #expect(try! JSONDecoder().decode(AssignmentDocument.self, from: data) == doc)
    }

    // MARK: allocation

    @Test func samePortWithDisjointHostnamesShares() throws {
        var alloc = IPAllocator(pools: Self.config.pools)
        func req(_ n: String, _ names: [String], ports: Set<PortKey> = [PortKey(.tcp, 443)]) -> AllocationRequest {
            AllocationRequest(
                service: ServiceKey(namespace: "web", name: n), staticAddresses: [Self.ip("192.0.2.15")], ports: ports,
                sharingKey: try! SharingKey(parsing: "site"), hostnames: Set(names.map(Self.host)))
        }
        #expect(try alloc.assign(req("a", ["a.example.com"])).map(\.address.description) == ["192.0.2.15"])
        #expect(
            try alloc.assign(req("b", ["b.example.com", "c.example.com"])).map(\.address.description) == ["192.0.2.15"])
        #expect(
            try alloc.assign(req("default", [])).map(\.address.description) == ["192.0.2.15"],
            "one sharer without names: the fallback")
        #expect(
            throws: AllocationError.portConflict(
                Self.ip("192.0.2.15"), with: ServiceKey(namespace: "web", name: "default"), ports: [PortKey(.tcp, 443)])
        ) {
            try alloc.assign(req("second-default", []))
        }
        #expect(
            throws: AllocationError.hostnameConflict(
                Self.ip("192.0.2.15"), with: ServiceKey(namespace: "web", name: "b"), hostnames: ["c.example.com"])
        ) {
            try alloc.assign(req("c", ["c.example.com"]))
        }
        // UDP ports are never told apart by name.
        #expect(throws: AllocationError.self) {
            try alloc.assign(req("dns1", ["x.example.com"], ports: [PortKey(.udp, 53)]))
            try alloc.assign(req("dns2", ["y.example.com"], ports: [PortKey(.udp, 53)]))
        }
    }

    // MARK: HAProxy

    @Test func proxyProtocolForwardedHeadersAndAffinity() {
        let tcp = Self.entry("db", port: 5432, portName: "pg") {
            $0.proxyProtocol = .v2
            $0.affinitySeconds = 600
        }
        let http = Self.entry("web", port: 80, portName: "http") { $0.proxyProtocol = .v1 }
        let plain = Self.entry("plain", port: 8080, portName: "http-alt") { $0.forwardedHeaders = false }
        let r = Self.haproxy([tcp, http, plain])
        #expect(
            r.text.contains(
                "server ep_203_0_113_1_8443 203.0.113.1:8443 check inter 2s fall 3 rise 2 send-proxy-v2 check-send-proxy"
            ))
        #expect(
            r.text.contains(
                "server ep_203_0_113_2_8443 203.0.113.2:8443 check inter 2s fall 3 rise 2 send-proxy check-send-proxy"))
        #expect(r.text.contains("stick-table type ip size 1m expire 600s\n    stick on src"))
        #expect(
            r.text.contains(
                "backend be_192_0_2_10_80\n    mode http\n    balance roundrobin\n    option forwardfor\n    http-request set-header X-Forwarded-Proto http\n    http-request set-header X-Forwarded-Port 80"
            ))
        #expect(!r.text.contains("X-Forwarded-Port 8080"), "forwarded-headers: false")
        // Servers added at runtime carry the same options.
        #expect(
            r.servers.servers(of: "be_192_0_2_10_5432")?.first?.options
                == "check inter 2s fall 3 rise 2 send-proxy-v2 check-send-proxy")
    }

    @Test func secretCertificateReplacesThePoolsAndItsAbsenceTurnsTLSOff() throws {
        let withSecret = Self.entry("shop") { $0.tlsSecret = try! ResourceName(parsing: "shop-tls") }
        let path = try SafePath(parsing: "/run/k8slb/tls/k8slb-system/shop-tls.pem")
        let on = Self.haproxy([withSecret], certs: [withSecret.key: path])
        #expect(
            on.text.contains(
                "bind 192.0.2.10:443 transparent ssl crt /run/k8slb/tls/k8slb-system/shop-tls.pem alpn h2,http/1.1"))
        let off = Self.haproxy([withSecret])
        #expect(
            off.text.contains("bind 192.0.2.10:443 transparent\n"),
            "a Secret that did not check out: no TLS (not the pool's bundle)")
        #expect(!off.text.contains("ssl crt"))
    }

    @Test func sharedPortRoutesByName() throws {
        let a = Self.entry("a", hostnames: ["a.example.com"]) { $0.tlsSecret = try! ResourceName(parsing: "a-tls") }
        let b = Self.entry("b", hostnames: ["b.example.com", "www.b.example.com"])
        let certs = [a.key: try SafePath(parsing: "/run/k8slb/tls/web/a-tls.pem")]
        let terminated = Self.haproxy([b, a], certs: certs)
        let t = terminated.text
        #expect(
            t.contains(
                "bind 192.0.2.10:443 transparent ssl crt /run/k8slb/tls/web/a-tls.pem crt /etc/certs/default.pem alpn h2,http/1.1"
            ))
        #expect(
            t.contains("req.hdr(host),field(1,:),lower -m str a.example.com }")
                && t.contains("ssl_fc_sni,lower -m str b.example.com www.b.example.com }"))
        #expect(
            t.contains("default_backend be_192_0_2_10_443_nomatch")
                && t.contains("backend be_192_0_2_10_443_nomatch\n    mode http\n    http-request deny deny_status 404"),
            "no fallback Service: unknown names refused")
        #expect(terminated.servers.count == 3 && terminated.skipped.isEmpty)
        // Passthrough: SNI from the ClientHello, a fallback Service for the rest.
        let pa = Self.entry("a", hostnames: ["a.example.com"]) {
            $0.ssl = .off
            $0.mode = .tcp
        }
        let fallback = Self.entry("z") {
            $0.ssl = .off
            $0.mode = .tcp
        }
        let p = Self.haproxy([pa, fallback]).text
        #expect(p.contains("tcp-request inspect-delay 5s") && p.contains("req.ssl_sni,lower -m str a.example.com }"))
        #expect(p.contains("default_backend be_192_0_2_10_443_"))
        // A second claim of a name, and a sharer proxied differently: not routed, reported.
        let dup = Self.entry("c", hostnames: ["a.example.com"]) {
            $0.ssl = .off
            $0.mode = .tcp
        }
        let other = Self.entry("d", hostnames: ["d.example.com"]) { $0.ssl = .on }
        let r = Self.haproxy([pa, dup, other])
        #expect(Set(r.skipped.map(\.service.name)) == ["c", "d"])
        #expect(r.servers.count == 2, "a's backend and the no-match one")
    }

    @Test func nodePortBackendsWithHealthCheckPort() throws {
        var local = Self.entry("edge", port: 80, portName: "tcp") {
            $0.localTraffic = true
            $0.healthCheckNodePort = 32100
        }
        local.ports[0].nodePort = 31080
        let doc = AssignmentDocument(vips: [
            .init(address: Self.ip("198.51.100.10"), pool: try PoolName(parsing: "edge"), services: [local])
        ])
        let nodes = [
            BackendNode(name: "n1", addresses: [Self.ip("192.0.2.101")], ready: true, excluded: false),
            BackendNode(name: "n2", addresses: [Self.ip("192.0.2.102")], ready: false, excluded: false),
            BackendNode(name: "n3", addresses: [Self.ip("192.0.2.103")], ready: true, excluded: true),
            BackendNode(
                name: "n4", addresses: [Self.ip("2001:db8::4"), Self.ip("192.0.2.104")], ready: true, excluded: false),
        ]
        let map = EndpointMap.resolve(doc, slices: [:], nodes: nodes, nodePortPools: [try PoolName(parsing: "edge")])
        #expect(
            map.ready(local.key, local.ports[0]).map { "\($0.address):\($0.port)" } == [
                "192.0.2.101:31080", "192.0.2.104:31080",
            ])
        let text = HAProxyRenderer(options: .init()).render(doc, endpoints: map, config: Self.config)
        #expect(text.contains("option httpchk GET /healthz"))
        #expect(text.contains("server ep_192_0_2_101_31080 192.0.2.101:31080 check port 32100 inter 2s fall 3 rise 2"))
    }

    // MARK: nginx

    @Test func nginxProxyProtocolAffinityAndNames() throws {
        var o = NginxRenderer.Options()
        o.poolsWithCertificates = [.default]
        let pp = Self.entry("pp", port: 80, portName: "http") {
            $0.proxyProtocol = .v1
            $0.affinitySeconds = 60
        }
        let a = Self.entry("a", hostnames: ["a.example.com"])
        let b = Self.entry("b", hostnames: ["b.example.com"])
        let doc = AssignmentDocument(vips: [
            .init(address: Self.ip("192.0.2.10"), pool: .default, services: [pp, a, b])
        ])
        let text = NginxRenderer(options: o).render(doc, endpoints: Self.endpoints([pp, a, b]), config: Self.config)
        #expect(text.contains("proxy_protocol on;"), "PROXY protocol: the port goes through stream")
        #expect(text.contains("hash $remote_addr consistent;"))
        #expect(text.contains("server_name a.example.com;") && text.contains("server_name b.example.com;"))
        #expect(text.contains("default_server;\n") && text.contains("return 404;"))
        #expect(text.contains("proxy_set_header X-Forwarded-Proto $scheme;"))
        let passA = Self.entry("a", hostnames: ["a.example.com"]) {
            $0.ssl = .off
            $0.mode = .tcp
        }
        let passB = Self.entry("b") {
            $0.ssl = .off
            $0.mode = .tcp
        }
        let pass = NginxRenderer(options: o).render(
            AssignmentDocument(vips: [.init(address: Self.ip("192.0.2.10"), pool: .default, services: [passA, passB])]),
            endpoints: Self.endpoints([passA, passB]), config: Self.config)
        #expect(pass.contains("ssl_preread on;") && pass.contains("map $ssl_preread_server_name"))
    }

    // MARK: kube-proxy mode, externalTrafficPolicy Local

    @Test func localTrafficVIPsGetTheirOwnGroupAndTrackFile() throws {
        let vips: [(address: IPAddress, pool: PoolName)] = [
            (Self.ip("192.0.2.10"), .default), (Self.ip("192.0.2.11"), .default), (Self.ip("192.0.2.12"), .default),
        ]
        let plan = VRRPPlan.make(
            vips: vips, nodes: ["lb-a", "lb-b"], previous: [], vridOffset: 0, local: [Self.ip("192.0.2.11")])
        let local = plan.groups.filter { $0.local != nil }
        #expect(local.count == 1 && local[0].local == Self.ip("192.0.2.11"))
        #expect(plan.vridOf[Self.ip("192.0.2.11")] == local[0].vrid)
        #expect(!plan.groups.filter { $0.local == nil }.contains { $0.vrid == local[0].vrid })
        var e = Self.entry("app", port: 80, portName: "http") { $0.localTraffic = true }
        e.ports[0].nodePort = nil
        var doc = AssignmentDocument(
            vips: vips.map {
                .init(
                    address: $0.address, pool: $0.pool, services: $0.address == Self.ip("192.0.2.11") ? [e] : [],
                    vrid: plan.vridOf[$0.address])
            },
            nodes: ["lb-a", "lb-b"], groups: plan.groups)
        doc.vips.removeAll { $0.services.isEmpty }
        let slices = [
            e.key: [
                EndpointSliceInput(
                    service: e.key, ports: [.init(name: "http", proto: .tcp, port: 8080)],
                    endpoints: [.init(addresses: [Self.ip("203.0.113.9")], ready: true, nodeName: "lb-b")])
            ]
        ]
        let map = EndpointMap.resolve(doc, slices: slices)
        for (node, here) in [("lb-a", false), ("lb-b", true)] {
            var inputs = NodePlan.Inputs(
                node: node, eligible: true, backend: .kubeproxy, document: doc, config: Self.config, endpoints: map,
                tlsPools: [], interfaces: [.default: try InterfaceName(parsing: "eth0")])
            inputs.localTrackDirectory = try SafePath(parsing: "/run/k8slb")
            let p = NodePlan.make(inputs)
            #expect(p.localGroups.map(\.hasLocalEndpoint) == [here], "\(node)")
            #expect(
                p.keepalived.contains(
                    "track_file local_4_\(local[0].vrid) {\n    file \"/run/k8slb/local-4-\(local[0].vrid)\""))
            #expect(
                p.keepalived.contains("    proxy_health\n        local_4_\(local[0].vrid)\n")
                    || p.keepalived.contains("local_4_\(local[0].vrid)\n    }"))
        }
    }
}
