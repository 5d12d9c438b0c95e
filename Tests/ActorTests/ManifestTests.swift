import Foundation
import Testing
import TestSupport
import Yams

/// The deployment manifests against the binaries they run: every flag they pass exists, and the
/// DaemonSet has what the actor needs on a node.
@Suite struct ManifestTests {
    static let manifests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("manifests")

    static func documents() throws -> [[String: Any]] {
        let text = try String(contentsOf: manifests.appendingPathComponent("k8slb.yaml"), encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    @Test func everyFlagExistsInTheBinary() throws {
        var checked = 0
        for doc in try Self.documents() {
            guard let spec = (doc["spec"] as? [String: Any])?["template"] as? [String: Any],
                  let podSpec = spec["spec"] as? [String: Any], let containers = podSpec["containers"] as? [[String: Any]] else { continue }
            for c in containers {
                guard let command = (c["command"] as? [String])?.first, command.hasPrefix("/usr/local/bin/k8slb-") else { continue }
                let name = URL(fileURLWithPath: command).lastPathComponent
                guard let binary = builtExecutable(name) else {
                    Issue.record("\(name) not built beside the tests")
                    continue
                }
                let args = (c["args"] as? [Any] ?? []).map { "\($0)" }
                let help = try run(binary, [args.first ?? "run", "--help"]).output
                for flag in args where flag.hasPrefix("--") {
                    #expect(help.contains(flag), "\(name) has no flag \(flag)")
                }
                checked += 1
            }
        }
        #expect(checked == 2, "watcher and actor containers found: \(checked)")
    }

    @Test func actorDaemonSetRunsOnLBNodesInTheHostNetwork() throws {
        let ds = try Self.documents().first { $0["kind"] as? String == "DaemonSet" }
        let pod = ((ds?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
        #expect(pod?["hostNetwork"] as? Bool == true)
        #expect((pod?["nodeSelector"] as? [String: Any])?["type"] as? String == "loadBalancer")
        let actor = (pod?["containers"] as? [[String: Any]])?.first
        let env = (actor?["env"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(env.contains("NODE_NAME"))
        let caps = ((actor?["securityContext"] as? [String: Any])?["capabilities"] as? [String: Any])?["add"] as? [String] ?? []
        #expect(Set(caps).isSuperset(of: ["NET_ADMIN", "NET_RAW"]))
        let kinds = Set(try Self.documents().compactMap { $0["kind"] as? String })
        #expect(kinds.isSuperset(of: ["Namespace", "ServiceAccount", "ClusterRole", "Role", "Deployment", "DaemonSet"]))
    }
}
