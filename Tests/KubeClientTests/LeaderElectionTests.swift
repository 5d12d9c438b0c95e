import Foundation
import KubeClient
import Synchronization
import Testing

@Suite struct LeaderElectionTests {
    static func settings(_ id: String, release: Bool) -> LeaderElector.Settings {
        var s = LeaderElector.Settings(namespace: "k8slb-system", name: "k8slb-watcher", identity: id)
        s.leaseDuration = .seconds(2)
        s.renewDeadline = .milliseconds(1500)
        s.retryPeriod = .milliseconds(200)
        s.releaseOnCancel = release
        return s
    }

    @Test func oneLeaderThenTakeoverWhenItStopsRenewing() async throws {
        try await withServer { _, client, _ in
            let leaders = ChangeLog()
            let a = LeaderElector(client: client, settings: Self.settings("a", release: false))
            let b = LeaderElector(client: client, settings: Self.settings("b", release: false))
            let runA = Task { await a.run { leaders.append("a") } }
            #expect(await eventually(.seconds(30)) { await a.isLeader })
            let runB = Task { await b.run { leaders.append("b") } }
            try await Task.sleep(for: .seconds(1))
            #expect(await !b.isLeader, "the lease is held and renewed: b waits")
            // a "crashes": stops renewing without releasing.
            let crashed = ContinuousClock.now
            runA.cancel()
            #expect(await eventually(.seconds(30)) { await b.isLeader })
            let takeover = ContinuousClock.now - crashed
            #expect(takeover >= .milliseconds(1500), "b waited for the lease to expire (\(takeover))")
            // `lead` runs in its own task once leadership is won.
            #expect(await eventually { leaders.all == ["a", "b"] })
            let lease = try await client.get(Lease.self, namespace: "k8slb-system", name: "k8slb-watcher")
            #expect(lease.spec?.holderIdentity == "b" && lease.spec?.leaseTransitions == 1)
            runB.cancel()
        }
    }

    @Test func releaseOnCancelHandsOverAtOnce() async throws {
        try await withServer { _, client, _ in
            let a = LeaderElector(client: client, settings: Self.settings("a", release: true))
            let b = LeaderElector(client: client, settings: Self.settings("b", release: true))
            let runA = Task { await a.run {} }
            #expect(await eventually(.seconds(30)) { await a.isLeader })
            let runB = Task { await b.run {} }
            try await Task.sleep(for: .milliseconds(500))
            runA.cancel()
            _ = await runA.value
            let released = ContinuousClock.now
            #expect(await eventually(.seconds(5)) { await b.isLeader })
            #expect(ContinuousClock.now - released < .milliseconds(1500), "no need to wait out the lease")
            runB.cancel()
        }
    }
}
