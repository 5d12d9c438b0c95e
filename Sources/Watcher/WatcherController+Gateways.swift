import Core
import Foundation
import KubeClient
import Logging

/// Gateway API (with `--gateway-api`): GatewayClasses with k8slb's controllerName are k8slb's;
/// their Gateways get addresses from the pools like Services (`loadbalancer/*` annotations in
/// `spec.infrastructure.annotations`, static ones in `spec.addresses`), are published with their
/// compiled routes for the actors, and every status is written here (GatewayPlan decides them).
/// One work key (`.gateways`) recomputes them all: Gateways are few, and a route, a Service, a
/// ReferenceGrant or a Secret can change any of them.
extension WatcherController {
    func reconcileGateways() async throws {
        guard let g = gatewayInformers, await g.hasSynced, await nodeRecords.hasSynced else { return }
        var inputs = GatewayPlan.Inputs()
        inputs.engine = settings.backend
        for c in await g.classes.list() { inputs.classes[c.metadata.name ?? ""] = c.spec }
        inputs.gateways = await g.gateways.list().map(Self.object)
        inputs.httpRoutes = await g.httpRoutes.list().map(Self.object)
        inputs.tlsRoutes = await g.tlsRoutes.list().map(Self.object)
        inputs.tcpRoutes = await g.tcpRoutes.list().map(Self.object)
        inputs.udpRoutes = await g.udpRoutes.list().map(Self.object)
        inputs.grants = await g.grants.list().map(Self.object)
        for svc in await services.list() {
            let ports = (svc.spec?.ports ?? []).compactMap { p -> AssignmentDocument.Port? in
                guard let number = UInt16(exactly: p.port), let proto = TransportProtocol(rawValue: p.protocol ?? "TCP")
                else { return nil }
                let target: AssignmentDocument.TargetPort =
                    switch p.targetPort {
                    case .int(let n)?: .number(UInt16(clamping: n))
                    case .string(let s)?: .name(s)
                    case nil: .number(number)
                    }
                return AssignmentDocument.Port(
                    name: p.name?.isEmpty == false ? p.name : nil, proto: proto, port: number, targetPort: target)
            }
            inputs.services[svc.serviceKey] = ports
        }
        for s in await g.secrets.list() {
            guard let ns = s.metadata.namespace, let name = try? ResourceName(parsing: s.metadata.name ?? "") else {
                continue
            }
            inputs.tlsSecrets.insert(SecretRef(namespace: ns, name: name))
        }
        for ns in await g.namespaces.list() {
            inputs.namespaceLabels[ns.metadata.name ?? ""] = ns.metadata.labels ?? [:]
        }
        inputs.bundleVersion = await g.definition.list().first?.metadata.annotations?[
            "gateway.networking.k8s.io/bundle-version"]
        let plan = GatewayPlan.make(inputs)
        let now = Self.now()

        // Addresses and the published entries.
        for gone in gatewayKeys.subtracting(plan.gateways.keys) { await release(gone) }
        gatewayKeys = Set(plan.gateways.keys)
        let applied = await appliedGenerations()
        for (key, result) in plan.gateways.sorted(by: { $0.key < $1.key }) {
            var addresses: [IPAddress] = []
            var problem: String?
            if let request = result.request, config != nil {
                let before = allocator.addresses(of: key)
                do {
                    addresses = try allocator.assign(request).map(\.address)
                    if before.map(\.address) != addresses { schedulePublish() }
                    metrics.poolUsage(allocator.usage)
                } catch {
                    problem = error.description
                    pending.insert(key)
                }
            } else {
                if !allocator.addresses(of: key).isEmpty { await release(key) }
                if config == nil { problem = "no k8slb config loaded yet" }
            }
            var entry = AssignmentDocument.ServiceEntry(key: key, ports: Self.ports(result.entry))
            entry.gateway = result.entry
            if addresses.isEmpty {
                entries[key] = nil
            } else if entries[key] != entry {
                entries[key] = entry
                schedulePublish()
            }
            let programmed = !nodes.isEmpty && nodes.allSatisfy { (applied[$0]?[key] ?? -1) >= result.generation }
            let status = GatewayPlan.status(
                result, addresses: addresses, allocationProblem: problem, programmed: programmed)
            try await writeGatewayStatus(key, status, now: now)
        }
        for (name, conditions) in plan.classes.sorted(by: { $0.key < $1.key }) {
            try await writeClassStatus(name, conditions, now: now)
        }
        for (id, parents) in plan.routes.sorted(by: { $0.key < $1.key }) {
            try await writeRouteStatus(id, parents, now: now)
        }
        // Routes whose parents are no longer k8slb's lose k8slb's entries.
        for id in routeStatuses.subtracting(plan.routes.keys) { try await writeRouteStatus(id, [], now: now) }
        routeStatuses = Set(plan.routes.keys)
    }

