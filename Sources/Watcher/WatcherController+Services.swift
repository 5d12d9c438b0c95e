import Core
import Foundation
import KubeClient
import Logging

/// Reconciling one Service: allocate (or release), publish what changed, write the status.
extension WatcherController {
    /// The reasons a reconcile decides afresh each time: those it does not report again went away.
    static let reconcileProblems: Set<EventReason> = [
        .allocationFailed, .invalidService, .unknownAnnotation, .annotationIgnored,
    ]

    func reconcile(_ key: ServiceKey) async throws {
        guard let svc = await services.get(key.description) else {
            await release(key)
            return
        }
        reconcileReasons = []
        defer { reported.settle(.service(key), current: reconcileReasons, among: Self.reconcileProblems) }
        switch ServicePlan.make(ServiceInput(svc), servedClass: settings.loadBalancerClass) {
        case .notOurs:
            let held = allocator.addresses(of: key)
            await release(key)
            if !held.isEmpty {
                await event(
                    svc, .ipReleased,
                    "Released IP \(held.map(\.address.description).joined(separator: ", ")): no longer a LoadBalancer Service handled by k8slb"
                )
            }
            if !svc.ingressPairs.isEmpty && (!held.isEmpty || hasOurIngress(svc)) { try await writeStatus(svc, []) }
            for type in [ServiceConditions.ipAllocated, ServiceConditions.serving]
            where svc.status?.conditions?.contains(where: { $0.type == type }) == true {
                await removeCondition(svc, type)
            }
        case .invalid(let problems):
            metrics.failed(reason: EventReason.invalidService.rawValue)
            await report(svc, .invalidService, problems.joined(separator: "; "))
        case .serve(let request, let entry, let warnings):
            let unknown = warnings.filter(\.isUnknown)
            let ignored = warnings.filter { !$0.isUnknown }
            if !unknown.isEmpty {
                await report(svc, .unknownAnnotation, unknown.map(\.description).joined(separator: "; "))
            }
            if !ignored.isEmpty {
                await report(svc, .annotationIgnored, ignored.map(\.description).joined(separator: "; "))
            }
            guard config != nil else {
                let source = "ConfigMap \(settings.namespace)/\(settings.configMapName)"
                await report(svc, .allocationFailed, "no k8slb config loaded yet (\(source))")
                await writeCondition(svc, ServiceConditions.noConfig(source))
                pending.insert(key)
                return
            }
            let before = allocator.addresses(of: key)
            let assigned: [AddressAssignment]
            do {
                assigned = try allocator.assign(request)
            } catch {
                if case .nodeAddress(let address, _) = error, before.contains(where: { $0.address == address }) {
                    // A static IP that a Node has: the VIP must go (it would take the node's traffic).
                    await release(key)
                    if hasOurIngress(svc) { try await writeStatus(svc, []) }
                }
                pending.insert(key)
                metrics.failed(reason: error.reason)
                await report(svc, .allocationFailed, error.description)
                await writeCondition(svc, ServiceConditions.notAllocated(error))
                return
            }
            pending.remove(key)
            if entries[key] != entry {
                entries[key] = entry
                schedulePublish()
            }
            if before != assigned {
                metrics.allocated()
                schedulePublish()
                let dropped = before.filter { b in !assigned.contains { $0.address == b.address } }
                if !dropped.isEmpty {
                    await quarantine(dropped)
                    requeuePending()
                }
                await event(
                    svc, .ipAllocated,
                    "Assigned IP " + assigned.map { "\($0.address) from pool \($0.pool)" }.joined(separator: ", "))
            }
            metrics.poolUsage(allocator.usage)
            let addresses = assigned.map(\.address)
            // The ingress and the IPAllocated condition in one request when both change (a new
            // Service): one round trip to the API per Service instead of two.
            let allocatedCondition = condition(svc, ServiceConditions.allocated(assigned))
            if settings.statusMode.addresses(fromIngress: svc.ingressPairs).sorted() != addresses.sorted()
                || !ingressMatches(svc, addresses)
            {
                try await writeStatus(svc, addresses, condition: allocatedCondition)
                logger.debug(
                    "trace: status written",
                    metadata: ["k8s.service": "\(key)", "lb.vips": "\(addresses.map(\.description))"])
            } else if let allocatedCondition {
                await writeCondition(svc, allocatedCondition)
            }
            reported.clear(.service(key), .statusNotWritten)
            if before != assigned { await queue.add(.serving) }
        }
    }

    /// Removes k8slb's condition `type` (a Service k8slb no longer handles): a strategic merge
    /// `$patch: delete` of that element only.
    func removeCondition(_ svc: ServiceSummary, _ type: String) async {
        // `type` is one of ServiceConditions' constants, never user text.
        let body = #"{"status":{"conditions":[{"type":"\#(type)","$patch":"delete"}]}}"#
        do {
            _ = try await client.patch(
                Service.self, namespace: svc.metadata.namespace, name: svc.metadata.name ?? "",
                .strategicMerge(Array(body.utf8)), subresource: "status")
        } catch {
            logger.warning(
                "status condition not removed",
                metadata: ["k8s.service": "\(svc.serviceKey)", "condition": "\(type)", "error": "\(error)"])
        }
    }

