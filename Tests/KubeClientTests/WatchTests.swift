import Foundation
import KubeClient
import TestAPIServer
import Testing

@Suite struct WatchTests {
    @Test func watchDeliversChangesFromAResourceVersion() async throws {
        try await withServer { _, client, _ in
            let list = try await client.list(Service.self, namespace: "default")
            // A generous server-side timeout: under a loaded CI machine the three writes can take a while.
            let stream = client.watch(
                Service.self, namespace: "default", resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 60)
            let collector = Task { () -> [String] in
                var seen: [String] = []
                for try await event in stream {
                    switch event {
                    case .added(let s): seen.append("ADDED \(s.metadata.name!)")
                    case .modified(let s): seen.append("MODIFIED \(s.metadata.name!)")
                    case .deleted(let s): seen.append("DELETED \(s.metadata.name!)")
                    default: break
                    }
                    if seen.count == 3 { break }
                }
                return seen
            }
            _ = try await client.create(lbService("a"))
            _ = try await client.patch(
                Service.self, namespace: "default", name: "a", .merge(Array(#"{"metadata":{"labels":{"x":"1"}}}"#.utf8))
            )
            try await client.delete(Service.self, namespace: "default", name: "a")
            #expect(try await collector.value == ["ADDED a", "MODIFIED a", "DELETED a"])
        }
    }

    @Test func tooOldResourceVersionGets410() async throws {
        try await withServer(windowSize: 5) { _, client, _ in
            let start = try await client.list(Service.self).metadata.resourceVersion
            for i in 0..<10 { _ = try await client.create(lbService("s\(i)")) }
            var got: KubeAPIError?
            for try await event in client.watch(Service.self, resourceVersion: start, timeoutSeconds: 5) {
                if case .error(let e) = event {
                    got = e
                    break
                }
            }
            #expect(got?.isGone == true && got?.reason == "Expired")
        }
    }

    @Test func bookmarksAdvanceTheResourceVersion() async throws {
        try await withServer(bookmarkInterval: .milliseconds(200)) { _, client, _ in
            let start = try await client.list(ConfigMap.self, namespace: "default").metadata.resourceVersion!
            // Activity elsewhere moves the global resourceVersion; the quiet watch learns of it by bookmark.
            for i in 0..<3 {
                _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "c\(i)", namespace: "k8slb-system")))
            }
            var bookmark: String?
            for try await event in client.watch(
                ConfigMap.self, namespace: "default", resourceVersion: start, timeoutSeconds: 5)
            {
                if case .bookmark(let rv) = event {
                    bookmark = rv
                    break
                }
            }
            #expect(Int(bookmark ?? "0")! >= Int(start)! + 3)
        }
    }

    @Test func informerResumesAcrossDroppedWatchesWithoutLossOrDuplicates() async throws {
        try await withServer { server, client, _ in
            let log = ChangeLog()
            let informer = Informer<Service>(
                client: client, namespace: "default", backoff: Backoff(base: .milliseconds(20), cap: .milliseconds(200))
            )
            let run = Task {
                await informer.run { change in
                    switch change {
                    case .added(let s): log.append("ADDED \(s.metadata.name!)")
                    case .updated(_, let s): log.append("UPDATED \(s.metadata.name!) \(s.metadata.labels?["n"] ?? "")")
                    case .deleted(let s): log.append("DELETED \(s.metadata.name!)")
                    case .synced: log.append("SYNCED")
                    }
                }
            }
            #expect(await eventually { await informer.hasSynced })
            var expected: [String] = []
            for i in 0..<40 {
                _ = try await client.create(lbService("s\(i)"))
                expected.append("ADDED s\(i)")
                if i % 5 == 0 { server.store.closeAllWatches() }
                if i % 3 == 0 {
                    _ = try await client.patch(
                        Service.self, namespace: "default", name: "s\(i)",
                        .merge(Array(#"{"metadata":{"labels":{"n":"\#(i)"}}}"#.utf8)))
                    expected.append("UPDATED s\(i) \(i)")
                }
                if i % 7 == 0 {
                    try await client.delete(Service.self, namespace: "default", name: "s\(i)")
                    expected.append("DELETED s\(i)")
                }
            }
            #expect(await eventually { log.all.count >= expected.count + 1 })
            try await Task.sleep(for: .milliseconds(200))  // nothing extra arrives
            run.cancel()
            #expect(log.all == ["SYNCED"] + expected)
            let serverState = try await client.list(Service.self, namespace: "default").items.map(\.key)
            #expect(await informer.list().map(\.key) == serverState)
            #expect(await informer.listCount == 1, "resumed from the last resourceVersion; never relisted")
            #expect(await informer.watchCount > 1)
        }
    }

    @Test func goneRelistsAndCacheConverges() async throws {
        try await withServer { server, client, _ in
            for i in 0..<5 { _ = try await client.create(lbService("s\(i)")) }
            let log = ChangeLog()
            let informer = Informer<Service>(
                client: client, backoff: Backoff(base: .milliseconds(20), cap: .milliseconds(200)))
            let handler: @Sendable (Informer<Service>.Change) async -> Void = { change in
                if case .deleted(let s) = change { log.append("DELETED \(s.metadata.name!)") }
            }
            let first = Task { await informer.run(handler) }
            #expect(await eventually { await informer.hasSynced })
            // The informer is away (stopped) while changes happen and the window is compacted.
            first.cancel()
            _ = await first.value
            try await client.delete(Service.self, namespace: "default", name: "s1")
            _ = try await client.create(lbService("late"))
            server.store.compact()
            let run = Task { await informer.run(handler) }
            #expect(
                await eventually {
                    await informer.list().map(\.key) == [
                        "default/late", "default/s0", "default/s2", "default/s3", "default/s4",
                    ]
                })
            #expect(await informer.listCount == 2, "relisted after 410")
            #expect(log.all == ["DELETED s1"], "a delete missed during the gap is still reported")
            run.cancel()
        }
    }

    @Test func informerBacksOffThroughServerErrors() async throws {
        try await withServer { server, client, _ in
            _ = try await client.create(lbService("web"))
            server.failNext(3, status: 500)
            let informer = Informer<Service>(
                client: client, backoff: Backoff(base: .milliseconds(20), cap: .milliseconds(100)))
            let run = Task { await informer.run { _ in } }
            #expect(await eventually { await informer.hasSynced })
            #expect(await informer.listCount == 4, "three failed lists, then success")
            #expect(await informer.list().map(\.key) == ["default/web"])
            run.cancel()
        }
    }
}

@Suite struct WorkQueueTests {
    @Test func deduplicatesAndRequeuesDirtyKeys() async {
        let q = WorkQueue<String, ContinuousClock>()
        await q.add("a")
        await q.add("b")
        await q.add("a")
        #expect(await q.count == 2)
        let first = await q.next()
        #expect(first == "a")
        await q.add("a")  // while processing: marked dirty, not queued twice
        #expect(await q.count == 1)
        await q.done("a")
        #expect(await q.count == 2)
        #expect(await q.next() == "b")
        #expect(await q.next() == "a")
    }

    @Test func rateLimitedRequeueGrowsAndForgetResets() async {
        let q = WorkQueue<String, ContinuousClock>(baseDelay: .milliseconds(10))
        await q.addRateLimited("k")  // after 10 ms
        #expect(await q.failureCount("k") == 1)
        #expect(await q.next() == "k")
        await q.done("k")
        await q.addRateLimited("k")  // after 20 ms
        #expect(await q.failureCount("k") == 2)
        #expect(await q.next() == "k")
        await q.done("k")
        await q.forget("k")
        #expect(await q.failureCount("k") == 0)
        await q.shutDown()
        #expect(await q.next() == nil)
    }

    /// Delayed adds wait in one heap on the queue's clock: nothing is due until the clock passes
    /// it, keys come out in due order, and one timer serves them all.
    @Test func delayedAddsFollowTheClockInDueOrder() async {
        let clock = ManualClock()
        let q = WorkQueue<String, ManualClock>(clock: clock)
        await q.add("late", after: .seconds(5))
        await q.add("soon", after: .seconds(1))
        await q.add("middle", after: .seconds(3))
        let waiting = await q.delayedCount
        #expect(await q.count == 0 && waiting == 3)
        #expect(await eventually { clock.sleeping == 1 }, "one timer for all delayed keys")
        clock.advance(by: .seconds(1))
        #expect(await eventually { await q.count == 1 })
        #expect(await q.next() == "soon")
        clock.advance(by: .seconds(4))
        #expect(await eventually { await q.count == 2 })
        #expect(await q.next() == "middle")
        #expect(await q.next() == "late")
        #expect(await q.delayedCount == 0)
        await q.shutDown()
    }
}
