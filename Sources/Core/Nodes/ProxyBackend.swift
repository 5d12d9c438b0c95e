/// The data plane an actor runs (`--backend`): the original's three.
package enum ProxyBackend: String, Sendable, CaseIterable, Hashable {
    /// HAProxy (the default): TCP/HTTP proxying, TLS termination, Runtime API server changes.
    case haproxy
    /// nginx: TCP/UDP/HTTP proxying.
    case nginx
    /// VIPs only; kube-proxy forwards (the watcher's `--ip-mode VIP`).
    case kubeproxy
}
