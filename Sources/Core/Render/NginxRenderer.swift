/// Renders nginx.conf from typed inputs (the `nginx` backend): HTTP ports in `http {}` with
/// `proxy_pass`, TCP and UDP ports in `stream {}`; TLS termination with `<pool>.pem` +
/// `<pool>.key` by the same rules as HAProxy (PortPolicy). User text reaches the file only as the
/// config's validated raw line lists.
package struct NginxRenderer: Sendable {
    package struct Options: Sendable, Hashable {
        package var runDirectory = "/run/k8slb"
        package var healthPort: UInt16 = 8405
        package var certDirectory = "/etc/certs"
        /// Pools whose `<pool>.pem`/`<pool>.key` pair was checked and is usable.
        package var poolsWithCertificates: Set<PoolName> = []
        /// Debian loads the stream module through this include.
        package var moduleInclude: String? = "/etc/nginx/modules-enabled/*.conf"
        package var workerConnections = 4096
        /// Idle keep-alive connections to the pods each worker keeps per HTTP upstream.
        package var upstreamKeepalive = 32
        package var shutdownTimeoutSeconds = 30
        /// Idle timeout of a UDP session (nginx keeps one per client address and port).
        package var udpSessionTimeoutSeconds = 30
        /// Services whose `loadbalancer/tls-secret` checked out, with the bundle the actor wrote.
        package var serviceCertificates: [ServiceKey: SafePath] = [:]
        /// A digest of those bundles' contents (a renewal changes the file, not the config: this
        /// makes the config change too, so nginx reloads).
        package var certificateDigest: UInt64?

        package init() {}
    }

    package let options: Options
    package init(options: Options) { self.options = options }

    /// The user nginx's workers run as unless the operator's `nginx.global` names another
    /// (nginx's built-in default; its group is the distribution's, `nogroup` on Debian, so k8slb
    /// renders no `user` line of its own).
    package static let defaultWorkerUser = "nobody"

    /// nginx's temporary-file directives and the directory each gets in the run directory.
    package static let temporaryDirectories: [(directive: String, name: String)] = [
        ("client_body_temp_path", "nginx-body"), ("proxy_temp_path", "nginx-proxy"), ("fastcgi_temp_path", "nginx-fastcgi"),
        ("uwsgi_temp_path", "nginx-uwsgi"), ("scgi_temp_path", "nginx-scgi"),
    ]

    /// The workers' user for `config`: the operator's `user` line, else `defaultWorkerUser`. The
    /// actor creates the temporary directories owned by it before nginx starts (nginx would
    /// otherwise chown them, which needs CAP_CHOWN).
    package static func workerUser(_ config: UserConfig) -> String {
        for line in config.nginx.global where OperatorSettings.nginxKey(line.text) == "user" {
            let words = line.text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" })
            if words.count > 1 { return String(words[1]) }
        }
        return defaultWorkerUser
    }

    /// The temporary directories nginx uses with `config` (the operator's own paths stay theirs).
    package func temporaryDirectories(_ config: UserConfig) -> [String] {
        let http = OperatorSettings.nginxKeys(config.nginx.http)
        return Self.temporaryDirectories.filter { !http.contains($0.directive) }.map { options.runDirectory + "/" + $0.name }
    }

    private struct Listener {
        let vip: AssignmentDocument.VIP
        let entry: AssignmentDocument.ServiceEntry
        let port: AssignmentDocument.Port
        let policy: PortPolicy
        /// The bundle TLS terminates with (nil: no termination).
        let certificate: Certificate?
        /// `<vip>_<port>_<proto>`: where it listens (computed once).
        let place: String
        /// The upstream's name: `place`, plus a suffix when the port is shared by host name.
        var name: String

        init(vip: AssignmentDocument.VIP, entry: AssignmentDocument.ServiceEntry, port: AssignmentDocument.Port, policy: PortPolicy, certificate: Certificate?) {
            self.vip = vip
            self.entry = entry
            self.port = port
            self.policy = policy
            self.certificate = certificate
            place = vip.address.identifier + "_" + String(port.port) + (port.proto == .udp ? "_udp" : "_tcp")
            name = place
        }
    }

    /// A certificate and its key (the same file for Secret bundles).
    private struct Certificate: Equatable {
        let certificate: String
        let key: String
    }

    /// Services (or ports) left out, and why (the actor reports them).
    package struct Skipped: Sendable, Hashable, CustomStringConvertible {
        package var service: ServiceKey
        package var reason: String
        package var description: String { "\(service): \(reason)" }
    }

    package func render(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> String {
        renderReporting(document, endpoints: endpoints, config: config).text
    }

    /// The config and the Service ports it could not route.
    package func renderReporting(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> (text: String, skipped: [Skipped]) {
        var httpListeners: [Listener] = [], stream: [Listener] = []
        for vip in document.vips {
            for entry in vip.services {
                for port in entry.ports where port.proto != .sctp {
                    var policy = PortPolicy.resolve(entry, port)
                    let cert = policy.terminateTLS ? certificate(vip, entry) : nil
                    if policy.terminateTLS && cert == nil { policy.terminateTLS = false }
                    // nginx's http proxy cannot send a PROXY header: such ports go through stream.
                    if entry.proxyProtocol != nil { policy.http = false }
                    let l = Listener(vip: vip, entry: entry, port: port, policy: policy, certificate: policy.terminateTLS ? cert : nil)
                    if policy.http { httpListeners.append(l) } else { stream.append(l) }
                }
            }
        }
        var skipped: [Skipped] = []
        let httpGroups = Self.share(httpListeners, &skipped, allowPassthrough: false)
        let streamGroups = Self.share(stream, &skipped, allowPassthrough: true)
        var out = ConfigText()
        out.reserve(vips: document.vips.count)
        // Settings the operator's raw lines also give are theirs (OperatorSettings).
        let main = OperatorSettings.nginxKeys(config.nginx.global)
        let key: (String) -> String = { OperatorSettings.nginxKey($0) }
        if let include = options.moduleInclude { out.top("include \(include);") }
        out.top("pid \(options.runDirectory)/nginx.pid;")
        out.top("error_log stderr notice;")
        out.setting("worker_processes auto;", unlessIn: main, key: key, indent: false)
        // Old workers finish their connections after a reload or on shutdown, for at most this long.
        out.setting("worker_shutdown_timeout \(options.shutdownTimeoutSeconds)s;", unlessIn: main, key: key, indent: false)
        if let digest = options.certificateDigest {
            // The Secrets' contents: a renewed certificate changes this line, so nginx reloads.
            out.top("# certificates \(String(digest, radix: 16))")
        }
        for l in config.nginx.global where !l.text.isEmpty { out.top(l.text) }
        out.block("events")
        out.line("worker_connections \(options.workerConnections);")
        out.close()

        let http = OperatorSettings.nginxKeys(config.nginx.http)
        out.block("http")
        out.setting("access_log off;", unlessIn: http, key: key)
        // Every temporary path in the run directory (the image's root is read-only), created by the
        // actor owned by the workers' user (workerUser), so nginx never needs CAP_CHOWN.
        for (directive, name) in Self.temporaryDirectories {
            out.setting("\(directive) \(options.runDirectory)/\(name);", unlessIn: http, key: key)
        }
        out.setting("server_tokens off;", unlessIn: http, key: key)
        out.line("map $http_upgrade $k8slb_connection { default upgrade; \"\" \"\"; }")
        out.raw(config.nginx.http)
        out.line("server { listen 127.0.0.1:\(options.healthPort); location = /healthz { return 200 \"ok\\n\"; } }")
        var usedHTTP: [IPAddress: Set<UInt16>] = [:]
        for l in httpListeners { usedHTTP[l.vip.address, default: []].insert(l.port.port) }
        for group in httpGroups {
            let shared = group.count > 1
            let hasFallback = group.contains { $0.entry.hostnames.isEmpty }
            for l in group {
                upstream(&out, l, endpoints: endpoints, config: config, http: true)
                out.line("server {")
                let fallback = shared && l.entry.hostnames.isEmpty
                out.line("    listen \(l.vip.address.withPort(l.port.port))\(l.policy.terminateTLS ? " ssl" : "")\(fallback ? " default_server" : "");")
                if shared && !l.entry.hostnames.isEmpty { out.line("    server_name \(l.entry.hostnames.map(\.rawValue).joined(separator: " "));") }
                if let c = l.certificate { certificate(&out, c) }
                access(&out, l.entry)
                out.line("    location / {")
                out.line("        proxy_pass \(l.policy.tlsToBackend ? "https" : "http")://up_\(l.name);")
                // HTTP/1.1 without "Connection: close": the upstream's keep-alive pool is used
                // (nginx's default, HTTP/1.0 with "Connection: close", opens a connection to the
                // pod for every request); an Upgrade (WebSocket) is passed on.
                out.line("        proxy_http_version 1.1;")
                out.line("        proxy_set_header Upgrade $http_upgrade;")
                out.line("        proxy_set_header Connection $k8slb_connection;")
                out.line("        proxy_set_header Host $host;")
                if l.entry.forwardedHeaders {
                    out.line("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
                    out.line("        proxy_set_header X-Forwarded-Proto $scheme;")
                    out.line("        proxy_set_header X-Forwarded-Port $server_port;")
                }
                for r in config.nginx.proxy where !r.text.isEmpty { out.line("        \(r.text)") }
                out.line("    }")
                out.line("}")
            }
            if shared && !hasFallback, let l = group.first {
                // Names no sharer answers are refused.
                out.line("server {")
                out.line("    listen \(l.vip.address.withPort(l.port.port))\(l.policy.terminateTLS ? " ssl" : "") default_server;")
                if let c = l.certificate { certificate(&out, c) }
                out.line("    return 404;")
                out.line("}")
            }
            if let l = group.first, l.policy.terminateTLS, group.allSatisfy(\.entry.sslRedirect), l.port.port == 443,
               !(usedHTTP[l.vip.address]?.contains(80) ?? false) {
                usedHTTP[l.vip.address, default: []].insert(80)
                out.line("server { listen \(l.vip.address.withPort(80)); return 301 https://$host$request_uri; }")
            }
        }
        out.close()

        out.block("stream")
        out.raw(config.nginx.stream)
        for group in streamGroups {
            if group.count > 1 {
                sharedStream(&out, group, endpoints: endpoints, config: config)
                continue
            }
            let l = group[0]
            upstream(&out, l, endpoints: endpoints, config: config, http: false)
            out.line("server {")
            out.line("    listen \(l.vip.address.withPort(l.port.port))\(l.port.proto == .udp ? " udp" : "")\(l.policy.terminateTLS ? " ssl" : "");")
            if let c = l.certificate { certificate(&out, c) }
            access(&out, l.entry)
            streamProxy(&out, l)
            out.line("    proxy_pass up_\(l.name);")
            out.line("}")
        }
        out.close()
        return (out.text, skipped)
    }

    /// Groups listeners by VIP and port. A port held by several Services (host names) keeps those
    /// that are proxied like the first (by namespace/name) and claim names no earlier one has; at
    /// most one without names. Stream ports can only be shared as TLS passthrough (SNI via
    /// `ssl_preread`).
    private static func share(_ listeners: [Listener], _ skipped: inout [Skipped], allowPassthrough: Bool) -> [[Listener]] {
        // Listeners come VIP by VIP; only a VIP with several Services can share a port.
        var out: [[Listener]] = []
        var groups: [[Listener]] = []
        var i = 0
        while i < listeners.count {
            var j = i + 1
            while j < listeners.count && listeners[j].vip.address == listeners[i].vip.address { j += 1 }
            if listeners[i].vip.services.count == 1 {
                for l in listeners[i..<j] { groups.append([l]) }
            } else {
                var byPlace: [String: [Listener]] = [:]
                var order: [String] = []
                for l in listeners[i..<j] {
                    if byPlace[l.place] == nil { order.append(l.place) }
                    byPlace[l.place, default: []].append(l)
                }
                for place in order { groups.append(byPlace[place]!) }
            }
            i = j
        }
        for group in groups {
            let all = group.sorted { $0.entry.key < $1.entry.key }
            guard all.count > 1 else { out.append(all); continue }
            let first = all[0]
            var kept: [Listener] = []
            var claimed = Set<HostName>()
            var fallback = false
            for var l in all {
                let here = "\(l.vip.address.withPort(l.port.port))"
                if l.port.proto == .udp || (allowPassthrough && (l.policy.terminateTLS || l.entry.proxyProtocol != nil)) {
                    skipped.append(Skipped(service: l.entry.key, reason: "\(here) is shared by host name; nginx routes shared stream ports only as TLS passthrough"))
                    continue
                }
                guard l.policy.terminateTLS == first.policy.terminateTLS else {
                    skipped.append(Skipped(service: l.entry.key, reason: "\(here) is shared by host name with different TLS termination"))
                    continue
                }
                if l.entry.hostnames.isEmpty {
                    guard !fallback else {
                        skipped.append(Skipped(service: l.entry.key, reason: "\(here) already has a Service for names no other sharer answers"))
                        continue
                    }
                    fallback = true
                } else {
                    let taken = claimed.intersection(l.entry.hostnames)
                    guard taken.isEmpty else {
                        skipped.append(Skipped(service: l.entry.key, reason: "host name(s) \(taken.map(\.rawValue).sorted().joined(separator: ", ")) on \(here) are already routed to another Service"))
                        continue
                    }
                    claimed.formUnion(l.entry.hostnames)
                }
                l.name = l.place + "_" + String(AssignmentShards.fnv1a(Array(l.entry.key.description.utf8)) & 0xffff_ffff, radix: 16)
                kept.append(l)
            }
            if !kept.isEmpty { out.append(kept) }
        }
        return out
    }

    /// TLS passthrough shared by host name: the ClientHello's SNI picks the upstream.
    private func sharedStream(_ out: inout ConfigText, _ group: [Listener], endpoints: EndpointMap, config: UserConfig) {
        let place = group[0].place
        for l in group { upstream(&out, l, endpoints: endpoints, config: config, http: false) }
        let fallback = group.first { $0.entry.hostnames.isEmpty }
        if fallback == nil {
            out.line("upstream up_\(place)_none {")
            out.line("    server 127.0.0.1:9 down;")
            out.line("}")
        }
        out.line("map $ssl_preread_server_name $up_\(place) {")
        out.line("    hostnames;")
        for l in group { for h in l.entry.hostnames { out.line("    \(h.rawValue) up_\(l.name);") } }
        out.line("    default up_\(fallback.map(\.name) ?? place + "_none");")
        out.line("}")
        out.line("server {")
        out.line("    listen \(group[0].vip.address.withPort(group[0].port.port));")
        out.line("    ssl_preread on;")
        if let ranges = group.first?.entry.sourceRanges, group.allSatisfy({ $0.entry.sourceRanges == ranges }) { access(&out, group[0].entry) }
        out.line("    proxy_pass $up_\(place);")
        out.line("}")
    }

    private func streamProxy(_ out: inout ConfigText, _ l: Listener) {
        if l.policy.tlsToBackend && l.port.proto == .tcp { out.line("    proxy_ssl on;") }
        if l.entry.proxyProtocol != nil && l.port.proto == .tcp { out.line("    proxy_protocol on;") }
        if l.port.proto == .udp { out.line("    proxy_timeout \(options.udpSessionTimeoutSeconds)s;") }
    }

    private func upstream(_ out: inout ConfigText, _ l: Listener, endpoints: EndpointMap, config: UserConfig, http: Bool) {
        out.line("upstream up_\(l.name) {")
        // sessionAffinity: ClientIP (nginx has no timeout for it: the hash is stable while the
        // servers are).
        if l.entry.affinitySeconds != nil { out.line("    hash $remote_addr consistent;") }
        let ready = endpoints.ready(l.entry.key, l.port)
        // nginx needs one server per upstream: with no ready endpoint, a placeholder marked down.
        if ready.isEmpty { out.line("    server 127.0.0.1:9 down;") }
        for ep in ready {
            out.line("    server \(ep.address.withPort(ep.port))" + (l.entry.noCheck ? "" : " max_fails=3 fail_timeout=5s") + ";")
        }
        for r in config.nginx.upstream where !r.text.isEmpty { out.line("    \(r.text)") }
        // Idle connections to the pods kept per worker (after any balancing method, as nginx
        // requires; an operator's own `keepalive` raw line replaces this one).
        if http && !config.nginx.upstream.contains(where: { $0.directive == "keepalive" }) {
            out.line("    keepalive \(options.upstreamKeepalive);")
        }
        out.line("}")
    }

    /// The pair a Service terminates TLS with: its Secret's bundle (cert and key in one file),
    /// else its pool's `<pool>.pem` + `<pool>.key`.
    private func certificate(_ vip: AssignmentDocument.VIP, _ entry: AssignmentDocument.ServiceEntry) -> Certificate? {
        if entry.tlsSecret != nil {
            return options.serviceCertificates[entry.key].map { Certificate(certificate: $0.rawValue, key: $0.rawValue) }
        }
        guard options.poolsWithCertificates.contains(vip.pool) else { return nil }
        return Certificate(certificate: "\(options.certDirectory)/\(vip.pool.rawValue).pem", key: "\(options.certDirectory)/\(vip.pool.rawValue).key")
    }

    private func certificate(_ out: inout ConfigText, _ c: Certificate) {
        out.line("    ssl_certificate \(c.certificate);")
        out.line("    ssl_certificate_key \(c.key);")
        out.line("    ssl_protocols TLSv1.2 TLSv1.3;")
    }

    private func access(_ out: inout ConfigText, _ entry: AssignmentDocument.ServiceEntry) {
        guard !entry.sourceRanges.isEmpty else { return }
        for r in entry.sourceRanges { out.line("    allow \(r);") }
        out.line("    deny all;")
    }
}

extension ConfigText {
    /// A top-level statement (no indentation).
    mutating func top(_ s: String) { section(s) }
}
