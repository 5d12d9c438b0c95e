import Core
import Foundation
import KubeClient
import Logging

/// Reading the inputs from the informer caches into typed values.
extension ActorController {
    func loadConfig() async {
        let name = "\(settings.namespace)/\(settings.configMapName)"
        guard let text = await configMaps.get(name)?.data?[settings.configKey] else {
            if config == nil { logger.warning("no config yet", metadata: ["k8s.configmap": "\(name)"]) }
            return
        }
        guard text != lastConfigText else { return }
        lastConfigText = text
        do {
            config = try UserConfig.parse(text).config
            metrics.configStale(false)
            logger.info("config loaded", metadata: ["k8s.configmap": "\(name)"])
        } catch {
            // The watcher reports it on the ConfigMap (Event); the actor keeps the last good one.
            metrics.configStale(true)
            logger.error(
                "invalid config, keeping the last good one",
                metadata: ["k8s.configmap": "\(name)", "errors": "\(error.errors.map(\.description))"])
            // Started with an invalid edit in place: the watcher's copy of the last good one.
            let copy = "\(settings.namespace)/\(LastGoodConfig.name(of: settings.configMapName))"
            if config == nil, let saved = await configMaps.get(copy)?.data?[settings.configKey],
                let good = try? UserConfig.parse(saved).config
            {
                config = good
                logger.warning(
                    "started with an invalid config: using the last good one until it is fixed",
                    metadata: ["k8s.configmap": "\(copy)"])
            }
        }
    }

    /// Reads the sharded document; a set whose digests do not match the index (a publish in
    /// progress) is skipped until the next change completes it.
    func loadDocument() async {
        let namespace = settings.namespace
        let configMaps = self.configMaps
        let index = await configMaps.get("\(namespace)/\(layout.base)")?.data?[AssignmentConfigMaps.indexKey]
        if document != nil, let index, index == lastDocumentIndex { return }
        do {
            if let doc = try await layout.read({ name in await configMaps.get("\(namespace)/\(name)")?.data }) {
                document = doc
                lastDocumentIndex = index
            } else if document == nil {
                logger.info("no assignments published yet", metadata: ["k8s.configmap": "\(namespace)/\(layout.base)"])
                document = AssignmentDocument(vips: [])
            }
        } catch AssignmentShards.ShardError.digestMismatch {
            return  // half-written; the rest of the update follows
        } catch {
            logger.error("assignments unreadable, keeping the last good ones", metadata: ["error": "\(error)"])
        }
    }

    /// EndpointSlices of the Services in `document`, parsed into typed values.
    func sliceInputs(for document: AssignmentDocument) async -> [ServiceKey: [EndpointSliceInput]] {
        var wanted = Set<ServiceKey>()
        for vip in document.vips {
            for e in vip.services {
                wanted.insert(e.key)
                // A Gateway's routes send traffic to Services of their own.
                for b in e.gateway?.backends ?? [] { wanted.insert(b.service) }
            }
        }
        var out: [ServiceKey: [EndpointSliceInput]] = [:]
        var seen = Set<String>()
        for slice in await slices.list() {
            guard let ns = slice.metadata.namespace, let name = slice.metadata.name,
                let svc = slice.metadata.labels?["kubernetes.io/service-name"]
            else { continue }
            let id = "\(ns)/\(name)"
            seen.insert(id)
            let version = slice.metadata.resourceVersion ?? ""
            let entry: (version: String, key: ServiceKey, input: EndpointSliceInput?)
            if let cached = sliceCache[id], !version.isEmpty, cached.version == version {
                entry = cached
            } else {
                let key = ServiceKey(namespace: ns, name: svc)
                entry = (version, key, SliceMapping.input(slice, service: key))
                sliceCache[id] = entry
            }
            guard wanted.contains(entry.key), let input = entry.input else { continue }
            out[entry.key, default: []].append(input)
        }
        if seen.count < sliceCache.count { sliceCache = sliceCache.filter { seen.contains($0.key) } }
        return out
    }

    /// Each pool's interface: from the config, else the one whose route covers the pool.
    func detectInterfaces(_ config: UserConfig, _ document: AssignmentDocument) async {
        let used = Set(document.vips.map(\.pool))
        for pool in config.pools where used.contains(pool.name) {
            if let i = pool.interface {
                interfaces[pool.name] = i
                continue
            }
            if let found = await dataPlane.routeInterface(for: pool.network.start) {
                if interfaces[pool.name] != found {
                    logger.info(
                        "pool interface detected", metadata: ["lb.pool": "\(pool.name)", "lb.interface": "\(found)"])
                }
                interfaces[pool.name] = found
            } else if interfaces[pool.name] == nil {
                logger.error(
                    "no route covers the pool and it names no interface; its VIPs are not bound",
                    metadata: ["lb.pool": "\(pool.name)", "lb.network": "\(pool.network)"])
            }
        }
    }

    /// The LB nodes' InternalIPs (unicast VRRP peers).
    func peerAddresses() async -> [String: IPAddress] {
        var peers: [String: IPAddress] = [:]
        for node in await lbNodes.list() {
            guard let name = node.metadata.name,
                let internalIP = node.status?.addresses?.first(where: { $0.type == "InternalIP" }),
                let a = try? IPAddress(parsing: internalIP.address)
            else { continue }
            peers[name] = a
        }
        return peers
    }

    /// Every Node as a NodePort backend: its InternalIPs, Ready condition and exclude label.
    func backendNodes() async -> [BackendNode] {
        await allNodes.list().compactMap { node in
            guard let name = node.metadata.name else { return nil }
            let addresses = (node.status?.addresses ?? []).filter { $0.type == "InternalIP" }.compactMap {
                try? IPAddress(parsing: $0.address)
            }
            let ready = node.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } ?? false
            let excluded = node.metadata.labels?[NodeEligibility.excludeLabel] != nil
            return BackendNode(name: name, addresses: addresses, ready: ready, excluded: excluded)
        }
    }

    /// Whether this node may hold VIPs: its Node matches the LB selector and is not labelled
    /// node.kubernetes.io/exclude-from-external-load-balancers. A Node object not seen at all
    /// (none by that name) is taken as eligible: absence is no reason to drop traffic.
    func nodeEligible() async -> Bool {
        guard let node = await ownNode.get(settings.nodeName) else { return true }
        return NodeEligibility.eligible(labels: node.metadata.labels ?? [:], selector: settings.nodeSelector)
    }
}
