import Foundation
import KubeClient
import Testing
import TestAPIServer

/// The test API server against the real kubectl: what operators will run against k8slb-testapi.
@Suite struct KubectlTests {
    @Test func applyGetDescribeEventsDelete() async throws {
        guard let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("kubectl is required when CI=true") }
            return
        }
        try await withServer { _, client, port in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-kubectl-\(UUID().uuidString)")
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
            #expect(configured.status == 0 && configured.output.contains("service/web configured"), "\(configured.output)")
            let svc = try await client.get(Service.self, namespace: "default", name: "web")
            #expect(svc.spec?.ports?.map(\.targetPort) == [.int(8080), .int(9443)])
            #expect(svc.metadata.annotations?["kubectl.kubernetes.io/last-applied-configuration"] != nil)

            let pending = try k("get", "svc", "web")
            #expect(pending.status == 0)
            #expect(pending.output.contains("NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)"), "\(pending.output)")
            #expect(pending.output.contains("<pending>"))

            _ = try await client.patch(Service.self, namespace: "default", name: "web",
                                       .merge(Array(#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10","ipMode":"Proxy"}]}}}"#.utf8)),
                                       subresource: "status")
            _ = try await client.create(Event(
                metadata: ObjectMeta(name: "web.alloc", namespace: "default"),
                involvedObject: ObjectReference(apiVersion: "v1", kind: "Service", namespace: "default", name: "web", uid: svc.metadata.uid),
                reason: "IPAllocated", message: "Assigned IP 192.0.2.10 from pool default", type: "Normal",
                component: "k8slb-watcher", timestamp: ISO8601DateFormatter().string(from: Date())))

            let assigned = try k("get", "svc")
            #expect(assigned.output.contains("192.0.2.10") && assigned.output.contains("80:3") && assigned.output.contains("/TCP"), "\(assigned.output)")
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
}
