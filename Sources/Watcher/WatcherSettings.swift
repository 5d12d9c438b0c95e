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
    var nodeSelector = "type=loadBalancer"
    /// `spec.loadBalancerClass` served; nil = Services without a class.
    var loadBalancerClass: String?
    var statusMode: StatusMode = .ip(ipMode: "Proxy")
    /// Delay that coalesces bursts of changes into one publish.
    var publishDelay: Duration = .milliseconds(50)
    /// Identity recorded in Events (`source.component`).
    var component = "k8slb-watcher"
}
