/// Renders haproxy.cfg from typed inputs only. User text reaches the file solely as the config's
/// raw line lists (validated single lines, the operator's escape hatch); every other token is
/// rendered from typed values (addresses, ports, validated pool names).
package struct HAProxyRenderer: Sendable {
    package struct Options: Sendable, Hashable {
        package var statsSocket = "/run/k8slb/haproxy.sock"
        package var healthPort: UInt16 = 8404
        package var certDirectory = "/etc/certs"
        /// Pools whose `<pool>.pem` was checked and is usable; others serve without TLS (an Event
        /// says so), never breaking the whole config.
        package var poolsWithCertificates: Set<PoolName> = []
        package var maxConnections = 8000
        package var hardStopAfterSeconds = 60
        /// `transparent` on every VIP bind (IP_TRANSPARENT/IP_FREEBIND): HAProxy binds VIPs this
        /// node does not hold without the `ip_nonlocal_bind` sysctl, which an unprivileged
        /// container cannot set (/proc/sys is read-only there).
        package var transparentBinds = true

        package init() {}
    }

    package let options: Options
    package init(options: Options) { self.options = options }

    /// A rendered config with its servers by backend (what the Runtime API can change without a
    /// reload: the actor diffs these when nothing else changed).
    package struct Rendered: Sendable, Equatable {
        package var text: String
        package var servers: [String: [Server]]
        /// Digest of the config without its `server` lines: equal means only servers changed.
        package var skeletonDigest: UInt64
    }

    /// One `server` line: the endpoint (its name and address derive from it) and the options.
    package struct Server: Sendable, Hashable {
        package var endpoint: EndpointAddress
        package var options: String
        package var name: String { endpoint.serverName }
        package var address: String { endpoint.address.withPort(endpoint.port) }
    }

    package func render(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> String {
        renderWithServers(document, endpoints: endpoints, config: config).text
    }

    package func renderWithServers(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig) -> Rendered {
        var out = ConfigText()
        out.hashing = true
        var servers: [String: [Server]] = [:]
        out.reserve(4096 + document.vips.count * 1000)
        out.section("global")
        out.line("log stdout format iso local0 notice")  // ISO 8601 timestamps: ordered with the actor's lines
        out.line("stats socket \(options.statsSocket) mode 600 level admin expose-fd listeners")
        out.line("stats timeout 30s")
        out.line("hard-stop-after \(options.hardStopAfterSeconds)s")
        out.line("maxconn \(options.maxConnections)")
        out.line("ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets")
        // HAProxy's internal HTTP client (Lua only; k8slb uses none) loads the whole system CA
        // store at every start otherwise: 35 of the ~50 ms each `haproxy -c`, master re-exec and
        // new worker take. A raw `global` line can turn it back on.
        out.line("httpclient.ssl.verify none")
        out.raw(config.haproxy.global)
        out.section("defaults")
        out.line("log global")
        out.line("option dontlognull")
        out.line("timeout connect 5s")
        out.line("timeout client 30s")
        out.line("timeout server 30s")
        out.line("timeout check 2s")
        out.line("retries 2")
        out.line("option redispatch")
        out.line("default-server inter 2s fall 3 rise 2")
        out.raw(config.haproxy.defaults)
        out.section("frontend k8slb_health")
        out.line("mode http")
        out.line("bind 127.0.0.1:\(options.healthPort)")
        out.line("monitor-uri /healthz")

        for vip in document.vips {
            let used = Set(vip.services.flatMap { $0.ports.filter { $0.proto == .tcp }.map(\.port) })
            let id = vip.address.identifier
            for entry in vip.services {
                for port in entry.ports where port.proto == .tcp {
                    renderPort(&out, &servers, vip: vip, id: id, entry: entry, port: port, endpoints: endpoints, config: config, usedPorts: used)
                }
            }
        }
        return Rendered(text: out.text, servers: servers, skeletonDigest: out.skeletonDigest)
    }

    private var bindSuffix: String { options.transparentBinds ? " transparent" : "" }

    private func renderPort(_ out: inout ConfigText, _ servers: inout [String: [Server]], vip: AssignmentDocument.VIP, id: String, entry: AssignmentDocument.ServiceEntry,
                            port: AssignmentDocument.Port, endpoints: EndpointMap, config: UserConfig, usedPorts: Set<UInt16>) {
        var policy = PortPolicy.resolve(entry, port)
        if policy.terminateTLS && !options.poolsWithCertificates.contains(vip.pool) { policy.terminateTLS = false }
        let name = id + "_" + String(port.port)
        out.section("frontend fe_\(name)")
        out.line("mode \(policy.http ? "http" : "tcp")")
        out.line("bind \(vip.address.withPort(port.port))" + bindSuffix + (policy.terminateTLS ? " ssl crt \(options.certDirectory)/\(vip.pool.rawValue).pem" + (policy.http ? " alpn h2,http/1.1" : "") : ""))
        if !entry.sourceRanges.isEmpty {
            out.line("tcp-request connection reject unless { src \(entry.sourceRanges.map(\.description).joined(separator: " ")) }")
        }
        if policy.http {
            out.raw(config.haproxy.httpfront)
        } else {
            out.raw(config.haproxy.tcpfront)
        }
        out.line("default_backend be_\(name)")
        out.section("backend be_\(name)")
        out.line("mode \(policy.http ? "http" : "tcp")")
        out.line("balance roundrobin")
        out.raw(policy.http ? config.haproxy.httpback : config.haproxy.tcpback)
        // Explicit check timing: servers added through the Runtime API do not inherit default-server.
        let suffix = (policy.healthCheck ? " check inter 2s fall 3 rise 2" : "") + (policy.tlsToBackend ? " ssl verify none" : "")
        let ready = endpoints.ready(entry.key, port)
        let options = String(suffix.dropFirst())
        var list: [Server] = []
        list.reserveCapacity(ready.count)
        for ep in ready {
            out.server(ep, suffix: suffix)
            list.append(Server(endpoint: ep, options: options))
        }
        servers["be_\(name)"] = list
        if policy.terminateTLS && policy.http && entry.sslRedirect && port.port == 443 && !usedPorts.contains(80) {
            out.section("frontend fe_\(vip.address.identifier)_80_redirect")
            out.line("mode http")
            out.line("bind \(vip.address.withPort(80))" + bindSuffix)
            out.line("http-request redirect scheme https code 301")
        }
    }
}

/// Line-oriented config text with uniform indentation, built as bytes (configs for 10,000
/// Services are megabytes; byte appends are several times faster than String appends).
struct ConfigText {
    private var bytes: [UInt8] = []
    /// FNV-1a of everything except `server` lines: equal digests mean only servers differ.
    private(set) var skeletonDigest: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Only HAProxy needs the digest (Runtime API decisions); other renderers skip the cost.
    var hashing = false

    private mutating func hash(_ b: UInt8) { if hashing { skeletonDigest = (skeletonDigest ^ UInt64(b)) &* 0x100_0000_01b3 } }
    private mutating func hash(_ s: String) { if hashing { for b in s.utf8 { skeletonDigest = (skeletonDigest ^ UInt64(b)) &* 0x100_0000_01b3 } } }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func section(_ header: String) {
        if !bytes.isEmpty { bytes.append(0x0A) }
        bytes.append(contentsOf: header.utf8)
        bytes.append(0x0A)
        hash(0x0A); hash(header)
    }

    mutating func line(_ s: String) {
        bytes.append(contentsOf: [0x20, 0x20, 0x20, 0x20])
        bytes.append(contentsOf: s.utf8)
        bytes.append(0x0A)
        hash(0x0A); hash(s)
    }

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }

    /// `    server ep_<addr>_<port> <addr>:<port><suffix>`, written straight into the buffer.
    mutating func server(_ ep: EndpointAddress, suffix: String) {
        let text = ep.address.description
        let port = String(ep.port)
        bytes.append(contentsOf: "    server ep_".utf8)
        for b in text.utf8 { bytes.append(b.isASCIIAlphanumeric ? b : UInt8(ascii: "_")) }
        bytes.append(UInt8(ascii: "_"))
        bytes.append(contentsOf: port.utf8)
        bytes.append(0x20)
        if ep.address.family == .ipv6 { bytes.append(UInt8(ascii: "[")) }
        bytes.append(contentsOf: text.utf8)
        if ep.address.family == .ipv6 { bytes.append(UInt8(ascii: "]")) }
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: port.utf8)
        bytes.append(contentsOf: suffix.utf8)
        bytes.append(0x0A)
    }

    mutating func raw(_ lines: [RawConfigLine]) { for l in lines where !l.text.isEmpty { line(l.text) } }

    /// Opens a brace-delimited block (keepalived syntax); `close()` ends it.
    mutating func block(_ header: String) { section(header + " {") }

    mutating func close() {
        bytes.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        hash(UInt8(ascii: "}"))
    }
}
