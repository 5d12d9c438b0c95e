import Core
import DataPlane
import Foundation
import KubeClient
import Metrics
import Prometheus

/// The actor's metrics, in its own registry.
final class ActorMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        // Counters start at 0, so the first failure is an increase (an alert on `increase()`
        // misses a series that appears with 1), and every name the alerts use is in the scrape.
        for result in ["start", "reload", "runtime", "failed"] {
            Counter(label: "k8slb_proxy_applies_total", dimensions: [("result", result)], factory: factory)
                .increment(by: 0)
        }
        for result in ["ok", "failed"] {
            Counter(label: "k8slb_keepalived_applies_total", dimensions: [("result", result)], factory: factory)
                .increment(by: 0)
        }
        for code in DaemonError.Code.allCases {
            Counter(label: "k8slb_daemon_errors_total", dimensions: [("code", code.rawValue)], factory: factory)
                .increment(by: 0)
        }
        Counter(label: "k8slb_runtime_api_commands_total", factory: factory).increment(by: 0)
        Counter(label: "k8slb_certificate_updates_total", factory: factory).increment(by: 0)
        secretProblems(0)
        groupsSteppedDown(0)
    }

    /// Proxy config applications: `reload` (full reload), `runtime` (servers changed through the
    /// Runtime API, no reload), `failed` (refused by validation or reload; the old config serves).
    func proxyApply(_ result: String) {
        Counter(label: "k8slb_proxy_applies_total", dimensions: [("result", result)], factory: factory).increment()
    }

    func runtimeCommands(_ count: Int) {
        Counter(label: "k8slb_runtime_api_commands_total", factory: factory).increment(by: count)
    }

    func keepalivedApply(_ result: String) {
        Counter(label: "k8slb_keepalived_applies_total", dimensions: [("result", result)], factory: factory).increment()
    }

    /// 1 while `<pool>`'s certificate is unusable (TLS off for that pool).
    func certificateProblem(pool: PoolName, _ problem: Bool) {
        Gauge(label: "k8slb_certificate_problem", dimensions: [("pool", pool.rawValue)], factory: factory).record(
            problem ? 1 : 0)
    }

    /// Services whose `loadbalancer/tls-secret` is unusable (TLS off for them).
    func secretProblems(_ count: Int) {
        Gauge(label: "k8slb_tls_secret_problems", factory: factory).record(Double(count))
    }

    /// Certificates replaced in the running proxy without a reload (Runtime API).
    func certificatesUpdated(_ count: Int) {
        Counter(label: "k8slb_certificate_updates_total", factory: factory).increment(by: count)
    }

    /// One BGP peer's session state, the prefixes announced to it, and its BFD session.
    func bgpPeer(_ peer: BGPStatus.Peer) {
        Gauge(label: "k8slb_bgp_session_up", dimensions: [("peer", peer.address)], factory: factory).record(
            peer.established ? 1 : 0)
        Gauge(label: "k8slb_bgp_prefixes_announced", dimensions: [("peer", peer.address)], factory: factory).record(
            Double(peer.prefixesSent))
        if let up = peer.bfdUp {
            Gauge(label: "k8slb_bfd_up", dimensions: [("peer", peer.address)], factory: factory).record(up ? 1 : 0)
        }
    }

    /// 1 while this node holds `vip` (VRRP master for it, bound here without VRRP, or announced
    /// by BGP), 0 while it does not; `announce` (vrrp, bgp) says whether one holder or many is
    /// normal. Every published VIP has a series on every LB node.
    func vipLive(_ vip: IPAddress, announce: String, _ live: Bool) {
        Gauge(
            label: "k8slb_vip_master", dimensions: [("vip", vip.description), ("announce", announce)], factory: factory
        )
        .record(live ? 1 : 0)
    }

    /// A VIP no longer published: its series goes.
    func vipGone(_ vip: IPAddress, announce: String) {
        Gauge(
            label: "k8slb_vip_master", dimensions: [("vip", vip.description), ("announce", announce)], factory: factory
        )
        .destroy()
    }

    /// When a usable certificate expires (`certificate`: `pool/<name>` or `secret/<ns>/<name>`).
    func certificateExpiry(_ certificate: String, _ notAfter: Date) {
        Gauge(
            label: "k8slb_certificate_expiry_timestamp_seconds", dimensions: [("certificate", certificate)],
            factory: factory
        )
        .record(notAfter.timeIntervalSince1970)
    }

    /// 1 while this node is an eligible LB node (selector, not excluded).
    func eligible(_ eligible: Bool) { Gauge(label: "k8slb_node_eligible", factory: factory).record(eligible ? 1 : 0) }

    /// Daemon operations refused, by code (check refused, reload unconfirmed, …).
    func daemonError(_ code: DaemonError.Code) {
        Counter(label: "k8slb_daemon_errors_total", dimensions: [("code", code.rawValue)], factory: factory).increment()
    }

    /// API writes that failed (`kind`: event, groups), by failure class (transient, conflict,
    /// permanent): the reporter retries the transient ones.
    func apiWriteFailed(_ kind: String, _ failure: FailureClass) {
        Counter(
            label: "k8slb_api_write_failures_total", dimensions: [("kind", kind), ("class", failure.label)],
            factory: factory
        ).increment()
    }

    /// VRRP groups this node stepped down for in a split brain.
    func groupsSteppedDown(_ count: Int) {
        Gauge(label: "k8slb_vrrp_groups_stepped_down", factory: factory).record(Double(count))
    }
    func vipsServed(_ count: Int) { Gauge(label: "k8slb_vips", factory: factory).record(Double(count)) }
    func vipsLive(_ count: Int) { Gauge(label: "k8slb_vips_live", factory: factory).record(Double(count)) }
    func configStale(_ stale: Bool) { Gauge(label: "k8slb_config_stale", factory: factory).record(stale ? 1 : 0) }
    func daemonRestarts(_ daemon: String, _ count: Int) {
        Gauge(label: "k8slb_daemon_restarts", dimensions: [("daemon", daemon)], factory: factory).record(Double(count))
    }

    /// A fleet machine's view of one cluster: VIPs served, refusals in force, and 1 while its
    /// current config is refused as a whole (`FleetPlan`).
    func fleetCluster(_ cluster: ClusterName, vips: Int, refusals: Int, configRefused: Bool) {
        let d = [("cluster", cluster.rawValue)]
        Gauge(label: "k8slb_fleet_cluster_vips", dimensions: d, factory: factory).record(Double(vips))
        Gauge(label: "k8slb_fleet_cluster_refusals", dimensions: d, factory: factory).record(Double(refusals))
        Gauge(label: "k8slb_fleet_cluster_config_refused", dimensions: d, factory: factory).record(
            configRefused ? 1 : 0)
    }

    /// 1 while the cluster's API server answers; how long it has not (0 while it does).
    func fleetReachable(_ cluster: ClusterName, since: Duration?) {
        let d = [("cluster", cluster.rawValue)]
        Gauge(label: "k8slb_fleet_cluster_reachable", dimensions: d, factory: factory).record(since == nil ? 1 : 0)
        let seconds = since.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        Gauge(label: "k8slb_fleet_cluster_unreachable_seconds", dimensions: d, factory: factory).record(seconds)
    }
}
