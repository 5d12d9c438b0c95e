import Foundation
import KubeClient
import TestAPIServer
import Testing

/// The test API server against the real kubectl: what operators will run against k8slb-testapi.
@Suite(.needs(.tools("kubectl", "openssl"))) struct KubectlTests {
    @Test func applyGetDescribeEventsDelete() async throws {
        guard let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("kubectl is required when CI=true") }
            return
        }
        try await withServer { _, client, port in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "k8slb-kubectl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let kubeconfig = dir.appendingPathComponent("kubeconfig").path
            try """
            apiVersion: v1
            kind: Config
            clusters: [{name: test, cluster: {server: "http://127.0.0.1:\(port)"}}]
            users: [{name: test, user: {token: kubectl-token}}]
            contexts: [{name: test, context: {cluster: test, user: test, namespace: default}}]
            current-context: test
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
            let env = ["KUBECONFIG": kubeconfig, "HOME": dir.path, "PATH": "/usr/bin:/bin"]
            func k(_ args: String...) throws -> (status: Int32, output: String) {
                try run(kubectl, args + ["--cache-dir", dir.appendingPathComponent("cache").path], environment: env)
            }
            let manifest = dir.appendingPathComponent("svc.yaml").path
            func write(targetPort: Int) throws {
                try """
                apiVersion: v1
                kind: Service
                metadata:
                  name: web
                  annotations: {loadbalancer/pool: default}
                spec:
                  type: LoadBalancer
                  selector: {app: web}
                  ports:
                  - {name: http, port: 80, targetPort: 8080}
                  - {name: https, port: 443, targetPort: \(targetPort)}
                """.write(toFile: manifest, atomically: true, encoding: .utf8)
            }
            try write(targetPort: 8443)
            let created = try k("apply", "-f", manifest)
            #expect(created.status == 0 && created.output.contains("service/web created"), "\(created.output)")
            try write(targetPort: 9443)
            let configured = try k("apply", "-f", manifest)
            #expect(
                configured.status == 0 && configured.output.contains("service/web configured"), "\(configured.output)")
            let svc = try await client.get(Service.self, namespace: "default", name: "web")
            #expect(svc.spec?.ports?.map(\.targetPort) == [.int(8080), .int(9443)])
            #expect(svc.metadata.annotations?["kubectl.kubernetes.io/last-applied-configuration"] != nil)

            let pending = try k("get", "svc", "web")
            #expect(pending.status == 0)
            #expect(
                pending.output.contains("NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)"), "\(pending.output)"
            )
            #expect(pending.output.contains("<pending>"))

            _ = try await client.patch(
                Service.self, namespace: "default", name: "web",
                .merge(Array(#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10","ipMode":"Proxy"}]}}}"#.utf8)),
                subresource: "status")
            _ = try await client.create(
                Event(
                    metadata: ObjectMeta(name: "web.alloc", namespace: "default"),
                    involvedObject: ObjectReference(
                        apiVersion: "v1", kind: "Service", namespace: "default", name: "web", uid: svc.metadata.uid),
                    reason: "IPAllocated", message: "Assigned IP 192.0.2.10 from pool default", type: "Normal",
                    component: "k8slb-watcher", timestamp: ISO8601DateFormatter().string(from: Date())))

            let assigned = try k("get", "svc")
            #expect(
                assigned.output.contains("192.0.2.10") && assigned.output.contains("80:3")
                    && assigned.output.contains("/TCP"), "\(assigned.output)")
            let described = try k("describe", "svc", "web")
            #expect(described.status == 0)
            #expect(described.output.contains("LoadBalancer Ingress:     192.0.2.10 (Proxy)"), "\(described.output)")
            #expect(described.output.contains("Normal  IPAllocated"), "\(described.output)")
            let events = try k("get", "events")
            #expect(events.output.contains("IPAllocated") && events.output.contains("service/web"), "\(events.output)")

            let deleted = try k("delete", "-f", manifest)
            #expect(deleted.status == 0 && deleted.output.contains("service \"web\" deleted"), "\(deleted.output)")
            let gone = try k("get", "svc", "web")
            #expect(gone.status != 0 && gone.output.contains("NotFound"), "\(gone.output)")
        }
    }

    /// `kubectl create …` sends protobuf (its typed clients do): namespaces, ConfigMaps, Secrets
    /// (generic and TLS) and Services are created with what was typed, read back as JSON.
    @Test func createCommandsSendProtobufAndAreUnderstood() async throws {
        guard let kubectl = which("kubectl"), let openssl = which("openssl") else {
            if requireIntegration { Issue.record("kubectl and openssl are required when CI=true") }
            return
        }
        try await withServer { _, client, port in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "k8slb-kubectl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let env = ["HOME": dir.path, "PATH": "/usr/bin:/bin"]
            func k(_ args: String...) throws -> (status: Int32, output: String) {
                try run(
                    kubectl,
                    ["--server", "http://127.0.0.1:\(port)", "--cache-dir", dir.appendingPathComponent("cache").path]
                        + args, environment: env)
            }
            var r = try k("create", "namespace", "shop", "-v=8")
            #expect(r.status == 0 && r.output.contains("namespace/shop created"), "\(r.output)")
            #expect(r.output.contains("Content-Type: application/vnd.kubernetes.protobuf"), "kubectl sent protobuf")
            #expect(try k("get", "namespace", "shop", "-o", "jsonpath={.status.phase}").output == "Active")

            r = try k(
                "create", "configmap", "settings", "-n", "shop", "--from-literal=colour=blue", "--from-literal=size=L")
            #expect(r.status == 0, "\(r.output)")
            let cm = try await client.get(ConfigMap.self, namespace: "shop", name: "settings")
            #expect(cm.data == ["colour": "blue", "size": "L"])

            r = try k("create", "secret", "generic", "token", "-n", "shop", "--from-literal=key=s3cr3t")
            #expect(r.status == 0, "\(r.output)")
            #expect(
                try k("get", "secret", "token", "-n", "shop", "-o", "jsonpath={.type} {.data.key}").output
                    == "Opaque czNjcjN0")

            let key = dir.appendingPathComponent("tls.key").path
            let crt = dir.appendingPathComponent("tls.crt").path
            _ = try run(
                openssl,
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=shop.example.org", "-keyout", key, "-out", crt,
                ])
            r = try k("create", "secret", "tls", "shop-tls", "-n", "shop", "--cert", crt, "--key", key)
            #expect(r.status == 0, "\(r.output)")
            let tlsType = try k("get", "secret", "shop-tls", "-n", "shop", "-o", "jsonpath={.type}").output
            let stored = try k("get", "secret", "shop-tls", "-n", "shop", "-o", "jsonpath={.data.tls\\.crt}").output
            #expect(tlsType == "kubernetes.io/tls")
            #expect(
                Data(base64Encoded: stored).map { String(decoding: $0, as: UTF8.self) }
                    == (try String(contentsOfFile: crt, encoding: .utf8)))

            r = try k("create", "service", "loadbalancer", "web", "-n", "shop", "--tcp=80:8080", "--tcp=443:https")
            #expect(r.status == 0, "\(r.output)")
            let svc = try await client.get(Service.self, namespace: "shop", name: "web")
            #expect(svc.spec?.type == "LoadBalancer")
            #expect(svc.spec?.ports?.map(\.port) == [80, 443])
            #expect(svc.spec?.ports?.map(\.targetPort) == [.int(8080), .string("https")])
            #expect(svc.spec?.selector == ["app": "web"])

            // The Table view kubectl asks for lists them with their type.
            #expect(try k("get", "secrets", "-n", "shop").output.contains("kubernetes.io/tls"))
        }
    }
}
