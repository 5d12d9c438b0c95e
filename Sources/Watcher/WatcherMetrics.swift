import Core
import KubeClient
import Metrics
import Prometheus

/// The watcher's metrics, in its own registry (so tests can run several watchers in one process).
final class WatcherMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ]
        self.factory = factory
    }

    /// Size, free and in-use addresses per pool and family.
    func poolUsage(_ usage: [IPAllocator.PoolUsage]) {
        for u in usage {
            let dims = [("pool", u.pool.rawValue), ("family", u.family.rawValue)]
            Gauge(label: "k8slb_pool_size", dimensions: dims, factory: factory).record(Double(u.dynamicSize))
            Gauge(label: "k8slb_pool_free", dimensions: dims, factory: factory).record(Double(u.dynamicFree))
            Gauge(label: "k8slb_pool_in_use", dimensions: dims, factory: factory).record(Double(u.inUse))
        }
    }

    func allocated() { Counter(label: "k8slb_allocations_total", factory: factory).increment() }

    func failed(reason: String) {
        Counter(label: "k8slb_allocation_failures_total", dimensions: [("reason", reason)], factory: factory)
            .increment()
    }

    /// Reconciles that failed, by failure class (transient and conflicts are retried; permanent
    /// ones wait for the object or the config to change).
    func reconcileFailed(_ failure: FailureClass) {
        Counter(label: "k8slb_reconcile_failures_total", dimensions: [("class", failure.label)], factory: factory)
            .increment()
    }

    /// VRRP VIPs live on more than one LB node (split brain), per the nodes' records.
    func vipsOnTwoNodes(_ count: Int) {
        Gauge(label: "k8slb_vips_on_two_nodes", factory: factory).record(Double(count))
    }

    /// Services holding an address a Node has (being moved off it).
    func nodeAddressConflicts(_ count: Int) {
        Gauge(label: "k8slb_node_address_conflicts", factory: factory).record(Double(count))
    }

    func configStale(_ stale: Bool) { Gauge(label: "k8slb_config_stale", factory: factory).record(stale ? 1 : 0) }

    func isLeader(_ leader: Bool) { Gauge(label: "k8slb_is_leader", factory: factory).record(leader ? 1 : 0) }

    func reconciled(_ duration: Duration) {
        Timer(label: "k8slb_reconcile_duration_seconds", factory: factory).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func published(shards: Int, bytes: Int) {
        Gauge(label: "k8slb_assignment_shards", factory: factory).record(Double(shards))
        Gauge(label: "k8slb_assignment_bytes", factory: factory).record(Double(bytes))
    }
}
