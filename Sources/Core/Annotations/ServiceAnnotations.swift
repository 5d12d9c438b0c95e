/// The typed meaning of a Service's `loadbalancer/*` annotations. Defaults are the original's.
/// What decides where the Service gets an address is here; how its ports are proxied is `proxy`
/// (published for the actors), whose fields read as this struct's own (`annotations.ssl`).
@dynamicMemberLookup
package struct ServiceAnnotations: Sendable, Hashable {
    /// `loadbalancer/pool`: the pool (or one pool per family, comma separated); default `default`.
    package var pools: [PoolName] = [.default]
    /// `loadbalancer/ip` (ours): static addresses, at most one per family.
    package var addresses: [IPAddress] = []
    /// `loadbalancer/sharing-key` (ours): share an IP with other Services holding the same key.
    package var sharingKey: SharingKey?
    /// The proxy settings (`ssl`, `mode`, `hostnames`, …).
    package var proxy = ProxySettings()

    package init() {}

    package subscript<T>(dynamicMember path: WritableKeyPath<ProxySettings, T>) -> T {
        get { proxy[keyPath: path] }
        set { proxy[keyPath: path] = newValue }
    }
}

/// `loadbalancer/proxy-protocol`: which PROXY protocol header the proxy sends the pods.
package enum ProxyProtocolVersion: String, Sendable, Hashable, Codable, CaseIterable {
    case v1
    case v2
}

/// A Kubernetes object name (DNS-1123 subdomain: 1-253 lower-case letters, digits, '-' and '.',
/// starting and ending with a letter or digit). It may name files the actor writes, so it is
/// parsed, never passed through.
package struct ResourceName: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        let b = Array(text.utf8)
        guard !b.isEmpty, b.count <= 253 else { throw AddressParseError(text, "a name must be 1-253 characters") }
        guard b.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E })
        else {
            throw AddressParseError(text, "a name may hold only lower-case letters, digits, '-' and '.'")
        }
        guard b.first!.isASCIIAlphanumeric, b.last!.isASCIIAlphanumeric, !text.contains("..") else {
            throw AddressParseError(text, "a name must start and end with a letter or digit")
        }
        rawValue = text
    }

    package var description: String { rawValue }
    package static func < (a: ResourceName, b: ResourceName) -> Bool { a.rawValue < b.rawValue }

}

/// A rejected annotation value. `isWarning` marks what does not stop the Service from being
/// served: unknown `loadbalancer/` keys (likely typos, `isUnknown`) and bad values of annotations
/// declared `.ignore` (served without that setting).
package struct AnnotationError: Error, Sendable, Hashable, CustomStringConvertible {
    package let key: String
    package let value: String
    package let problem: String
    package let isWarning: Bool
    /// A `loadbalancer/` key no spec declares.
    package var isUnknown: Bool = false

    package var description: String {
        "annotation \(key.quotedForMessage): \"\(value.quotedForMessage)\": \(problem)"
    }
}

/// One declared annotation: its key, the values it takes, what it means, what a bad value does,
/// and its parser. docs/config.md's annotation table is `ServiceAnnotations.markdownTable` (a
/// test keeps them equal).
package struct AnnotationSpec: Sendable {
    /// What a value that does not parse does to the Service.
    package enum OnInvalid: Sendable {
        /// The Service is refused (`InvalidService`) and keeps what it had: the value decides
        /// where or how it is served, so guessing would be wrong.
        case refuse
        /// The Service is served without this setting (`AnnotationIgnored`, a Warning Event).
        case ignore
    }

    package let key: String
    /// The values it takes, for the docs.
    package let values: String
    package let doc: String
    /// Ours (not in tectroll/k8slb).
    package let ours: Bool
    package let onInvalid: OnInvalid
    /// How its value travels to the actors in the assignment document (nil: the watcher alone
    /// uses it, to allocate).
    package let document: DocumentField?
    let apply: @Sendable (inout ServiceAnnotations, String) throws(AddressParseError) -> Void

    init(
        key: String, values: String, ours: Bool = false, onInvalid: OnInvalid = .refuse, document: DocumentField? = nil,
        doc: String,
        apply: @escaping @Sendable (inout ServiceAnnotations, String) throws(AddressParseError) -> Void
    ) {
        self.key = key
        self.values = values
        self.ours = ours
        self.onInvalid = onInvalid
        self.document = document
        self.doc = doc
        self.apply = apply
    }
}

