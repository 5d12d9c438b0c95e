import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestAPIServer
import TestSupport
import Testing

/// Gateway API end to end: the test API server with the Gateway API CRDs applied by kubectl, the
/// real watcher (`--gateway-api`) and two actors with real keepalived and HAProxy in namespaces,
/// echo backends that report what reached them, and curl from a client namespace.
@Suite(
    .serialized,
    .needs(
        .root("ip", "haproxy", "keepalived", "curl", "python3", "kubectl", "openssl").and(
            built: "k8slb-actor", "k8slb-watcher")))
struct GatewayTests {
    static let crds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/gateway-api-crds.yaml")

    /// An HTTP server answering every request with JSON: its name, the method, path and headers.
    static let echo = #"""
        import http.server, json, sys
        name, port = sys.argv[1], int(sys.argv[2])
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def answer(self):
                body = json.dumps({"backend": name, "method": self.command, "path": self.path,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD": self.wfile.write(body)
            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = answer
            def log_message(self, *a): pass
        http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
        """#

    struct Cluster {
        let h: ActorHarness
        let tools: ActorHarness.Tools
        let kubectl: String

        func apply(_ yaml: String) throws {
            let file = h.work.appendingPathComponent("apply-\(UUID().uuidString.prefix(6)).yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            let r = try run(kubectl, ["--kubeconfig", h.kubeconfig, "apply", "-f", file.path])
            guard r.status == 0 else { throw NamespaceError(message: "kubectl apply: \(r.output)") }
        }

        func kubectl(_ args: [String]) throws -> String {
            try run(kubectl, ["--kubeconfig", h.kubeconfig] + args).output
        }

        /// `curl` from the client: (status code, body).
        func curl(_ url: String, _ extra: [String] = []) throws -> (code: Int, body: String) {
            let out = try h.topo.exec(
                "cl", [tools.curl, "-s", "-m", "2", "-o", "-", "-w", "\n%{http_code}"] + extra + [url]
            ).output
            let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
        }

        func json(_ url: String, _ extra: [String] = []) throws -> [String: Any]? {
            let (code, body) = try curl(url, extra)
            guard code == 200 else { return nil }
            return try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        }
    }

    /// The topology, the CRDs, two echo backends behind Services `one` and `two` (namespace
    /// default) and `three` (namespace other), the watcher and two actors.
    static func cluster(_ tools: ActorHarness.Tools, _ h: ActorHarness, backend: String = "haproxy") async throws
        -> Cluster?
    {
        guard let kubectl = which("kubectl") else { return nil }
        try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
        try h.topo.host("lb-b", addresses: ["192.0.2.12/24"])
        let script = h.work.appendingPathComponent("echo.py")
        try echo.write(to: script, atomically: true, encoding: .utf8)
        for (n, name) in ["one", "two", "three"].enumerated() {
            try h.topo.host(name, addresses: ["192.0.2.\(21 + n)/24"])
            try h.topo.spawn(name, [tools.python, script.path, name, "8080"], listening: 8080)
        }
        try h.topo.host("cl", addresses: ["192.0.2.100/24"])
        let c = Cluster(h: h, tools: tools, kubectl: kubectl)
        let crd = try run(kubectl, ["--kubeconfig", h.kubeconfig, "apply", "-f", crds.path])
        guard crd.status == 0 else { throw NamespaceError(message: "kubectl apply CRDs: \(crd.output)") }
        // The product's default VRRP timing (a Gateway's VIP fails over like a Service's).
        try await h.writeConfig(#"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}}}"#)
        for node in ["lb-a", "lb-b"] {
            _ = try await h.client.create(
                Node(
                    metadata: ObjectMeta(name: node, labels: ["type": "loadBalancer"]),
                    addresses: [.init(type: "InternalIP", address: node == "lb-a" ? "192.0.2.11" : "192.0.2.12")]))
        }
        try c.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: other, labels: {team: other}}\n")
        for (n, (ns, name)) in [("default", "one"), ("default", "two"), ("other", "three")].enumerated() {
            let key = ServiceKey(namespace: ns, name: name)
            let spec = Service.Spec(
                type: "ClusterIP", ports: [.init(name: "http", port: 80, targetPort: .int(8080))],
                selector: ["app": name])
            _ = try await h.client.create(Service(metadata: ObjectMeta(name: name, namespace: ns), spec: spec))
            try await h.setSlice(
                key, name: "\(name)-1", addresses: ["192.0.2.\(21 + n)"], ports: [("http", "TCP", 8080)])
        }
        try h.startWatcher(extra: ["--gateway-api", "--backend", backend])
        guard let backendArgs = ActorHarness.backendArguments(backend) else { return nil }
        for node in ["lb-a", "lb-b"] {
            try h.startActor(node, backend: backend, extra: ["--tls-secrets", "service-namespace"] + backendArgs)
        }
        try c.apply(
            """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: k8slb}
            spec: {controllerName: k8slb.io/gateway-controller}
            """)
        return c
    }

    /// The Gateway's status once its Programmed condition is True (nil after 20 s).
    static func programmed(_ c: Cluster, _ name: String, namespace: String = "default") async throws -> [String: Any]? {
        for _ in 0..<200 {
            let out = try c.kubectl(["get", "gateway", name, "-n", namespace, "-o", "json"])
            if let obj = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
                let status = obj["status"] as? [String: Any],
                let conditions = status["conditions"] as? [[String: Any]],
                conditions.contains(where: {
                    $0["type"] as? String == "Programmed" && $0["status"] as? String == "True"
                })
            {
                return status
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    @Test func httpRouteMatchesFiltersWeightsAndStatuses() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            guard let c = try await Self.cluster(tools, h) else { return }
            let created = Date()
            try c.apply(
                """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: web, namespace: default}
                spec:
                  gatewayClassName: k8slb
                  listeners:
                  - {name: http, port: 80, protocol: HTTP}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: app, namespace: default}
                spec:
                  parentRefs: [{name: web}]
                  hostnames: [app.example.com]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /app}}]
                    filters:
                    - type: RequestHeaderModifier
                      requestHeaderModifier:
                        set: [{name: X-Added, value: 'a "quoted" $value 100%'}]
                        remove: [X-Remove-Me]
                    - type: ResponseHeaderModifier
                      responseHeaderModifier:
                        add: [{name: X-Served-By, value: k8slb}]
                    backendRefs: [{name: one, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /app}, headers: [{name: X-Route, value: two}]}]
                    backendRefs: [{name: two, port: 80}]
                  - matches: [{path: {type: Exact, value: /exact}, method: POST}, {queryParams: [{name: q, value: two}]}]
                    backendRefs: [{name: two, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /split}}]
                    backendRefs: [{name: one, port: 80, weight: 3}, {name: two, port: 80, weight: 1}]
                  - matches: [{path: {type: PathPrefix, value: /old}}]
                    filters:
                    - type: RequestRedirect
                      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}
                  - matches: [{path: {type: PathPrefix, value: /v1}}]
                    filters:
                    - type: URLRewrite
                      urlRewrite: {hostname: internal.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
                    backendRefs: [{name: one, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /cross}}]
                    backendRefs: [{name: three, namespace: other, port: 80}]
                """)
            guard let status = try await Self.programmed(c, "web") else {
                Issue.record(
                    "Gateway web never Programmed: \(try c.kubectl(["get", "gateway", "web", "-o", "yaml"]))\n\(h.actorLogs())"
                )
                return
            }
            let vip = ((status["addresses"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
            print(
                "gateway: web Programmed with address \(vip) after \(String(format: "%.2f", Date().timeIntervalSince(created))) s"
            )
            #expect(vip == "192.0.2.50")
            print(try c.kubectl(["get", "gatewayclass,gateway,httproute", "-A"]))
            let classConditions = try c.kubectl([
                "get", "gatewayclass", "k8slb", "-o", "jsonpath={range .status.conditions[*]}{.type}={.reason} {end}",
            ])
            #expect(
                classConditions.contains("Accepted=Accepted")
                    && classConditions.contains("SupportedVersion=SupportedVersion"), "\(classConditions)")
            let base = "http://\(vip)"
            let host = ["-H", "Host: app.example.com"]
            var served: [String: Any]?
            for _ in 0..<50 where served == nil {
                served = try c.json("\(base)/app/x", host)
                if served == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(served?["backend"] as? String == "one")
            // Path prefix, request header set (quotes, $ and % reach the pod as written) and removed.
            let app = try c.json("\(base)/app/x?y=1", host + ["-H", "X-Remove-Me: 1"])
            let headers = app?["headers"] as? [String: String] ?? [:]
            #expect(app?["path"] as? String == "/app/x?y=1")
            #expect(headers["x-added"] == #"a "quoted" $value 100%"#, "\(headers)")
            #expect(headers["x-remove-me"] == nil)
            let withResponse = try h.topo.exec(
                "cl", [tools.curl, "-s", "-D", "-", "-o", "/dev/null", "-m", "2"] + host + ["\(base)/app/x"]
            ).output
            #expect(withResponse.lowercased().contains("x-served-by: k8slb"))
            // Element-wise prefix: /application is not under /app.
            #expect(try c.curl("\(base)/application", host).code == 404)
            // A header match wins over the bare prefix (more matches: higher precedence).
            #expect(try c.json("\(base)/app/x", host + ["-H", "X-Route: two"])?["backend"] as? String == "two")
            // Exact path with a method; a query parameter alone.
            #expect(try c.json("\(base)/exact", host + ["-X", "POST"])?["backend"] as? String == "two")
            #expect(try c.curl("\(base)/exact", host).code == 404)
            #expect(try c.json("\(base)/anything?q=two", host)?["backend"] as? String == "two")
            // Another host name: not routed.
            #expect(try c.curl("\(base)/app/x", ["-H", "Host: other.example.com"]).code == 404)
            // Redirect (prefix replaced, query kept) and rewrite (host and prefix).
            let redirect = try h.topo.exec(
                "cl", [tools.curl, "-s", "-D", "-", "-o", "/dev/null", "-m", "2"] + host + ["\(base)/old/page?a=1"]
            ).output
            #expect(
                redirect.contains("301") && redirect.contains("location: http://app.example.com/new/page?a=1"),
                "\(redirect)")
            let rewritten = try c.json("\(base)/v1/items", host)
            #expect(rewritten?["path"] as? String == "/v2/items")
            #expect((rewritten?["headers"] as? [String: String])?["host"] == "internal.example.com")
            // Weights: 3:1 over 1,000 requests, within ±10%.
            var counts: [String: Int] = [:]
            let probe = try h.topo.exec(
                "cl",
                [
                    tools.python, "-c",
                    """
                    import urllib.request, json, collections
                    c = collections.Counter()
                    for i in range(1000):
                        req = urllib.request.Request("\(base)/split", headers={"Host": "app.example.com"})
                        c[json.load(urllib.request.urlopen(req, timeout=2))["backend"]] += 1
                    print(json.dumps(c))
                    """,
                ]
            ).output
            counts = (try? JSONSerialization.jsonObject(with: Data(probe.utf8)) as? [String: Int]) ?? [:]
            let share = Double(counts["one"] ?? 0) / 1000
            print("gateway: weights 3:1 over 1,000 requests: \(counts) (one: \(share))")
            #expect(abs(share - 0.75) <= 0.075, "\(counts)")
            // Cross-namespace backendRef: ResolvedRefs False (RefNotPermitted), its share answers 500.
            #expect(try c.curl("\(base)/cross", host).code == 500)
            let route = try c.kubectl(["get", "httproute", "app", "-o", "jsonpath={.status.parents[0].conditions}"])
            #expect(route.contains("RefNotPermitted"), "\(route)")
            try c.apply(
                """
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: from-default, namespace: other}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
                  to: [{group: "", kind: Service}]
                """)
            var cross: String?
            for _ in 0..<50 where cross != "three" {
                cross = try c.json("\(base)/cross", host)?["backend"] as? String
                if cross != "three" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(cross == "three", "the ReferenceGrant lets the route reach Service other/three")
            let resolved = try c.kubectl([
                "get", "httproute", "app", "-o",
                "jsonpath={.status.parents[0].conditions[?(@.type==\"ResolvedRefs\")].status}",
            ])
            #expect(resolved == "True", "\(resolved)")
        }
    }
}

extension GatewayTests {
    /// A TLS backend for passthrough: answers "tls-backend" over TLS with the given certificate.
    static let tlsEcho = #"""
        import http.server, ssl, sys
        cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.send_header("Content-Length", "12"); self.end_headers(); self.wfile.write(b"tls-backend\n")
            def log_message(self, *a): pass
        s = http.server.ThreadingHTTPServer(("0.0.0.0", port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        s.serve_forever()
        """#

    static func tlsSecret(_ name: String, namespace: String, dir: URL, file: String) throws -> Secret {
        let crt = try Data(contentsOf: dir.appendingPathComponent("\(file).crt"))
        let key = try Data(contentsOf: dir.appendingPathComponent("\(file).key"))
        return Secret(
            metadata: ObjectMeta(name: name, namespace: namespace), type: "kubernetes.io/tls",
            data: ["tls.crt": crt, "tls.key": key])
    }

    /// HTTPS terminated with a Secret (rotated under load: 0 failed requests), TLS passthrough by
    /// SNI, TCP; and every refusal with its condition: listener conflicts, a protocol HAProxy
    /// cannot serve, certificate refs missing or not permitted, routes not allowed, with no
    /// matching host name or parent, with an unsupported value, with backends missing or not
    /// Services.
    @Test func httpsPassthroughTCPAndEveryRefusal() async throws {
        guard let tools = ActorHarness.tools(), let openssl = which("openssl") else {
            if requireIntegration { Issue.record("openssl is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            guard let c = try await Self.cluster(tools, h) else { return }
            let certs = h.work.appendingPathComponent("pki")
            try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
            try makeTestCertificates(
                openssl: openssl, dir: certs.path,
                [("app", "app.example.com"), ("app2", "app.example.com"), ("tls", "tls.example.com")])
            _ = try await h.client.create(try Self.tlsSecret("app-tls", namespace: "default", dir: certs, file: "app"))
            _ = try await h.client.create(try Self.tlsSecret("app-tls", namespace: "other", dir: certs, file: "app"))
            try h.topo.host("tlsbe", addresses: ["192.0.2.24/24"])
            let tlsScript = h.work.appendingPathComponent("tls.py")
            try Self.tlsEcho.write(to: tlsScript, atomically: true, encoding: .utf8)
            try h.topo.spawn(
                "tlsbe",
                [
                    tools.python, tlsScript.path, certs.appendingPathComponent("tls.crt").path,
                    certs.appendingPathComponent("tls.key").path, "8443",
                ], listening: 8443)
            let spec = Service.Spec(
                type: "ClusterIP", ports: [.init(name: "tls", port: 443, targetPort: .int(8443))],
                selector: ["app": "tlsbe"])
            _ = try await h.client.create(
                Service(metadata: ObjectMeta(name: "tlsbe", namespace: "default"), spec: spec))
            try await h.setSlice(
                ServiceKey(namespace: "default", name: "tlsbe"), name: "tlsbe-1", addresses: ["192.0.2.24"],
                ports: [("tls", "TCP", 8443)])
            try c.apply(
                """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: edge, namespace: default}
                spec:
                  gatewayClassName: k8slb
                  listeners:
                  - {name: https, port: 443, protocol: HTTPS, hostname: app.example.com, tls: {certificateRefs: [{name: app-tls}]}}
                  - {name: passthrough, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
                  - {name: tcp, port: 9000, protocol: TCP}
                  - {name: udp, port: 53, protocol: UDP}
                  - {name: dup-a, port: 8080, protocol: HTTP, hostname: a.example.com}
                  - {name: dup-b, port: 8080, protocol: HTTP, hostname: a.example.com}
                  - {name: mixed, port: 8080, protocol: TCP}
                  - {name: missing-cert, port: 4443, protocol: HTTPS, tls: {certificateRefs: [{name: nope}]}}
                  - {name: foreign-cert, port: 5443, protocol: HTTPS, tls: {certificateRefs: [{name: app-tls, namespace: other}]}}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: secure, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: https}]
                  rules: [{backendRefs: [{name: one, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: TLSRoute
                metadata: {name: pass, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: passthrough}]
                  hostnames: [tls.example.com]
                  rules: [{backendRefs: [{name: tlsbe, port: 443}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: TCPRoute
                metadata: {name: raw, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: tcp}]
                  rules: [{backendRefs: [{name: two, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: from-other, namespace: other}
                spec:
                  parentRefs: [{name: edge, namespace: default, sectionName: https}]
                  rules: [{backendRefs: [{name: three, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: wrong-host, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: https}]
                  hostnames: [elsewhere.example.org]
                  rules: [{backendRefs: [{name: one, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: no-parent, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: nosuch}]
                  rules: [{backendRefs: [{name: one, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: bad-path, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: https}]
                  rules: [{matches: [{path: {type: PathPrefix, value: "relative path"}}], backendRefs: [{name: one, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: bad-backends, namespace: default}
                spec:
                  parentRefs: [{name: edge, sectionName: https}]
                  rules: [{matches: [{path: {value: /bad}}], backendRefs: [{name: ghost, port: 80}, {name: cm, kind: ConfigMap, group: ""}]}]
                """)
            guard let status = try await Self.programmed(c, "edge") else {
                let yaml = try c.kubectl(["get", "gateway", "edge", "-o", "yaml"])
                Issue.record("Gateway edge never Programmed: \(yaml)\n\(c.h.actorLogs())")
                return
            }
            let vip = ((status["addresses"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
            let ca = certs.appendingPathComponent("ca.crt").path
            func https(_ path: String) throws -> (code: Int, body: String) {
                try c.curl(
                    "https://app.example.com\(path)", ["--resolve", "app.example.com:443:\(vip)", "--cacert", ca])
            }
            var first = try https("/x")
            for _ in 0..<50 where first.code != 200 {
                try await Task.sleep(for: .milliseconds(100))
                first = try https("/x")
            }
            #expect(
                first.code == 200 && first.body.contains("\"backend\": \"one\""),
                "HTTPS terminated with the Secret: \(first)")
            // The other listeners' backends may join a moment later than the first one's (each
            // backend's endpoints arrive on their own; a server added at runtime is checked first).
            let clock = ContinuousClock()
            let servedAt = clock.now
            var passthrough = (code: 0, body: "")
            let passedThrough = await eventually(.seconds(5)) {
                passthrough = try c.curl(
                    "https://tls.example.com:8443/", ["--resolve", "tls.example.com:8443:\(vip)", "--cacert", ca])
                return passthrough.body.trimmingCharacters(in: .whitespacesAndNewlines) == "tls-backend"
            }
            #expect(passedThrough, "TLS passed through by SNI: \(passthrough)")
            let tcp = await eventually(.seconds(5)) {
                try c.json("http://\(vip):9000/tcp")?["backend"] as? String == "two"
            }
            #expect(tcp, "TCPRoute")
            print("gateway: TLS passthrough and TCP served \(clock.now - servedAt) after HTTPS")
            print("gateway: HTTPS \(first.code), TLS passthrough \(passthrough.body), TCP served on \(vip)")

            // Conditions, as kubectl shows them.
            func listener(_ name: String, _ type: String) throws -> String {
                try c.kubectl([
                    "get", "gateway", "edge", "-o",
                    "jsonpath={.status.listeners[?(@.name==\"\(name)\")].conditions[?(@.type==\"\(type)\")].reason}",
                ])
            }
            let expected: [(String, String, String)] = [
                ("https", "Programmed", "Programmed"), ("udp", "Accepted", "UnsupportedProtocol"),
                ("dup-b", "Conflicted", "HostnameConflict"), ("mixed", "Conflicted", "ProtocolConflict"),
                ("missing-cert", "ResolvedRefs", "InvalidCertificateRef"),
                ("foreign-cert", "ResolvedRefs", "RefNotPermitted"),
                ("dup-a", "Conflicted", "NoConflicts"),
            ]
            for (name, type, reason) in expected {
                let got = try listener(name, type)
                print("gateway: listener \(name) \(type) = \(got)")
                #expect(got == reason, "listener \(name) \(type)")
            }
            let attached = try c.kubectl([
                "get", "gateway", "edge", "-o", "jsonpath={.status.listeners[?(@.name==\"https\")].attachedRoutes}",
            ])
            // `secure`, and `bad-backends` (accepted; its unresolved refs answer 500); not the others.
            #expect(attached == "2", "attached to the https listener: \(attached)")
            func route(_ kind: String, _ name: String, namespace: String = "default", _ type: String) throws -> String {
                try c.kubectl([
                    "get", kind, name, "-n", namespace, "-o",
                    "jsonpath={.status.parents[0].conditions[?(@.type==\"\(type)\")].reason}",
                ])
            }
            let routes: [(String, String, String, String, String)] = [
                ("httproute", "secure", "default", "Accepted", "Accepted"),
                ("tlsroute", "pass", "default", "Accepted", "Accepted"),
                ("tcproute", "raw", "default", "Accepted", "Accepted"),
                ("httproute", "from-other", "other", "Accepted", "NotAllowedByListeners"),
                ("httproute", "wrong-host", "default", "Accepted", "NoMatchingListenerHostname"),
                ("httproute", "no-parent", "default", "Accepted", "NoMatchingParent"),
                ("httproute", "bad-path", "default", "Accepted", "UnsupportedValue"),
                ("httproute", "bad-backends", "default", "ResolvedRefs", "BackendNotFound"),
            ]
            for (kind, name, ns, type, reason) in routes {
                let got = try route(kind, name, namespace: ns, type)
                print("gateway: \(kind) \(ns)/\(name) \(type) = \(got)")
                #expect(got == reason, "\(kind) \(name) \(type)")
            }
            let message = try c.kubectl([
                "get", "httproute", "bad-backends", "-o",
                "jsonpath={.status.parents[0].conditions[?(@.type==\"ResolvedRefs\")].message}",
            ])
            #expect(message.contains("ConfigMap is not a Service"), "\(message)")

            // The certificate rotated under load: no request fails, the new one is served.
            let logPath = h.work.appendingPathComponent("rotate.log")
            let probe = try Child.start(
                [
                    tools.ip, "netns", "exec", h.topo.ns("cl"), tools.python, "-c",
                    """
                    import ssl, urllib.request, time, socket
                    ctx = ssl.create_default_context(cafile="\(ca)")
                    ok = failed = 0
                    end = time.time() + 4
                    orig = socket.getaddrinfo
                    socket.getaddrinfo = lambda host, *a, **k: orig("\(vip)" if host == "app.example.com" else host, *a, **k)
                    while time.time() < end:
                        try:
                            urllib.request.urlopen("https://app.example.com/rotate", context=ctx, timeout=2).read(); ok += 1
                        except Exception as e:
                            failed += 1; print("error", e, flush=True)
                    print("ok", ok, "failed", failed, flush=True)
                    """,
                ], output: .file(logPath.path))
            try await Task.sleep(for: .seconds(1))
            var secret = try await h.client.get(Secret.self, namespace: "default", name: "app-tls")
            secret.data = try Self.tlsSecret("app-tls", namespace: "default", dir: certs, file: "app2").data
            _ = try await h.client.update(secret)
            _ = probe.waitUntilExit()
            let result = (try? String(contentsOf: logPath, encoding: .utf8)) ?? ""
            print("gateway: Secret rotated under load: \(result.trimmingCharacters(in: .whitespacesAndNewlines))")
            let okCount = result.split(separator: " ").drop { $0 != "ok" }.dropFirst().first.flatMap { Int($0) } ?? 0
            #expect(result.contains("failed 0") && okCount > 20, "no request failed during the rotation: \(result)")
            let serial2 = try run(
                openssl, ["x509", "-noout", "-serial", "-in", certs.appendingPathComponent("app2.crt").path]
            ).output
            let served = try h.topo.exec(
                "cl",
                [
                    "sh", "-c",
                    "echo | \(openssl) s_client -connect \(vip):443 -servername app.example.com 2>/dev/null | \(openssl) x509 -noout -serial",
                ]
            ).output
            print(
                "gateway: after the Secret's rotation the listener serves \(served.trimmingCharacters(in: .whitespacesAndNewlines)) (new: \(serial2.trimmingCharacters(in: .whitespacesAndNewlines)))"
            )
            #expect(served == serial2, "the rotated certificate is served")
        }
    }
}

extension GatewayTests {
    /// A UDP echo: answers each datagram with its name.
    static let udpEcho = #"""
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[2])))
        while True:
            data, peer = s.recvfrom(2048); s.sendto(sys.argv[1].encode() + b":" + data, peer)
        """#

    /// The nginx backend serves a Gateway's TCP and UDP listeners and refuses its HTTP one
    /// (UnsupportedProtocol): what it cannot express is a condition, not a broken config.
    @Test func nginxServesTCPAndUDPListenersAndRefusesHTTP() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            guard let c = try await Self.cluster(tools, h, backend: "nginx") else { return }
            let script = h.work.appendingPathComponent("udp.py")
            try Self.udpEcho.write(to: script, atomically: true, encoding: .utf8)
            try h.topo.spawn("two", [tools.python, script.path, "dns", "5353"])
            var svc = try await h.client.get(Service.self, namespace: "default", name: "two")
            svc.spec?.ports = [
                .init(name: "http", port: 80, targetPort: .int(8080)),
                .init(name: "dns", protocol: "UDP", port: 53, targetPort: .int(5353)),
            ]
            _ = try await h.client.update(svc)
            try await h.setSlice(
                ServiceKey(namespace: "default", name: "two"), name: "two-1", addresses: ["192.0.2.22"],
                ports: [("http", "TCP", 8080), ("dns", "UDP", 5353)])
            try c.apply(
                """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: l4, namespace: default}
                spec:
                  gatewayClassName: k8slb
                  listeners:
                  - {name: tcp, port: 9000, protocol: TCP}
                  - {name: udp, port: 53, protocol: UDP}
                  - {name: http, port: 80, protocol: HTTP}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: TCPRoute
                metadata: {name: raw, namespace: default}
                spec:
                  parentRefs: [{name: l4, sectionName: tcp}]
                  rules: [{backendRefs: [{name: one, port: 80}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: UDPRoute
                metadata: {name: dns, namespace: default}
                spec:
                  parentRefs: [{name: l4, sectionName: udp}]
                  rules: [{backendRefs: [{name: two, port: 53}]}]
                """)
            guard let status = try await Self.programmed(c, "l4") else {
                let yaml = try c.kubectl(["get", "gateway", "l4", "-o", "yaml"])
                Issue.record("Gateway l4 never Programmed: \(yaml)\n\(c.h.actorLogs())")
                return
            }
            let vip = ((status["addresses"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
            var tcp: String?
            for _ in 0..<50 where tcp != "one" {
                tcp = try c.json("http://\(vip):9000/")?["backend"] as? String
                if tcp != "one" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(tcp == "one", "TCPRoute through nginx")
            let udp = try h.topo.exec(
                "cl",
                [
                    tools.python, "-c",
                    """
                    import socket
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
                    s.sendto(b"ping", ("\(vip)", 53)); print(s.recvfrom(2048)[0].decode())
                    """,
                ]
            ).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(udp == "dns:ping", "UDPRoute through nginx: \(udp)")
            let http = try c.kubectl([
                "get", "gateway", "l4", "-o",
                "jsonpath={.status.listeners[?(@.name==\"http\")].conditions[?(@.type==\"Accepted\")].reason}",
            ])
            print("gateway (nginx): TCP \(tcp ?? "-"), UDP \(udp), HTTP listener Accepted = \(http)")
            #expect(http == "UnsupportedProtocol")
        }
    }
}
