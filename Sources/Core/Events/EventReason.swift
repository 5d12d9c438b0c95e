/// Every Kubernetes Event reason k8slb records: user-facing and documented (the README's list is
/// tested against this table), so they are declared once, with their type and meaning.
package enum EventReason: String, Sendable, CaseIterable, Hashable {
    // Watcher, on Services.
    case ipAllocated = "IPAllocated"
    case ipReleased = "IPReleased"
    case allocationFailed = "AllocationFailed"
    case invalidService = "InvalidService"
    case ipOutsidePool = "IPOutsidePool"
    case unknownAnnotation = "UnknownAnnotation"
    case annotationIgnored = "AnnotationIgnored"
    case statusNotWritten = "StatusNotWritten"
    // Watcher, on the config ConfigMap.
    case invalidConfig = "InvalidConfig"
    case configWarning = "ConfigWarning"
    // Actor, on Services.
    case vipActive = "VIPActive"
    case certificateInvalid = "CertificateInvalid"
    case notRouted = "NotRouted"
    case vipAnnounced = "VIPAnnounced"
    case vipWithdrawn = "VIPWithdrawn"
    case ipIsNodeAddress = "IPIsNodeAddress"
    case vipOnTwoNodes = "VIPOnTwoNodes"
    case vrrpResumed = "VRRPResumed"
    case fleetSettingRefused = "FleetSettingRefused"
    case fleetPoolOverlap = "FleetPoolOverlap"
    case fleetVIPTaken = "FleetVIPTaken"
    case fleetVRIDTaken = "FleetVRIDTaken"
    case fleetLimitReached = "FleetLimitReached"

    /// `Normal` or `Warning`.
    package var type: String {
        switch self {
        case .ipAllocated, .ipReleased, .vipActive, .vipAnnounced, .vipWithdrawn, .vrrpResumed: "Normal"
        default: "Warning"
        }
    }

    /// What the Event means (the README's table).
    package var meaning: String {
        switch self {
        case .ipAllocated: "the Service got its IP(s) from a pool"
        case .ipReleased: "the Service stopped being a LoadBalancer Service handled by k8slb; its IP is free"
        case .allocationFailed:
            "no IP could be assigned (pool exhausted, static IP taken or outside the pool, no config); retried when space frees"
        case .invalidService: "an annotation or field has a value k8slb refuses; the Service keeps what it had"
        case .ipOutsidePool: "a pool edit left the Service's IP outside its pool; it keeps the IP until it is released"
        case .unknownAnnotation: "a loadbalancer/ annotation k8slb does not know (a typo?)"
        case .annotationIgnored:
            "an annotation whose bad value does not stop the Service (e.g. `proxy-protocol`) is ignored; the Service is served without it"
        case .statusNotWritten:
            "the API server refused the Service's status update for good (403, 422, 400: its message is quoted); tried again when the Service or the config changes"
        case .invalidConfig: "the config ConfigMap does not validate; the last good config keeps serving"
        case .configWarning: "the config validates but has something suspicious"
        case .vipActive: "the VIP arrived on an LB node (the node named in the message serves it now)"
        case .certificateInvalid:
            "the pool's certificate (or the Service's TLS Secret) is missing or unusable; TLS termination is off for that pool (or Service) only"
        case .vipAnnounced: "a BGP pool's VIP is announced from the LB node named in the message"
        case .vipWithdrawn:
            "a BGP pool's VIP is no longer announced from that node (proxy unhealthy, node not eligible, no local endpoint, shutting down)"
        case .vipOnTwoNodes:
            "a VRRP VIP has been live on two LB nodes (per their records) for longer than a failover takes: VRRP adverts between them are lost (split brain); the message names the nodes, and the node ranked lower for the VIP's group steps down for it"
        case .vrrpResumed:
            "an LB node that stepped down for a VRRP group in a split brain runs it again (its adverts are heard, the holder released the VIPs or is gone, or the node lost the API); the message says which"
        case .ipIsNodeAddress:
            "a Node has the Service's IP as its own address (InternalIP or ExternalIP): the Service gets another IP, or loses a static one (its VIP would take the node's traffic)"
        case .fleetSettingRefused:
            "(fleet LB machines, on the config ConfigMap) the config sets what only the fleet owns on shared LB machines (raw haproxy/nginx lines, keepalived alerts, vrrp.advertInterval, bgp): not applied there, the fleet's settings are; the rest of the cluster is served"
        case .fleetPoolOverlap:
            "(fleet LB machines, on the config ConfigMap) a pool's range overlaps another cluster's pool on the shared LB machines: this config is refused there; the last admitted one keeps serving"
        case .fleetVIPTaken:
            "(fleet LB machines) the Service's IP is served for another cluster on the shared LB machines: not served for this one"
        case .fleetVRIDTaken:
            "(fleet LB machines) the Service's VRRP group has the VRID of another cluster's group on the shared LB machines: not served; set vrrp.vridOffset to the range the fleet gives the cluster"
        case .fleetLimitReached:
            "(fleet LB machines) the cluster's limit of VIPs or listeners on the shared LB machines is reached: the Service's IP is not served there; those served before keep serving"
        case .notRouted:
            "the Service shares its IP and port by host name but cannot be routed there (another Service answers that name, or the port is proxied differently); the first one keeps serving"
        }
    }
}
