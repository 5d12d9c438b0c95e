import Foundation
import KubeClient
import Spawn
import TestAPIServer
import TestSupport
import Testing

/// The watcher as separate processes (the real binary): restarts and failover.
@Suite(.serialized, .needs(.built("k8slb-watcher"))) struct WatcherProcessTests {
    /// The built `k8slb-watcher` beside the test bundle.
    static var binary: String? { builtExecutable("k8slb-watcher") }

    final class WatcherProcess {
        let process: Child
        let log: URL

        init(binary: String, kubeconfig: String, identity: String, dir: URL) throws {
            log = dir.appendingPathComponent("\(identity)-\(UUID().uuidString.prefix(6)).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process = try Child.start(
                [
                    binary, "run", "--kubeconfig", kubeconfig, "--identity", identity, "--metrics-address", "",
                    "--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "1", "--log-level", "warning",
                ],
                output: .file(log.path))
        }

        /// Ends this process (by its PID only).
        func stop(_ signal: Int32 = SIGTERM) {
            guard process.isRunning else { return }
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
        }
    }

    static func kubeconfig(_ port: Int, _ dir: URL) throws -> String {
        let path = dir.appendingPathComponent("kubeconfig").path
        try writeKubeconfig(port: port, token: "watcher", to: path)
        return path
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8slb-watcher-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func twentyRestartsDuringChurnChangeNoIP() async throws {
        guard let binary = Self.binary else {
            if requireIntegration { Issue.record("k8slb-watcher binary not found beside the tests") }
            return
        }
        let cluster = try await Cluster.start()
        let dir = try Self.tempDir()
        defer {
            try? FileManager.default.removeItem(at: dir)
            Task { await cluster.stop() }
        }
        try await cluster.writeConfig(
            #"{"pools": {"default": {"network": "198.51.100.0/24", "range": "198.51.100.1-198.51.100.250"}}}"#)
        let kubeconfig = try Self.kubeconfig(cluster.port, dir)
        for i in 0..<40 { _ = try await cluster.client.create(cluster.service("stable-\(i)")) }
        var watcher = try WatcherProcess(binary: binary, kubeconfig: kubeconfig, identity: "w0", dir: dir)
        #expect(await eventually(.seconds(30)) { try await cluster.externalIPs().values.allSatisfy { $0.count == 1 } })
        let first = try await cluster.externalIPs()
        var churn = 0
        for round in 1...20 {
            // Churn around the restart: create and delete other Services.
            for _ in 0..<3 {
                _ = try await cluster.client.create(cluster.service("churn-\(churn)"))
                if churn >= 3 {
                    try? await cluster.client.delete(Service.self, namespace: "default", name: "churn-\(churn - 3)")
                }
                churn += 1
            }
            watcher.stop(round % 2 == 0 ? SIGKILL : SIGTERM)
            _ = try await cluster.client.create(cluster.service("while-down-\(round)"))
            watcher = try WatcherProcess(binary: binary, kubeconfig: kubeconfig, identity: "w\(round)", dir: dir)
            try await Task.sleep(for: .milliseconds(round % 2 == 0 ? 3500 : 700))  // SIGKILL leaves the lease to expire
        }
        #expect(await eventually(.seconds(30)) { try await cluster.externalIPs().values.allSatisfy { $0.count == 1 } })
        let last = try await cluster.externalIPs()
        watcher.stop()
        var changed: [String] = []
        for (key, ips) in first where last[key] != ips { changed.append("\(key): \(ips) -> \(last[key] ?? [])") }
        #expect(changed.isEmpty, "IPs changed across restarts: \(changed)")
        let all = last.values.flatMap { $0 }
        #expect(Set(all).count == all.count, "no duplicate IPs")
    }

    @Test func standbyTakesOverWhenTheLeaderDiesAndKeepsEveryIP() async throws {
        guard let binary = Self.binary else {
            if requireIntegration { Issue.record("k8slb-watcher binary not found beside the tests") }
            return
        }
        let cluster = try await Cluster.start()
        let dir = try Self.tempDir()
        defer {
            try? FileManager.default.removeItem(at: dir)
            Task { await cluster.stop() }
        }
        try await cluster.writeConfig(
            #"{"pools": {"default": {"network": "198.51.100.0/24", "range": "198.51.100.1-198.51.100.250"}}}"#)
        let kubeconfig = try Self.kubeconfig(cluster.port, dir)
        for i in 0..<20 { _ = try await cluster.client.create(cluster.service("svc-\(i)")) }
        let a = try WatcherProcess(binary: binary, kubeconfig: kubeconfig, identity: "replica-a", dir: dir)
        #expect(await eventually(.seconds(20)) { try await cluster.externalIPs().values.allSatisfy { $0.count == 1 } })
        let b = try WatcherProcess(binary: binary, kubeconfig: kubeconfig, identity: "replica-b", dir: dir)
        defer {
            a.stop()
            b.stop()
        }
        let lease = try await cluster.client.get(Lease.self, namespace: "k8slb-system", name: "k8slb-watcher")
        #expect(lease.spec?.holderIdentity == "replica-a")
        let before = try await cluster.externalIPs()
        a.stop(SIGKILL)  // no release: b must wait out the lease
        _ = try await cluster.client.create(cluster.service("after-failover"))
        #expect(
            await eventually(.seconds(20)) { try await cluster.externalIPs()["default/after-failover"]?.count == 1 })
        let holder = try await cluster.client.get(Lease.self, namespace: "k8slb-system", name: "k8slb-watcher").spec?
            .holderIdentity
        #expect(holder == "replica-b")
        let after = try await cluster.externalIPs()
        for (key, ips) in before { #expect(after[key] == ips, "\(key) changed") }
        #expect(!before.values.contains(after["default/after-failover"]!), "the new Service got a free IP")
    }

    @Test func convergesThroughAPIFaults() async throws {
        guard let binary = Self.binary else {
            if requireIntegration { Issue.record("k8slb-watcher binary not found beside the tests") }
            return
        }
        let cluster = try await Cluster.start(windowSize: 50)
        let dir = try Self.tempDir()
        defer {
            try? FileManager.default.removeItem(at: dir)
            Task { await cluster.stop() }
        }
        try await cluster.writeConfig(
            #"{"pools": {"default": {"network": "198.51.100.0/24", "range": "198.51.100.1-198.51.100.250"}}}"#)
        let kubeconfig = try Self.kubeconfig(cluster.port, dir)
        let w = try WatcherProcess(binary: binary, kubeconfig: kubeconfig, identity: "faulty", dir: dir)
        defer { w.stop() }
        // The test's own writes meet the injected faults too: retry them as any client would.
        func retrying(_ op: () async throws -> Void) async throws {
            for attempt in 0..<20 {
                do {
                    try await op()
                    return
                } catch  where FailureClass(error) == .transient && attempt < 19 {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        for i in 0..<60 {
            try await retrying { _ = try await cluster.client.create(cluster.service("f-\(i)")) }
            switch i % 10 {
            case 2: cluster.server.store.closeAllWatches()
            case 5:
                cluster.server.store.compact()
                cluster.server.store.closeAllWatches()
            case 7: cluster.server.failNext(3, status: 500)
            case 9: cluster.server.failNext(2, status: 429)
            default: break
            }
            if i % 13 == 0 && i > 0 {
                try await retrying {
                    try await cluster.client.delete(Service.self, namespace: "default", name: "f-\(i - 1)")
                }
            }
        }
        #expect(
            await eventually(.seconds(45)) {
                let ips = try await cluster.externalIPs()
                return ips.count == 56 && ips.values.allSatisfy { $0.count == 1 }
            })
        let all = try await cluster.externalIPs().values.flatMap { $0 }
        #expect(Set(all).count == all.count)
        // The published document agrees with the statuses: nothing lost.
        #expect(
            await eventually(.seconds(10)) {
                let index = try await cluster.client.get(ConfigMap.self, namespace: "k8slb-system", name: "assignments")
                let indexBytes = Array(index.data!["index"]!.utf8)
                let parsed = try JSONDecoder().decode(AssignmentShardIndex.self, from: Data(indexBytes))
                var published = 0
                for i in 0..<parsed.shards.count {
                    let shard = try await cluster.client.get(
                        ConfigMap.self, namespace: "k8slb-system", name: "assignments-\(i)")
                    published += shard.data!["vips"]!.components(separatedBy: "\"ip\":").count - 1
                }
                return published == 56
            })
    }
}

/// The index format, read without Core (what an actor sees on the wire).
struct AssignmentShardIndex: Decodable { let shards: [String] }