    /// Writes `value` into the Service's `status.conditions` when the Service does not show it
    /// yet: a strategic merge patch by `type`, so other controllers' conditions stay; the
    /// transition time moves only when the status does. A failure is logged, not retried here
    /// (the next reconcile of the Service writes it).
    func writeCondition(_ svc: ServiceSummary, _ value: ServiceConditions.Value) async {
        guard let condition = condition(svc, value) else { return }
        await writeCondition(svc, condition)
    }

    /// The condition to write for `value`, nil when the Service already shows it; the
    /// transition time moves only when the status does.
    func condition(_ svc: ServiceSummary, _ value: ServiceConditions.Value) -> Condition? {
        let generation = svc.metadata.generation
        let status = value.status ? "True" : "False"
        let existing = svc.status?.conditions?.first { $0.type == value.type }
        if let e = existing, e.status == status, e.reason == value.reason, e.message == value.message,
            e.observedGeneration == generation
        {
            return nil
        }
        let since = existing?.status == status ? existing?.lastTransitionTime : nil
        return Condition(
            type: value.type, status: status, reason: value.reason, message: value.message,
            lastTransitionTime: since ?? Timestamp.rfc3339(Date()), observedGeneration: generation)
    }

    /// Writes conditions of many Services (thousands turn Serving at once while VIPs come up),
    /// `conditionWriters` requests at a time.
    func writeConditions(_ writes: [(ServiceSummary, Condition)]) async {
        guard writes.count > 1 else {
            for (svc, c) in writes { await writeCondition(svc, c) }
            return
        }
        await withTaskGroup(of: Void.self) { group in
            var next = writes.makeIterator()
            for _ in 0..<Self.conditionWriters {
                guard let (svc, c) = next.next() else { break }
                group.addTask { await self.writeCondition(svc, c) }
            }
            for await _ in group {
                guard let (svc, c) = next.next() else { continue }
                group.addTask { await self.writeCondition(svc, c) }
            }
        }
    }

    static let conditionWriters = 8

    private func writeCondition(_ svc: ServiceSummary, _ condition: Condition) async {
        struct Body: Encodable { let status: Service.Status }
        do {
            _ = try await client.patch(
                Service.self, namespace: svc.metadata.namespace, name: svc.metadata.name ?? "",
                try KubeClient.PatchBody.strategicMergeEncoding(Body(status: Service.Status(conditions: [condition]))),
                subresource: "status")
        } catch {
            logger.warning(
                "status condition not written",
                metadata: ["k8s.service": "\(svc.serviceKey)", "condition": "\(condition.type)", "error": "\(error)"])
        }
    }

    func release(_ key: ServiceKey) async {
        let held = allocator.addresses(of: key)
        let freed = allocator.release(key)
        await quarantine(held)
        pending.remove(key)
        reported.forget(.service(key))
        if entries.removeValue(forKey: key) != nil || !held.isEmpty { schedulePublish() }
        if !freed.isEmpty { metrics.poolUsage(allocator.usage) }
        // A whole address, or ports on a shared one, may now be free for a waiting Service.
        if !held.isEmpty { requeuePending() }
    }

    /// Something was freed: every waiting Service gets another try.
    func requeuePending() {
        let keys = pending
        let queue = self.queue
        Task {
            for key in keys.sorted() { await queue.add(key.gatewayNamespace == nil ? .service(key) : .gateways) }
        }
    }

    func ingressMatches(_ svc: ServiceSummary, _ addresses: [IPAddress]) -> Bool {
        let want = settings.statusMode.ingress(for: addresses)
        let have = svc.status?.loadBalancer?.ingress ?? []
        return want.count == have.count
            && zip(want, have).allSatisfy { $0.ip == $1.ip && $0.hostname == $1.hostname && $0.ipMode == $1.ipMode }
    }

    func hasOurIngress(_ svc: ServiceSummary) -> Bool {
        guard let config else { return false }
        return settings.statusMode.addresses(fromIngress: svc.ingressPairs).contains { a in
            config.pools.contains { $0.network.contains(a) }
        }
    }

    /// Writes `status.loadBalancer.ingress` for `addresses` and, when given, `condition` in the
    /// same request (a strategic merge: the ingress list is replaced, conditions merge by type).
    func writeStatus(_ svc: ServiceSummary, _ addresses: [IPAddress], condition: Condition? = nil) async throws {
        let ingress = settings.statusMode.ingress(for: addresses).map {
            Service.Ingress(ip: $0.ip, hostname: $0.hostname, ipMode: $0.ipMode)
        }
        struct Body: Encodable { let status: Service.Status }
        let status = Service.Status(loadBalancer: .init(ingress: ingress), conditions: condition.map { [$0] })
        let body = try KubeClient.PatchBody.strategicMergeEncoding(Body(status: status))
        do {
            _ = try await client.patch(
                Service.self, namespace: svc.metadata.namespace, name: svc.metadata.name ?? "", body,
                subresource: "status")
        } catch let e as KubeAPIError where e.isNotFound {
            // Deleted meanwhile: the delete event releases it.
        }
    }

    // MARK: config and nodes
}
