import Foundation

/// A pod template from `kubectl kustomize` output, as far as the kubelet's running of it goes:
/// what ContainerTests hands podman so that the containers run exactly as the manifests say.
/// Anything a container sets that this model does not know is an error (a field added to the
/// manifests must be taught here, not silently dropped).
struct PodSpec {
    struct EnvVar: Equatable {
        enum Source: Equatable {
            case value(String)
            case field(String)
        }
        var name: String
        var source: Source
    }

    struct Mount: Equatable {
        var volume: String
        var path: String
        var readOnly: Bool
    }

    enum Volume: Equatable {
        case emptyDir(memory: Bool)
        case secret(name: String)
        /// A file or directory of the node (static pods: the config and the cluster CA).
        case hostPath(path: String)
    }

    struct Container {
        var name: String
        var command: [String]
        var args: [String]
        var env: [EnvVar]
        var capsAdd: [String]
        var capsDrop: [String]
        var runAsUser: Int?
        var runAsGroup: Int?
        var runAsNonRoot: Bool
        var readOnlyRoot: Bool
        var privileged: Bool
        var allowPrivilegeEscalation: Bool
        var seccomp: String?
        var mounts: [Mount]
    }

    var kind: String
    var hostNetwork: Bool
    var initContainers: [Container]
    var containers: [Container]
    var volumes: [String: Volume]

    struct UnknownField: Error, CustomStringConvertible {
        let description: String
    }

    /// The pod template of the first `kind` document (Deployment, DaemonSet), or the spec of a
    /// `Pod` (a static pod).
    init(_ docs: [[String: Any]], kind: String) throws {
        guard let doc = docs.first(where: { $0["kind"] as? String == kind }),
            let pod =
                (kind == "Pod"
                    ? doc["spec"] as? [String: Any]
                    : ((doc["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        else { throw UnknownField(description: "no \(kind) pod template") }
        self.kind = kind
        hostNetwork = pod["hostNetwork"] as? Bool ?? false
        let podSC = pod["securityContext"] as? [String: Any] ?? [:]
        var volumes: [String: Volume] = [:]
        for v in pod["volumes"] as? [[String: Any]] ?? [] {
            guard let name = v["name"] as? String else { continue }
            if let e = v["emptyDir"] as? [String: Any] {
                volumes[name] = .emptyDir(memory: e["medium"] as? String == "Memory")
            } else if let s = v["secret"] as? [String: Any], let secret = s["secretName"] as? String {
                volumes[name] = .secret(name: secret)
            } else if let h = v["hostPath"] as? [String: Any], let path = h["path"] as? String {
                volumes[name] = .hostPath(path: path)
            } else {
                throw UnknownField(
                    description: "\(kind) volume \(name): a kind ContainerTests does not run: \(v.keys.sorted())")
            }
        }
        self.volumes = volumes
        func container(_ c: [String: Any]) throws -> Container {
            let known: Set<String> = [
                "name", "image", "imagePullPolicy", "command", "args", "env", "ports", "livenessProbe",
                "readinessProbe",
                "resources", "securityContext", "volumeMounts",
            ]
            let unknown = Set(c.keys).subtracting(known)
            guard unknown.isEmpty else {
                throw UnknownField(
                    description: "\(kind) container \(c["name"] ?? "?"): fields not modelled: \(unknown.sorted())")
            }
            let sc = c["securityContext"] as? [String: Any] ?? [:]
            let caps = sc["capabilities"] as? [String: Any] ?? [:]
            var env: [EnvVar] = []
            for e in c["env"] as? [[String: Any]] ?? [] {
                guard let name = e["name"] as? String else { continue }
                if let value = e["value"] {
                    env.append(EnvVar(name: name, source: .value("\(value)")))
                } else if let path = ((e["valueFrom"] as? [String: Any])?["fieldRef"] as? [String: Any])?["fieldPath"]
                    as? String
                {
                    env.append(EnvVar(name: name, source: .field(path)))
                } else {
                    throw UnknownField(description: "\(kind) env \(name): a source ContainerTests does not model")
                }
            }
            let seccomp = ((sc["seccompProfile"] ?? podSC["seccompProfile"]) as? [String: Any])?["type"] as? String
            return Container(
                name: c["name"] as? String ?? "", command: (c["command"] as? [Any] ?? []).map { "\($0)" },
                args: (c["args"] as? [Any] ?? []).map { "\($0)" }, env: env,
                capsAdd: caps["add"] as? [String] ?? [], capsDrop: caps["drop"] as? [String] ?? [],
                runAsUser: (sc["runAsUser"] ?? podSC["runAsUser"]) as? Int,
                runAsGroup: (sc["runAsGroup"] ?? podSC["runAsGroup"]) as? Int,
                runAsNonRoot: (sc["runAsNonRoot"] ?? podSC["runAsNonRoot"]) as? Bool ?? false,
                readOnlyRoot: sc["readOnlyRootFilesystem"] as? Bool ?? false,
                privileged: sc["privileged"] as? Bool ?? false,
                allowPrivilegeEscalation: sc["allowPrivilegeEscalation"] as? Bool ?? true, seccomp: seccomp,
                mounts: (c["volumeMounts"] as? [[String: Any]] ?? []).map {
                    Mount(
                        volume: $0["name"] as? String ?? "", path: $0["mountPath"] as? String ?? "",
                        readOnly: $0["readOnly"] as? Bool ?? false)
                })
        }
        initContainers = try (pod["initContainers"] as? [[String: Any]] ?? []).map(container)
        containers = try (pod["containers"] as? [[String: Any]] ?? []).map(container)
    }

    /// The Linux capability bits a container's processes may hold: the runtime's default set
    /// (containerd's and podman's) with `drop`/`add` applied; every capability when privileged.
    static func capabilityMask(_ c: Container) -> UInt64 {
        if c.privileged { return (1 << 41) - 1 }
        let bits: [String: Int] = [
            "CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8,
            "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13, "SYS_CHROOT": 18, "SYS_ADMIN": 21, "MKNOD": 27,
            "AUDIT_WRITE": 29,
            "SETFCAP": 31,
        ]
        let defaults = [
            "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
            "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
        ]
        var set = c.capsDrop.contains("ALL") ? Set<String>() : Set(defaults).subtracting(c.capsDrop)
        set.formUnion(c.capsAdd)
        return set.reduce(0) { $0 | (bits[$1].map { UInt64(1) << UInt64($0) } ?? 0) }
    }
}