extension ServiceAnnotations {
    /// The annotation prefix shared with the original.
    package static let prefix = "loadbalancer/"

    /// Every annotation we read, declared once.
    package static let table: [AnnotationSpec] = [
        AnnotationSpec(
            key: "loadbalancer/pool", values: "pool name, or `v4pool,v6pool`",
            doc: "pool to allocate from (default `default`); two names, one per family, for dual-stack"
        ) { a, v throws(AddressParseError) in
            a.pools = try parsePools(v)
        },
        AnnotationSpec(
            key: "loadbalancer/ssl", values: "`\"\"`, `true`, `false`", document: .field("ssl", \.ssl),
            doc: "TLS termination; auto (`\"\"`) = port 443 or a port name starting `https`"
        ) { a, v throws(AddressParseError) in
            a.ssl = try parseToggle(v)
        },
        AnnotationSpec(
            key: "loadbalancer/mode", values: "`\"\"`, `http`, `false` (or `tcp`)", document: .field("mode", \.mode),
            doc: "layer 7 or layer 4 (auto: HTTP when TLS is terminated or the port name starts `http`)"
        ) { a, v throws(AddressParseError) in
            switch v.lowercased() {
            case "": a.mode = .auto
            case "http": a.mode = .http
            case "false", "tcp": a.mode = .tcp
            default: throw AddressParseError(v, "expected \"\", \"http\", \"false\" or \"tcp\"")
            }
        },
        AnnotationSpec(
            key: "loadbalancer/sslbackend", values: "`\"\"`, `true`, `false`", document: .field("sb", \.sslBackend),
            doc: "TLS towards the pods"
        ) { a, v throws(AddressParseError) in
            a.sslBackend = try parseToggle(v)
        },
        AnnotationSpec(
            key: "loadbalancer/sslredirect", values: "`\"\"`, `true`, `false`", document: .field("sr", \.sslRedirect),
            doc: "`false` disables the port 80 → HTTPS redirect when TLS is terminated"
        ) { a, v throws(AddressParseError) in
            a.sslRedirect = try parseToggle(v) != .off
        },
        AnnotationSpec(
            key: "loadbalancer/nocheck", values: "`\"\"`, `true`, `false`", document: .field("nc", \.noCheck),
            doc: "`true` disables health checks of the pods"
        ) { a, v throws(AddressParseError) in
            a.noCheck = try parseToggle(v) == .on
        },
        AnnotationSpec(
            key: "loadbalancer/ip", values: "addresses, comma separated, ≤ 1 per family", ours: true,
            doc: "static IPs; overrides `spec.loadBalancerIP`"
        ) { a, v throws(AddressParseError) in
            a.addresses = try parseAddresses(v)
        },
        AnnotationSpec(
            key: "loadbalancer/sharing-key", values: "letters, digits, `._-/`", ours: true,
            doc:
                "Services with the same key may share an IP (disjoint ports, or the same TCP port with disjoint `hostnames`)"
        ) { a, v throws(AddressParseError) in
            a.sharingKey = v.isEmpty ? nil : try SharingKey(parsing: v)
        },
        AnnotationSpec(
            key: "loadbalancer/proxy-protocol", values: "`v1`, `v2`", ours: true, onInvalid: .ignore,
            document: .optional("pp", \.proxyProtocol),
            doc:
                "send a PROXY protocol header to the pods (HAProxy `send-proxy[-v2]`, health checks too; nginx: the port is proxied at layer 4 with `proxy_protocol on`), so they see the client's address"
        ) { a, v throws(AddressParseError) in
            if v.isEmpty {
                a.proxyProtocol = nil
                return
            }
            guard let p = ProxyProtocolVersion(rawValue: v.lowercased()) else {
                throw AddressParseError(v, "expected \"v1\" or \"v2\"")
            }
            a.proxyProtocol = p
        },
        AnnotationSpec(
            key: "loadbalancer/forwarded-headers", values: "`\"\"`, `true`, `false`", ours: true, onInvalid: .ignore,
            document: .field("fh", \.forwardedHeaders),
            doc:
                "HTTP mode sets `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port` towards the pods (default on); `false` turns them off"
        ) { a, v throws(AddressParseError) in
            a.forwardedHeaders = try parseToggle(v) != .off
        },
        AnnotationSpec(
            key: "loadbalancer/tls-secret", values: "Secret name", ours: true, document: .optional("ts", \.tlsSecret),
            doc:
                "terminate TLS with this `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`) instead of the pool's `/etc/certs/<pool>.pem`; looked up in `k8slb-system` (in the Service's namespace first with the actor's `--tls-secrets service-namespace`); renewals reach HAProxy without a reload"
        ) { a, v throws(AddressParseError) in
            a.tlsSecret = v.isEmpty ? nil : try ResourceName(parsing: v)
        },
        AnnotationSpec(
            key: "loadbalancer/hostnames", values: "host names, comma separated", ours: true,
            document: .field("hn", \.hostnames),
            doc:
                "the names this Service answers for on its VIP and port: Services sharing one IP and port are routed by TLS SNI (passthrough and terminated) and HTTP `Host`; a sharer without `hostnames` gets what matches no name, else it is refused"
        ) { a, v throws(AddressParseError) in
            a.hostnames = try parseHostnames(v)
        },
    ]

