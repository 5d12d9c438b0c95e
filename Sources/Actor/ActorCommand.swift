import ArgumentParser
import CNetlink
import COpenSSL
import Core

/// `k8slb-actor`: runs on every LB node and turns assignments into VIPs and proxy config.
@main
struct ActorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8slb-actor",
        abstract: "Serves k8slb VIPs on a load-balancer node: keepalived VRRP plus HAProxy, nginx or kube-proxy.",
        discussion: """
            The actor (a DaemonSet on nodes labelled type=loadBalancer) reads the watcher's assignments \
            and the Services' ready endpoints, renders keepalived and proxy configuration, validates \
            and reloads it without dropping connections, and binds VIPs through netlink.
            """,
        version: "k8slb-actor \(K8slbVersion.current) (\(String(cString: cnetlink_version())); \(String(cString: copenssl_version())))",
        subcommands: [RunCommand.self],
        defaultSubcommand: RunCommand.self)
}

/// `k8slb-actor run`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the actor on this node (the default command).")

    func run() async throws {
        // The data plane lands in issue 5; refuse rather than pretend.
        throw ValidationError("the actor data plane is not built yet in this version")
    }
}
