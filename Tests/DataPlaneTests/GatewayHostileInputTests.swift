import Foundation
import PropertyBased
import Synchronization
import TestSupport
import Testing

@testable import Core

/// Gateway routes with random and hostile values (host names, paths, header names and values,
/// query parameters, redirect and rewrite targets, quotes, `$`, `%`, `#`, backslashes, spaces,
/// newlines) go through GatewayPlan, ProxyPlan and the HAProxy renderer: every generated
/// haproxy.cfg passes `haproxy -c`, and no value the parsers refused appears in it.
@Suite(.needs(.root("haproxy", "openssl"))) struct GatewayHostileInputTests {
    static let hostile = Gen.ascii.string(of: 0...24)

    @Test func randomRoutesRenderValidHAProxyConfigs() async throws {
        guard let haproxy = which("haproxy"), which("openssl") != nil else {
            if requireIntegration { Issue.record("haproxy and openssl are required when CI=true") }
            return
        }
        let scratch = try Scratch(pools: ["default"])
        let bundle = try SafePath(parsing: scratch.dir.appendingPathComponent("default.pem").path)
        let config = try UserConfig.parse(
            #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"}}}"#
        ).config
        let count = Int(ProcessInfo.processInfo.environment["K8SLB_RENDER_CASES"] ?? "60") ?? 60
        let accepted = Mutex(0)
        let gen = PropertyBased.zip(Self.hostile, Self.hostile, Self.hostile, Self.hostile, Gen.int(in: 0...99))
        await propertyCheck(count: count, input: gen.array(of: 1...12)) { routes in
            var inputs = GatewayPlan.Inputs()
            inputs.classes["k8slb"] = GatewayClassSpec(controllerName: GatewayAPI.controllerName)
            inputs.gateways = [
                GatewayPlan.Object(
                    namespace: "default", name: "gw", generation: 1, created: "2026-01-01T00:00:00Z",
                    spec: GatewaySpec(
                        gatewayClassName: "k8slb",
                        listeners: [
                            .init(name: "http", port: 80, protocol: "HTTP"),
                            .init(
                                name: "https", port: 443, protocol: "HTTPS",
                                tls: .init(certificateRefs: [ObjectRef(name: "tls")])),
                        ]))
            ]
            inputs.tlsSecrets = [SecretRef(namespace: "default", name: try! ResourceName(parsing: "tls"))]
            inputs.services[ServiceKey(namespace: "default", name: "one")] = [
                .init(name: "http", port: 80, targetPort: .number(8080))
            ]
            var refused: [String] = []
            for (i, (a, b, c, d, mode)) in routes.enumerated() {
                // Legal values with the characters config syntax cares about; one field (by
                // `mode`) gets hostile text instead.
                let values = ["a \"quoted\" value", "100% $HOME \\ back", "# not a comment", "x'y", "a;b {c}"]
                let hostile = [a, b, c, d].max { $0.count < $1.count } ?? a
                func field(_ n: Int, _ legal: String) -> String { mode < 60 && mode % 9 == n ? hostile : legal }
                let path = field(0, ["/p$th", "/a%2Fb", "/x/y", "/", "/q'uote"][i % 5])
                let rule = HTTPRouteSpec.Rule(
                    matches: [
                        .init(
                            path: .init(type: mode % 4 == 0 ? "Exact" : "PathPrefix", value: path),
                            headers: [
                                .init(name: field(1, ["X-Test", "x_y.z"][i % 2]), value: field(2, values[i % 5]))
                            ],
                            queryParams: [.init(name: "q", value: field(3, ["a$b", "100%", "x'y"][i % 3]))],
                            method: field(4, ["GET", "POST"][i % 2]))
                    ],
                    filters: [
                        .init(
                            type: "RequestHeaderModifier",
                            requestHeaderModifier: .init(
                                set: [.init(name: "X-\(i)", value: field(5, values[(i + 1) % 5]))], remove: ["X-Old"])),
                        .init(
                            type: "ResponseHeaderModifier",
                            responseHeaderModifier: .init(add: [.init(name: "X-Resp", value: values[(i + 2) % 5])])),
                        mode % 5 == 0
                            ? .init(
                                type: "RequestRedirect",
                                requestRedirect: .init(
                                    hostname: field(6, "target.example.com"),
                                    path: .init(type: "ReplaceFullPath", replaceFullPath: field(7, "/moved$%"))))
                            : .init(
                                type: "URLRewrite",
                                urlRewrite: .init(
                                    hostname: field(6, "internal.example.com"),
                                    path: mode % 4 == 0
                                        ? .init(type: "ReplaceFullPath", replaceFullPath: field(7, "/full%"))
                                        : .init(type: "ReplacePrefixMatch", replacePrefixMatch: field(7, "/new$")))),
                    ],
                    backendRefs: [ObjectRef(name: "one", port: 80, weight: mode)])
                inputs.httpRoutes.append(
                    GatewayPlan.Object(
                        namespace: "default", name: "r\(i)", generation: 1, created: "2026-01-01T00:00:0\(i % 10)Z",
                        spec: HTTPRouteSpec(
                            parentRefs: [ObjectRef(name: "gw")],
                            hostnames: [field(8, ["app.example.com", "*.example.com"][i % 2])], rules: [rule])))
                refused.append(hostile)
            }
            let plan = GatewayPlan.make(inputs)
            guard let result = plan.gateways[.gateway(namespace: "default", name: "gw")] else {
                Issue.record("the Gateway is planned")
                return
            }
            var entry = AssignmentDocument.ServiceEntry(
                key: result.key, ports: [.init(name: "http", port: 80, targetPort: .number(80))])
            entry.gateway = result.entry
            let doc = AssignmentDocument(vips: [
                .init(address: try! IPAddress(parsing: "192.0.2.10"), pool: .default, services: [entry])
            ])
            let endpoints = EndpointMap([
                .init(service: ServiceKey(namespace: "default", name: "one"), port: 80, proto: .tcp):
                    [.init(address: try! IPAddress(parsing: "198.51.100.7"), port: 8080)]
            ])
            let secret = SecretRef(namespace: "default", name: try! ResourceName(parsing: "tls"))
            let proxy = ProxyPlan.make(
                doc, endpoints: endpoints, certificates: .init(secrets: [secret: bundle]), engine: .haproxy)
            var options = HAProxyRenderer.Options()
            options.gatewayCertificates = [secret: bundle]
            let text = HAProxyRenderer(options: options).render(proxy, config: config, vips: 1).text
            let ok = plan.routes.values.flatMap { $0 }.filter {
                $0.conditions.first { $0.type == "Accepted" }?.status == "True"
            }.count
            accepted.withLock { $0 += ok }
            let file = scratch.dir.appendingPathComponent("gw-\(UUID().uuidString.prefix(6)).cfg").path
            try? text.write(toFile: file, atomically: true, encoding: .utf8)
            let check = (try? run(haproxy, ["-c", "-f", file])) ?? (status: -1, output: "")
            #expect(check.status == 0, "haproxy -c refused:\n\(check.output)\n\(text)")
            try? FileManager.default.removeItem(atPath: file)
            // No value holding a control character (a newline would open a new config line)
            // reaches the config: every parser refuses them.
            for str in refused where str.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                #expect(!text.contains(str), "refused text \(str.debugDescription) reached the config")
            }
        }
        print(
            "gateway hostile input: \(count) runs, \(accepted.withLock { $0 }) route attachments accepted, every config passed haproxy -c"
        )
        #expect(accepted.withLock { $0 } > 0, "some routes were valid and rendered")
    }
}
