import Foundation
import Testing

@testable import Core

/// The proxy plan: one set of decisions (sharing, TLS, certificates, redirects, what is not
/// routed) that both engines print; only what an engine cannot express differs, by a typed reason.
@Suite struct ProxyPlanTests {
    static func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }
    static let vip = ip("192.0.2.10")

    static func entry(
        _ name: String, port: UInt16 = 443, portName: String = "https", proto: TransportProtocol = .tcp,
        hostnames: [String] = [],
        _ tweak: (inout AssignmentDocument.ServiceEntry) -> Void = { _ in }
    ) -> AssignmentDocument.ServiceEntry {
        var e = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "web", name: name),
            ports: [.init(name: portName, proto: proto, port: port, targetPort: .number(8443))])
        e.hostnames = hostnames.map { try! HostName(parsing: $0) }
        tweak(&e)
        return e
    }

    static func plan(
        _ entries: [AssignmentDocument.ServiceEntry], engine: ProxyBackend, pools: Set<PoolName> = [.default]
    ) -> ProxyPlan {
        let doc = AssignmentDocument(vips: [.init(address: vip, pool: .default, services: entries)])
        var endpoints = EndpointMap()
        for e in entries {
            let host = UInt8(truncatingIfNeeded: e.key.name.utf8.reduce(0) { $0 &+ Int($1) } % 200 + 1)
            for p in e.ports {
                endpoints.endpoints[.init(service: e.key, port: p.port, proto: p.proto)] = [
                    .init(address: ip("203.0.113.\(host)"), port: 8443)
                ]
            }
        }
        return ProxyPlan.make(doc, endpoints: endpoints, certificates: .init(pools: pools), engine: engine)
    }

    @Test func bothEnginesDecideSharingAlike() {
        let a = Self.entry("a", hostnames: ["a.example.com"])
        let b = Self.entry("b", hostnames: ["b.example.com"])
        let dup = Self.entry("c", hostnames: ["a.example.com"])
        let plain = Self.entry("d") { $0.ssl = .off }
        for engine in [ProxyBackend.haproxy, .nginx] {
            let p = Self.plan([a, b, dup, plain], engine: engine)
            #expect(p.frontends.count == 1, "\(engine)")
            let f = p.frontends[0]
            #expect(f.sharedByName && f.terminateTLS && f.http && f.fallback == nil)
            #expect(f.routes.map(\.backend.service.name) == ["a", "b"])
            #expect(
                p.unrouted.map(\.description) == [
                    "web/c: host name(s) a.example.com on 192.0.2.10:443 are already routed to another Service",
                    "web/d: 192.0.2.10:443 is shared by host name and proxied as terminated TLS, HTTP there; this Service needs no TLS termination, HTTP",
                ], "\(engine)")
            // Port 80 is free: HTTPS redirect there, for both engines.
            #expect(f.redirectsPort80)
        }
    }

    @Test func engineLimitsAreTypedReasons() {
        let dns = Self.entry("dns", port: 53, portName: "dns", proto: .udp)
        let sctp = Self.entry("sig", port: 3868, portName: "diameter", proto: .sctp)
        let h = Self.plan([dns, sctp], engine: .haproxy)
        #expect(h.frontends.isEmpty)
        #expect(
            h.unrouted.map(\.reason) == [
                .protocolNotProxied(place: "192.0.2.10:53", proto: .udp, engine: .haproxy),
                .protocolNotProxied(place: "192.0.2.10:3868", proto: .sctp, engine: .haproxy),
            ])
        let n = Self.plan([dns, sctp], engine: .nginx)
        #expect(n.frontends.map { "\($0.proto.rawValue) \($0.port)" } == ["UDP 53"])
        #expect(
            n.unrouted.map(\.reason) == [.protocolNotProxied(place: "192.0.2.10:3868", proto: .sctp, engine: .nginx)])

        // PROXY protocol: HAProxy keeps HTTP; nginx can only send it at layer 4.
        let pp = Self.entry("pp", port: 80, portName: "http") { $0.proxyProtocol = .v2 }
        #expect(Self.plan([pp], engine: .haproxy).frontends[0].http)
        #expect(!Self.plan([pp], engine: .nginx).frontends[0].http)

        // A shared layer-4 port with TLS terminated: HAProxy routes it by SNI, nginx cannot.
        let ta = Self.entry("a", hostnames: ["a.example.com"]) { $0.mode = .tcp }
        let tb = Self.entry("b", hostnames: ["b.example.com"]) { $0.mode = .tcp }
        #expect(Self.plan([ta, tb], engine: .haproxy).unrouted.isEmpty)
        #expect(
            Self.plan([ta, tb], engine: .nginx).unrouted.map(\.reason) == [
                .sharedStreamNotPassthrough(place: "192.0.2.10:443"),
                .sharedStreamNotPassthrough(place: "192.0.2.10:443"),
            ])
    }

    @Test func sharersMustAllowTheSameSources() {
        let open = Self.entry("a", hostnames: ["a.example.com"])
        let closed = Self.entry("b", hostnames: ["b.example.com"]) {
            $0.sourceRanges = [try! IPNetwork(parsing: "203.0.113.0/24")]
        }
        let p = Self.plan([open, closed], engine: .haproxy)
        #expect(p.frontends[0].routes.map(\.backend.service.name) == ["a"] && p.frontends[0].sourceRanges.isEmpty)
        #expect(
            p.unrouted.map(\.description) == [
                "web/b: 192.0.2.10:443 is shared by host name with web/a, whose loadBalancerSourceRanges differ; sharers of a port must allow the same sources"
            ])
        // The HAProxy config then never serves b's names without its ACL.
        let text = HAProxyRenderer(options: .init()).render(p, config: .empty, vips: 1).text
        #expect(!text.contains("b.example.com"))
    }

    @Test func tlsOffWithoutAUsableCertificateAndNoRedirect() {
        let p = Self.plan([Self.entry("a")], engine: .haproxy, pools: [])
        #expect(
            !p.frontends[0].terminateTLS && p.frontends[0].routes[0].certificate == nil
                && !p.frontends[0].redirectsPort80)
        let withCert = Self.plan([Self.entry("a")], engine: .nginx)
        #expect(withCert.frontends[0].routes[0].certificate == .pool(.default) && withCert.frontends[0].redirectsPort80)
        // A Service on port 80 of the VIP keeps its port: no redirect.
        let web = Self.entry("web", port: 80, portName: "http")
        let both = Self.plan([Self.entry("a"), web], engine: .haproxy)
        #expect(both.frontends.allSatisfy { !$0.redirectsPort80 })
    }

    @Test func planIsPureAndDeterministic() {
        let entries = [
            Self.entry("a", hostnames: ["a.example.com"]), Self.entry("b"),
            Self.entry("dns", port: 53, portName: "dns", proto: .udp),
        ]
        #expect(Self.plan(entries, engine: .nginx) == Self.plan(entries.reversed(), engine: .nginx))
    }
}
