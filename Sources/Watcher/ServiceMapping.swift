import Core
import KubeClient

extension ServiceInput {
    /// The plain view of a Service that Core plans from.
    init(_ svc: ServiceSummary) {
        let key = ServiceKey(namespace: svc.metadata.namespace ?? "default", name: svc.metadata.name ?? "")
        let ports = (svc.spec?.ports ?? []).map { p -> ServiceInput.Port in
            let target: AssignmentDocument.TargetPort? =
                switch p.targetPort {
                case .int(let n)?: UInt16(exactly: n).map { .number($0) } ?? .name(String(n))
                case .string(let s)?: Int(s).flatMap { UInt16(exactly: $0) }.map { .number($0) } ?? .name(s)
                case nil: nil
                }
            return ServiceInput.Port(
                name: p.name, proto: p.protocol, port: p.port, targetPort: target, nodePort: p.nodePort)
        }
        self.init(
            key: key, type: svc.spec?.type ?? "ClusterIP", loadBalancerClass: svc.spec?.loadBalancerClass,
            annotations: svc.metadata.annotations ?? [:], loadBalancerIP: svc.spec?.loadBalancerIP,
            ipFamilyPolicy: svc.spec?.ipFamilyPolicy, ports: ports,
            sourceRanges: svc.spec?.loadBalancerSourceRanges ?? [],
            externalTrafficPolicy: svc.spec?.externalTrafficPolicy, sessionAffinity: svc.spec?.sessionAffinity,
            affinityTimeoutSeconds: svc.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds,
            healthCheckNodePort: svc.spec?.healthCheckNodePort)
    }
}

extension ServiceSummary {
    /// The (ip, hostname) pairs of `status.loadBalancer.ingress`.
    var ingressPairs: [(ip: String?, hostname: String?)] {
        (status?.loadBalancer?.ingress ?? []).map { ($0.ip, $0.hostname) }
    }
}
