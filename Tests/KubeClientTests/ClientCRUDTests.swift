import Foundation
import KubeClient
import TestAPIServer
import Testing

@Suite struct ClientCRUDTests {
    @Test func createGetListUpdateDelete() async throws {
        try await withServer { server, client, _ in
            let created = try await client.create(lbService("web", labels: ["tier": "front"]))
            #expect(created.metadata.uid != nil && created.metadata.resourceVersion != nil)
            #expect(created.spec?.clusterIP?.hasPrefix("10.96.") == true)
            #expect(created.spec?.ports?.first?.nodePort != nil, "LoadBalancer Services get node ports")
            _ = try await client.create(lbService("db", labels: ["tier": "back"]))
            _ = try await client.create(lbService("other", namespace: "k8slb-system"))

            let got = try await client.get(Service.self, namespace: "default", name: "web")
            #expect(got == created)
            let front = try await client.list(Service.self, namespace: "default", labelSelector: "tier=front")
            #expect(front.items.map(\.metadata.name) == ["web"])
            let everywhere = try await client.list(Service.self)
            #expect(everywhere.items.map(\.key) == ["default/db", "default/web", "k8slb-system/other"])
            let byField = try await client.list(Service.self, fieldSelector: "metadata.name=db")
            #expect(byField.items.map(\.key) == ["default/db"])

            var edited = got
            edited.metadata.annotations = ["loadbalancer/pool": "external"]
            let updated = try await client.update(edited)
            #expect(updated.metadata.annotations?["loadbalancer/pool"] == "external")
            #expect(Int(updated.metadata.resourceVersion!)! > Int(got.metadata.resourceVersion!)!)

            try await client.delete(Service.self, namespace: "default", name: "web")
            await #expect {
                _ = try await client.get(Service.self, namespace: "default", name: "web")
            } throws: { ($0 as? KubeAPIError)?.isNotFound == true }
            await #expect(throws: KubeAPIError.self) {
                try await client.delete(Service.self, namespace: "default", name: "web")
            }
        }
    }

    @Test func staleResourceVersionGets409ThenRetrySucceeds() async throws {
        try await withServer { _, client, _ in
            let first = try await client.create(lbService("web"))
            var a = first
            var b = first
            a.metadata.labels = ["by": "a"]
            b.metadata.labels = ["by": "b"]
            _ = try await client.update(a)
            await #expect {
                _ = try await client.update(b)
            } throws: { error in
                guard let e = error as? KubeAPIError else { return false }
                return e.isConflict && FailureClass(e) == .conflict
                    && e.message.contains("the object has been modified")
            }
            // Retry: re-read, re-apply the change.
            var fresh = try await client.get(Service.self, namespace: "default", name: "web")
            fresh.metadata.labels = ["by": "b"]
            let done = try await client.update(fresh)
            #expect(done.metadata.labels == ["by": "b"])
        }
    }

    @Test func statusSubresourceIsIsolatedBothWays() async throws {
        try await withServer { _, client, _ in
            let svc = try await client.create(lbService("web"))
            // A status write ignores spec and metadata changes.
            var s = svc
            s.status = .init(loadBalancer: .init(ingress: [.init(ip: "192.0.2.10", ipMode: "Proxy")]))
            s.spec?.type = "ClusterIP"
            s.metadata.labels = ["sneaky": "yes"]
            let afterStatus = try await client.updateStatus(s)
            #expect(afterStatus.status?.loadBalancer?.ingress == [.init(ip: "192.0.2.10", ipMode: "Proxy")])
            #expect(afterStatus.spec?.type == "LoadBalancer" && afterStatus.metadata.labels == nil)
            // A main-resource write ignores status.
            var m = afterStatus
            m.status = .init(loadBalancer: .init(ingress: []))
            m.metadata.labels = ["ok": "yes"]
            let afterMain = try await client.update(m)
            #expect(afterMain.status?.loadBalancer?.ingress == [.init(ip: "192.0.2.10", ipMode: "Proxy")])
            #expect(afterMain.metadata.labels == ["ok": "yes"])
            // Status merge patch; ipMode defaults to VIP when an IP is set.
            let patched = try await client.patch(
                Service.self, namespace: "default", name: "web",
                .merge(Array(#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.11"}]}}}"#.utf8)),
                subresource: "status")
            #expect(patched.status?.loadBalancer?.ingress == [.init(ip: "192.0.2.11", ipMode: "VIP")])
            // An invalid status is refused in the real format.
            await #expect {
                _ = try await client.patch(
                    Service.self, namespace: "default", name: "web",
                    .merge(Array(#"{"status":{"loadBalancer":{"ingress":[{"ip":"not-an-ip"}]}}}"#.utf8)),
                    subresource: "status")
            } throws: { error in
                let e = error as? KubeAPIError
                return e?.code == 422
                    && e?.message
                        == "Service \"web\" is invalid: status.loadBalancer.ingress[0].ip: Invalid value: \"not-an-ip\": must be a valid IP address"
            }
        }
    }

    @Test func patchKinds() async throws {
        try await withServer { _, client, _ in
            _ = try await client.create(lbService("web"))
            let merged = try await client.patch(
                Service.self, namespace: "default", name: "web",
                .merge(Array(#"{"metadata":{"annotations":{"a":"1"}}}"#.utf8)))
            #expect(merged.metadata.annotations == ["a": "1"])
            let json = try await client.patch(
                Service.self, namespace: "default", name: "web",
                .json(
                    Array(
                        #"[{"op":"add","path":"/metadata/labels","value":{"x":"y"}},{"op":"replace","path":"/spec/ports/0/port","value":81}]"#
                            .utf8)))
            #expect(json.metadata.labels == ["x": "y"] && json.spec?.ports?.first?.port == 81)
            // Strategic merge: ports merge by port number instead of replacing the list.
            let smp = try await client.patch(
                Service.self, namespace: "default", name: "web",
                .strategicMerge(Array(#"{"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}}"#.utf8)))
            #expect(smp.spec?.ports?.map(\.port) == [81, 443])
            // Validation errors come back in the real format.
            await #expect {
                _ = try await client.patch(
                    Service.self, namespace: "default", name: "web",
                    .merge(Array(#"{"spec":{"ports":[{"port":0}]}}"#.utf8)))
            } throws: { error in
                (error as? KubeAPIError)?.message
                    == "Service \"web\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
            }
        }
    }

    @Test func paginatedListFollowsContinue() async throws {
        try await withServer { _, client, _ in
            for i in 0..<25 {
                _ = try await client.create(
                    ConfigMap(
                        metadata: ObjectMeta(name: "cm-\(String(format: "%02d", i))", namespace: "default"),
                        data: ["i": "\(i)"]))
            }
            let page = try await client.list(ConfigMap.self, namespace: "default", limit: 10)
            #expect(page.items.count == 10 && page.metadata.continue != nil && page.metadata.remainingItemCount == 15)
            let all = try await client.listAll(ConfigMap.self, namespace: "default", pageSize: 10)
            #expect(all.items.map(\.metadata.name!) == (0..<25).map { "cm-\(String(format: "%02d", $0))" })
        }
    }

    @Test func nodePortRangeFullIsAnErrorNotAHang() async throws {
        try await withServer { _, client, _ in
            // 2,768 node ports (30000-32767): fill them with Services of 4 ports each, then one more.
            for i in 0..<692 {
                var svc = lbService("s\(i)")
                svc.spec?.ports = (0..<4).map { .init(name: "p\($0)", port: 80 + $0) }
                _ = try await client.create(svc)
            }
            await #expect {
                _ = try await client.create(lbService("one-too-many"))
            } throws: { error in
                let e = error as? KubeAPIError
                return e?.code == 422 && e?.message.contains("range is full") == true
            }
        }
    }

    @Test func oneLaneReusesOneConnection() async throws {
        try await withServer { server, _, port in
            let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:\(port)"), lanes: 1)
            let before = server.connectionsAccepted
            for _ in 0..<50 { _ = try await client.list(Service.self) }
            #expect(server.connectionsAccepted - before == 1)
        }
    }

    @Test func bearerTokenIsSent() async throws {
        try await withServer(token: "s3cret") { server, client, _ in
            _ = try await client.list(Service.self)
            #expect(server.recentRequests.last?.authorization == "Bearer s3cret")
        }
    }

    @Test func tokenFileIsReReadWhenItRotates() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("token")
        try "first\n".write(to: file, atomically: true, encoding: .utf8)
        let source = ClusterConfig.TokenSource(file: file.path)
        #expect(try source.current() == "first")
        try await Task.sleep(for: .milliseconds(1100))  // a distinct mtime
        try "second\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try source.current() == "second")
    }

    @Test func serverErrorsAreClassified() async throws {
        try await withServer { server, client, _ in
            server.failNext(1, status: 429)
            await #expect {
                _ = try await client.list(Service.self)
            } throws: { error in
                let e = error as? KubeAPIError
                return e?.code == 429 && e?.retryAfterSeconds == 1 && FailureClass(error) == .transient
            }
            server.failNext(1, status: 500)
            await #expect { _ = try await client.list(Service.self) } throws: { FailureClass($0) == .transient }
            await #expect { _ = try await client.get(Service.self, namespace: "default", name: "nope") } throws: {
                FailureClass($0) == .permanent
            }
            // Connection refused is a transport error, also transient.
            let dead = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:1"))
            await #expect { _ = try await dead.list(Service.self) } throws: {
                $0 is TransportError && FailureClass($0) == .transient
            }
        }
    }
}

@Suite struct TimestampTests {
    @Test func formatsLikeKubernetes() {
        let date = Date(timeIntervalSince1970: 1_136_214_245.123456)  // 2006-01-02T15:04:05.123456Z
        #expect(Timestamp.rfc3339(date) == "2006-01-02T15:04:05Z")
        #expect(Timestamp.micro(date).hasPrefix("2006-01-02T15:04:05.12345"))
        #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(
            ISO8601DateFormatter().date(from: Timestamp.rfc3339(date)) == Date(timeIntervalSince1970: 1_136_214_245))
    }
}