    /// docs/config.md's annotation table, made from `table`.
    package static var markdownTable: String {
        var out = "| annotation | values | bad value | meaning |\n|---|---|---|---|\n"
        for s in table {
            let invalid = s.onInvalid == .refuse ? "refused" : "ignored"
            out += "| `\(s.key)`\(s.ours ? " (ours)" : "") | \(s.values) | \(invalid) | \(s.doc) |\n"
        }
        return out
    }

    /// Parses every `loadbalancer/` annotation of a Service. Values that fail keep their default and
    /// are returned as errors; unknown `loadbalancer/` keys come back as warnings.
    package static func parse(_ annotations: [String: String]) -> (ServiceAnnotations, [AnnotationError]) {
        var result = ServiceAnnotations()
        var problems: [AnnotationError] = []
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) where key.hasPrefix(prefix) {
            guard let spec = table.first(where: { $0.key == key }) else {
                problems.append(
                    AnnotationError(
                        key: key, value: value,
                        problem: "unknown annotation (known: \(table.map(\.key).joined(separator: ", ")))",
                        isWarning: true, isUnknown: true))
                continue
            }
            do {
                try spec.apply(&result, value)
            } catch {
                let ignored = spec.onInvalid == .ignore
                problems.append(
                    AnnotationError(
                        key: key, value: value, problem: error.problem + (ignored ? "; served without it" : ""),
                        isWarning: ignored))
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

    /// Comma separated host names (RFC 1123, lower-cased), no duplicates, at most 64.
    static func parseHostnames(_ v: String) throws(AddressParseError) -> [HostName] {
        if Substring(v).trimmingCharacters(in: " ").isEmpty { return [] }
        var out: [HostName] = []
        for part in v.split(separator: ",", omittingEmptySubsequences: false) {
            let text = part.trimmingCharacters(in: " ")
            let name: HostName
            do { name = try HostName(parsing: text) } catch { throw AddressParseError(v, error.description) }
            if out.contains(name) { throw AddressParseError(v, "\(name) is listed twice") }
            out.append(name)
        }
        guard out.count <= 64 else { throw AddressParseError(v, "at most 64 host names") }
        return out.sorted { $0.rawValue < $1.rawValue }
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
