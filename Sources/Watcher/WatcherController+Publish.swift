import CLibc
import Core
import Foundation
import KubeClient
import Logging

/// Publishing the assignments (only the publish loop calls `publish`).
extension WatcherController {
    /// The document as it stands (plans VRRP groups, keeping their VRIDs).
    func document() -> AssignmentDocument {
        var vips: [IPAddress: AssignmentDocument.VIP] = [:]
        for service in allocator.assignedServices {
            guard let entry = entries[service] else { continue }
            for a in allocator.addresses(of: service) {
                vips[a.address, default: .init(address: a.address, pool: a.pool, services: [])].services.append(entry)
            }
        }
        let now = ContinuousClock.now
        // kube-proxy mode: a VIP whose Services all keep the client address (externalTrafficPolicy
        // Local) gets an instance of its own, held only by a node running one of its endpoints.
        let local =
            settings.kubeProxyForwards
            ? Set(vips.values.filter { !$0.services.isEmpty && $0.services.allSatisfy(\.localTraffic) }.map(\.address))
            : []
        // BGP pools' VIPs are announced by every LB node: no VRRP group for them.
        let bgpPools = Set(config?.pools.filter { $0.announce == .bgp }.map(\.name) ?? [])
        let plan = VRRPPlan.make(
            vips: vips.values.filter { !bgpPools.contains($0.pool) }.map { ($0.address, $0.pool) }, nodes: nodes,
            previous: groups,
            vridOffset: config?.vrrp.vridOffset ?? 0, reserved: reservedVRIDs(now: now), local: local)
        quarantineVanishedGroups(previous: groups, plan: plan.groups, now: now)
        if !plan.unplaced.isEmpty {
            logger.error(
                "VRRP id space full: VIPs without a group", metadata: ["lb.vips": "\(plan.unplaced.map(\.description))"]
            )
        }
        groups = plan.groups
        for address in vips.keys { vips[address]!.vrid = plan.vridOf[address] }
        return AssignmentDocument(vips: Array(vips.values), nodes: nodes, groups: plan.groups)
    }

    /// Writes changed shards first, then the index, then removes shards no longer listed.
    /// Returns false when a write failed (the loop retries).
    func publish() async -> Bool {
        settings.onPublish?(.started)
        let started = ContinuousClock.now
        defer {
            lastPublishCost = ContinuousClock.now - started
            settings.onPublish?(.finished)
        }
        let doc = document()
        do {
            // Encode off the actor: reconciles go on meanwhile (this loop is the only publisher).
            let encoded = try await Task.detached { try AssignmentShards.encode(doc) }.value
            let (writes, deletes) = layout.plan(encoded, previous: lastShards, previousIndex: lastIndex)
            for w in writes {
                try await writeConfigMap(w)
                if w.name == layout.base { lastIndex = encoded.indexBytes }
            }
            for (i, d) in encoded.index.shards.enumerated() { lastShards[i] = d }
            for name in deletes {
                try? await client.delete(ConfigMap.self, namespace: settings.namespace, name: name)
            }
            for i in lastShards.keys where i >= encoded.shards.count { lastShards[i] = nil }
            metrics.published(shards: encoded.shards.count, bytes: encoded.shards.reduce(0) { $0 + $1.count })
            if !writes.isEmpty {
                logger.debug(
                    "trace: assignments published",
                    metadata: [
                        "lb.vips": "\(doc.vips.count)", "writes": "\(writes.count)",
                        "ms": "\((ContinuousClock.now - started).milliseconds)",
                    ])
            }
            // Encoding a large document leaves a large freed heap behind; hand it back.
            _ = clibc_malloc_trim()
            return true
        } catch {
            logger.error("publishing assignments failed, will retry", metadata: ["error": "\(error)"])
            lastIndex = nil
            lastShards = [:]
            return false
        }
    }

    func writeConfigMap(_ w: AssignmentConfigMaps.Write) async throws {
        for _ in 0..<5 {
            do {
                var cm = try await client.get(ConfigMap.self, namespace: settings.namespace, name: w.name)
                if cm.data?[w.key] == w.text { return }
                cm.data = [w.key: w.text]
                _ = try await client.update(cm)  // resourceVersion precondition
                return
            } catch let e as KubeAPIError where e.isNotFound {
                do {
                    _ = try await client.create(
                        ConfigMap(
                            metadata: ObjectMeta(
                                name: w.name, namespace: settings.namespace,
                                labels: ["app.kubernetes.io/managed-by": "k8slb-watcher"]),
                            data: [w.key: w.text]))
                    return
                } catch let e as KubeAPIError where e.isAlreadyExists { continue }
            } catch let e as KubeAPIError where e.isConflict {
                continue
            }
        }
        throw KubeAPIError(code: 409, reason: "Conflict", message: "ConfigMap \(w.name) kept changing under us")
    }
}

extension Duration {
    /// Whole milliseconds (for log lines).
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
