/// How a Service's ports are proxied, from its `loadbalancer/*` annotations: what the watcher
/// publishes for the actors (`AssignmentDocument.ServiceEntry.proxy`) and what `ProxyPlan` reads.
/// Each default is written here once; the document carries only values that differ from it,
/// under the wire key its annotation's table entry names (`AnnotationSpec.document`).
package struct ProxySettings: Sendable, Hashable {
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
    /// `loadbalancer/proxy-protocol` (ours): PROXY protocol header towards the pods.
    package var proxyProtocol: ProxyProtocolVersion?
    /// `loadbalancer/forwarded-headers` (ours): X-Forwarded-For/-Proto/-Port in HTTP mode (default on).
    package var forwardedHeaders: Bool = true
    /// `loadbalancer/tls-secret` (ours): a `kubernetes.io/tls` Secret terminating TLS for this Service.
    package var tlsSecret: ResourceName?
    /// `loadbalancer/hostnames` (ours): the names this Service answers on a shared VIP:port (SNI,
    /// Host), sorted.
    package var hostnames: [HostName] = []

    package init() {}

    /// The defaults, for "differs from the default" when encoding.
    static let defaults = ProxySettings()
}

/// How one `ProxySettings` field travels in the assignment document: its short wire key and the
/// typed value under it (only when it differs from the default; absent means the default).
package struct DocumentField: Sendable {
    package let key: String
    let encode: @Sendable (ProxySettings, inout KeyedEncodingContainer<WireKey>) throws -> Void
    let decode: @Sendable (inout ProxySettings, KeyedDecodingContainer<WireKey>) throws -> Void

    /// `path` under `key`.
    static func field<T: Codable & Equatable & Sendable>(
        _ key: String, _ path: any WritableKeyPath<ProxySettings, T> & Sendable
    ) -> DocumentField {
        DocumentField(
            key: key,
            encode: { settings, c in
                let value = settings[keyPath: path]
                if value != ProxySettings.defaults[keyPath: path] { try c.encode(value, forKey: WireKey(key)) }
            },
            decode: { settings, c in
                if let value = try c.decodeIfPresent(T.self, forKey: WireKey(key)) { settings[keyPath: path] = value }
            })
    }

    /// An optional `path` under `key` (nil, the default, is left out).
    static func optional<T: Codable & Equatable & Sendable>(
        _ key: String, _ path: any WritableKeyPath<ProxySettings, T?> & Sendable
    ) -> DocumentField {
        DocumentField(
            key: key,
            encode: { settings, c in
                try c.encodeIfPresent(settings[keyPath: path], forKey: WireKey(key))
            },
            decode: { settings, c in
                settings[keyPath: path] = try c.decodeIfPresent(T.self, forKey: WireKey(key))
            })
    }
}

/// A coding key made from a string (the document's short keys live in the annotation table).
package struct WireKey: CodingKey, Hashable {
    package let stringValue: String
    package var intValue: Int? { nil }
    package init(_ s: String) { stringValue = s }
    package init?(stringValue: String) { self.stringValue = stringValue }
    package init?(intValue: Int) { nil }
}

extension ProxySettings {
    /// The document fields, from the annotation table (in table order).
    package static let documentFields: [DocumentField] = ServiceAnnotations.table.compactMap(\.document)

    /// Writes the fields that differ from their defaults.
    package func encode(to c: inout KeyedEncodingContainer<WireKey>) throws {
        for field in Self.documentFields { try field.encode(self, &c) }
    }

    /// Reads the fields present (the rest keep their defaults).
    package init(from c: KeyedDecodingContainer<WireKey>) throws {
        self.init()
        for field in Self.documentFields { try field.decode(&self, c) }
    }
}
