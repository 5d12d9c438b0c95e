import Core

/// What `k8slb-actor run` was told (flags and environment).
struct ActorSettings: Sendable {
    enum Backend: String, Sendable, CaseIterable {
        case haproxy, nginx, kubeproxy
    }

    var namespace = "k8slb-system"
    var configMapName = "global"
    var configKey = "config"
    var assignmentsName = "assignments"
    var nodeName: String
    var nodeSelector = "type=loadBalancer"
    var backend: Backend = .haproxy
    var runDirectory = "/run/k8slb"
    /// keepalived's track file for the proxy's health (written by the actor's probe).
    var healthFile: String { runDirectory + "/proxy-health" }
    var certDirectory = "/etc/certs"
    /// Overrides the config's `vrrp.advertInterval` when set (centiseconds).
    var advertIntervalCentiseconds: Int?
    /// VRRP to the other LB nodes' InternalIPs by unicast instead of multicast.
    var unicast = false
    /// Run the node's network side (netlink, daemons) inside this network namespace (local demo
    /// and tests: several simulated nodes on one host).
    var networkNamespace: String?
    var haproxyBinary = "/usr/sbin/haproxy"
    var keepalivedBinary = "/usr/sbin/keepalived"
    var nginxBinary = "/usr/sbin/nginx"
    var ipBinary = "/usr/sbin/ip"
    var haproxyHealthPort: UInt16 = 8404
    var nginxHealthPort: UInt16 = 8405
    /// Recorded as the Events' `source.component`.
    var component = "k8slb-actor"
    /// How long old proxy workers may finish their connections after a reload or on shutdown.
    var drainSeconds = 30
    /// Full resync period (certificate files are re-checked then).
    var resync: Duration = .seconds(30)
    /// Changes arriving within this window are applied together.
    var coalesce: Duration = .milliseconds(50)

    init(nodeName: String) { self.nodeName = nodeName }
}
