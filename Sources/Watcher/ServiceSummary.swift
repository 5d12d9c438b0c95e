import KubeClient

/// The part of a Service the watcher reads, decoded as such: the informer caches this instead of
/// whole Services (selector, cluster IPs, labels, kubectl's last-applied copy… never decoded).
struct ServiceSummary: KubeResource {
    static let apiVersion = Service.apiVersion, kind = Service.kind, plural = Service.plural, namespaced = true

    var metadata: ObjectMeta
    var spec: Spec?
    var status: Service.Status?

    struct Spec: Codable, Sendable {
        var type: String?
        var ports: [Service.Port]?
        var loadBalancerIP: String?
        var loadBalancerClass: String?
        var loadBalancerSourceRanges: [String]?
        var ipFamilyPolicy: String?
        var externalTrafficPolicy: String?
        var sessionAffinity: String?
        var sessionAffinityConfig: Service.SessionAffinityConfig?
        var healthCheckNodePort: Int?
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var meta = try c.decode(ObjectMeta.self, forKey: .metadata)
        meta.annotations?["kubectl.kubernetes.io/last-applied-configuration"] = nil
        if meta.annotations?.isEmpty == true { meta.annotations = nil }
        meta.labels = nil
        metadata = meta
        spec = try c.decodeIfPresent(Spec.self, forKey: .spec)
        status = try c.decodeIfPresent(Service.Status.self, forKey: .status)
    }

    enum CodingKeys: String, CodingKey { case metadata, spec, status }
}
