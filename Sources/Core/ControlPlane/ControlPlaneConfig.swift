/// The control-plane VIP's config (docs/control-plane.md): read from a file by
/// `k8slb-actor control-plane`, which needs no Kubernetes API: it serves the address the cluster's
/// own API is reached by, so it must work before that API exists and while it is down.
///
/// ```json
/// {
///   "node": "cp1",
///   "peers": {"cp1": "192.0.2.11", "cp2": "192.0.2.12", "cp3": "192.0.2.13"},
///   "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}],
///   "vrrp": {"advertInterval": 0.1},
///   "apiserver": {"address": "127.0.0.1", "port": 6443, "caFile": "/etc/kubernetes/pki/ca.crt",
///                 "interval": 0.1, "timeout": 0.25, "fall": 2, "rise": 2}
/// }
/// ```
package struct ControlPlaneConfig: Sendable, Equatable {
    /// A control-plane node: its name and the address its VRRP adverts come from.
    package struct Peer: Sendable, Hashable {
        package var name: String
        package var address: IPAddress
    }

    /// One VIP: its own VRRP instance, or announced by BGP.
    package struct VIP: Sendable, Hashable {
        package var address: IPAddress
        /// VRRP: the interface the VIP lives on; BGP: `lo`.
        package var interface: InterfaceName
        /// VRRP: 1-255; must not be one the Service actor uses on the same segment (its VRIDs are
        /// above the k8slb config's `vrrp.vridOffset`). BGP: 0 (unused).
        package var vrid: Int
        package var serve: Serve = .direct
        package var announce: Announcement = .vrrp

        /// BGP: the prefix every node announces while it is not ready (the VIP's /31 or /127, a
        /// less specific route the routers use only when no node announces the VIP's own /32 or
        /// /128: with every apiserver unready the VIP stays reachable). Its other address is
        /// taken by it.
        package var fallbackPrefixLength: Int { address.family.bitWidth - 1 }
    }

    /// How a VIP reaches the apiservers.
    package enum Serve: Sendable, Hashable {
        /// The VIP sits on a node whose own apiserver is ready; traffic lands on that apiserver.
        case direct
        /// HAProxy on VIP:`port` spreads over every peer's apiserver (TLS passed through,
        /// `/readyz` checked over TLS); the VIP sits on a node whose HAProxy has a ready one.
        case balanced(port: UInt16)
    }

    /// A static role (Claudie's model): VIP:port → fixed targets, served by the node's HAProxy.
    package struct Role: Sendable, Hashable {
        /// Letters, digits, '.', '_', '-' (names the role in logs; never printed into a config).
        package var name: String
        package var vip: IPAddress
        package var port: UInt16
        /// TCP (HAProxy) or UDP (nginx, checked passively).
        package var proto: TransportProtocol = .tcp
        package var targets: [EndpointAddress]
        package var check: RoleCheck = .tcp
        package var proxyProtocol: ProxyProtocolVersion?
        /// Source-IP stickiness for this many seconds.
        package var stickySeconds: Int?
    }

    /// How a role's targets are checked.
    package enum RoleCheck: Sendable, Hashable {
        case none
        case tcp
        case http(ProxyPlan.HTTPCheck)
    }

    /// How the local kube-apiserver's health is read: `GET https://address:port/readyz`.
    package struct Probe: Sendable, Hashable {
        package var address: IPAddress = IPAddress(ipv4: 0x7F00_0001)
        package var port: Int = 6443
        /// CA bundle the apiserver's certificate must chain to (kubeadm: /etc/kubernetes/pki/ca.crt);
        /// nil: the certificate is not checked (the probe only reads a status code on this node).
        package var caFile: SafePath?
        package var intervalMilliseconds = 100
        package var timeoutMilliseconds = 250
        package var fall = 2
        package var rise = 2

        /// The URL probed (IPv6 in brackets).
        package var url: String {
            let host = address.family == .ipv6 ? "[\(address)]" : "\(address)"
            return "https://\(host):\(port)/readyz"
        }
    }

    /// This node's name (one of `peers` when peers are given).
    package var node: String
    /// Unicast VRRP to these nodes; empty: multicast.
    package var peers: [Peer] = []
    package var vips: [VIP] = []
    package var roles: [Role] = []
    /// The BGP block for `"announce": "bgp"` VIPs (the k8slb config's `bgp` shape).
    package var bgp: BGPSettings?
    package var advertIntervalCentiseconds = 10
    package var probe = Probe()

    /// Where this node stands among the peers (sorted by name): breaks ties between healthy
    /// backups. 0 without peers.
    package var rank: Int { peers.map(\.name).sorted().firstIndex(of: node) ?? 0 }

    /// This node's own peer address (the unicast source).
    package var ownAddress: IPAddress? { peers.first { $0.name == node }?.address }

    /// Where the node's HAProxy answers `/vip/<address>` (200 while one of the VIP's backends has a
    /// server up): what a VIP that does not follow the local apiserver follows.
    package static let proxyHealthPort: UInt16 = 8407
    /// HAProxy's own monitor frontend (the Service actor's uses 8404).
    package static let proxyMonitorPort: UInt16 = 8406
    /// nginx's health endpoint for UDP roles (the Service actor's nginx uses 8405).
    package static let nginxHealthPort: UInt16 = 8408

    /// Largest number of peers (keeps every priority of `ControlPlanePriority` distinct).
    package static let maxPeers = 32
}
