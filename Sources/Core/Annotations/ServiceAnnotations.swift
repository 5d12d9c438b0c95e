/// The typed meaning of a Service's `loadbalancer/*` annotations. Defaults are the original's.
package struct ServiceAnnotations: Sendable, Hashable {
    /// `loadbalancer/pool`: the pool (or one pool per family, comma separated); default `default`.
    package var pools: [PoolName] = [.default]
    /// `loadbalancer/ssl`: TLS termination on the frontend.
    package var ssl: Toggle = .auto
    /// `loadbalancer/mode`: layer 7 or layer 4.
    package var mode: ProxyMode = .auto
    /// `loadbalancer/sslbackend`: TLS towards the pods.
    package var sslBackend: Toggle = .auto
    /// `loadbalancer/sslredirect`: redirect port 80 to HTTPS when TLS is terminated (default on).
    package var sslRedirect: Bool = true
    /// `loadbalancer/nocheck`: no health check of the pods.
    package var noCheck: Bool = false
    /// `loadbalancer/ip` (ours): static addresses, at most one per family.
    package var addresses: [IPAddress] = []
    /// `loadbalancer/sharing-key` (ours): share an IP with other Services holding the same key.
    package var sharingKey: SharingKey?

    package init() {}
}

/// A rejected annotation value. `isWarning` marks unknown `loadbalancer/` keys (likely typos),
/// which do not stop the Service from being served.
package struct AnnotationError: Error, Sendable, Hashable, CustomStringConvertible {
    package let key: String
    package let value: String
    package let problem: String
    package let isWarning: Bool

    package var description: String {
        "annotation \(key.quotedForMessage): \"\(value.quotedForMessage)\": \(problem)"
    }
}

/// One declared annotation: its key, what it means, and its parser.
package struct AnnotationSpec: Sendable {
    package let key: String
    package let doc: String
    let apply: @Sendable (inout ServiceAnnotations, String) throws(AddressParseError) -> Void
}

extension ServiceAnnotations {
    /// The annotation prefix shared with the original.
    package static let prefix = "loadbalancer/"

    /// Every annotation we read, declared once.
    package static let table: [AnnotationSpec] = [
        AnnotationSpec(key: "loadbalancer/pool",
                       doc: "IP pool to allocate from (default \"default\"); for dual-stack, one pool per family: \"v4pool,v6pool\".") { a, v throws(AddressParseError) in
            a.pools = try parsePools(v)
        },
        AnnotationSpec(key: "loadbalancer/ssl",
                       doc: "TLS termination: \"\" auto (port 443 or port name https*), \"true\" force on, \"false\" force off.") { a, v throws(AddressParseError) in
            a.ssl = try parseToggle(v)
        },
        AnnotationSpec(key: "loadbalancer/mode",
                       doc: "\"\" auto, \"http\" layer 7, \"false\" (or \"tcp\") layer 4 passthrough.") { a, v throws(AddressParseError) in
            switch v.lowercased() {
            case "": a.mode = .auto
            case "http": a.mode = .http
            case "false", "tcp": a.mode = .tcp
            default: throw AddressParseError(v, "expected \"\", \"http\", \"false\" or \"tcp\"")
            }
        },
        AnnotationSpec(key: "loadbalancer/sslbackend",
                       doc: "TLS to the pods: \"\" auto, \"true\" force on, \"false\" force off.") { a, v throws(AddressParseError) in
            a.sslBackend = try parseToggle(v)
        },
        AnnotationSpec(key: "loadbalancer/sslredirect",
                       doc: "\"false\" disables the automatic port 80 redirect when TLS is terminated.") { a, v throws(AddressParseError) in
            a.sslRedirect = try parseToggle(v) != .off
        },
        AnnotationSpec(key: "loadbalancer/nocheck",
                       doc: "\"true\" disables health checks of the pods; \"\" or \"false\" keeps them.") { a, v throws(AddressParseError) in
            a.noCheck = try parseToggle(v) == .on
        },
        AnnotationSpec(key: "loadbalancer/ip",
                       doc: "Static IP(s), at most one per family, comma separated (like spec.loadBalancerIP, which it overrides).") { a, v throws(AddressParseError) in
            a.addresses = try parseAddresses(v)
        },
        AnnotationSpec(key: "loadbalancer/sharing-key",
                       doc: "Services with the same key may share an IP when their ports/protocols differ.") { a, v throws(AddressParseError) in
            a.sharingKey = v.isEmpty ? nil : try SharingKey(parsing: v)
        },
    ]

    /// Parses every `loadbalancer/` annotation of a Service. Values that fail keep their default and
    /// are returned as errors; unknown `loadbalancer/` keys come back as warnings.
    package static func parse(_ annotations: [String: String]) -> (ServiceAnnotations, [AnnotationError]) {
        var result = ServiceAnnotations()
        var problems: [AnnotationError] = []
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) where key.hasPrefix(prefix) {
            guard let spec = table.first(where: { $0.key == key }) else {
                problems.append(AnnotationError(key: key, value: value,
                                                problem: "unknown annotation (known: \(table.map(\.key).joined(separator: ", ")))",
                                                isWarning: true))
                continue
            }
            do {
                try spec.apply(&result, value)
            } catch {
                problems.append(AnnotationError(key: key, value: value, problem: error.problem, isWarning: false))
            }
        }
        return (result, problems)
    }

    static func parseToggle(_ v: String) throws(AddressParseError) -> Toggle {
        switch v.lowercased() {
        case "": return .auto
        case "true": return .on
        case "false": return .off
        default: throw AddressParseError(v, "expected \"\", \"true\" or \"false\"")
        }
    }

    static func parsePools(_ v: String) throws(AddressParseError) -> [PoolName] {
        if v.isEmpty { return [.default] }
        var out: [PoolName] = []
        for part in v.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: " ")
            let pool: PoolName
            do { pool = try PoolName(parsing: name) } catch { throw AddressParseError(v, error.description) }
            if out.contains(pool) { throw AddressParseError(v, "pool \"\(pool)\" is listed twice") }
            out.append(pool)
        }
        guard out.count <= 2 else { throw AddressParseError(v, "at most two pools (one per family)") }
        return out
    }

    static func parseAddresses(_ v: String) throws(AddressParseError) -> [IPAddress] {
        if v.isEmpty { return [] }
        var out: [IPAddress] = []
        for part in v.split(separator: ",", omittingEmptySubsequences: false) {
            let text = part.trimmingCharacters(in: " ")
            let address: IPAddress
            do { address = try IPAddress(parsing: text) } catch { throw AddressParseError(v, error.description) }
            if out.contains(where: { $0.family == address.family }) {
                throw AddressParseError(v, "more than one \(address.family) address")
            }
            out.append(address)
        }
        return out.sorted()
    }
}

extension Substring {
    func trimmingCharacters(in c: Character) -> String {
        var s = self
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}