    /// Each LB node's applied Gateway generations (from its record).
    private func appliedGenerations() async -> [String: [ServiceKey: Int64]] {
        guard gatewayInformers != nil else { return [:] }
        var out: [String: [ServiceKey: Int64]] = [:]
        for lease in await nodeRecords.list() {
            guard let node = lease.spec?.holderIdentity,
                let text = lease.metadata.annotations?[NodeGroupsRecord.gatewaysAnnotation]
            else { continue }
            out[node] = NodeGroupsRecord.parseGateways(text)
        }
        return out
    }

    /// The ports a Gateway holds on its address: one per listener port and protocol.
    static func ports(_ entry: GatewayEntry) -> [AssignmentDocument.Port] {
        var seen = Set<PortKey>()
        var out: [AssignmentDocument.Port] = []
        for l in entry.listeners where seen.insert(PortKey(l.proto, l.port)).inserted {
            out.append(AssignmentDocument.Port(name: l.name, proto: l.proto, port: l.port, targetPort: .number(l.port)))
        }
        return out
    }

    static func object<K, S, St>(_ o: CustomResource<K, S, St>) -> GatewayPlan.Object<S> {
        GatewayPlan.Object(
            namespace: o.metadata.namespace ?? "", name: o.metadata.name ?? "", generation: o.metadata.generation ?? 1,
            created: o.metadata.creationTimestamp ?? "", spec: o.spec)
    }

    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }

    // MARK: status writes (only when something but a transition time changed)

    private func writeGatewayStatus(_ key: ServiceKey, _ desired: GatewayStatus, now: String) async throws {
        guard let ns = key.gatewayNamespace, let g = gatewayInformers,
            let current = await g.gateways.get("\(ns)/\(key.name)")
        else { return }
        var status = desired
        status.conditions = APICondition.merging(desired.conditions ?? [], old: current.status?.conditions, now: now)
        status.listeners = desired.listeners?.map { l in
            var l = l
            let old = current.status?.listeners?.first { $0.name == l.name }?.conditions
            l.conditions = APICondition.merging(l.conditions, old: old, now: now)
            return l
        }
        guard status != current.status else { return }
        struct Body: Encodable { let status: GatewayStatus }
        _ = try await client.patch(
            GatewayObject.self, namespace: ns, name: key.name, try KubeClient.PatchBody(Body(status: status)),
            subresource: "status")
        logger.debug("trace: gateway status written", metadata: ["k8s.gateway": "\(ns)/\(key.name)"])
    }

    private func writeClassStatus(_ name: String, _ conditions: [APICondition], now: String) async throws {
        guard let g = gatewayInformers, let current = await g.classes.get(name) else { return }
        var conditions = conditions
        for n in conditions.indices { conditions[n].observedGeneration = current.metadata.generation ?? 1 }
        let status = GatewayClassStatus(
            conditions: APICondition.merging(conditions, old: current.status?.conditions, now: now))
        guard status != current.status else { return }
        struct Body: Encodable { let status: GatewayClassStatus }
        _ = try await client.patch(
            GatewayClassObject.self, name: name, try KubeClient.PatchBody(Body(status: status)), subresource: "status")
    }

    /// Writes k8slb's parent entries of a route, keeping other controllers' entries.
    private func writeRouteStatus(_ id: GatewayPlan.RouteID, _ parents: [RouteParentStatus], now: String) async throws {
        guard let g = gatewayInformers else { return }
        let key = "\(id.namespace)/\(id.name)"
        let current: RouteStatus?
        switch id.kind {
        case .http: current = await g.httpRoutes.get(key)?.status
        case .tls: current = await g.tlsRoutes.get(key)?.status
        case .tcp: current = await g.tcpRoutes.get(key)?.status
        case .udp: current = await g.udpRoutes.get(key)?.status
        }
        let others = (current?.parents ?? []).filter { $0.controllerName != GatewayAPI.controllerName }
        let ours = parents.map { p -> RouteParentStatus in
            var p = p
            let old = current?.parents.first {
                $0.controllerName == GatewayAPI.controllerName && $0.parentRef == p.parentRef
            }?.conditions
            p.conditions = APICondition.merging(p.conditions, old: old, now: now)
            return p
        }
        let status = RouteStatus(parents: others + ours)
        guard status != (current ?? RouteStatus(parents: [])) else { return }
        struct Body: Encodable { let status: RouteStatus }
        let body = try KubeClient.PatchBody(Body(status: status))
        do {
            switch id.kind {
            case .http:
                _ = try await client.patch(
                    HTTPRouteObject.self, namespace: id.namespace, name: id.name, body, subresource: "status")
            case .tls:
                _ = try await client.patch(
                    TLSRouteObject.self, namespace: id.namespace, name: id.name, body, subresource: "status")
            case .tcp:
                _ = try await client.patch(
                    TCPRouteObject.self, namespace: id.namespace, name: id.name, body, subresource: "status")
            case .udp:
                _ = try await client.patch(
                    UDPRouteObject.self, namespace: id.namespace, name: id.name, body, subresource: "status")
            }
        } catch let e as KubeAPIError where e.isNotFound {
            // Deleted meanwhile.
        }
    }
}
