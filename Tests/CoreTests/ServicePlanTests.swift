import Testing

@testable import Core

@Suite struct ServicePlanTests {
    static let key = ServiceKey(namespace: "shop", name: "web")

    static func input(
        type: String = "LoadBalancer", lbClass: String? = nil, annotations: [String: String] = [:], ip: String? = nil,
        policy: String? = nil,
        ports: [ServiceInput.Port] = [.init(name: "http", proto: "TCP", port: 80, targetPort: .number(8080))],
        ranges: [String] = []
    ) -> ServiceInput {
        ServiceInput(
            key: key, type: type, loadBalancerClass: lbClass, annotations: annotations, loadBalancerIP: ip,
            ipFamilyPolicy: policy, ports: ports, sourceRanges: ranges)
    }

    @Test func onlyLoadBalancersOfOurClass() {
        #expect(ServicePlan.make(Self.input(type: "ClusterIP"), servedClass: nil) == .notOurs)
        #expect(ServicePlan.make(Self.input(lbClass: "other.io/lb"), servedClass: nil) == .notOurs)
        #expect(ServicePlan.make(Self.input(), servedClass: "k8slb.io/lb") == .notOurs)
        guard case .serve = ServicePlan.make(Self.input(lbClass: "k8slb.io/lb"), servedClass: "k8slb.io/lb") else {
            Issue.record("our class is served")
            return
        }
    }

    @Test func requestAndEntryFromSpecAndAnnotations() throws {
        let plan = ServicePlan.make(
            Self.input(
                annotations: [
                    "loadbalancer/pool": "external,v6", "loadbalancer/ssl": "true",
                    "loadbalancer/sharing-key": "team-a", "loadbalancer/sll": "x",
                ],
                ip: "198.51.100.7", policy: "RequireDualStack",
                ports: [
                    .init(name: "https", proto: "TCP", port: 443, targetPort: .name("web-tls"), nodePort: 30443),
                    .init(name: "dns", proto: "UDP", port: 53),
                ],
                ranges: ["203.0.113.0/24 "]), servedClass: nil)
        guard case .serve(let request, let entry, let warnings) = plan else {
            Issue.record("\(plan)")
            return
        }
        #expect(request.pools.map(\.rawValue) == ["external", "v6"])
        #expect(request.familyPolicy == .requireDualStack)
        #expect(request.staticAddresses == [try IPAddress(parsing: "198.51.100.7")])
        #expect(request.ports == [PortKey(.tcp, 443), PortKey(.udp, 53)])
        #expect(request.sharingKey?.rawValue == "team-a")
        #expect(entry.ssl == .on && entry.sourceRanges.map(\.description) == ["203.0.113.0/24"])
        #expect(entry.ports.map(\.targetPort) == [.name("web-tls"), .number(53)], "targetPort defaults to the port")
        #expect(entry.ports.first?.nodePort == 30443)
        #expect(warnings.count == 1 && warnings[0].description.contains("loadbalancer/sll") && warnings[0].isUnknown)
        // loadbalancer/ip overrides spec.loadBalancerIP.
        guard
            case .serve(let r2, _, _) = ServicePlan.make(
                Self.input(annotations: ["loadbalancer/ip": "192.0.2.9"], ip: "198.51.100.7"), servedClass: nil)
        else {
            Issue.record("served")
            return
        }
        #expect(r2.staticAddresses.map(\.description) == ["192.0.2.9"])
    }

    @Test func everyProblemIsNamed() {
        let plan = ServicePlan.make(
            Self.input(
                annotations: ["loadbalancer/ssl": "yes"], ip: "192.0.2.300",
                ports: [
                    .init(name: "x", proto: "ICMP", port: 1), .init(name: "BAD_NAME", port: 80),
                    .init(port: 99999), .init(port: 81, targetPort: .name("no_good")),
                ],
                ranges: ["10.0.0.1/8"]), servedClass: nil)
        #expect(
            plan
                == .invalid([
                    "annotation loadbalancer/ssl: \"yes\": expected \"\", \"true\" or \"false\"",
                    "spec.loadBalancerIP: 192.0.2.300: octet 300 is larger than 255",
                    "spec.ports[0].protocol: \"ICMP\" is not TCP, UDP or SCTP",
                    "spec.ports[1].name: \"BAD_NAME\" is not a valid port name",
                    "spec.ports[2].port: 99999 is not 1-65535",
                    "spec.ports[3].targetPort: \"no_good\" is not a valid port name",
                    "spec.loadBalancerSourceRanges[0]: 10.0.0.1/8: host bits are set (the network is 10.0.0.0/8)",
                ]))
        #expect(
            ServicePlan.make(Self.input(ports: []), servedClass: nil)
                == .invalid(["spec.ports: a LoadBalancer Service needs at least one port"]))
    }

    @Test func statusModes() throws {
        let addresses = [try IPAddress(parsing: "2001:db8::1"), try IPAddress(parsing: "192.0.2.10")]
        let ip = StatusMode.ip(ipMode: "Proxy").ingress(for: addresses)
        #expect(
            ip.map(\.ip) == ["192.0.2.10", "2001:db8::1"]
                && ip.allSatisfy { $0.ipMode == "Proxy" && $0.hostname == nil })
        let mode = StatusMode.hostname(suffix: "lb.example.org")
        let names = mode.ingress(for: addresses)
        #expect(names.map(\.hostname) == ["192-0-2-10.lb.example.org", "2001-db8--1.lb.example.org"])
        #expect(names.allSatisfy { $0.ip == nil && $0.ipMode == nil })
        // Restore reads either form back.
        let back = mode.addresses(fromIngress: names.map { ($0.ip, $0.hostname) } + [(nil, "elsewhere.example.com")])
        #expect(back.sorted() == addresses.sorted())
        #expect(
            StatusMode.ip(ipMode: "VIP").addresses(fromIngress: [("192.0.2.10", nil), ("bogus", nil)]) == [addresses[1]]
        )
    }
}
