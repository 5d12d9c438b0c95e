import ArgumentParser
import Core

/// Everything the watcher is told at start (flags/env), validated once and passed down.
struct WatcherSettings: Sendable {
    /// Namespace of the config, assignments, Lease and Events about them.
    var namespace = "k8slb-system"
    /// ConfigMap holding the user config, and its key (the original's `global` / `config`).
    var configMapName = "global"
    var configKey = "config"
    /// Base name of the published assignment ConfigMaps (`<name>`, `<name>-0`, …).
    var assignmentsName = "assignments"
    /// Label selector of the LB nodes.
    var nodeSelector = try! LabelSelector(parsing: WatcherSettings.defaultNodeSelector)
    /// `spec.loadBalancerClass` served; nil = Services without a class.
    var loadBalancerClass: String?
    var statusMode: StatusMode = .ip(ipMode: IPModeFlag.proxy.rawValue)
    /// Delay that coalesces bursts of changes into one publish.
    /// (At least 4x the last publish's cost, so large documents still publish at a bounded rate.)
    var publishDelay: Duration = .milliseconds(10)
    /// How long a freed address (and a vanished group's VRID) is not handed out again.
    var releaseQuarantine: Duration = .seconds(15)
    /// Identity recorded in Events (`source.component`).
    var component = "k8slb-watcher"
    /// kube-proxy forwards (`--ip-mode VIP`): VIPs of externalTrafficPolicy Local Services get a
    /// VRRP group of their own, held only where one of their endpoints runs.
    var kubeProxyForwards: Bool {
        if case .ip(let mode) = statusMode { return mode == IPModeFlag.vip.rawValue }
        return false
    }
    /// Serve Gateway API (GatewayClasses naming k8slb's controller; needs the CRDs installed).
    var gatewayAPI = false
    /// The actors' data plane: what Gateways may use (HTTP routing needs haproxy).
    var backend: ProxyBackend = .haproxy
    /// Test seam: told when each publish starts and finishes.
    var onPublish: (@Sendable (PublishPhase) -> Void)?

    static let defaultNodeSelector = "type=loadBalancer"
}

enum PublishPhase: Sendable { case started, finished }

/// `--status-mode`.
enum StatusModeFlag: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// status.loadBalancer.ingress[].ip with ipMode (Kubernetes 1.30+).
    case ip
    /// A hostname `<ip-with-dashes>.<suffix>` (older clusters: no ipMode, so kube-proxy must not see an IP).
    case hostname
}

/// `--ip-mode`.
enum IPModeFlag: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// HAProxy/nginx terminate the traffic: kube-proxy must not capture the VIP.
    case proxy = "Proxy"
    /// kube-proxy forwards VIP traffic (the kubeproxy backend).
    case vip = "VIP"
}

extension LabelSelector: ExpressibleByArgument {
    init?(argument: String) { try? self.init(parsing: argument) }
}

extension ProxyBackend: ExpressibleByArgument {}
