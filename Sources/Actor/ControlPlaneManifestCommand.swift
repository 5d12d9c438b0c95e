import ArgumentParser
import Core
import Foundation

/// `k8slb-actor control-plane-manifest`: the config file and the static pod for one
/// control-plane node, from a few flags (docs/control-plane.md has the kubeadm flow).
struct ControlPlaneManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane-manifest",
        abstract: "Print the control-plane VIP's static pod manifest (or its config file) for one node.",
        discussion: """
            k8slb-actor control-plane-manifest --print config --vip 192.0.2.10 --interface eth0 \\
              --peer cp1=192.0.2.11 --peer cp2=192.0.2.12 --peer cp3=192.0.2.13 > /etc/k8slb/control-plane.json
            k8slb-actor control-plane-manifest > /etc/kubernetes/manifests/k8slb-control-plane.yaml
            """)

    enum Output: String, ExpressibleByArgument, CaseIterable {
        case pod
        case config
    }

    @Option(help: "What to print: pod (the static pod manifest) or config (the JSON config file).")
    var print: Output = .pod

    @Option(help: "The control-plane VIP (repeat for one of each family).")
    var vip: [String] = []

    @Option(help: "The interface the VIP lives on.")
    var interface = "eth0"

    @Option(
        help:
            "VRID of the VIP's VRRP instance; keep it at or below the k8slb config's vrrp.vridOffset where LB nodes share the segment."
    )
    var vrid = 1

    @Option(help: "A control-plane node as NAME=ADDRESS (repeat; unicast VRRP). Without peers: multicast.")
    var peer: [String] = []

    @Option(name: .customLong("node-name"), help: "This node's name (default: the host name).")
    var nodeName: String?

    @Option(
        name: .customLong("ca-file"),
        help: "CA the apiserver's certificate must chain to ('' skips the check; kubeadm's default path).")
    var caFile = "/etc/kubernetes/pki/ca.crt"

    @Option(name: .customLong("apiserver-port"), help: "The local kube-apiserver's port.")
    var apiserverPort = 6443

    @Option(name: .customLong("config-path"), help: "Where the config file lives on the node (the pod mounts it).")
    var configPath = "/etc/k8slb/control-plane.json"

    @Option(help: "The k8slb image.")
    var image = "docker.io/library/k8slb:\(K8slbVersion.current)"

    func run() throws {
        let node = nodeName ?? ProcessInfo.processInfo.hostName
        let peers = peer.map { p -> String in
            let parts = p.split(separator: "=", maxSplits: 1)
            return parts.count == 2
                ? "\"\(Self.jsonEscaped(String(parts[0])))\": \"\(Self.jsonEscaped(String(parts[1])))\""
                : "\"\(Self.jsonEscaped(p))\": null"
        }
        let vips = vip.map {
            "{\"address\": \"\(Self.jsonEscaped($0))\", \"interface\": \"\(Self.jsonEscaped(interface))\", \"vrid\": \(vrid)}"
        }
        let ca = caFile.isEmpty ? "" : ", \"caFile\": \"\(Self.jsonEscaped(caFile))\""
        // The flags go through the file's own parser: one set of rules and messages.
        let json = """
            {"node": "\(Self.jsonEscaped(node))", \(peers.isEmpty ? "" : "\"peers\": {\(peers.joined(separator: ", "))}, ")"vips": [\(vips.joined(separator: ", "))], "apiserver": {"port": \(apiserverPort)\(ca)}}
            """
        let config: ControlPlaneConfig
        do { config = try ControlPlaneConfig.parse(json).config } catch {
            throw ValidationError(error.description)
        }
        switch print {
        case .config:
            Swift.print(ControlPlaneManifest.configJSON(config), terminator: "")
        case .pod:
            let imageRef: ImageReference
            let path: SafePath
            do {
                imageRef = try ImageReference(parsing: image)
                path = try SafePath(parsing: configPath)
            } catch { throw ValidationError("\(error)") }
            Swift.print(ControlPlaneManifest.staticPod(config, image: imageRef, configPath: path), terminator: "")
        }
    }

    /// `text` as the inside of a JSON string.
    static func jsonEscaped(_ text: String) -> String {
        var out = ""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
