import Core
import Foundation
import KubeClient
import Logging

extension WatcherController {
    /// Restore before allocating: every Service keeps the addresses its status (or else the
    /// published document) gives it; already-assigned Services are reconciled first.
    func startUp() async {
        await reloadConfig()
        await refreshNodes(publish: false)
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
                guard !addresses.isEmpty else {
                    unassigned.append(input.key)
                    continue
                }
                do {
                    try allocator.restore(request, addresses: addresses)
                    entries[input.key] = entry
                    assigned.append(input.key)
                } catch {
                    logger.warning(
                        "cannot restore assignment", metadata: ["k8s.service": "\(input.key)", "error": "\(error)"])
                    unassigned.append(input.key)
                }
            case .invalid:
                // Keep serving what it had: hold its addresses with what was last published.
                guard !addresses.isEmpty else {
                    unassigned.append(input.key)
                    continue
                }
                let old = published[input.key]?.entry
                let ports = Set((old?.ports ?? []).map { PortKey($0.proto, $0.port) })
                let request = AllocationRequest(service: input.key, staticAddresses: addresses, ports: ports)
                if (try? allocator.restore(request, addresses: addresses)) != nil, let old { entries[input.key] = old }
                assigned.append(input.key)
            }
        }
        // Gateways keep the addresses last published for them (their routes are recompiled).
        for (key, published) in published.sorted(by: { $0.key < $1.key })
        where key.gatewayNamespace != nil && settings.gatewayAPI {
            let ports = Set(published.entry.ports.map { PortKey($0.proto, $0.port) })
            let request = AllocationRequest(service: key, staticAddresses: published.addresses, ports: ports)
            if (try? allocator.restore(request, addresses: published.addresses)) != nil {
                entries[key] = published.entry
                gatewayKeys.insert(key)
            }
        }
        if settings.gatewayAPI { await queue.add(.gateways) }
        logger.info(
            "restored assignments",
            metadata: ["k8s.services": "\(assigned.count)", "addresses": "\(allocator.assignedAddressCount)"])
        for key in assigned { await queue.add(.service(key)) }
        for key in unassigned { await queue.add(.service(key)) }
        schedulePublish()
    }

    /// The published document, by Service: what to restore when a status is missing.
    func readPublished() async -> [ServiceKey: (addresses: [IPAddress], entry: AssignmentDocument.ServiceEntry)] {
        let client = self.client
        let namespace = settings.namespace
        do {
            guard
                let published = try await layout.readPublished({ name in
                    do { return try await client.get(ConfigMap.self, namespace: namespace, name: name).data } catch let
                        e as KubeAPIError where e.isNotFound
                    {
                        return nil
                    }
                })
            else { return [:] }
            let doc = published.document
            groups = doc.groups
            lastShards = published.shardDigests
            lastIndex = published.indexBytes
            var out: [ServiceKey: (addresses: [IPAddress], entry: AssignmentDocument.ServiceEntry)] = [:]
            for vip in doc.vips {
                for entry in vip.services { out[entry.key, default: ([], entry)].addresses.append(vip.address) }
            }
            return out
        } catch {
            logger.warning(
                "published assignments unreadable; restoring from Service status only", metadata: ["error": "\(error)"])
            return [:]
        }
    }
}
