import Foundation
import KubeClient
import Synchronization
import Testing

@Suite struct LeaderElectionTests {
    static func settings(_ id: String, release: Bool) -> LeaderElection.Settings {
        var s = LeaderElection.Settings(namespace: "k8slb-system", name: "k8slb-watcher", identity: id)
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

    /// The old leader's writes all come before the new leader's first write: on shutdown the
    /// elector cancels the leading work, waits for it to finish its last writes, and only then
    /// releases the lease.
    @Test func noWriteByTheOldLeaderAfterTheNewLeadersFirstWrite() async throws {
        try await withServer { _, client, _ in
            let writes = WriteLog()
            let a = LeaderElector(client: client, settings: Self.settings("a", release: true))
            let b = LeaderElector(client: client, settings: Self.settings("b", release: true))
            let runA = Task { await a.run { await Self.lead("a", client, writes) } }
            #expect(await eventually(.seconds(30)) { await a.isLeader })
            let runB = Task { await b.run { await Self.lead("b", client, writes) } }
            try await Task.sleep(for: .milliseconds(400))
            runA.cancel()  // graceful shutdown of a
            _ = await runA.value
            #expect(await eventually(.seconds(5)) { writes.all.contains { $0.who == "b" } })
            let log = writes.all
            let lastA = log.filter { $0.who == "a" }.map(\.at).max()
            let firstB = log.filter { $0.who == "b" }.map(\.at).min()
            let aWrites = log.filter { $0.who == "a" }.count
            print(
                "leader handover: a wrote \(aWrites) times, its last write \(lastA.flatMap { l in firstB.map { l < $0 ? "before" : "AFTER" } } ?? "?") b's first"
            )
            #expect(
                lastA != nil && firstB != nil && lastA! < firstB!,
                "no write by the old leader after the new leader's first write")
            runB.cancel()
            _ = await runB.value
        }
    }

    final class WriteLog: Sendable {
        private let entries = Mutex<[(who: String, at: ContinuousClock.Instant)]>([])
        func append(_ who: String) { entries.withLock { $0.append((who, .now)) } }
        var all: [(who: String, at: ContinuousClock.Instant)] { entries.withLock { $0 } }
    }

    static func write(_ who: String, _ n: Int, _ client: KubeClient, _ log: WriteLog) async {
        let cm = ConfigMap(metadata: ObjectMeta(name: "\(who)-\(n)", namespace: "k8slb-system"), data: ["by": who])
        if (try? await client.create(cm)) != nil { log.append(who) }
    }

    /// Writes every 20 ms; once cancelled, goes on for 300 ms (finishing in-flight work, as the
    /// watcher's controller finishes a publish) and then returns.
    static func lead(_ who: String, _ client: KubeClient, _ log: WriteLog) async {
        var n = 0
        while !Task.isCancelled {
            n += 1
            await write(who, n, client, log)
            try? await Task.sleep(for: .milliseconds(20))
        }
        let end = ContinuousClock.now + .milliseconds(300)
        while ContinuousClock.now < end {
            n += 1
            await write(who, n, client, log)
            await Task.detached { try? await Task.sleep(for: .milliseconds(20)) }.value
        }
    }

    /// Expiry is judged by the elector's own clock since it last saw the lease change (never by
    /// comparing clocks): with a manual clock, b cannot take a held lease until 15 s have passed
    /// on its clock.
    @Test func expiryFollowsTheInjectedClock() async throws {
        try await withServer { _, client, _ in
            let clock = ManualClock()
            var settings = LeaderElection.Settings(namespace: "k8slb-system", name: "k8slb-watcher", identity: "a")
            let a = LeaderElector(client: client, settings: settings, clock: clock)
            settings.identity = "b"
            let b = LeaderElector(client: client, settings: settings, clock: clock)
            #expect(await a.tryAcquireOrRenew())
            #expect(await !b.tryAcquireOrRenew(), "held by a")
            clock.advance(by: .seconds(10))
            #expect(await !b.tryAcquireOrRenew(), "10 s < the 15 s lease")
            clock.advance(by: .seconds(6))
            #expect(await b.tryAcquireOrRenew(), "16 s without a renewal: expired, b takes it")
            let lease = try await client.get(Lease.self, namespace: "k8slb-system", name: "k8slb-watcher")
            #expect(lease.spec?.holderIdentity == "b" && lease.spec?.leaseTransitions == 1)
        }
    }
}
