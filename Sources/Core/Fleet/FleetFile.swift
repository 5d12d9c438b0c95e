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
        var issues: [ConfigIssue] = []
        func error(_ path: String, _ message: String) { issues.append(ConfigIssue(.error, path, message)) }
        let root: JSONValue
        do { root = try JSONReader.parse(text) } catch {
            throw ConfigValidationError(errors: [ConfigIssue(.error, "", error.description)], warnings: [])
        }
        guard case .object(let members) = root else {
            throw ConfigValidationError(errors: [ConfigIssue(.error, "", "expected an object")], warnings: [])
        }
        var clusters: [Cluster] = []
        var settings = UserConfig.empty
        for (key, value) in members {
            switch key {
            case "clusters":
                guard case .array(let items) = value, !items.isEmpty else {
                    error("clusters", "expected a non-empty array of clusters")
                    continue
                }
                for (i, item) in items.enumerated() {
                    if let c = parseCluster(item, "clusters[\(i)]", &issues) { clusters.append(c) }
                }
            case "settings":
                let parsed = UserConfig.parseFleetSettings(value, path: "settings")
                settings = parsed.config
                issues += parsed.issues
            default:
                issues.append(
                    ConfigIssue(.warning, key, "unknown key ignored (known keys: clusters, settings)"))
            }
        }
        if !members.contains(where: { $0.key == "clusters" }) { error("clusters", "required: the clusters to serve") }
        var seen: Set<ClusterName> = []
        for (i, c) in clusters.enumerated() where !seen.insert(c.name).inserted {
            error("clusters[\(i)].name", "cluster \"\(c.name)\" is listed twice")
        }
        let errors = issues.filter { $0.severity == .error }
        let warnings = issues.filter { $0.severity == .warning }
        guard errors.isEmpty else { throw ConfigValidationError(errors: errors, warnings: warnings) }
        return FleetFile(clusters: clusters, settings: settings, warnings: warnings)
    }

    private static func parseCluster(_ value: JSONValue, _ path: String, _ issues: inout [ConfigIssue]) -> Cluster? {
        func fail(_ p: String, _ message: String) { issues.append(ConfigIssue(.error, p, message)) }
        guard case .object(let members) = value else {
            fail(path, "expected an object")
            return nil
        }
        var name: ClusterName?
        var kubeconfig: SafePath?
        var namespace = "k8slb-system"
        var limits = FleetLimits()
        for (key, v) in members {
            let p = "\(path).\(key)"
            switch (key, v) {
            case ("name", .string(let s)):
                do { name = try ClusterName(parsing: s) } catch { fail(p, error.description) }
            case ("kubeconfig", .string(let s)):
                do { kubeconfig = try SafePath(parsing: s) } catch { fail(p, error.description) }
            case ("namespace", .string(let s)):
                do { namespace = try ResourceName(parsing: s).description } catch {
                    fail(p, error.description)
                }
            case ("limits", .object(let members)):
                for (lk, lv) in members {
                    guard case .number(let text) = lv, let n = Int(text), (1...1_000_000).contains(n) else {
                        fail("\(p).\(lk)", "expected a whole number from 1 to 1000000")
                        continue
                    }
                    switch lk {
                    case "vips": limits.vips = n
                    case "ports": limits.ports = n
                    default:
                        issues.append(
                            ConfigIssue(.warning, "\(p).\(lk)", "unknown key ignored (known keys: vips, ports)"))
                    }
                }
            case ("name", _), ("kubeconfig", _), ("namespace", _):
                fail(p, "expected a string")
            case ("limits", _):
                fail(p, "expected an object")
            default:
                issues.append(
                    ConfigIssue(
                        .warning, p, "unknown key ignored (known keys: name, kubeconfig, namespace, limits)"))
            }
        }
        if name == nil && !members.contains(where: { $0.key == "name" }) { fail("\(path).name", "required") }
        if kubeconfig == nil && !members.contains(where: { $0.key == "kubeconfig" }) {
            fail("\(path).kubeconfig", "required: the path of the cluster's kubeconfig")
        }
        guard let name, let kubeconfig else { return nil }
        return Cluster(name: name, kubeconfig: kubeconfig, namespace: namespace, limits: limits)
    }
}
