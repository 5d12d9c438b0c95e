import Core
import DataPlane
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// Issue 12 with the real actor, HAProxy/nginx/keepalived in namespaces and real clients: the
/// client's address reaching the pods, certificates from Secrets rotated live, several host names
/// on one VIP, NodePort backends, and externalTrafficPolicy Local in kube-proxy mode.
@Suite(
    .serialized, .needs(.root("ip", "haproxy", "keepalived", "curl", "python3", "openssl").and(built: "k8slb-actor")))
struct L7Tests {
    /// A backend for every case here: `echo.py PORT NAME [tls CERT KEY]` answers each connection
    /// with `NAME <proxy> <source> xff=<X-Forwarded-For> proto=<…> port=<…>`, where `<proxy>` is
    /// `v1`/`v2` with the address a PROXY header carried, or `none` with the peer's address. HTTP
    /// requests get that as a 200 body; other data is answered raw. With `tls`, it terminates TLS
    /// itself (passthrough tests).
    static let echo = #"""
        import socket, ssl, struct, sys, threading
        port, name = int(sys.argv[1]), sys.argv[2]
        ctx = None
        if len(sys.argv) > 3 and sys.argv[3] == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        def handle(c, peer):
            try:
                c.settimeout(5)
                data = b""
                proxy, src = "none", peer[0]
                if ctx is None:
                    data = c.recv(65536)
                    if data.startswith(b"PROXY "):
                        line, _, data = data.partition(b"\r\n")
                        proxy, src = "v1", line.split()[2].decode()
                    elif data.startswith(b"\r\n\r\n\x00\r\nQUIT\n"):
                        fam, ln = data[13], struct.unpack("!H", data[14:16])[0]
                        body, data = data[16:16 + ln], data[16 + ln:]
                        proxy = "v2"
                        src = socket.inet_ntop(socket.AF_INET, body[0:4]) if fam == 0x11 else socket.inet_ntop(socket.AF_INET6, body[0:16]) if fam == 0x21 else "local"
                    if not data:
                        try: data = c.recv(65536)
                        except Exception: data = b""
                else:
                    c = ctx.wrap_socket(c, server_side=True)
                    data = c.recv(65536)
                headers = {}
                for line in data.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if v: headers[k.strip().lower().decode()] = v.strip().decode()
                text = "%s %s %s xff=%s proto=%s port=%s\n" % (name, proxy, src, headers.get("x-forwarded-for", "-"),
                                                              headers.get("x-forwarded-proto", "-"), headers.get("x-forwarded-port", "-"))
                if data.startswith(b"GET "):
                    c.sendall(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(text)).encode() + text.encode())
                elif data:
                    c.sendall(text.encode())
            except Exception:
                pass
            finally:
                try: c.close()
                except Exception: pass
        s = socket.socket(socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(512)
        while True:
            c, peer = s.accept()
            threading.Thread(target=handle, args=(c, peer), daemon=True).start()
        """#

    /// The one-node scenario most tests here share: LB node lb-a (192.0.2.11), a backend at
    /// 192.0.2.21, a client at 192.0.2.100; returns echo.py's path.
    static func oneNode(_ h: ActorHarness) throws -> String {
        try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
        try h.topo.host("be", addresses: ["192.0.2.21/24"])
        try h.topo.host("cl", addresses: ["192.0.2.100/24"])
        return try writeEcho(h)
    }

    static func writeEcho(_ h: ActorHarness) throws -> String {
        let path = h.work.appendingPathComponent("echo.py").path
        try echo.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func document(
        _ vips: [(String, PoolName, [AssignmentDocument.ServiceEntry])], nodes: [String], local: Set<String> = []
    ) throws -> AssignmentDocument {
        let list = try vips.map {
            AssignmentDocument.VIP(address: try IPAddress(parsing: $0.0), pool: $0.1, services: $0.2)
        }
        let plan = VRRPPlan.make(
            vips: list.map { ($0.address, $0.pool) }, nodes: nodes, previous: [], vridOffset: 0,
            local: Set(try local.map { try IPAddress(parsing: $0) }))
        return AssignmentDocument(
            vips: list.map {
                var v = $0
                v.vrid = plan.vridOf[v.address]
                return v
            }, nodes: nodes, groups: plan.groups)
    }

    static func entry(
        _ name: String, _ port: UInt16, _ portName: String, target: UInt16,
        _ tweak: (inout AssignmentDocument.ServiceEntry) -> Void = { _ in }
    )
        -> AssignmentDocument.ServiceEntry
    {
        var e = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "default", name: name),
            ports: [.init(name: portName, port: port, targetPort: .number(target))])
        tweak(&e)
        return e
    }

    // MARK: the client's address

    /// PROXY v1 and v2 (TCP and HTTP mode) bring the client namespace's address to the pod through
    /// HAProxy and nginx; HTTP mode sets X-Forwarded-For/-Proto/-Port by default and not with
    /// `forwarded-headers: false`.
    @Test(arguments: ["haproxy", "nginx"])
    func clientAddressReachesThePods(_ backend: String) async throws {
        guard let tools = ActorHarness.tools() else { return }
        guard let extra = ActorHarness.backendArguments(backend) else { return }
        try await ActorHarness.with(tools) { h in
            let echo = try Self.oneNode(h)
            try h.topo.spawn("be", [tools.python, echo, "9000", "pod"], listening: 9000)
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            let entries = [
                Self.entry("v1-tcp", 81, "tcp", target: 9000) { $0.proxyProtocol = .v1 },
                Self.entry("v2-tcp", 82, "tcp", target: 9000) { $0.proxyProtocol = .v2 },
                Self.entry("v1-http", 83, "http", target: 9000) { $0.proxyProtocol = .v1 },
                Self.entry("xff", 84, "http", target: 9000),
                Self.entry("no-xff", 85, "http", target: 9000) { $0.forwardedHeaders = false },
            ]
            for e in entries {
                try await h.createService(e.key, ports: [(e.ports[0].name ?? "tcp", Int(e.ports[0].port))])
                try await h.setSlice(
                    e.key, name: "\(e.key.name)-1", addresses: ["192.0.2.21"], ports: [(e.ports[0].name, "TCP", 9000)])
            }
            try await h.publish(try Self.document([("192.0.2.50", .default, entries)], nodes: ["lb-a"]))
            try h.startActor("lb-a", backend: backend, extra: extra)
            func get(_ port: Int) throws -> String {
                try h.topo.exec("cl", [tools.curl, "-s", "-m", "2", "http://192.0.2.50:\(port)/"]).output
            }
            for port in 81...85 {
                #expect(
                    await eventually(.seconds(20)) { try get(port).hasPrefix("pod ") },
                    "\(backend) port \(port) never served; log:\n\(h.log("lb-a"))")
            }
            let v1 = try get(81)
            let v2 = try get(82)
            let v1http = try get(83)
            let xff = try get(84)
            let plain = try get(85)
            print(
                "client address (\(backend)): v1 tcp: \(v1.trimmed); v2 tcp: \(v2.trimmed); v1 http: \(v1http.trimmed); http: \(xff.trimmed); forwarded-headers false: \(plain.trimmed)"
            )
            #expect(v1.hasPrefix("pod v1 192.0.2.100 "), "PROXY v1: \(v1)")
            // nginx sends PROXY v1 only (its stream proxy has no v2): documented.
            #expect(v2.hasPrefix("pod \(backend == "nginx" ? "v1" : "v2") 192.0.2.100 "), "PROXY v2: \(v2)")
            #expect(v1http.hasPrefix("pod v1 192.0.2.100 "), "PROXY v1 on an HTTP port: \(v1http)")
            #expect(xff.contains("xff=192.0.2.100 proto=http port=84"), "forwarded headers: \(xff)")
            #expect(plain.contains("xff=- proto=- port=-"), "forwarded-headers false: \(plain)")
        }
    }

    // MARK: certificates from Secrets

    /// A `kubernetes.io/tls` Secret terminates TLS for its Service; renewed 5 times while a client
    /// keeps making HTTPS requests through the VIP: every request succeeds, the served serial
    /// changes each time, HAProxy never reloads (Runtime API `set ssl cert`). A broken Secret turns
    /// TLS off for that Service only, with an Event.
    @Test func secretRotationNeedsNoReloadAndFailsNoRequest() async throws {
        guard let tools = ActorHarness.tools(), let openssl = which("openssl") else {
            if requireIntegration { Issue.record("openssl is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            let echo = try Self.oneNode(h)
            try h.topo.spawn("be", [tools.python, echo, "9000", "pod"], listening: 9000)
            let certs = h.work.appendingPathComponent("tls").path
            try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
            try makeTestCertificates(openssl: openssl, dir: certs, [("shop", "shop.example.org")])
            /// A new certificate for shop.example.org from the same CA (a renewal: new serial).
            func renew(_ n: Int) throws -> (crt: Data, key: Data, serial: String) {
                let base = "\(certs)/r\(n)"
                let r1 = try run(
                    openssl,
                    [
                        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                        "/CN=shop.example.org",
                        "-keyout", "\(base).key", "-out", "\(base).csr",
                    ])
                let r2 = try run(
                    openssl,
                    [
                        "x509", "-req", "-in", "\(base).csr", "-CA", "\(certs)/ca.crt", "-CAkey", "\(certs)/ca.key",
                        "-CAcreateserial",
                        "-days", "1", "-extfile", "\(certs)/shop.ext", "-out", "\(base).crt",
                    ])
                guard r1.status == 0, r2.status == 0 else {
                    throw NamespaceError(message: "openssl: \(r1.output) \(r2.output)")
                }
                let serial = try run(openssl, ["x509", "-noout", "-serial", "-in", "\(base).crt"]).output
                return (
                    try Data(contentsOf: URL(fileURLWithPath: "\(base).crt")),
                    try Data(contentsOf: URL(fileURLWithPath: "\(base).key")),
                    serial.trimmed.replacingOccurrences(of: "serial=", with: "")
                )
            }
            func putSecret(_ name: String, _ crt: Data, _ key: Data) async throws {
                if var s = try? await h.client.get(Secret.self, namespace: "k8slb-system", name: name) {
                    s.data = ["tls.crt": crt, "tls.key": key]
                    _ = try await h.client.update(s)
                } else {
                    _ = try await h.client.create(
                        Secret(
                            metadata: ObjectMeta(name: name, namespace: "k8slb-system"), type: "kubernetes.io/tls",
                            data: ["tls.crt": crt, "tls.key": key]))
                }
            }
            var current = try renew(0)
            try await putSecret("shop-tls", current.crt, current.key)
            try await putSecret(
                "broken-tls", Data("-----BEGIN CERTIFICATE-----\nbm90\n-----END CERTIFICATE-----\n".utf8), current.key)
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            let shop = Self.entry("shop", 443, "https", target: 9000) {
                $0.tlsSecret = try! ResourceName(parsing: "shop-tls")
            }
            let broken = Self.entry("broken", 8443, "https", target: 9000) {
                $0.tlsSecret = try! ResourceName(parsing: "broken-tls")
            }
            for e in [shop, broken] {
                try await h.createService(e.key, ports: [("https", Int(e.ports[0].port))])
                try await h.setSlice(
                    e.key, name: "\(e.key.name)-1", addresses: ["192.0.2.21"], ports: [("https", "TCP", 9000)])
            }
            try await h.publish(try Self.document([("192.0.2.50", .default, [shop, broken])], nodes: ["lb-a"]))
            try h.startActor("lb-a")
            let url = [
                "--cacert", "\(certs)/ca.crt", "--resolve", "shop.example.org:443:192.0.2.50",
                "https://shop.example.org/",
            ]
            #expect(
                await eventually(.seconds(20)) {
                    try h.topo.exec("cl", [tools.curl, "-s", "-m", "2"] + url).output.hasPrefix("pod ")
                },
                "HTTPS with the Secret's certificate never worked; log:\n\(h.log("lb-a"))")
            func servedSerial() throws -> String {
                let out = try h.topo.exec(
                    "cl",
                    [
                        "sh", "-c",
                        "\(openssl) s_client -connect 192.0.2.50:443 -servername shop.example.org </dev/null 2>/dev/null | \(openssl) x509 -noout -serial",
                    ]
                ).output
                return out.trimmed.replacingOccurrences(of: "serial=", with: "")
            }
            #expect(try servedSerial() == current.serial)
            // The broken Secret: that Service is served without TLS, with an Event; the other keeps TLS.
            #expect(
                await eventually(.seconds(5)) {
                    try h.topo.exec("cl", [tools.curl, "-s", "-m", "2", "http://192.0.2.50:8443/"]).output.hasPrefix(
                        "pod ")
                })
            let events = try await h.events(broken.key)
            #expect(
                events.contains { $0.reason == "CertificateInvalid" && $0.message.contains("broken-tls") },
                "events: \(events)")

            let reloadsBefore = try h.metric("lb-a", #"k8slb_proxy_applies_total{result="reload"}"#)
            let results = h.work.appendingPathComponent("https.txt").path
            let client = try h.topo.spawn(
                "cl",
                [
                    "bash", "-c",
                    "while true; do \(tools.curl) -s -o /dev/null -m 3 -w '%{http_code}\\n' "
                        + url.joined(separator: " ") + " >> \(results); done",
                ])
            var serials: [String] = [current.serial]
            for n in 1...5 {
                try await Task.sleep(for: .milliseconds(500))
                current = try renew(n)
                try await putSecret("shop-tls", current.crt, current.key)
                let want = current.serial
                let seen = await eventually(.seconds(10)) { try servedSerial() == want }
                #expect(seen, "renewal \(n): serial \(want) not served")
                serials.append(try servedSerial())
            }
            try await Task.sleep(for: .milliseconds(500))
            kill(client.processIdentifier, SIGKILL)  // our own loop, by PID
            client.waitUntilExit()
            try await Task.sleep(for: .seconds(3))
            let codes = (try? String(contentsOfFile: results, encoding: .utf8))?.split(separator: "\n") ?? []
            let failed = codes.filter { $0 != "200" }
            let reloads = try h.metric("lb-a", #"k8slb_proxy_applies_total{result="reload"}"#) - reloadsBefore
            let updates = try h.metric("lb-a", "k8slb_certificate_updates_total")
            print(
                "secret rotation: 5 renewals, served serials \(serials.joined(separator: " → ")); \(codes.count) HTTPS requests, \(failed.count) failed; \(Int(reloads)) reloads, \(Int(updates)) runtime certificate updates"
            )
            #expect(Set(serials).count == 6, "every renewal served a new serial")
            #expect(codes.count > 20 && failed.isEmpty, "failed requests: \(failed.count) of \(codes.count)")
            #expect(reloads == 0, "HAProxy reloaded for a renewal")
            #expect(updates >= 5)
            let mode =
                try FileManager.default.attributesOfItem(
                    atPath: h.work.appendingPathComponent("lb-a/tls/k8slb-system/shop-tls.pem").path)[.posixPermissions]
                as? Int
            #expect(mode == 0o600, "bundle mode \(String(mode ?? 0, radix: 8))")
        }
    }

    // MARK: several host names on one VIP

    /// Two Services on one VIP and port 443 with their own host names: `curl --resolve` for each
    /// reaches its own pod, with TLS passed through (the pods terminate it, routed by SNI) and
    /// with TLS terminated by HAProxy (each Service's own certificate, routed by SNI/Host); a
    /// third Service claiming a name the first answers is not routed and gets a NotRouted Event.
    @Test func hostnamesShareOneVIP() async throws {
        guard let tools = ActorHarness.tools(), let openssl = which("openssl") else {
            if requireIntegration { Issue.record("openssl is required when CI=true") }
            return
        }
        try await ActorHarness.with(tools) { h in
            let echo = try Self.oneNode(h)
            let certs = h.work.appendingPathComponent("tls").path
            try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
            try makeTestCertificates(openssl: openssl, dir: certs, [("a", "a.example.com"), ("b", "b.example.com")])
            // Passthrough pods terminate TLS themselves; the terminated ones speak HTTP.
            try h.topo.spawn(
                "be", [tools.python, echo, "9101", "pod-a", "tls", "\(certs)/a.crt", "\(certs)/a.key"], listening: 9101)
            try h.topo.spawn(
                "be", [tools.python, echo, "9102", "pod-b", "tls", "\(certs)/b.crt", "\(certs)/b.key"], listening: 9102)
            try h.topo.spawn("be", [tools.python, echo, "9201", "pod-a"], listening: 9201)
            try h.topo.spawn("be", [tools.python, echo, "9202", "pod-b"], listening: 9202)
            for (name, file) in [("a-tls", "a"), ("b-tls", "b")] {
                _ = try await h.client.create(
                    Secret(
                        metadata: ObjectMeta(name: name, namespace: "k8slb-system"), type: "kubernetes.io/tls",
                        data: [
                            "tls.crt": try Data(contentsOf: URL(fileURLWithPath: "\(certs)/\(file).crt")),
                            "tls.key": try Data(contentsOf: URL(fileURLWithPath: "\(certs)/\(file).key")),
                        ]))
            }
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            func passthrough(_ n: String, _ host: String, _ port: UInt16) -> AssignmentDocument.ServiceEntry {
                Self.entry("pass-\(n)", 443, "https", target: port) {
                    $0.ssl = .off
                    $0.mode = .tcp
                    $0.hostnames = [try! HostName(parsing: host)]
                }
            }
            func terminated(_ n: String, _ host: String, _ port: UInt16) -> AssignmentDocument.ServiceEntry {
                Self.entry("term-\(n)", 443, "https", target: port) {
                    $0.tlsSecret = try! ResourceName(parsing: "\(n)-tls")
                    $0.hostnames = [try! HostName(parsing: host)]
                }
            }
            let pa = passthrough("a", "a.example.com", 9101)
            let pb = passthrough("b", "b.example.com", 9102)
            let ta = terminated("a", "a.example.com", 9201)
            let tb = terminated("b", "b.example.com", 9202)
            var dup = terminated("z", "a.example.com", 9202)
            dup.tlsSecret = try ResourceName(parsing: "a-tls")
            for e in [pa, pb, ta, tb, dup] {
                try await h.createService(e.key, ports: [("https", 443)])
                guard case .number(let target) = e.ports[0].targetPort else { continue }
                try await h.setSlice(
                    e.key, name: "\(e.key.name)-1", addresses: ["192.0.2.21"], ports: [("https", "TCP", Int(target))])
            }
            try await h.publish(
                try Self.document(
                    [("192.0.2.50", .default, [pa, pb]), ("192.0.2.51", .default, [ta, tb, dup])], nodes: ["lb-a"]))
            try h.startActor("lb-a")
            func get(_ host: String, _ vip: String) throws -> String {
                try h.topo.exec(
                    "cl",
                    [
                        tools.curl, "-s", "-m", "2", "--cacert", "\(certs)/ca.crt", "--resolve", "\(host):443:\(vip)",
                        "https://\(host)/",
                    ]
                ).output
            }
            #expect(
                await eventually(.seconds(20)) { try get("a.example.com", "192.0.2.50").hasPrefix("pod-a ") },
                "log:\n\(h.log("lb-a"))")
            let results = [
                ("passthrough a", try get("a.example.com", "192.0.2.50")),
                ("passthrough b", try get("b.example.com", "192.0.2.50")),
                ("terminated a", try get("a.example.com", "192.0.2.51")),
                ("terminated b", try get("b.example.com", "192.0.2.51")),
            ]
            for (what, body) in results { print("hostnames: \(what): \(body.trimmed)") }
            #expect(results[0].1.hasPrefix("pod-a ") && results[1].1.hasPrefix("pod-b "), "passthrough by SNI")
            #expect(results[2].1.hasPrefix("pod-a ") && results[3].1.hasPrefix("pod-b "), "terminated by SNI/Host")
            // An unknown name: refused (no sharer without names): closed when passed through, 404 when terminated.
            #expect(try get("c.example.com", "192.0.2.50").isEmpty)
            #expect(
                try h.topo.exec(
                    "cl",
                    [
                        tools.curl, "-s", "-k", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", "--resolve",
                        "c.example.com:443:192.0.2.51",
                        "https://c.example.com/",
                    ]
                ).output == "404")
            let events = try await h.events(dup.key)
            #expect(
                await eventually(.seconds(5)) { try await h.events(dup.key).contains { $0.reason == "NotRouted" } },
                "events: \(events)")
            print(
                "hostnames: third Service claiming a.example.com: \(try await h.events(dup.key).filter { $0.reason == "NotRouted" }.map(\.message))"
            )
        }
    }

    // MARK: NodePort backends

    /// Pool `"backends": "nodeports"`: the servers are the Ready Nodes at the nodePort; a Node
    /// turned NotReady or labelled exclude-from-external-load-balancers stops getting traffic;
    /// with externalTrafficPolicy Local, a Node whose healthCheckNodePort answers 503 does too.
    @Test func nodePortBackendsFollowNodes() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            try h.topo.host("lb-a", addresses: ["192.0.2.11/24"])
            try h.topo.host("n1", addresses: ["192.0.2.31/24"])
            try h.topo.host("n2", addresses: ["192.0.2.32/24"])
            try h.topo.host("cl", addresses: ["192.0.2.100/24"])
            let echo = try Self.writeEcho(h)
            // kube-proxy's health check port: 200 while the file says ok, else 503.
            let health =
                "import http.server,sys,os\nclass H(http.server.BaseHTTPRequestHandler):\n def do_GET(self):\n"
                + "  ok=open(sys.argv[2]).read().strip()=='ok'\n  self.send_response(200 if ok else 503);self.end_headers();self.wfile.write(b'x')\n"
                + " def log_message(self,*a): pass\nhttp.server.ThreadingHTTPServer(('0.0.0.0',int(sys.argv[1])),H).serve_forever()\n"
            for node in ["n1", "n2"] {
                try h.topo.spawn(node, [tools.python, echo, "30080", node], listening: 30080)
                try "ok".write(
                    toFile: h.work.appendingPathComponent("\(node).health").path, atomically: true, encoding: .utf8)
                try h.topo.spawn(
                    node, [tools.python, "-c", health, "32000", h.work.appendingPathComponent("\(node).health").path],
                    listening: 32000)
            }
            for (node, address) in [("n1", "192.0.2.31"), ("n2", "192.0.2.32")] {
                var n = Node(metadata: ObjectMeta(name: node), addresses: [.init(type: "InternalIP", address: address)])
                n.status?.conditions = [Condition(type: "Ready", status: "True")]
                _ = try await h.client.create(n)
            }
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60","backends":"nodeports"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            var edge = Self.entry("edge", 80, "tcp", target: 8080)
            edge.ports[0].nodePort = 30080
            try await h.createService(edge.key, ports: [("tcp", 80)])
            try await h.publish(try Self.document([("192.0.2.50", .default, [edge])], nodes: ["lb-a"]))
            try h.startActor("lb-a")
            func spread(_ n: Int = 30) throws -> [String: Int] {
                var seen: [String: Int] = [:]
                for _ in 0..<n {
                    let out = try h.topo.exec("cl", [tools.curl, "-s", "-m", "2", "http://192.0.2.50/"]).output
                    seen[String(out.split(separator: " ").first ?? "failed"), default: 0] += 1
                }
                return seen
            }
            let both = await eventually(.seconds(20)) { Set(try spread(10).keys) == ["n1", "n2"] }
            #expect(
                both,
                "both nodes serve; log:\n\(h.log("lb-a"))\nconfig:\n\((try? String(contentsOfFile: h.work.appendingPathComponent("lb-a/haproxy.cfg").path, encoding: .utf8)) ?? "")"
            )
            guard both else { return }
            func setNode(_ name: String, ready: Bool? = nil, labels: [String: String]? = nil) async throws {
                var n = try await h.client.get(Node.self, name: name)
                if let labels {
                    n.metadata.labels = labels
                    n = try await h.client.update(n)
                }
                if let ready {
                    n.status?.conditions = [Condition(type: "Ready", status: ready ? "True" : "False")]
                    _ = try await h.client.updateStatus(n)
                }
            }
            try await setNode("n2", ready: false)
            #expect(
                await eventually(.seconds(10)) { try spread(10).keys.sorted() == ["n1"] },
                "NotReady n2 still gets traffic")
            try await setNode("n2", ready: true)
            try await setNode("n1", labels: ["node.kubernetes.io/exclude-from-external-load-balancers": "true"])
            #expect(
                await eventually(.seconds(10)) { try spread(10).keys.sorted() == ["n2"] },
                "excluded n1 still gets traffic")
            try await setNode("n1", labels: [:])
            #expect(await eventually(.seconds(10)) { Set(try spread(10).keys) == ["n1", "n2"] })
            // externalTrafficPolicy Local: HAProxy checks the health check port.
            edge.localTraffic = true
            edge.healthCheckNodePort = 32000
            try await h.publish(try Self.document([("192.0.2.50", .default, [edge])], nodes: ["lb-a"]))
            #expect(await eventually(.seconds(15)) { Set(try spread(10).keys) == ["n1", "n2"] })
            try "down".write(toFile: h.work.appendingPathComponent("n1.health").path, atomically: true, encoding: .utf8)
            #expect(
                await eventually(.seconds(15)) { try spread(10).keys.sorted() == ["n2"] },
                "n1 answers 503 on its health check port but gets traffic")
            let final = try spread()
            print("nodeports: after n1's health check port turned 503: \(final)")
            #expect(final == ["n2": 30], "no failed request once n1 is out: \(final)")
        }
    }

    // MARK: kube-proxy mode, externalTrafficPolicy Local

    /// kubeproxy backend: the VIP of an ETP Local Service is held only by the LB node running its
    /// ready endpoint, and moves when the endpoint moves.
    @Test func localTrafficVIPFollowsTheEndpoint() async throws {
        guard let tools = ActorHarness.tools() else { return }
        try await ActorHarness.with(tools) { h in
            for (i, node) in ["lb-a", "lb-b"].enumerated() {
                try h.topo.host(node, addresses: ["192.0.2.\(11 + i)/24"])
            }
            try await h.writeConfig(
                #"{"pools":{"default":{"network":"192.0.2.0/24","range":"192.0.2.50-192.0.2.60"}},"vrrp":{"advertInterval":"0.1"}}"#
            )
            let app = Self.entry("app", 80, "http", target: 8080) { $0.localTraffic = true }
            try await h.createService(app.key, ports: [("http", 80)])
            let doc = try Self.document(
                [("192.0.2.50", .default, [app])], nodes: ["lb-a", "lb-b"], local: ["192.0.2.50"])
            #expect(doc.groups.first?.local != nil)
            // The endpoint runs on the node that is *not* the group's preferred one.
            let preferred = doc.groups[0].node
            let other = preferred == "lb-a" ? "lb-b" : "lb-a"
            func endpoint(on node: String) async throws {
                let slice = EndpointSlice(
                    metadata: ObjectMeta(
                        name: "app-1", namespace: "default", labels: ["kubernetes.io/service-name": "app"]),
                    addressType: "IPv4", endpoints: [.init(addresses: ["10.0.0.7"], ready: true, nodeName: node)],
                    ports: [.init(name: "http", protocol: "TCP", port: 8080)])
                if var s = try? await h.client.get(EndpointSlice.self, namespace: "default", name: "app-1") {
                    s.endpoints = slice.endpoints
                    _ = try await h.client.update(s)
                } else {
                    _ = try await h.client.create(slice)
                }
            }
            try await endpoint(on: other)
            try await h.publish(doc)
            for node in ["lb-a", "lb-b"] { try h.startActor(node, backend: "kubeproxy") }
            let first = await eventually(.seconds(20)) {
                try h.holders("192.0.2.50", among: ["lb-a", "lb-b"]) == [other]
            }
            let holders = try h.holders("192.0.2.50", among: ["lb-a", "lb-b"])
            #expect(first, "VIP not on \(other) (the endpoint's node): \(holders); logs:\n\(h.log(other))")
            // Stable there (the preferred node does not take it: no local endpoint).
            try await Task.sleep(for: .seconds(1))
            #expect(try h.holders("192.0.2.50", among: ["lb-a", "lb-b"]) == [other])
            let moved = ContinuousClock.now
            try await endpoint(on: preferred)
            let second = await eventually(.seconds(10)) {
                try h.holders("192.0.2.50", among: ["lb-a", "lb-b"]) == [preferred]
            }
            print(
                "ETP Local (kubeproxy): VIP on \(other) with the endpoint; endpoint moved to \(preferred): VIP followed after \(ContinuousClock.now - moved)"
            )
            #expect(second, "VIP did not follow the endpoint to \(preferred)")
        }
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
