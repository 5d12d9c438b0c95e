import Foundation
import KubeClient
import Spawn
import TestAPIServer
import Testing

/// The client's TLS path against a real TLS server: haproxy terminating TLS in front of the test
/// API server, with certificates from a throwaway CA.
@Suite struct TLSTests {
    struct PKI {
        let dir: URL
        var caPEM: [UInt8] { Array(FileManager.default.contents(atPath: dir.appendingPathComponent("ca.crt").path)!) }
        var otherCAPEM: [UInt8] {
            Array(FileManager.default.contents(atPath: dir.appendingPathComponent("other.crt").path)!)
        }
    }

    struct PKIError: Error { let message: String }

    static func makePKI(_ openssl: String) throws -> PKI {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func o(_ args: String...) throws {
            let r = try run(openssl, args)
            if r.status != 0 { throw PKIError(message: "openssl \(args.joined(separator: " ")): \(r.output)") }
        }
        let d = dir.path
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(d)/san.ext", atomically: true, encoding: .utf8)
        try o(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=k8slb-test-ca", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt")
        try o(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=someone-else", "-keyout", "\(d)/other.key", "-out", "\(d)/other.crt")
        try o(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr")
        try o(
            "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "\(d)/san.ext", "-out", "\(d)/server.crt")
        let bundle =
            try String(contentsOfFile: "\(d)/server.crt", encoding: .utf8)
            + String(contentsOfFile: "\(d)/server.key", encoding: .utf8)
        try bundle.write(toFile: "\(d)/server.pem", atomically: true, encoding: .utf8)
        return PKI(dir: dir)
    }

    /// A free TCP port on loopback (bind to 0, read it back, close).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @Test(.needs(.tools("haproxy", "openssl"))) func rightCAAcceptedWrongCARefused() async throws {
        guard let haproxy = which("haproxy"), let openssl = which("openssl") else {
            if requireIntegration { Issue.record("haproxy and openssl are required when CI=true") }
            return
        }
        let pki = try Self.makePKI(openssl)
        defer { try? FileManager.default.removeItem(at: pki.dir) }
        try await withServer(token: "tls-token") { server, _, apiPort in
            let tlsPort = try Self.freePort()
            let cfg = pki.dir.appendingPathComponent("haproxy.cfg").path
            try """
            global
                maxconn 100
            defaults
                mode http
                timeout connect 2s
                timeout client 30s
                timeout server 30s
            frontend tls
                bind 127.0.0.1:\(tlsPort) ssl crt \(pki.dir.path)/server.pem
                default_backend api
            backend api
                server api 127.0.0.1:\(apiPort)

            """.write(toFile: cfg, atomically: true, encoding: .utf8)
            let logPath = pki.dir.appendingPathComponent("haproxy.log").path
            let proc = try Child.start([haproxy, "-db", "-f", cfg], output: .file(logPath))
            defer {
                kill(proc.processIdentifier, SIGTERM)  // by PID: only the process this test started
                proc.waitUntilExit()
            }
            let url = "https://127.0.0.1:\(tlsPort)"
            let good = KubeClient(
                config: ClusterConfig(server: url, tls: TLSSettings(caPEM: pki.caPEM), token: .init(token: "tls-token"))
            )
            let reached = await eventually(.seconds(5)) { (try? await good.list(Service.self)) != nil }
            #expect(
                reached,
                "the right CA is accepted; haproxy said: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")"
            )
            #expect(server.recentRequests.last?.authorization == "Bearer tls-token")

            let wrong = KubeClient(config: ClusterConfig(server: url, tls: TLSSettings(caPEM: pki.otherCAPEM)))
            await #expect {
                _ = try await wrong.list(Service.self)
            } throws: { error in
                // CURLE_PEER_FAILED_VERIFICATION (60): the certificate chain does not verify.
                (error as? TransportError)?.code == 60
            }
            let system = KubeClient(config: ClusterConfig(server: url))
            await #expect(throws: TransportError.self, "the system store does not trust a private CA") {
                _ = try await system.list(Service.self)
            }

            // The same through a kubeconfig with certificate-authority-data.
            let kubeconfig = pki.dir.appendingPathComponent("kubeconfig").path
            try """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "\(url)", certificate-authority-data: \(Data(pki.caPEM).base64EncodedString())}}]
            users: [{name: u, user: {token: from-kubeconfig}}]
            contexts: [{name: x, context: {cluster: c, user: u, namespace: k8slb-system}}]
            current-context: x
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
            let config = try ClusterConfig.kubeconfig(path: kubeconfig)
            #expect(config.namespace == "k8slb-system" && !config.tls.insecureSkipVerify)
            _ = try await KubeClient(config: config).list(Service.self)
            #expect(server.recentRequests.last?.authorization == "Bearer from-kubeconfig")
        }
    }

    @Test func kubeconfigErrorsNameTheProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-kc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config").path
        try """
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
        users: [{name: u, user: {exec: {command: aws}}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        current-context: x
        """.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.kubeconfig(path: path) }
        do { _ = try ClusterConfig.kubeconfig(path: path) } catch {
            #expect("\(error)".contains("user \"u\" uses exec/auth-provider credentials"))
        }
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.kubeconfig(path: path, context: "missing") }
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.inCluster(environment: [:]) }
    }
}
