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
        ("client_body_temp_path", "nginx-body"), ("proxy_temp_path", "nginx-proxy"),
        ("fastcgi_temp_path", "nginx-fastcgi"),
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
        return Self.temporaryDirectories.filter { !http.contains($0.directive) }.map {
            options.runDirectory + "/" + $0.name
        }
    }

    /// A certificate and its key (the same file for Secret bundles).
    private struct Certificate: Equatable {
        let certificate: String
        let key: String
    }

    package func render(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> String {
        renderReporting(document, endpoints: endpoints, config: config).text
    }

    /// Plans (`ProxyPlan.make` with `options`' certificates) and prints: the config and the
    /// Service ports it does not route.
    package func renderReporting(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> (
        text: String, skipped: [ProxyPlan.Unrouted]
    ) {
        let plan = ProxyPlan.make(
            document, endpoints: endpoints,
            certificates: .init(pools: options.poolsWithCertificates, services: options.serviceCertificates),
            engine: .nginx)
        return (render(plan, config: config, vips: document.vips.count), plan.unrouted)
    }

    /// Prints `plan`. `vips` sizes the output buffer.
    package func render(_ plan: ProxyPlan, config: UserConfig, vips: Int) -> String {
        var out = ConfigText()
        out.reserve(vips: vips)
        // Settings the operator's raw lines also give are theirs (OperatorSettings).
        let main = OperatorSettings.nginxKeys(config.nginx.global)
        let key: (String) -> String = { OperatorSettings.nginxKey($0) }
        if let include = options.moduleInclude { out.top("include \(include);") }
        out.top("pid \(options.runDirectory)/nginx.pid;")
        out.top("error_log stderr notice;")
        out.setting("worker_processes auto;", unlessIn: main, key: key, indent: false)
        // Old workers finish their connections after a reload or on shutdown, for at most this long.
        out.setting(
            "worker_shutdown_timeout \(options.shutdownTimeoutSeconds)s;", unlessIn: main, key: key, indent: false)
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
        for f in plan.frontends where f.http && f.gateway == nil { httpFrontend(&out, f, config) }
        out.close()

        out.block("stream")
        out.raw(config.nginx.stream)
        for f in plan.frontends where !f.http {
            if let g = f.gateway {
                gatewayStream(&out, f, g, config)
            } else if f.sharedByName {
                sharedStream(&out, f, config)
            } else {
                stream(&out, f, config)
            }
        }
        out.close()
        return out.text
    }

    /// `<vip>_<port>_<proto>`: where a frontend listens, as an identifier.
    private static func place(_ f: ProxyPlan.Frontend) -> String { f.identifier + (f.proto == .udp ? "_udp" : "_tcp") }

    /// A route's upstream name (without the `up_` prefix).
    private static func name(_ f: ProxyPlan.Frontend, _ r: ProxyPlan.Route) -> String {
        place(f) + (r.backend.nameSuffix.map { "_" + $0 } ?? "")
    }

    private func httpFrontend(_ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ config: UserConfig) {
        let listen = f.vip.withPort(f.port)
        for r in f.routes {
            let name = Self.name(f, r)
            upstream(&out, name, r.backend, config: config)
            out.line("server {")
            let fallback = f.sharedByName && r.hostnames.isEmpty
            out.line("    listen \(listen)\(f.terminateTLS ? " ssl" : "")\(fallback ? " default_server" : "");")
            if f.sharedByName && !r.hostnames.isEmpty {
                out.line("    server_name \(r.hostnames.map(\.rawValue).joined(separator: " "));")
            }
            if let c = r.certificate { certificate(&out, c) }
            access(&out, f.sourceRanges)
            out.line("    location / {")
            out.line("        proxy_pass \(r.backend.tlsToBackend ? "https" : "http")://up_\(name);")
            // HTTP/1.1 without "Connection: close": the upstream's keep-alive pool is used
            // (nginx's default, HTTP/1.0 with "Connection: close", opens a connection to the
            // pod for every request); an Upgrade (WebSocket) is passed on.
            out.line("        proxy_http_version 1.1;")
            out.line("        proxy_set_header Upgrade $http_upgrade;")
            out.line("        proxy_set_header Connection $k8slb_connection;")
            out.line("        proxy_set_header Host $host;")
            if r.backend.forwardedHeaders {
                out.line("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
                out.line("        proxy_set_header X-Forwarded-Proto $scheme;")
                out.line("        proxy_set_header X-Forwarded-Port $server_port;")
            }
            for line in config.nginx.proxy where !line.text.isEmpty { out.line("        \(line.text)") }
            out.line("    }")
            out.line("}")
        }
        if f.sharedByName && f.fallback == nil {
            // Names no sharer answers are refused.
            out.line("server {")
            out.line("    listen \(listen)\(f.terminateTLS ? " ssl" : "") default_server;")
            if let c = f.routes[0].certificate { certificate(&out, c) }
            out.line("    return 404;")
            out.line("}")
        }
        if f.redirectsPort80 {
            out.line("server { listen \(f.vip.withPort(80)); return 301 https://$host$request_uri; }")
        }
    }

    /// A layer-4 frontend of one Service (TCP, UDP; TLS terminated or not).
    private func stream(_ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ config: UserConfig) {
        let r = f.routes[0]
        let name = Self.name(f, r)
        upstream(&out, name, r.backend, config: config)
        out.line("server {")
        out.line("    listen \(f.vip.withPort(f.port))\(f.proto == .udp ? " udp" : "")\(f.terminateTLS ? " ssl" : "");")
        if let c = r.certificate { certificate(&out, c) }
        access(&out, f.sourceRanges)
        if r.backend.tlsToBackend && f.proto == .tcp { out.line("    proxy_ssl on;") }
        if r.backend.proxyProtocol != nil && f.proto == .tcp { out.line("    proxy_protocol on;") }
        if f.proto == .udp { out.line("    proxy_timeout \(options.udpSessionTimeoutSeconds)s;") }
        out.line("    proxy_pass up_\(name);")
        out.line("}")
    }

    /// TLS passthrough shared by host name: the ClientHello's SNI picks the upstream.
    private func sharedStream(_ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ config: UserConfig) {
        let place = Self.place(f)
        for r in f.routes { upstream(&out, Self.name(f, r), r.backend, config: config) }
        if f.fallback == nil {
            out.line("upstream up_\(place)_none {")
            out.line("    server 127.0.0.1:9 down;")
            out.line("}")
        }
        out.line("map $ssl_preread_server_name $up_\(place) {")
        out.line("    hostnames;")
        for r in f.routes { for h in r.hostnames { out.line("    \(h.rawValue) up_\(Self.name(f, r));") } }
        out.line("    default up_\(f.fallback.map { Self.name(f, f.routes[$0]) } ?? place + "_none");")
        out.line("}")
        out.line("server {")
        out.line("    listen \(f.vip.withPort(f.port));")
        out.line("    ssl_preread on;")
        access(&out, f.sourceRanges)
        out.line("    proxy_pass $up_\(place);")
        out.line("}")
    }

    /// A Gateway's TLS passthrough (by SNI), TCP or UDP listener: weighted upstreams, one per
    /// backend pool. (HTTP and HTTPS listeners need the haproxy backend; the watcher refuses them.)
    private func gatewayStream(
        _ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend, _ config: UserConfig
    ) {
        let place = Self.place(f)
        for pool in g.pools {
            out.line("upstream up_\(place)_\(GatewayFrontend.suffix(pool.id)) {")
            if pool.servers.isEmpty { out.line("    server 127.0.0.1:9 down;") }
            for (ep, weight) in pool.servers {
                out.line("    server \(ep.address.withPort(ep.port)) weight=\(weight) max_fails=3 fail_timeout=5s;")
            }
            for r in config.nginx.upstream where !r.text.isEmpty { out.line("    \(r.text)") }
            out.line("}")
        }
        let listen = "    listen \(f.vip.withPort(f.port))\(f.proto == .udp ? " udp" : "");"
        switch g.kind {
        case .tls:
            let (names, fallback) = g.sniRoutes()
            if fallback == nil {
                out.line("upstream up_\(place)_none {")
                out.line("    server 127.0.0.1:9 down;")
                out.line("}")
            }
            out.line("map $ssl_preread_server_name $up_\(place) {")
            out.line("    hostnames;")
            for (h, pool) in names { out.line("    \(h.rawValue) up_\(place)_\(pool);") }
            out.line("    default up_\(place)_\(fallback ?? "none");")
            out.line("}")
            out.line("server {")
            out.line(listen)
            out.line("    ssl_preread on;")
            out.line("    proxy_pass $up_\(place);")
            out.line("}")
        case .tcp, .udp:
            guard let e = g.listeners.first?.l4.first, g.pool(e.route) != nil else { return }
            let pool = GatewayFrontend.suffix(e.route)
            out.line("server {")
            out.line(listen)
            if f.proto == .udp { out.line("    proxy_timeout \(options.udpSessionTimeoutSeconds)s;") }
            out.line("    proxy_pass up_\(place)_\(pool);")
            out.line("}")
        case .http, .https:
            return
        }
    }

    private func upstream(_ out: inout ConfigText, _ name: String, _ b: ProxyPlan.Backend, config: UserConfig) {
        out.line("upstream up_\(name) {")
        // sessionAffinity: ClientIP (nginx has no timeout for it: the hash is stable while the
        // servers are).
        if b.affinitySeconds != nil { out.line("    hash $remote_addr consistent;") }
        // nginx needs one server per upstream: with no ready endpoint, a placeholder marked down.
        if b.servers.isEmpty { out.line("    server 127.0.0.1:9 down;") }
        for ep in b.servers {
            out.line(
                "    server \(ep.address.withPort(ep.port))" + (b.healthCheck ? " max_fails=3 fail_timeout=5s" : "")
                    + ";")
        }
        for r in config.nginx.upstream where !r.text.isEmpty { out.line("    \(r.text)") }
        // Idle connections to the pods kept per worker (after any balancing method, as nginx
        // requires; an operator's own `keepalive` raw line replaces this one).
        if b.http && !config.nginx.upstream.contains(where: { $0.directive == "keepalive" }) {
            out.line("    keepalive \(options.upstreamKeepalive);")
        }
        out.line("}")
    }

    /// The files a certificate is: the Secret's bundle (cert and key in one), else the pool's
    /// `<pool>.pem` + `<pool>.key`.
    private func files(_ c: ProxyPlan.Certificate) -> Certificate {
        switch c {
        case .secret(let path): Certificate(certificate: path.rawValue, key: path.rawValue)
        case .pool(let pool):
            Certificate(
                certificate: "\(options.certDirectory)/\(pool.rawValue).pem",
                key: "\(options.certDirectory)/\(pool.rawValue).key")
        }
    }

    private func certificate(_ out: inout ConfigText, _ c: ProxyPlan.Certificate) {
        let f = files(c)
        out.line("    ssl_certificate \(f.certificate);")
        out.line("    ssl_certificate_key \(f.key);")
        out.line("    ssl_protocols TLSv1.2 TLSv1.3;")
    }

    private func access(_ out: inout ConfigText, _ ranges: [IPNetwork]) {
        guard !ranges.isEmpty else { return }
        for r in ranges { out.line("    allow \(r);") }
        out.line("    deny all;")
    }
}
