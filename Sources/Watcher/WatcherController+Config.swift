import Core
import Foundation
import KubeClient
import Logging

/// The user config and the LB node list.
extension WatcherController {
    /// Loads the config ConfigMap; an invalid edit keeps the last good config (Event, metric).
    func reloadConfig() async {
        let name = "\(settings.namespace)/\(settings.configMapName)"
        guard let cm = await configMaps.get(name), let text = cm.data?[settings.configKey] else {
            if config == nil {
                logger.warning(
                    "no config yet", metadata: ["k8s.configmap": "\(name)", "k8s.key": "\(settings.configKey)"])
            }
            return
        }
        guard text != lastConfigText else { return }
        do {
            let validated = try UserConfig.parse(text)
            lastConfigText = text
            await apply(validated.config)
            metrics.configStale(false)
            reported.clear(.configMap(namespace: settings.namespace, name: settings.configMapName), .invalidConfig)
            if !validated.warnings.isEmpty {
                await eventOn(
                    configMap: cm, .configWarning, validated.warnings.map(\.description).joined(separator: "; "))
            }
            logger.info("config loaded", metadata: ["lb.pools": "\(validated.config.pools.map(\.name.rawValue))"])
            await saveLastGood(text)
        } catch {
            metrics.configStale(true)
            if config == nil { await loadLastGood() }
            let message =
                "invalid config, keeping the last good one: "
                + error.errors.prefix(20).map(\.description).joined(separator: "; ")
            logger.error(
                "invalid config",
                metadata: ["k8s.configmap": "\(name)", "errors": "\(error.errors.map(\.description))"])
            if reported.isNews(
                .configMap(namespace: settings.namespace, name: settings.configMapName), .invalidConfig, message)
            {
                await eventOn(configMap: cm, .invalidConfig, message)
            }
        }
    }

    /// Keeps a copy of a config that validated (`LastGoodConfig`), for a process that starts
    /// while an invalid edit is in place.
    private func saveLastGood(_ text: String) async {
        let name = LastGoodConfig.name(of: settings.configMapName)
        do { try await writeConfigMap(.init(name: name, key: settings.configKey, text: text)) } catch {
            logger.warning("cannot save the last good config", metadata: ["error": "\(error)"])
        }
    }

    /// Started with an invalid config: serve from the last good copy, if there is one.
    private func loadLastGood() async {
        let name = LastGoodConfig.name(of: settings.configMapName)
        guard let cm = try? await client.get(ConfigMap.self, namespace: settings.namespace, name: name),
            let text = cm.data?[settings.configKey], let validated = try? UserConfig.parse(text)
        else { return }
        await apply(validated.config)
        logger.warning(
            "started with an invalid config: using the last good one until it is fixed",
            metadata: ["k8s.configmap": "\(settings.namespace)/\(name)"])
    }

    /// A new config: when the pools changed, every Service is reconciled again.
    private func apply(_ new: UserConfig) async {
        let poolsChanged = config?.pools != new.pools
        config = new
        guard poolsChanged else { return }
        let orphans = allocator.reconfigure(pools: new.pools)
        for orphan in orphans { logger.warning("assignment outside its pool", metadata: ["detail": "\(orphan)"]) }
        metrics.poolUsage(allocator.usage)
        schedulePublish()
        for svc in await services.list() { await queue.add(.service(svc.serviceKey)) }
        for orphan in orphans {
            for key in orphan.services {
                if let svc = await services.get(key.description) {
                    await report(svc, .ipOutsidePool, orphan.description)
                }
            }
        }
    }

    /// The eligible LB nodes: the selector's, minus those labelled
    /// node.kubernetes.io/exclude-from-external-load-balancers. And every Node's addresses, which
    /// are never VIPs: a Service holding one is reported and moved off it.
    func refreshNodes(publish: Bool = true) async {
        let selector = settings.nodeSelector
        let all = await nodeInformer.list()
        let now = all.filter { NodeEligibility.eligible(labels: $0.metadata.labels ?? [:], selector: selector) }
            .compactMap(\.metadata.name).sorted()
        if now != nodes {
            nodes = now
            if publish { schedulePublish() }
        }
        var addresses: [IPAddress: String] = [:]
        for node in all {
            guard let name = node.metadata.name else { continue }
            for a in node.status?.addresses ?? [] where a.type == "InternalIP" || a.type == "ExternalIP" {
                if let ip = try? IPAddress(parsing: a.address) { addresses[ip] = name }
            }
        }
        let conflicts = allocator.setNodeAddresses(addresses)
        metrics.nodeAddressConflicts(conflicts.count)
        for c in conflicts {
            logger.warning(
                "a Node has this Service's IP: moving the Service off it",
                metadata: ["k8s.service": "\(c.service)", "lb.vip": "\(c.address)", "k8s.node": "\(c.node)"])
            if let svc = await services.get(c.service.description) {
                await event(
                    svc, .ipIsNodeAddress,
                    "IP \(c.address) is an address of Node \(c.node): the Service gets another IP (a static one is released)"
                )
            }
            await queue.add(.service(c.service))
        }
    }
}
