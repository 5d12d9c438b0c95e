import Core
import DataPlane
import Foundation

/// Everything the actor does to its node — certificates, interfaces, addresses, the proxy,
/// keepalived, the track file — behind one seam: the controller decides (from a pure `NodePlan`),
/// this applies. The real one is `LocalDataPlane`; tests use a recording fake.
protocol NodeDataPlane: Sendable {
    /// nil when `pool`'s certificate is usable, else what is wrong with it.
    /// The pool's certificate: usable until `notAfter`, or its problem.
    func checkCertificate(pool: PoolName) async -> Result<Date, CertificateFault>
    /// The interface whose route covers `address` (pools without an `interface`).
    func routeInterface(for address: IPAddress) async -> InterfaceName?
    /// The pools' networks: stale VIPs inside them are removed at start and when keepalived dies.
    func setPoolNetworks(_ networks: [IPRange]) async
    /// Start-up: /32 and /128 addresses inside `networks` left by an earlier run.
    func removeStaleVIPs(in networks: [IPRange]) async
    /// Applies the proxy part of the plan: Runtime API when only servers changed, else a
    /// validated reload; a refused config leaves the running one serving.
    func applyProxy(_ proxy: NodePlan.Proxy) async -> ProxyOutcome
    /// Probes the proxy now (so keepalived starts or reloads with a current verdict).
    func probeProxy() async
    /// Whether this node may hold VIPs (its track file says FAULT otherwise).
    func setEligible(_ eligible: Bool) async
    /// Checks and applies keepalived's config (start or SIGHUP).
    func applyKeepalived(_ text: String) async throws(DaemonError)
    /// The VRRP groups' followers of the config keepalived runs: bound while an anchor of their
    /// group is here (`VRRPFollowers`).
    func follow(_ groups: [KeepalivedRenderer.Followers]) async
    /// Binds exactly `wanted` (VIPs without VRRP) and removes what this node bound before and
    /// no longer wants; returns the failures.
    func bind(_ wanted: [IPAddress: InterfaceName]) async -> [String]
    /// The addresses on the node now (nil when they cannot be read).
    func addresses() async -> Set<IPAddress>?
    /// Calls `onChange` whenever an address is added or removed on the node.
    func monitorAddresses(_ onChange: @escaping @Sendable () -> Void) async
    /// Daemon restarts after dying on their own, by daemon.
    func restarts() async -> [String: Int]
    /// Writes the Secrets' bundles (mode 0600) where the proxy config points, removes bundles no
    /// longer used; returns the files whose contents changed (not new ones).
    func installCertificates(_ bundles: [SafePath: Data]) async -> [SafePath]
    /// Replaces `changed` certificates in the running proxy without a reload (HAProxy Runtime
    /// API; nginx reloads through its config instead): how many were replaced, and failures.
    func refreshCertificates(_ changed: [SafePath], bundles: [SafePath: Data]) async -> (
        updated: Int, failures: [String]
    )
    /// Writes the externalTrafficPolicy Local groups' track files ("0": a ready endpoint runs
    /// here; "1": FAULT).
    func setLocalTracks(_ groups: [NodePlan.LocalGroup]) async
    /// Checks and applies FRR's config (start, or reload the differences); nil stops FRR.
    func applyFRR(_ text: String?) async throws(DaemonError)
    /// BGP sessions and BFD, for metrics (nil when FRR does not run).
    func bgpStatus() async -> BGPStatus?
    /// Whether the local proxy answers its health endpoint (true without a proxy).
    func proxyHealthy() async -> Bool
    /// Calls `body` whenever the proxy's health verdict changes.
    func onProxyHealthChange(_ body: @escaping @Sendable () -> Void) async
    /// SIGTERM: keepalived first (priority 0: a backup takes over at once), VIPs bound here
    /// removed, then the proxy drains.
    func shutdown() async

    /// Counts the VRRP adverts heard for `groups` (the groups this node stepped down for in a
    /// split brain); `onHeard` runs whenever one arrives.
    func watchAdverts(_ groups: Set<VRRPGroupID>, onHeard: @escaping @Sendable () -> Void) async
    /// Adverts heard per watched group since it was first watched.
    func advertsHeard() async -> [VRRPGroupID: Int]
    /// Announces VIPs held here (gratuitous ARP / unsolicited NA on their interface).
    func announce(_ vips: [IPAddress: InterfaceName]) async
    /// Applies the connection-handover ruleset (`Handover.ruleset`); unchanged text costs nothing.
    func applyHandover(_ ruleset: String) async
}

/// What applying the proxy did.
enum ProxyOutcome: Sendable, Equatable {
    case unchanged
    case started
    case reloaded
    /// Servers changed through the Runtime API; `deferred` deletes wait for connections to end.
    case runtime(commands: Int, deferred: Int)
    /// Refused (check, reload, write): the running config keeps serving.
    case failed(DaemonError)
    /// No proxy (kubeproxy backend).
    case none

    /// Servers changed through the Runtime API (no reload).
    var isRuntime: Bool {
        if case .runtime = self { return true }
        return false
    }

    /// The proxy has a config applied (ready to serve).
    var applied: Bool {
        switch self {
        case .failed: false
        default: true
        }
    }
}

extension NodeDataPlane {
    func applyFRR(_ text: String?) async throws(DaemonError) {}
    func follow(_ groups: [KeepalivedRenderer.Followers]) async {}
    func bgpStatus() async -> BGPStatus? { nil }
    func proxyHealthy() async -> Bool { true }
    func onProxyHealthChange(_ body: @escaping @Sendable () -> Void) async {}
    func installCertificates(_ bundles: [SafePath: Data]) async -> [SafePath] { [] }
    func refreshCertificates(_ changed: [SafePath], bundles: [SafePath: Data]) async -> (
        updated: Int, failures: [String]
    ) { (0, []) }
    func setLocalTracks(_ groups: [NodePlan.LocalGroup]) async {}
    func watchAdverts(_ groups: Set<VRRPGroupID>, onHeard: @escaping @Sendable () -> Void) async {}
    func advertsHeard() async -> [VRRPGroupID: Int] { [:] }
    func announce(_ vips: [IPAddress: InterfaceName]) async {}
    func applyHandover(_ ruleset: String) async {}
}

/// Why a certificate is not usable (the text is the Event's and the log's).
struct CertificateFault: Error, Sendable, Equatable, CustomStringConvertible {
    let description: String
}
