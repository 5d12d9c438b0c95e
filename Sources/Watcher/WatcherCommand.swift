import ArgumentParser
import Core
import Foundation
import KubeClient
import Logging
import Observability

/// `k8slb-watcher`: allocates IPs to LoadBalancer Services and publishes them for the actors.
/// What the executables call (`k8slb-watcher`, and `k8slb` under that name): the arguments after the
/// program name.
package enum WatcherMain {
    package static func main(_ arguments: [String]) async { await WatcherCommand.main(arguments) }
}

struct WatcherCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8slb-watcher",
        abstract: "Assigns external IPs from k8slb pools to Services of type LoadBalancer.",
        discussion: """
            The watcher (one active replica) watches Services, allocates addresses from the pools in \
            the k8slb config (ConfigMap k8slb-system/global, key "config"), writes \
            status.loadBalancer.ingress, and publishes every assignment for the k8slb actors.
            """,
        version: LinkedLibraries.versionText,
        subcommands: [RunCommand.self, CheckConfigCommand.self],
        defaultSubcommand: RunCommand.self)
}
