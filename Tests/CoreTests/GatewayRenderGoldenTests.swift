import Foundation
import TestSupport
import Testing

@testable import Core

/// A Gateway's haproxy.cfg, byte for byte: one HTTP listener whose routes use every match and
/// filter HAProxy prints (host names exact and wildcard, prefix and exact paths, headers, query,
/// method, weights, header edits both ways, redirects, full and prefix rewrites, a backend that
/// does not resolve). The printer may be rearranged; its output may not change unnoticed.
@Suite struct GatewayRenderGoldenTests {
    static func route(_ name: String, hosts: [String], _ rules: [HTTPRouteSpec.Rule])
        -> GatewayPlan.Object<
            HTTPRouteSpec
        >
    {
        GatewayPlan.Object(
            namespace: "default", name: name, generation: 1, created: "2026-01-01T00:00:00Z",
            spec: HTTPRouteSpec(parentRefs: [ObjectRef(name: "gw")], hostnames: hosts, rules: rules))
    }

    static func text() -> String {
        var inputs = GatewayPlan.Inputs()
        inputs.classes["k8slb"] = GatewayClassSpec(controllerName: GatewayAPI.controllerName)
        inputs.gateways = [
            GatewayPlan.Object(
                namespace: "default", name: "gw", generation: 1, created: "2026-01-01T00:00:00Z",
                spec: GatewaySpec(
                    gatewayClassName: "k8slb", listeners: [.init(name: "http", port: 80, protocol: "HTTP")]))
        ]
        var endpoints = EndpointMap()
        for (n, name) in ["a", "b", "c"].enumerated() {
            let service = ServiceKey(namespace: "default", name: name)
            inputs.services[service] = [.init(name: "http", port: 80, targetPort: .number(8080))]
            endpoints.endpoints[.init(service: service, port: 80, proto: .tcp)] = [
                EndpointAddress(address: IPAddress(ipv4: 0xC633_6415 + UInt32(n)), port: 8080)
            ]
        }
        let a = ObjectRef(name: "a", port: 80)
        let b = ObjectRef(name: "b", port: 80)
        let c = ObjectRef(name: "c", port: 80)
        func prefix(_ p: String) -> HTTPRouteSpec.PathMatch { .init(value: p) }
        inputs.httpRoutes = [
            route(
                "shop", hosts: ["shop.example.com"],
                [
                    .init(
                        matches: [
                            .init(
                                path: prefix("/api"), headers: [.init(name: "X-Env", value: "prod")],
                                queryParams: [.init(name: "v", value: "2")], method: "POST")
                        ],
                        filters: [
                            .init(
                                type: "RequestHeaderModifier",
                                requestHeaderModifier: .init(
                                    set: [.init(name: "X-Route", value: "shop api")],
                                    add: [.init(name: "X-Trace", value: "100%")], remove: ["X-Debug"])),
                            .init(
                                type: "ResponseHeaderModifier",
                                responseHeaderModifier: .init(set: [.init(name: "Cache-Control", value: "no-store")])),
                        ],
                        backendRefs: [
                            ObjectRef(name: "a", port: 80, weight: 3), ObjectRef(name: "b", port: 80, weight: 1),
                        ]),
                    .init(
                        matches: [.init(path: .init(type: "Exact", value: "/login"))],
                        filters: [
                            .init(
                                type: "RequestRedirect", requestRedirect: .init(scheme: "https", statusCode: 301))
                        ]),
                    .init(
                        matches: [.init(path: prefix("/old"))],
                        filters: [
                            .init(
                                type: "URLRewrite",
                                urlRewrite: .init(
                                    hostname: "new.example.com",
                                    path: .init(type: "ReplacePrefixMatch", replacePrefixMatch: "/new")))
                        ], backendRefs: [b]),
                    .init(
                        matches: [.init(path: prefix("/strip"))],
                        filters: [
                            .init(
                                type: "URLRewrite",
                                urlRewrite: .init(path: .init(type: "ReplacePrefixMatch", replacePrefixMatch: "/")))
                        ], backendRefs: [c]),
                    .init(
                        matches: [.init(path: prefix("/full"))],
                        filters: [
                            .init(
                                type: "URLRewrite",
                                urlRewrite: .init(path: .init(type: "ReplaceFullPath", replaceFullPath: "/index.html")))
                        ], backendRefs: [a]),
                ]),
            route("wild", hosts: ["*.example.com"], [.init(backendRefs: [ObjectRef(name: "missing", port: 80)])]),
            route(
                "moved", hosts: ["x.shop.example.com"],
                [
                    .init(
                        matches: [.init(path: prefix("/v1"))],
                        filters: [
                            .init(
                                type: "RequestRedirect",
                                requestRedirect: .init(
                                    path: .init(type: "ReplacePrefixMatch", replacePrefixMatch: "/v2"), port: 8443))
                        ])
                ]),
            route(
                "any", hosts: [],
                [.init(backendRefs: [ObjectRef(name: "a", port: 80, weight: 3), ObjectRef(name: "c", port: 80)])]),
        ]
        let plan = GatewayPlan.make(inputs)
        var entry = AssignmentDocument.ServiceEntry(
            key: .gateway(namespace: "default", name: "gw"),
            ports: [.init(name: "http", port: 80, targetPort: .number(80))])
        entry.gateway = plan.gateways.values.first?.entry
        let document = AssignmentDocument(vips: [
            .init(address: IPAddress(ipv4: 0xC000_020A), pool: .default, services: [entry])
        ])
        return HAProxyRenderer(options: .init()).render(document, endpoints: endpoints, config: RenderFixture.config)
    }

    @Test func gatewayHAProxyGolden() throws {
        let text = Self.text()
        #expect(text.contains("frontend fe_") && text.contains("redirect location"), "the fixture reaches the printer")
        try RenderFixture.expectGolden(text, "gateway-haproxy.cfg")
    }
}
