import CAnnounce
package import Core
import Foundation
import KubeClient
import TestAPIServer

/// The parsers that read bytes from users or the network, each as a fuzz target: the config
/// parser, the control-plane file, the annotation table, the published assignment document,
/// the Kubernetes JSON models the client decodes, the test API server's protobuf decoder, and the
/// actor's reader of Neighbor Solicitations (frames from the network, `NDPResponder`).
/// A target must return (any outcome, thrown errors included) for every input; a crash, a trap
/// or a hang is a bug. `scripts/fuzz` runs them under libFuzzer; `FuzzRegressionTests` replays
/// the seeds and every input that once failed (`Tests/Fixtures/fuzz/<target>/`).
package enum FuzzTarget: String, CaseIterable, Sendable {
    case config
    case controlPlane = "control-plane"
    case annotations
    case assignments
    case kubeJSON = "kube-json"
    case protobuf
    case ndp

    /// Feeds `bytes` to the target's parser.
    package func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .config:
            if let validated = try? UserConfig.parse(text) {
                // What the actor does next with a valid config: every renderer's input.
                _ = validated.config.pools.map(\.reservedAddresses)
            }
        case .controlPlane:
            if let parsed = try? ControlPlaneConfig.parse(text) {
                let plan = ControlPlanePlan.make(parsed.config)
                if let dir = try? SafePath(parsing: "/run/fuzz") {
                    _ = plan.haproxyConfig(runDirectory: dir)
                    _ = plan.nginxConfig(runDirectory: dir)
                    _ = ControlPlaneKeepalivedRenderer(config: parsed.config, trackDirectory: dir).render()
                }
                _ = ControlPlaneFRRRenderer.render(parsed.config)
            }
        case .annotations:
            // A JSON object of annotations, or `key=value` lines.
            let annotations: [String: String]
            if let object = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) {
                annotations = object
            } else {
                var lines: [String: String] = [:]
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    lines[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
                }
                annotations = lines
            }
            _ = ServiceAnnotations.parse(annotations)
        case .assignments:
            // The index and the shards, separated by NUL bytes (what the actor reads from the
            // published ConfigMaps).
            let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
            if let index = parts.first {
                _ = try? AssignmentShards.shardCount(index: index)
                _ = try? AssignmentShards.decode(index: index, shards: Array(parts.dropFirst()))
            }
            _ = try? JSONDecoder().decode(AssignmentDocument.self, from: Data(bytes))
        case .kubeJSON:
            let data = Data(bytes)
            let decoder = JSONDecoder()
            _ = try? decoder.decode(Service.self, from: data)
            _ = try? decoder.decode(EndpointSlice.self, from: data)
            _ = try? decoder.decode(Node.self, from: data)
            _ = try? decoder.decode(ConfigMap.self, from: data)
            _ = try? decoder.decode(Secret.self, from: data)
            _ = try? decoder.decode(Event.self, from: data)
            _ = try? decoder.decode(KubeList<Service>.self, from: data)
        case .protobuf:
            _ = try? KubeProtobuf.decode(Data(bytes))
        case .ndp:
            _ = Self.solicitation(bytes)
        }
    }

    /// A Neighbor Solicitation in an Ethernet frame as the NDP responder reads it (C,
    /// `k8slb_ndp_parse`): the address asked about, the asker's address (`::` for duplicate
    /// address detection) and MAC; nil for any other frame.
    package static func solicitation(_ frame: [UInt8]) -> (target: IPAddress, source: IPAddress, mac: [UInt8])? {
        var target = [UInt8](repeating: 0, count: 16)
        var source = [UInt8](repeating: 0, count: 16)
        var mac = [UInt8](repeating: 0, count: 6)
        guard k8slb_ndp_parse(frame, frame.count, &target, &source, &mac) == 1,
            let t = IPAddress(networkBytes: target), let s = IPAddress(networkBytes: source)
        else { return nil }
        return (t, s, mac)
    }
}
