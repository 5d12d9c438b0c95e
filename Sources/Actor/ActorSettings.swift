import ArgumentParser
import Core

/// What `k8slb-actor run` was told (flags and environment), validated once and passed down.
struct ActorSettings: Sendable {
    var namespace = "k8slb-system"
    var configMapName = "global"
    var configKey = "config"
    var assignmentsName = "assignments"
    var nodeName: String
    /// The LB node selector: this node must match it to hold VIPs (and its matches are the
    /// unicast VRRP peers).
    var nodeSelector = try! LabelSelector(parsing: ActorSettings.defaultNodeSelector)
    var backend: ProxyBackend = .haproxy
    var runDirectory = "/run/k8slb"
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
    /// FRR's daemons (zebra, bfdd, bgpd) and vtysh, for BGP pools.
    var frrDirectory = "/usr/lib/frr"
    var vtyshBinary = "/usr/bin/vtysh"
    var nftBinary = "/usr/sbin/nft"
    /// Connections survive a planned move (`Handover`): the old holder keeps delivering them,
    /// the new one forwards their packets there for the drain period.
    var handover = true
    var haproxyHealthPort: UInt16 = 8404
    var nginxHealthPort: UInt16 = 8405
    /// Recorded as the Events' `source.component`.
    var component = "k8slb-actor"
    /// How long old proxy workers may finish their connections after a reload or on shutdown.
    var drainSeconds = 30
    /// Full resync period (certificate files are re-checked then).
    var resync: Duration = .seconds(30)
    /// Changes arriving within this window are applied together.
    /// (The one sync loop already folds changes arriving during a sync into the next one; this
    /// only catches the few milliseconds of a burst, e.g. a Service and its EndpointSlice.)
    var coalesce: Duration = .milliseconds(10)
    /// Where `loadbalancer/tls-secret` Secrets may live.
    var tlsSecretScope: TLSSecretScope = .system
    /// Set on a fleet LB machine (`--fleet`): the cluster this controller reads. Its pools'
    /// certificate files are `<cert-dir>/<cluster>.<pool>.pem`, its Secrets' bundles live under
    /// `<run-dir>/tls/<cluster>`, and the fleet (`FleetController`) plans and applies for it.
    var fleetCluster: ClusterName?
    /// Test seam: told when each sync starts and finishes.
    var onSync: (@Sendable (SyncPhase) -> Void)?

    static let defaultNodeSelector = "type=loadBalancer"

    init(nodeName: String) { self.nodeName = nodeName }

    /// keepalived's track file (proxy health and node eligibility).
    var trackFile: String { runDirectory + "/proxy-health" }

    var proxyHealthPort: UInt16 { backend == .nginx ? nginxHealthPort : haproxyHealthPort }
}

enum SyncPhase: Sendable { case started, finished }

/// `--tls-secrets`: where the actor reads `loadbalancer/tls-secret` Secrets from.
enum TLSSecretScope: String, Sendable, CaseIterable, ExpressibleByArgument {
    /// Only the actor's namespace (k8slb-system): its Role reads Secrets there and nowhere else.
    case system
    /// The Service's own namespace first, then the actor's (needs the opt-in ClusterRole).
    case serviceNamespace = "service-namespace"
}

extension ProxyBackend: ExpressibleByArgument {}

extension LabelSelector: ExpressibleByArgument {
    init?(argument: String) { try? self.init(parsing: argument) }
}
