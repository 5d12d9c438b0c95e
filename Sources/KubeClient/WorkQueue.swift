import DequeModule
import HeapModule

/// A deduplicating work queue (client-go's workqueue): a key queued twice is processed once; a
/// key re-added while being processed is processed again after `done` (never by two workers at
/// once); failures requeue with per-key exponential delay. Delayed adds wait in one heap served by
/// one timer on the injected clock (not a task per add); the ready keys are a FIFO deque.
package actor WorkQueue<Key: Hashable & Sendable, C: Clock> where C.Duration == Duration {
    private struct Delayed: Comparable {
        let due: C.Instant
        let sequence: Int
        let key: Key
        static func < (a: Delayed, b: Delayed) -> Bool { a.due != b.due ? a.due < b.due : a.sequence < b.sequence }
        static func == (a: Delayed, b: Delayed) -> Bool { a.due == b.due && a.sequence == b.sequence }
    }

    private var queue = Deque<Key>()
    private var queued = Set<Key>()
    private var processing = Set<Key>()
    private var dirty = Set<Key>()
    private var failures: [Key: Int] = [:]
    private var delayed = Heap<Delayed>()
    private var sequence = 0
    private var timer: Task<Void, Never>?
    private var timerDue: C.Instant?
    private var waiters = Deque<CheckedContinuation<Key?, Never>>()
    private var isShutDown = false
    private let baseDelay: Duration
    private let maxDelay: Duration
    private let clock: C

    package init(baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(300), clock: C) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.clock = clock
    }

    /// Queues `key` unless it is already waiting.
    package func add(_ key: Key) {
        guard !isShutDown else { return }
        if processing.contains(key) {
            dirty.insert(key)
            return
        }
        guard queued.insert(key).inserted else { return }
        if let waiter = waiters.popFirst() {
            queued.remove(key)
            processing.insert(key)
            waiter.resume(returning: key)
            return
        }
        queue.append(key)
    }

    /// Queues `key` once `delay` has passed on the queue's clock.
    package func add(_ key: Key, after delay: Duration) {
        guard !isShutDown else { return }
        guard delay > .zero else {
            add(key)
            return
        }
        sequence += 1
        delayed.insert(Delayed(due: clock.now.advanced(by: delay), sequence: sequence, key: key))
        armTimer()
    }

    /// Requeues after a failure: 50 ms, 100 ms, 200 ms, … up to the cap.
    package func addRateLimited(_ key: Key) {
        let n = failures[key, default: 0]
        failures[key] = n + 1
        add(key, after: min(maxDelay, baseDelay * (1 << min(n, 20))))
    }

    /// How many times `key` failed since it last succeeded.
    package func failureCount(_ key: Key) -> Int { failures[key, default: 0] }

    /// Clears the failure history of `key` (after a success).
    package func forget(_ key: Key) { failures[key] = nil }

    /// The next key to process; waits for one; nil after `shutDown`.
    package func next() async -> Key? {
        if let key = queue.popFirst() {
            queued.remove(key)
            processing.insert(key)
            return key
        }
        if isShutDown { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// Marks `key` processed; if it was re-added meanwhile, it is queued again.
    package func done(_ key: Key) {
        processing.remove(key)
        if dirty.remove(key) != nil { add(key) }
    }

    /// Wakes every waiter with nil and refuses new keys.
    package func shutDown() {
        isShutDown = true
        timer?.cancel()
        timer = nil
        delayed = Heap()
        for w in waiters { w.resume(returning: nil) }
        waiters = []
    }

    /// Keys waiting (not being processed), and keys waiting for their delay.
    package var count: Int { queue.count }
    package var delayedCount: Int { delayed.count }

    /// One timer for the earliest delayed key; re-armed when an earlier one arrives.
    private func armTimer() {
        guard let first = delayed.min else { return }
        if let due = timerDue, due <= first.due, timer != nil { return }
        timer?.cancel()
        timerDue = first.due
        let clock = self.clock
        timer = Task { [weak self] in
            do { try await clock.sleep(until: first.due, tolerance: nil) } catch { return }
            await self?.fire()
        }
    }

    private func fire() {
        timer = nil
        timerDue = nil
        let now = clock.now
        while let first = delayed.min, first.due <= now {
            delayed.removeMin()
            add(first.key)
        }
        armTimer()
    }
}

extension WorkQueue where C == ContinuousClock {
    package init(baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(300)) {
        self.init(baseDelay: baseDelay, maxDelay: maxDelay, clock: ContinuousClock())
    }
}
