package import Core

/// Synthetic inputs at scale for the benchmarks (CoreBenchmarks and the benchmark-shaped tests
/// measure the same thing).
package enum BenchmarkFixtures {
    /// One Gateway (HTTP on port 80) with `routes` HTTPRoutes: each its own host name, a
    /// PathPrefix and an Exact+method match, a header filter, two weighted backends; one endpoint
    /// per backend Service.
    package static func gateway(routes: Int) -> (GatewayPlan.Inputs, EndpointMap) {
        var inputs = GatewayPlan.Inputs()
        inputs.classes["k8slb"] = GatewayClassSpec(controllerName: GatewayAPI.controllerName)
        inputs.gateways = [
            GatewayPlan.Object(
                namespace: "default", name: "gw", generation: 1, created: "2026-01-01T00:00:00Z",
                spec: GatewaySpec(
                    gatewayClassName: "k8slb", listeners: [.init(name: "http", port: 80, protocol: "HTTP")]))
        ]
        var endpoints = EndpointMap()
        for n in 0..<routes {
            let service = ServiceKey(namespace: "default", name: "svc\(n)")
            inputs.services[service] = [.init(name: "http", port: 80, targetPort: .number(8080))]
            endpoints.endpoints[.init(service: service, port: 80, proto: .tcp)] =
                [EndpointAddress(address: IPAddress(ipv4: 0x0A00_0000 + UInt32(n)), port: 8080)]
            let rule = HTTPRouteSpec.Rule(
                matches: [
                    .init(path: .init(value: "/api")), .init(path: .init(type: "Exact", value: "/"), method: "GET"),
                ],
                filters: [
                    .init(
                        type: "RequestHeaderModifier",
                        requestHeaderModifier: .init(set: [.init(name: "X-Route", value: "r\(n)")]))
                ],
                backendRefs: [
                    ObjectRef(name: "svc\(n)", port: 80, weight: 9),
                    ObjectRef(name: "svc\((n + 1) % routes)", port: 80, weight: 1),
                ])
            inputs.httpRoutes.append(
                GatewayPlan.Object(
                    namespace: "default", name: "r\(n)", generation: 1, created: "2026-01-01T00:00:00Z",
                    spec: HTTPRouteSpec(
                        parentRefs: [ObjectRef(name: "gw")], hostnames: ["r\(n).example.com"], rules: [rule])))
        }
        return (inputs, endpoints)
    }

    /// The assignment document with `plan`'s Gateway on 192.0.2.10.
    package static func document(_ plan: GatewayPlan) -> AssignmentDocument {
        var entry = AssignmentDocument.ServiceEntry(
            key: .gateway(namespace: "default", name: "gw"),
            ports: [.init(name: "http", port: 80, targetPort: .number(80))])
        entry.gateway = plan.gateways.values.first?.entry
        return AssignmentDocument(vips: [
            .init(address: IPAddress(ipv4: 0xC000_020A), pool: .default, services: [entry])
        ])
    }
}
