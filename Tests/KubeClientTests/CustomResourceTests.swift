import Foundation
import KubeClient
import TestAPIServer
import Testing

/// The test API server serves CustomResourceDefinitions as the real one: applied by kubectl, a
/// CRD's kind is listed, watched and written at once (every served version over the same
/// objects), its status subresource is isolated, generation counts spec changes, kubectl prints
/// its printer columns, and deleting the CRD takes the kind and its objects away.
@Suite(.needs(.tools("kubectl"))) struct CustomResourceTests {
    enum WidgetKind: CustomResourceKind {
        static let apiVersion = "example.k8slb.io/v1", kind = "Widget", plural = "widgets", namespaced = true
    }
    struct WidgetSpec: Codable, Sendable, Equatable { var size: Int }
    struct WidgetStatus: Codable, Sendable, Equatable { var phase: String }
    typealias Widget = CustomResource<WidgetKind, WidgetSpec, WidgetStatus>

    static let crd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.k8slb.io}
        spec:
          group: example.k8slb.io
          names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wg]}
          scope: Namespaced
          versions:
          - name: v1
            served: true
            storage: true
            subresources: {status: {}}
            additionalPrinterColumns:
            - {name: Size, type: integer, jsonPath: .spec.size}
            - {name: Phase, type: string, jsonPath: .status.phase}
            schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
          - name: v1beta1
            served: true
            storage: false
            schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
        """

    @Test func crdServesItsKindUntilDeleted() async throws {
        guard let kubectl = which("kubectl") else {
            if requireIntegration { Issue.record("kubectl is required when CI=true") }
            return
        }
        try await withServer { _, client, port in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "k8slb-crd-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let kubeconfig = dir.appendingPathComponent("kubeconfig").path
            try writeKubeconfig(port: port, token: "t", to: kubeconfig)
            let env = ["KUBECONFIG": kubeconfig, "HOME": dir.path, "PATH": "/usr/bin:/bin"]
            func k(_ args: [String], input: String? = nil) throws -> (status: Int32, output: String) {
                if let input {
                    let file = dir.appendingPathComponent("in-\(UUID().uuidString.prefix(6)).yaml").path
                    try input.write(toFile: file, atomically: true, encoding: .utf8)
                    return try run(
                        kubectl, args + ["-f", file, "--cache-dir", dir.appendingPathComponent("cache").path],
                        environment: env)
                }
                return try run(
                    kubectl, args + ["--cache-dir", dir.appendingPathComponent("cache").path], environment: env)
            }
            // Before the CRD: no such kind.
            await #expect(throws: KubeAPIError.self) { _ = try await client.list(Widget.self, namespace: "default") }
            let applied = try k(["apply"], input: Self.crd)
            #expect(applied.status == 0, "\(applied.output)")
            let established = try k([
                "get", "crd", "widgets.example.k8slb.io", "-o",
                "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
            ])
            #expect(established.output == "True")

            let informer = Informer<Widget>(client: client, namespace: "default")
            let seen = ChangeLog()
            let watching = Task {
                await informer.run { change in
                    switch change {
                    case .added(let w): seen.append("added \(w.metadata.name ?? "") \(w.spec.size)")
                    case .updated(_, let w):
                        seen.append("updated \(w.metadata.name ?? "") \(w.spec.size) \(w.status?.phase ?? "-")")
                    case .deleted(let w): seen.append("deleted \(w.metadata.name ?? "")")
                    case .synced: seen.append("synced")
                    }
                }
            }
            defer { watching.cancel() }
            let created = try k(
                ["apply"],
                input:
                    "apiVersion: example.k8slb.io/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3}\n"
            )
            #expect(created.status == 0, "\(created.output)")
            var w = try await client.get(Widget.self, namespace: "default", name: "w1")
            #expect(w.spec.size == 3 && w.metadata.generation == 1 && w.status == nil)
            // Status through the subresource only; it does not bump the generation.
            struct Body: Encodable { let status: WidgetStatus }
            w = try await client.patch(
                Widget.self, namespace: "default", name: "w1", try .mergeEncoding(Body(status: .init(phase: "Ready"))),
                subresource: "status")
            #expect(w.status?.phase == "Ready" && w.metadata.generation == 1)
            // A spec change does; a status in a spec write is ignored.
            w.spec.size = 5
            w.status = .init(phase: "Overwritten")
            w = try await client.update(w)
            #expect(w.metadata.generation == 2 && w.status?.phase == "Ready")
            // The other served version sees the same object under its own apiVersion.
            let beta = try k([
                "get", "widgets.v1beta1.example.k8slb.io", "w1", "-o", "jsonpath={.apiVersion} {.spec.size}",
            ])
            #expect(beta.output == "example.k8slb.io/v1beta1 5", "\(beta.output)")
            let table = try k(["get", "wg"])
            print("crd: kubectl get wg\n\(table.output)")
            #expect(
                table.output.contains("SIZE") && table.output.contains("PHASE")
                    && table.output.contains("w1     5      Ready"))
            for _ in 0..<50 where !seen.all.contains("updated w1 5 Ready") {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(seen.all.contains("added w1 3") && seen.all.contains("updated w1 5 Ready"), "\(seen.all)")

            // Deleting the CRD deletes its objects (the watch says so) and the kind.
            let deleted = try k(["delete", "crd", "widgets.example.k8slb.io"])
            #expect(deleted.status == 0, "\(deleted.output)")
            for _ in 0..<50 where !seen.all.contains("deleted w1") { try await Task.sleep(for: .milliseconds(20)) }
            #expect(seen.all.contains("deleted w1"))
            await #expect(throws: KubeAPIError.self) {
                _ = try await client.get(Widget.self, namespace: "default", name: "w1")
            }
        }
    }
}
