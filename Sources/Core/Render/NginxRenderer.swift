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
        package var shutdownTimeoutSeconds = 30
        /// Idle timeout of a UDP session (nginx keeps one per client address and port).
        package var udpSessionTimeoutSeconds = 30

        package init() {}
    }

    package let options: Options
    package init(options: Options) { self.options = options }

    private struct Listener {
        let vip: AssignmentDocument.VIP
        let entry: AssignmentDocument.ServiceEntry
        let port: AssignmentDocument.Port
        let policy: PortPolicy
        var name: String { "\(vip.address.identifier)_\(port.port)_\(port.proto == .udp ? "udp" : "tcp")" }
    }

    package func render(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> String {
        var http: [Listener] = [], stream: [Listener] = []
        for vip in document.vips {
            for entry in vip.services {
                for port in entry.ports where port.proto != .sctp {
                    var policy = PortPolicy.resolve(entry, port)
                    if policy.terminateTLS && !options.poolsWithCertificates.contains(vip.pool) { policy.terminateTLS = false }
                    let l = Listener(vip: vip, entry: entry, port: port, policy: policy)
                    if policy.http { http.append(l) } else { stream.append(l) }
                }
            }
        }
        var out = ConfigText()
        out.reserve(4096 + document.vips.count * 1000)
        if let include = options.moduleInclude { out.top("include \(include);") }
        out.top("pid \(options.runDirectory)/nginx.pid;")
        out.top("error_log stderr notice;")
        out.top("worker_processes auto;")
        // Old workers finish their connections after a reload or on shutdown, for at most this long.
        out.top("worker_shutdown_timeout \(options.shutdownTimeoutSeconds)s;")
        for l in config.nginx.global where !l.text.isEmpty { out.top(l.text) }
        out.block("events")
        out.line("worker_connections \(options.workerConnections);")
        out.close()

        out.block("http")
        out.line("access_log off;")
        out.line("client_body_temp_path \(options.runDirectory)/nginx-body;")
        out.line("proxy_temp_path \(options.runDirectory)/nginx-proxy;")
        out.line("server_tokens off;")
        out.raw(config.nginx.http)
        out.line("server { listen 127.0.0.1:\(options.healthPort); location = /healthz { return 200 \"ok\\n\"; } }")
        var usedHTTP: [IPAddress: Set<UInt16>] = [:]
        for l in http { usedHTTP[l.vip.address, default: []].insert(l.port.port) }
        for l in http {
            upstream(&out, l, endpoints: endpoints, config: config)
            out.line("server {")
            out.line("    listen \(l.vip.address.withPort(l.port.port))\(l.policy.terminateTLS ? " ssl" : "");")
            if l.policy.terminateTLS { certificate(&out, l.vip.pool) }
            access(&out, l.entry)
            out.line("    location / {")
            out.line("        proxy_pass \(l.policy.tlsToBackend ? "https" : "http")://up_\(l.name);")
            out.line("        proxy_set_header Host $host;")
            out.line("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
            for r in config.nginx.proxy where !r.text.isEmpty { out.line("        \(r.text)") }
            out.line("    }")
            out.line("}")
            if l.policy.terminateTLS, l.entry.sslRedirect, l.port.port == 443, !(usedHTTP[l.vip.address]?.contains(80) ?? false) {
                usedHTTP[l.vip.address, default: []].insert(80)
                out.line("server { listen \(l.vip.address.withPort(80)); return 301 https://$host$request_uri; }")
            }
        }
        out.close()

        out.block("stream")
        out.raw(config.nginx.stream)
        for l in stream {
            upstream(&out, l, endpoints: endpoints, config: config)
            out.line("server {")
            out.line("    listen \(l.vip.address.withPort(l.port.port))\(l.port.proto == .udp ? " udp" : "")\(l.policy.terminateTLS ? " ssl" : "");")
            if l.policy.terminateTLS { certificate(&out, l.vip.pool) }
            access(&out, l.entry)
            if l.policy.tlsToBackend && l.port.proto == .tcp { out.line("    proxy_ssl on;") }
            if l.port.proto == .udp { out.line("    proxy_timeout \(options.udpSessionTimeoutSeconds)s;") }
            out.line("    proxy_pass up_\(l.name);")
            out.line("}")
        }
        out.close()
        return out.text
    }

    private func upstream(_ out: inout ConfigText, _ l: Listener, endpoints: EndpointMap, config: UserConfig) {
        out.line("upstream up_\(l.name) {")
        let ready = endpoints.ready(l.entry.key, l.port)
        // nginx needs one server per upstream: with no ready endpoint, a placeholder marked down.
        if ready.isEmpty { out.line("    server 127.0.0.1:9 down;") }
        for ep in ready {
            out.line("    server \(ep.address.withPort(ep.port))" + (l.entry.noCheck ? "" : " max_fails=3 fail_timeout=5s") + ";")
        }
        for r in config.nginx.upstream where !r.text.isEmpty { out.line("    \(r.text)") }
        out.line("}")
    }

    private func certificate(_ out: inout ConfigText, _ pool: PoolName) {
        out.line("    ssl_certificate \(options.certDirectory)/\(pool.rawValue).pem;")
        out.line("    ssl_certificate_key \(options.certDirectory)/\(pool.rawValue).key;")
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
