/// List, then watch from the list's resourceVersion, keeping an in-memory copy of every object:
/// resumes from the last seen resourceVersion when a stream drops, relists on 410 Gone, follows
/// bookmarks, and backs off with jitter on errors. Handlers get every change exactly once.
package actor Informer<T: KubeResource> {
    /// A change delivered to the handler.
    package enum Change: Sendable {
        case added(T)
        case updated(old: T, new: T)
        case deleted(T)
        /// The first full list has been delivered.
        case synced
    }

    private let client: KubeClient
    private let namespace: String?
    private let labelSelector: String?
    private let fieldSelector: String?
    private let watchTimeout: ClosedRange<Int>
    private var backoff: Backoff
    /// Boxed so the dictionary holds one reference per object instead of a large inline value
    /// (plus the table's slack) per object.
    private final class Box: Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }
    private var objects: [String: Box] = [:]
    private var resourceVersion: String?
    package private(set) var hasSynced = false
    /// Since when listing or watching has failed without a success in between (the API server
    /// unreachable or refusing); nil while it works. The cache keeps the last objects meanwhile.
    package private(set) var failingSince: ContinuousClock.Instant?
    /// Counters for tests and metrics.
    package private(set) var listCount = 0
    package private(set) var watchCount = 0

    package init(
        client: KubeClient, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        backoff: Backoff = Backoff(), watchTimeoutSeconds: ClosedRange<Int> = 300...600
    ) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.backoff = backoff
        self.watchTimeout = watchTimeoutSeconds
    }

    /// The cached object with key `namespace/name` (or `name`).
    package func get(_ key: String) -> T? { objects[key]?.value }

    /// Every cached object, sorted by key.
    package func list() -> [T] { objects.keys.sorted().map { objects[$0]!.value } }

    /// The last resourceVersion seen (list, event or bookmark).
    package var lastResourceVersion: String? { resourceVersion }

    /// Runs until the task is cancelled.
    package func run(_ handler: @escaping @Sendable (Change) async -> Void) async {
        var needList = true
        while !Task.isCancelled {
            if needList {
                do {
                    try await relist(handler)
                    needList = false
                    failingSince = nil
                    backoff.reset()
                } catch {
                    if failingSince == nil { failingSince = .now }
                    await pause()
                    continue
                }
            }
            do {
                watchCount += 1
                let stream = client.watch(
                    T.self, namespace: namespace, resourceVersion: resourceVersion, labelSelector: labelSelector,
                    fieldSelector: fieldSelector, allowBookmarks: true,
                    timeoutSeconds: Int.random(in: watchTimeout))
                for try await event in stream {
                    failingSince = nil
                    switch event {
                    case .added(let o), .modified(let o):
                        let old = objects[o.key]?.value
                        objects[o.key] = Box(o)
                        resourceVersion = o.metadata.resourceVersion ?? resourceVersion
                        if let old { await handler(.updated(old: old, new: o)) } else { await handler(.added(o)) }
                    case .deleted(let o):
                        let old = objects.removeValue(forKey: o.key)?.value
                        resourceVersion = o.metadata.resourceVersion ?? resourceVersion
                        await handler(.deleted(old ?? o))
                    case .bookmark(let rv):
                        if !rv.isEmpty { resourceVersion = rv }
                    case .error(let e):
                        throw e
                    }
                }
                backoff.reset()
                failingSince = nil
                // The server ended the stream (timeout, restart): resume from resourceVersion.
            } catch {
                switch FailureClass(error) {
                case .gone: needList = true
                default:
                    if failingSince == nil { failingSince = .now }
                    await pause()
                }
            }
        }
    }

    /// Lists everything and turns the difference to the cache into changes.
    private func relist(_ handler: @Sendable (Change) async -> Void) async throws {
        listCount += 1
        let list = try await client.listAll(
            T.self, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector)
        var fresh: [String: Box] = [:]
        for item in list.items { fresh[item.key] = Box(item) }
        let previous = objects
        objects = fresh
        resourceVersion = list.metadata.resourceVersion
        for key in fresh.keys.sorted() {
            let new = fresh[key]!.value
            if let old = previous[key]?.value {
                if old.metadata.resourceVersion != new.metadata.resourceVersion {
                    await handler(.updated(old: old, new: new))
                }
            } else {
                await handler(.added(new))
            }
        }
        for key in previous.keys.sorted() where fresh[key] == nil { await handler(.deleted(previous[key]!.value)) }
        if !hasSynced {
            hasSynced = true
            await handler(.synced)
        }
    }

    private func pause() async {
        let delay = backoff.next()
        try? await Task.sleep(for: delay)
    }
}
