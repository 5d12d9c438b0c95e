import Core
import CLibc
import Foundation
import KubeClient
import Logging

/// The watcher's control loop, run while this replica leads: keeps every LoadBalancer Service's
/// IP, status, Events and the published assignments in line with the config and the cluster.
///
/// Level-triggered and idempotent: informer changes only enqueue keys; `reconcile` reads the
/// cached object and converges. On start it waits for the full lists, restores every existing
/// assignment (Service status, then the published document) before allocating anything new, and
/// reconciles already-assigned Services first, so a restart never changes an IP.
actor WatcherController {
    nonisolated let client: KubeClient
    nonisolated let settings: WatcherSettings
    nonisolated let logger: Logger
    nonisolated let metrics: WatcherMetrics

    private let queue = WorkQueue<String>()
    private let services: Informer<ServiceSummary>
    private let configMaps: Informer<ConfigMap>
    private let nodeInformer: Informer<Node>

    private var config: UserConfig?
    private var allocator = IPAllocator(pools: [])
    /// What each served Service publishes (ports, proxy settings).
    private var entries: [ServiceKey: AssignmentDocument.ServiceEntry] = [:]
    /// Services waiting for space (pool exhausted, IP taken): retried when addresses are freed.
    private var pending = Set<ServiceKey>()
    /// Last problem reported per object, so an unchanged problem is not reported again.
    private var reported: [String: String] = [:]
    private var nodes: [String] = []
    /// The VRRP groups last published: their VRIDs are kept (DESIGN §4).
    private var groups: [VRRPPlan.Group] = []
    /// Digest of each shard as last written (from the index): what changed is a digest compare.
    private var lastShards: [Int: String] = [:]
    private var lastIndex: [UInt8]?
    private var publishScheduled = false
    /// How long the last publish took: the next one waits at least 4x that (publishing costs
    /// O(document) however small the change, so this keeps it under ~20% of the time).
    private var lastPublishCost: Duration = .zero
    private var lastConfigText: String?
    /// True once the start-up restore is done and the first publish succeeded or was attempted.
    private(set) var isReady = false

    init(client: KubeClient, settings: WatcherSettings, logger: Logger, metrics: WatcherMetrics) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        services = Informer(client: client)
        configMaps = Informer(client: client, namespace: settings.namespace, fieldSelector: "metadata.name=\(settings.configMapName)")
        nodeInformer = Informer(client: client, labelSelector: settings.nodeSelector)
    }

    // MARK: running

    /// Runs until cancelled.
    func run() async {
        let queue = self.queue
        await withDiscardingTaskGroup { group in
            group.addTask { await self.services.run { change in
                switch change {
                case .added(let s), .updated(_, let s), .deleted(let s): await queue.add("service/" + s.key)
                case .synced: break
                }
            } }
            group.addTask { await self.configMaps.run { change in if case .synced = change {} else { await queue.add("config") } } }
            group.addTask { await self.nodeInformer.run { change in if case .synced = change {} else { await queue.add("nodes") } } }
            group.addTask {
                await withTaskCancellationHandler {
                    await self.work()
                } onCancel: {
                    Task { await queue.shutDown() }
                }
            }
        }
    }

    private func work() async {
        while !Task.isCancelled {
            if await services.hasSynced, await configMaps.hasSynced, await nodeInformer.hasSynced { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if Task.isCancelled { return }
        await startUp()
        while let key = await queue.next() {
            let started = ContinuousClock.now
            do {
                try await process(key)
                await queue.forget(key)
            } catch {
                logger.warning("reconcile failed, will retry", metadata: ["key": "\(key)", "error": "\(error)"])
                await queue.addRateLimited(key)
            }
            await queue.done(key)
            metrics.reconciled(ContinuousClock.now - started)
        }
    }

    private func process(_ key: String) async throws {
        if key == "config" { await reloadConfig(); return }
        if key == "nodes" { await refreshNodes(); return }
        if key.hasPrefix("service/") {
            let rest = key.dropFirst("service/".count)
            guard let slash = rest.firstIndex(of: "/") else { return }
            try await reconcile(ServiceKey(namespace: String(rest[..<slash]), name: String(rest[rest.index(after: slash)...])))
        }
    }

    // MARK: start-up

    private func startUp() async {
        await reloadConfig()
        nodes = await nodeInformer.list().compactMap(\.metadata.name).sorted()
        let published = await readPublished()
        let all = await services.list().sorted {
            ($0.metadata.creationTimestamp ?? "", $0.key) < ($1.metadata.creationTimestamp ?? "", $1.key)
        }
        var assigned: [ServiceKey] = []
        var unassigned: [ServiceKey] = []
        for svc in all {
            let input = ServiceInput(svc)
            let fromStatus = settings.statusMode.addresses(fromIngress: svc.ingressPairs)
            let fromDocument = published[input.key]?.addresses ?? []
            let addresses = fromStatus.isEmpty ? fromDocument : fromStatus
            switch ServicePlan.make(input, servedClass: settings.loadBalancerClass) {
            case .notOurs:
                if !addresses.isEmpty { unassigned.append(input.key) }  // reconcile clears its stale status
                continue
            case .serve(let request, let entry, _):
                guard !addresses.isEmpty else { unassigned.append(input.key); continue }
                do {
                    try allocator.restore(request, addresses: addresses)
                    entries[input.key] = entry
                    assigned.append(input.key)
                } catch {
                    logger.warning("cannot restore assignment", metadata: ["service": "\(input.key)", "error": "\(error)"])
                    unassigned.append(input.key)
                }
            case .invalid:
                // Keep serving what it had: hold its addresses with what was last published.
                guard !addresses.isEmpty else { unassigned.append(input.key); continue }
                let old = published[input.key]?.entry
                let ports = Set((old?.ports ?? []).map { PortKey($0.proto, $0.port) })
                let request = AllocationRequest(service: input.key, staticAddresses: addresses, ports: ports)
                if (try? allocator.restore(request, addresses: addresses)) != nil, let old { entries[input.key] = old }
                assigned.append(input.key)
            }
        }
        logger.info("restored assignments", metadata: ["services": "\(assigned.count)", "addresses": "\(allocator.assignedAddressCount)"])
        for key in assigned { await queue.add("service/\(key)") }
        for key in unassigned { await queue.add("service/\(key)") }
        await publish()
        isReady = true
    }

    // MARK: services

    private func reconcile(_ key: ServiceKey) async throws {
        guard let svc = await services.get(key.description) else {
            release(key)
            return
        }
        switch ServicePlan.make(ServiceInput(svc), servedClass: settings.loadBalancerClass) {
        case .notOurs:
            let held = allocator.addresses(of: key)
            release(key)
            if !held.isEmpty {
                await event(svc, "Normal", "IPReleased",
                            "Released IP \(held.map(\.address.description).joined(separator: ", ")): no longer a LoadBalancer Service handled by k8slb")
            }
            if !svc.ingressPairs.isEmpty && (!held.isEmpty || hasOurIngress(svc)) { try await writeStatus(svc, []) }
        case .invalid(let problems):
            metrics.failed(reason: "InvalidService")
            await report(svc, "InvalidService", problems.joined(separator: "; "))
        case .serve(let request, let entry, let warnings):
            if !warnings.isEmpty { await report(svc, "UnknownAnnotation", warnings.joined(separator: "; "), key: "warn/\(key)") }
            guard config != nil else {
                await report(svc, "AllocationFailed", "no k8slb config loaded yet (ConfigMap \(settings.namespace)/\(settings.configMapName))")
                pending.insert(key)
                return
            }
            let before = allocator.addresses(of: key)
            let assigned: [AddressAssignment]
            do {
                assigned = try allocator.assign(request)
            } catch {
                pending.insert(key)
                metrics.failed(reason: error.reason)
                await report(svc, "AllocationFailed", error.description)
                return
            }
            pending.remove(key)
            reported[key.description] = nil
            if entries[key] != entry {
                entries[key] = entry
                schedulePublish()
            }
            if before != assigned {
                metrics.allocated()
                schedulePublish()
                if !Set(before.map(\.address)).subtracting(assigned.map(\.address)).isEmpty { requeuePending() }
                await event(svc, "Normal", "IPAllocated",
                            "Assigned IP " + assigned.map { "\($0.address) from pool \($0.pool)" }.joined(separator: ", "))
            }
            metrics.poolUsage(allocator.usage)
            let addresses = assigned.map(\.address)
            if settings.statusMode.addresses(fromIngress: svc.ingressPairs).sorted() != addresses.sorted()
                || !ingressMatches(svc, addresses) {
                try await writeStatus(svc, addresses)
            }
        }
    }

    private func release(_ key: ServiceKey) {
        let held = allocator.addresses(of: key)
        let freed = allocator.release(key)
        pending.remove(key)
        reported[key.description] = nil
        if entries.removeValue(forKey: key) != nil || !held.isEmpty { schedulePublish() }
        if !freed.isEmpty { metrics.poolUsage(allocator.usage) }
        // A whole address, or ports on a shared one, may now be free for a waiting Service.
        if !held.isEmpty { requeuePending() }
    }

    /// Something was freed: every waiting Service gets another try.
    private func requeuePending() {
        let keys = pending
        let queue = self.queue
        Task { for key in keys.sorted() { await queue.add("service/\(key)") } }
    }

    private func ingressMatches(_ svc: ServiceSummary, _ addresses: [IPAddress]) -> Bool {
        let want = settings.statusMode.ingress(for: addresses)
        let have = svc.status?.loadBalancer?.ingress ?? []
        return want.count == have.count && zip(want, have).allSatisfy { $0.ip == $1.ip && $0.hostname == $1.hostname && $0.ipMode == $1.ipMode }
    }

    private func hasOurIngress(_ svc: ServiceSummary) -> Bool {
        guard let config else { return false }
        return settings.statusMode.addresses(fromIngress: svc.ingressPairs).contains { a in config.pools.contains { $0.network.contains(a) } }
    }

    private func writeStatus(_ svc: ServiceSummary, _ addresses: [IPAddress]) async throws {
        let ingress = settings.statusMode.ingress(for: addresses).map { Service.Ingress(ip: $0.ip, hostname: $0.hostname, ipMode: $0.ipMode) }
        struct Body: Encodable { let status: Service.Status }
        let body = try KubeClient.PatchBody(Body(status: Service.Status(loadBalancer: .init(ingress: ingress))))
        do {
            _ = try await client.patch(Service.self, namespace: svc.metadata.namespace, name: svc.metadata.name ?? "", body, subresource: "status")
        } catch let e as KubeAPIError where e.isNotFound {
            // Deleted meanwhile: the delete event releases it.
        }
    }

    // MARK: config and nodes

    private func reloadConfig() async {
        let name = "\(settings.namespace)/\(settings.configMapName)"
        guard let cm = await configMaps.get(name), let text = cm.data?[settings.configKey] else {
            if config == nil {
                logger.warning("no config yet", metadata: ["configmap": "\(name)", "key": "\(settings.configKey)"])
            }
            return
        }
        guard text != lastConfigText else { return }
        do {
            let validated = try UserConfig.parse(text)
            lastConfigText = text
            apply(validated.config)
            metrics.configStale(false)
            reported[name] = nil
            if !validated.warnings.isEmpty {
                await eventOn(configMap: cm, "Warning", "ConfigWarning", validated.warnings.map(\.description).joined(separator: "; "))
            }
            logger.info("config loaded", metadata: ["pools": "\(validated.config.pools.map(\.name.rawValue))"])
        } catch {
            metrics.configStale(true)
            let message = "invalid config, keeping the last good one: " + error.errors.prefix(20).map(\.description).joined(separator: "; ")
            logger.error("invalid config", metadata: ["configmap": "\(name)", "errors": "\(error.errors.map(\.description))"])
            if reported[name] != message {
                reported[name] = message
                await eventOn(configMap: cm, "Warning", "InvalidConfig", message)
            }
        }
    }

    private func apply(_ new: UserConfig) {
        let poolsChanged = config?.pools != new.pools
        config = new
        guard poolsChanged else { return }
        let orphans = allocator.reconfigure(pools: new.pools)
        for orphan in orphans { logger.warning("assignment outside its pool", metadata: ["detail": "\(orphan)"]) }
        metrics.poolUsage(allocator.usage)
        schedulePublish()
        let queue = self.queue
        let services = self.services
        Task {
            for svc in await services.list() { await queue.add("service/" + svc.key) }
        }
        Task { for orphan in orphans { await self.reportOrphan(orphan) } }
    }

    private func reportOrphan(_ orphan: IPAllocator.Orphan) async {
        for key in orphan.services {
            if let svc = await services.get(key.description) { await report(svc, "IPOutsidePool", orphan.description, key: "orphan/\(key)") }
        }
    }

    private func refreshNodes() async {
        let now = await nodeInformer.list().compactMap(\.metadata.name).sorted()
        if now != nodes {
            nodes = now
            schedulePublish()
        }
    }

    // MARK: publishing

    /// The document as it stands (plans VRRP groups, keeping their VRIDs).
    func document() -> AssignmentDocument {
        var vips: [IPAddress: AssignmentDocument.VIP] = [:]
        for service in allocator.assignedServices {
            guard let entry = entries[service] else { continue }
            for a in allocator.addresses(of: service) {
                vips[a.address, default: .init(address: a.address, pool: a.pool, services: [])].services.append(entry)
            }
        }
        let plan = VRRPPlan.make(vips: vips.values.map { ($0.address, $0.pool) }, nodes: nodes, previous: groups,
                                 vridOffset: config?.vrrp.vridOffset ?? 0)
        if !plan.unplaced.isEmpty {
            logger.error("VRRP id space full: VIPs without a group", metadata: ["vips": "\(plan.unplaced.map(\.description))"])
        }
        groups = plan.groups
        for address in vips.keys { vips[address]!.vrid = plan.vridOf[address] }
        return AssignmentDocument(vips: Array(vips.values), nodes: nodes, groups: plan.groups)
    }

    private func schedulePublish() {
        guard !publishScheduled else { return }
        publishScheduled = true
        let delay = max(settings.publishDelay, lastPublishCost * 4)
        Task {
            try? await Task.sleep(for: delay)
            await self.publish()
        }
    }

    /// Writes changed shards first, then the index, then removes shards no longer listed.
    private func publish() async {
        publishScheduled = false
        let started = ContinuousClock.now
        defer { lastPublishCost = ContinuousClock.now - started }
        let doc = document()
        do {
            // Encode off the actor: reconciles go on meanwhile.
            let shards = try await Task.detached { try AssignmentShards.encode(doc) }.value
            for (i, bytes) in shards.shards.enumerated() where lastShards[i] != shards.index.shards[i] {
                try await writeConfigMap("\(settings.assignmentsName)-\(i)", key: "vips", bytes)
                lastShards[i] = shards.index.shards[i]
            }
            let index = shards.indexBytes
            if index != lastIndex {
                try await writeConfigMap(settings.assignmentsName, key: "index", index)
                lastIndex = index
            }
            for i in lastShards.keys.sorted() where i >= shards.shards.count {
                try? await client.delete(ConfigMap.self, namespace: settings.namespace, name: "\(settings.assignmentsName)-\(i)")
                lastShards[i] = nil
            }
            metrics.published(shards: shards.shards.count, bytes: shards.shards.reduce(0) { $0 + $1.count })
            // Encoding a large document leaves a large freed heap behind; hand it back.
            _ = clibc_malloc_trim()
        } catch {
            logger.error("publishing assignments failed, will retry", metadata: ["error": "\(error)"])
            lastIndex = nil
            try? await Task.sleep(for: .milliseconds(500))
            schedulePublish()
        }
    }

    private func writeConfigMap(_ name: String, key: String, _ bytes: [UInt8]) async throws {
        let text = String(decoding: bytes, as: UTF8.self)
        for _ in 0..<5 {
            do {
                var cm = try await client.get(ConfigMap.self, namespace: settings.namespace, name: name)
                if cm.data?[key] == text { return }
                cm.data = [key: text]
                _ = try await client.update(cm)  // resourceVersion precondition
                return
            } catch let e as KubeAPIError where e.isNotFound {
                do {
                    _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: name, namespace: settings.namespace,
                                                                               labels: ["app.kubernetes.io/managed-by": "k8slb-watcher"]),
                                                          data: [key: text]))
                    return
                } catch let e as KubeAPIError where e.isAlreadyExists { continue }
            } catch let e as KubeAPIError where e.isConflict {
                continue
            }
        }
        throw KubeAPIError(code: 409, reason: "Conflict", message: "ConfigMap \(name) kept changing under us")
    }

    /// The published document, by Service: what to restore when a status is missing.
    private func readPublished() async -> [ServiceKey: (addresses: [IPAddress], entry: AssignmentDocument.ServiceEntry)] {
        do {
            let index = try await client.get(ConfigMap.self, namespace: settings.namespace, name: settings.assignmentsName)
            guard let indexText = index.data?["index"] else { return [:] }
            let parsed = try JSONDecoder().decode(AssignmentShards.Index.self, from: Data(indexText.utf8))
            var shards: [[UInt8]] = []
            for i in parsed.shards.indices {
                let cm = try await client.get(ConfigMap.self, namespace: settings.namespace, name: "\(settings.assignmentsName)-\(i)")
                shards.append(Array((cm.data?["vips"] ?? "").utf8))
            }
            let doc = try AssignmentShards.decode(index: Array(indexText.utf8), shards: shards)
            var out: [ServiceKey: (addresses: [IPAddress], entry: AssignmentDocument.ServiceEntry)] = [:]
            groups = doc.groups
            for vip in doc.vips {
                for entry in vip.services { out[entry.key, default: ([], entry)].addresses.append(vip.address) }
            }
            for i in parsed.shards.indices { lastShards[i] = parsed.shards[i] }
            lastIndex = Array(indexText.utf8)
            return out
        } catch {
            if (error as? KubeAPIError)?.isNotFound != true {
                logger.warning("published assignments unreadable; restoring from Service status only", metadata: ["error": "\(error)"])
            }
            return [:]
        }
    }

    // MARK: events

    /// A Warning Event, unless the same problem was already reported for this object.
    private func report(_ svc: ServiceSummary, _ reason: String, _ message: String, key: String? = nil) async {
        let k = key ?? svc.key
        guard reported[k] != message else { return }
        reported[k] = message
        logger.warning("\(reason)", metadata: ["service": "\(svc.key)", "message": "\(message)"])
        await event(svc, "Warning", reason, message)
    }

    private func event(_ svc: ServiceSummary, _ type: String, _ reason: String, _ message: String) async {
        let ref = ObjectReference(apiVersion: "v1", kind: "Service", namespace: svc.metadata.namespace, name: svc.metadata.name, uid: svc.metadata.uid)
        await record(ref, namespace: svc.metadata.namespace ?? "default", name: svc.metadata.name ?? "service", type, reason, message)
    }

    private func eventOn(configMap cm: ConfigMap, _ type: String, _ reason: String, _ message: String) async {
        let ref = ObjectReference(apiVersion: "v1", kind: "ConfigMap", namespace: cm.metadata.namespace, name: cm.metadata.name, uid: cm.metadata.uid)
        await record(ref, namespace: cm.metadata.namespace ?? settings.namespace, name: cm.metadata.name ?? "config", type, reason, message)
    }

    private func record(_ ref: ObjectReference, namespace: String, name: String, _ type: String, _ reason: String, _ message: String) async {
        var object = ref
        object.namespace = namespace
        object.name = name
        do { _ = try await client.create(Event.about(object, type: type, reason: reason, message: message, component: settings.component)) } catch {
            logger.warning("cannot record event", metadata: ["reason": "\(reason)", "error": "\(error)"])
        }
    }
}

extension KubeClient.PatchBody {
    init(_ value: some Encodable) throws { self = try .mergeEncoding(value) }
}
