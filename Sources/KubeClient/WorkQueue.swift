/// A deduplicating work queue (client-go's workqueue): a key queued twice is processed once; a
/// key re-added while being processed is processed again after `done`; failures requeue with
/// per-key exponential delay.
package actor WorkQueue<Key: Hashable & Sendable> {
    private var queue: [Key] = []
    private var queued = Set<Key>()
    private var processing = Set<Key>()
    private var dirty = Set<Key>()
    private var failures: [Key: Int] = [:]
    private var waiters: [CheckedContinuation<Key?, Never>] = []
    private var isShutDown = false
    private let baseDelay: Duration
    private let maxDelay: Duration

    package init(baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(300)) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Queues `key` unless it is already waiting.
    package func add(_ key: Key) {
        guard !isShutDown else { return }
        if processing.contains(key) { dirty.insert(key); return }
        guard queued.insert(key).inserted else { return }
        if !waiters.isEmpty { queued.remove(key); processing.insert(key); waiters.removeFirst().resume(returning: key); return }
        queue.append(key)
    }

    /// Queues `key` after `delay`.
    package nonisolated func add(_ key: Key, after delay: Duration) {
        Task {
            try? await Task.sleep(for: delay)
            await self.add(key)
        }
    }

    /// Requeues after a failure: 50 ms, 100 ms, 200 ms, … up to the cap.
    package func addRateLimited(_ key: Key) {
        let n = failures[key, default: 0]
        failures[key] = n + 1
        let delay = min(maxDelay, baseDelay * (1 << min(n, 20)))
        add(key, after: delay)
    }

    /// How many times `key` failed since it last succeeded.
    package func failureCount(_ key: Key) -> Int { failures[key, default: 0] }

    /// Clears the failure history of `key` (after a success).
    package func forget(_ key: Key) { failures[key] = nil }

    /// The next key to process; waits for one; nil after `shutDown`.
    package func next() async -> Key? {
        if let key = popFirst() { return key }
        if isShutDown { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    private func popFirst() -> Key? {
        guard !queue.isEmpty else { return nil }
        let key = queue.removeFirst()
        queued.remove(key)
        processing.insert(key)
        return key
    }

    /// Marks `key` processed; if it was re-added meanwhile, it is queued again.
    package func done(_ key: Key) {
        processing.remove(key)
        if dirty.remove(key) != nil { add(key) }
    }

    /// Wakes every waiter with nil and refuses new keys.
    package func shutDown() {
        isShutDown = true
        for w in waiters { w.resume(returning: nil) }
        waiters = []
    }

    /// Keys waiting (not being processed).
    package var count: Int { queue.count }
}
