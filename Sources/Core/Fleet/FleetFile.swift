/// A tenant cluster's name in a fleet: what its pools, Services and metrics are labelled with on
/// the fleet's machines. A DNS label of at most 30 characters (lower-case letters, digits, '-'),
/// so `<cluster>.<pool>` stays a readable pool name in the generated configs.
package struct ClusterName: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        if text.isEmpty { throw AddressParseError(text, "cluster name is empty") }
        if text.utf8.count > 30 { throw AddressParseError(text, "cluster name is longer than 30 characters") }
        let ok = text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        if !ok { throw AddressParseError(text, "cluster name may hold only lower-case letters, digits and '-'") }
        if text.utf8.first == 0x2D || text.utf8.last == 0x2D {
            throw AddressParseError(text, "cluster name must start and end with a letter or digit")
        }
        rawValue = text
    }

    package var description: String { rawValue }
    package static func < (a: ClusterName, b: ClusterName) -> Bool { a.rawValue < b.rawValue }
}

/// What one tenant may take of the fleet (nil: no limit).
package struct FleetLimits: Sendable, Hashable {
    /// VIPs served for the cluster.
    package var vips: Int?
    /// Listeners (VIP, port, protocol) served for the cluster.
    package var ports: Int?
    package init(vips: Int? = nil, ports: Int? = nil) {
        self.vips = vips
        self.ports = ports
    }
}

/// The fleet file (`k8slb-actor run --fleet FILE`): the clusters one actor serves, each through
/// its own kubeconfig, and the settings only the fleet owns (`docs/fleet.md`).
///
/// ```json
/// {"clusters": [
///    {"name": "blue", "kubeconfig": "/etc/k8slb/blue.kubeconfig", "limits": {"vips": 100, "ports": 400}},
///    {"name": "green", "kubeconfig": "/etc/k8slb/green.kubeconfig", "namespace": "k8slb-system"}],
///  "settings": {"vrrp": {"advertInterval": 0.1}, "haproxy": {"global": ["maxconn 20000"]}}}
/// ```
package struct FleetFile: Sendable, Equatable {
    package struct Cluster: Sendable, Equatable {
        package var name: ClusterName
        package var kubeconfig: SafePath
        /// Where the cluster's k8slb config and assignments live.
        package var namespace: String = "k8slb-system"
        package var limits = FleetLimits()
    }

    /// In the file's order: an earlier cluster wins a first claim both make at once.
    package var clusters: [Cluster]
    /// The fleet's own settings (`haproxy`, `nginx`, `keepalived`, `vrrp`, `bgp`); no pools.
    package var settings: UserConfig
    package var warnings: [ConfigIssue]

    package static func parse(_ text: String) throws(ConfigValidationError) -> FleetFile {
        var p = FleetParser()
        let file = p.document(text)
        let errors = p.issues.filter { $0.severity == .error }
        let warnings = p.issues.filter { $0.severity == .warning }
        guard errors.isEmpty, let file else { throw ConfigValidationError(errors: errors, warnings: warnings) }
        return FleetFile(clusters: file.clusters, settings: file.settings, warnings: warnings)
    }
}

/// Walks the fleet file collecting issues.
private struct FleetParser: JSONIssueCollector {
    var issues: [ConfigIssue] = []

    mutating func document(_ text: String) -> (clusters: [FleetFile.Cluster], settings: UserConfig)? {
        let root: JSONValue
        do { root = try JSONReader.parse(text) } catch {
            self.error("", error.description)
            return nil
        }
        guard let members = object(root, "") else { return nil }
        var clusters: [FleetFile.Cluster] = []
        var settings = UserConfig.empty
        for (key, value) in members {
            switch key {
            case "clusters":
                guard case .array(let items) = value, !items.isEmpty else {
                    self.error("clusters", "expected a non-empty array of clusters")
                    continue
                }
                for (i, item) in items.enumerated() {
                    if let c = cluster(item, "clusters[\(i)]") { clusters.append(c) }
                }
            case "settings":
                let parsed = UserConfig.parseFleetSettings(value, path: "settings")
                settings = parsed.config
                issues += parsed.issues
            default: unknownKey("", key, known: ["clusters", "settings"])
            }
        }
        if !members.contains(where: { $0.key == "clusters" }) {
            self.error("clusters", "required: the clusters to serve")
        }
        var seen: Set<ClusterName> = []
        for (i, c) in clusters.enumerated() where !seen.insert(c.name).inserted {
            self.error("clusters[\(i)].name", "cluster \"\(c.name)\" is listed twice")
        }
        return (clusters, settings)
    }

    mutating func cluster(_ value: JSONValue, _ path: String) -> FleetFile.Cluster? {
        guard let members = object(value, path) else { return nil }
        var name: ClusterName?
        var kubeconfig: SafePath?
        var namespace = "k8slb-system"
        var limits = FleetLimits()
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "name": name = parsed(v, p, ClusterName.init(parsing:))
            case "kubeconfig": kubeconfig = parsed(v, p, SafePath.init(parsing:))
            case "namespace": if let n = parsed(v, p, ResourceName.init(parsing:)) { namespace = n.description }
            case "limits":
                guard let entries = object(v, p) else { continue }
                for (lk, lv) in entries {
                    switch lk {
                    case "vips": limits.vips = integer(lv, Self.join(p, lk), 1...1_000_000)
                    case "ports": limits.ports = integer(lv, Self.join(p, lk), 1...1_000_000)
                    default: unknownKey(p, lk, known: ["vips", "ports"])
                    }
                }
            default: unknownKey(path, key, known: ["name", "kubeconfig", "namespace", "limits"])
            }
        }
        if !members.contains(where: { $0.key == "name" }) { self.error(Self.join(path, "name"), "required") }
        if !members.contains(where: { $0.key == "kubeconfig" }) {
            self.error(Self.join(path, "kubeconfig"), "required: the path of the cluster's kubeconfig")
        }
        guard let name, let kubeconfig else { return nil }
        return FleetFile.Cluster(name: name, kubeconfig: kubeconfig, namespace: namespace, limits: limits)
    }
}
