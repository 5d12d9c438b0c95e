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
        /// Services whose `loadbalancer/tls-secret` checked out, with the bundle the actor wrote;
        /// a Service naming a Secret that is not here serves without TLS.
        package var serviceCertificates: [ServiceKey: SafePath] = [:]
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
        /// Services (or their ports) left out: a shared VIP:port they cannot join.
        package var skipped: [Skipped] = []
    }

    /// A Service port not routed, and why (the actor reports it as an Event).
    package struct Skipped: Sendable, Hashable, CustomStringConvertible {
        package var service: ServiceKey
        package var reason: String
        package var description: String { "\(service): \(reason)" }
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
        var skipped: [Skipped] = []
        out.reserve(vips: document.vips.count)
        // Settings the operator's raw lines also give are theirs (OperatorSettings).
        let global = OperatorSettings.haproxyKeys(config.haproxy.global)
        out.section("global")
        out.line("log stdout format iso local0 notice")  // ISO 8601 timestamps: ordered with the actor's lines
        out.line("stats socket \(options.statsSocket) mode 600 level admin expose-fd listeners")
        out.setting("stats timeout 30s", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.setting("hard-stop-after \(options.hardStopAfterSeconds)s", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.setting("maxconn \(options.maxConnections)", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.setting("ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets", unlessIn: global, key: OperatorSettings.haproxyKey)
        // HAProxy's internal HTTP client (Lua only; k8slb uses none) loads the whole system CA
        // store at every start otherwise: 35 of the ~50 ms each `haproxy -c`, master re-exec and
        // new worker take. A raw `global` line can turn it back on.
        out.setting("httpclient.ssl.verify none", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.raw(config.haproxy.global)
        let defaults = OperatorSettings.haproxyKeys(config.haproxy.defaults)
        out.section("defaults")
        out.line("log global")
        for setting in ["option dontlognull", "timeout connect 5s", "timeout client 30s", "timeout server 30s", "timeout check 2s",
                        "retries 2", "option redispatch"] {
            out.setting(setting, unlessIn: defaults, key: OperatorSettings.haproxyKey)
        }
        out.line("default-server inter 2s fall 3 rise 2")
        out.raw(config.haproxy.defaults)
        out.section("frontend k8slb_health")
        out.line("mode http")
        out.line("bind 127.0.0.1:\(options.healthPort)")
        out.line("monitor-uri /healthz")

        for vip in document.vips {
            let used = Set(vip.services.flatMap { $0.ports.filter { $0.proto == .tcp }.map(\.port) })
            let id = vip.address.identifier
            // The common case, one Service: its ports are distinct already.
            if vip.services.count == 1 {
                let entry = vip.services[0]
                for port in entry.ports where port.proto == .tcp {
                    renderPort(&out, &servers, vip: vip, id: id, entry: entry, port: port, endpoints: endpoints, config: config, usedPorts: used)
                }
                continue
            }
            // Each TCP port of the VIP: one Service, or several told apart by host name.
            var byPort: [UInt16: [(AssignmentDocument.ServiceEntry, AssignmentDocument.Port)]] = [:]
            for entry in vip.services {
                for port in entry.ports where port.proto == .tcp { byPort[port.port, default: []].append((entry, port)) }
            }
            for number in byPort.keys.sorted() {
                let sharers = byPort[number]!
                if sharers.count == 1 {
                    renderPort(&out, &servers, vip: vip, id: id, entry: sharers[0].0, port: sharers[0].1, endpoints: endpoints, config: config, usedPorts: used)
                } else {
                    renderShared(&out, &servers, &skipped, vip: vip, id: id, number: number, sharers: sharers, endpoints: endpoints, config: config)
                }
            }
        }
        return Rendered(text: out.text, servers: servers, skeletonDigest: out.skeletonDigest, skipped: skipped)
    }

    private var bindSuffix: String { options.transparentBinds ? " transparent" : "" }

    /// The policy of one Service port, with TLS off when its certificate is not usable.
    private func policy(_ vip: AssignmentDocument.VIP, _ entry: AssignmentDocument.ServiceEntry, _ port: AssignmentDocument.Port) -> (PortPolicy, String?) {
        var policy = PortPolicy.resolve(entry, port)
        guard policy.terminateTLS else { return (policy, nil) }
        let cert = certificate(vip, entry)
        if cert == nil { policy.terminateTLS = false }
        return (policy, cert)
    }

    /// The bundle a Service terminates TLS with: its Secret's (when it names one, and only when
    /// that Secret checked out), else its pool's.
    private func certificate(_ vip: AssignmentDocument.VIP, _ entry: AssignmentDocument.ServiceEntry) -> String? {
        if entry.tlsSecret != nil { return options.serviceCertificates[entry.key]?.rawValue }
        return options.poolsWithCertificates.contains(vip.pool) ? "\(options.certDirectory)/\(vip.pool.rawValue).pem" : nil
    }

    private func renderPort(_ out: inout ConfigText, _ servers: inout [String: [Server]], vip: AssignmentDocument.VIP, id: String, entry: AssignmentDocument.ServiceEntry,
                            port: AssignmentDocument.Port, endpoints: EndpointMap, config: UserConfig, usedPorts: Set<UInt16>) {
        let (policy, cert) = policy(vip, entry, port)
        let name = id + "_" + String(port.port)
        out.section("frontend fe_\(name)")
        out.line("mode \(policy.http ? "http" : "tcp")")
        out.line("bind \(vip.address.withPort(port.port))" + bindSuffix + (cert.map { " ssl crt \($0)" + (policy.http ? " alpn h2,http/1.1" : "") } ?? ""))
        sourceRanges(&out, entry)
        out.raw(policy.http ? config.haproxy.httpfront : config.haproxy.tcpfront)
        out.line("default_backend be_\(name)")
        renderBackend(&out, &servers, "be_\(name)", vip: vip, entry: entry, port: port, policy: policy, endpoints: endpoints, config: config)
        if policy.terminateTLS && policy.http && entry.sslRedirect && port.port == 443 && !usedPorts.contains(80) {
            out.section("frontend fe_\(vip.address.identifier)_80_redirect")
            out.line("mode http")
            out.line("bind \(vip.address.withPort(80))" + bindSuffix)
            out.line("http-request redirect scheme https code 301")
        }
    }

    private func sourceRanges(_ out: inout ConfigText, _ entry: AssignmentDocument.ServiceEntry) {
        guard !entry.sourceRanges.isEmpty else { return }
        out.line("tcp-request connection reject unless { src \(entry.sourceRanges.map(\.description).joined(separator: " ")) }")
    }

    /// One Service port's backend: balance, stickiness, forwarded headers, servers.
    private func renderBackend(_ out: inout ConfigText, _ servers: inout [String: [Server]], _ name: String, vip: AssignmentDocument.VIP,
                               entry: AssignmentDocument.ServiceEntry, port: AssignmentDocument.Port, policy: PortPolicy,
                               endpoints: EndpointMap, config: UserConfig) {
        out.section("backend \(name)")
        out.line("mode \(policy.http ? "http" : "tcp")")
        out.line("balance roundrobin")
        if let seconds = entry.affinitySeconds {
            // sessionAffinity: ClientIP: the client's address sticks to its server for the timeout.
            out.line("stick-table type \(vip.family == .ipv4 ? "ip" : "ipv6") size 1m expire \(seconds)s")
            out.line("stick on src")
        }
        if policy.http && entry.forwardedHeaders {
            out.line("option forwardfor")
            out.line(policy.terminateTLS ? "http-request set-header X-Forwarded-Proto https" : "http-request set-header X-Forwarded-Proto http")
            out.line("http-request set-header X-Forwarded-Port " + String(port.port))
        }
        let nodeHealth = endpoints.healthCheckPort(entry.key, port)
        if nodeHealth != nil {
            // NodePort backends with externalTrafficPolicy Local: a node serves only while
            // kube-proxy's health check port says it has a ready local endpoint.
            out.line("option httpchk GET /healthz")
            out.line("http-check expect status 200")
        }
        out.raw(policy.http ? config.haproxy.httpback : config.haproxy.tcpback)
        // Explicit check timing: servers added through the Runtime API do not inherit default-server.
        var suffix = ""
        if policy.healthCheck || nodeHealth != nil {
            suffix += " check"
            if let p = nodeHealth { suffix += " port \(p)" }
            suffix += " inter 2s fall 3 rise 2"
        }
        if policy.tlsToBackend { suffix += " ssl verify none" }
        if let pp = entry.proxyProtocol {
            suffix += pp == .v1 ? " send-proxy" : " send-proxy-v2"
            // Checks of the service port itself speak PROXY too (a pod expecting it would log
            // garbage otherwise); checks of kube-proxy's health port must not.
            if (policy.healthCheck && nodeHealth == nil) { suffix += " check-send-proxy" }
        }
        let ready = endpoints.ready(entry.key, port)
        let options = String(suffix.dropFirst())
        var list: [Server] = []
        list.reserveCapacity(ready.count)
        for ep in ready {
            out.server(ep, suffix: suffix)
            list.append(Server(endpoint: ep, options: options))
        }
        servers[name] = list
    }

    /// Several Services on one VIP and TCP port, told apart by host name (`loadbalancer/hostnames`):
    /// TLS passthrough routes by the ClientHello's SNI, terminated TLS by SNI and Host, plain HTTP
    /// by Host. The first sharer (by namespace/name) fixes how the port is proxied; a sharer that
    /// would need another way (terminated vs passthrough, HTTP vs TCP), or that claims a name an
    /// earlier one has, is not routed (reported in `skipped`). The sharer without host names gets
    /// what matches none; without one, such connections are refused.
    private func renderShared(_ out: inout ConfigText, _ servers: inout [String: [Server]], _ skipped: inout [Skipped],
                              vip: AssignmentDocument.VIP, id: String, number: UInt16,
                              sharers: [(AssignmentDocument.ServiceEntry, AssignmentDocument.Port)], endpoints: EndpointMap, config: UserConfig) {
        let sorted = sharers.sorted { $0.0.key < $1.0.key }
        let (first, _) = policy(vip, sorted[0].0, sorted[0].1)
        var routed: [(entry: AssignmentDocument.ServiceEntry, port: AssignmentDocument.Port, policy: PortPolicy, cert: String?, backend: String)] = []
        var claimed = Set<HostName>()
        var fallback: Int?
        for (entry, port) in sorted {
            let (p, cert) = policy(vip, entry, port)
            let here = "\(vip.address.withPort(number))"
            guard p.terminateTLS == first.terminateTLS, p.http == first.http else {
                skipped.append(Skipped(service: entry.key, reason: "\(here) is shared by host name and proxied as \(Self.describe(first)) there; this Service needs \(Self.describe(p))"))
                continue
            }
            if entry.hostnames.isEmpty {
                guard fallback == nil else {
                    skipped.append(Skipped(service: entry.key, reason: "\(here) already has a Service for names no other sharer answers (\(routed[fallback!].entry.key))"))
                    continue
                }
                fallback = routed.count
            } else {
                let taken = claimed.intersection(entry.hostnames)
                guard taken.isEmpty else {
                    skipped.append(Skipped(service: entry.key, reason: "host name(s) \(taken.map(\.rawValue).sorted().joined(separator: ", ")) on \(here) are already routed to another Service"))
                    continue
                }
                claimed.formUnion(entry.hostnames)
            }
            let backend = "be_\(id)_\(number)_\(String(AssignmentShards.fnv1a(Array(entry.key.description.utf8)) & 0xffff_ffff, radix: 16))"
            routed.append((entry, port, p, cert, backend))
        }
        let name = id + "_" + String(number)
        out.section("frontend fe_\(name)")
        out.line("mode \(first.http ? "http" : "tcp")")
        // Terminated TLS: every routed Service's bundle on the bind line; HAProxy picks the one
        // whose names match the SNI; the fallback Service's (else the first's) is the default.
        var certs: [String] = []
        if let f = fallback, let c = routed[f].cert { certs.append(c) }
        for r in routed { if let c = r.cert, !certs.contains(c) { certs.append(c) } }
        let tls = first.terminateTLS && !certs.isEmpty
        out.line("bind \(vip.address.withPort(number))" + bindSuffix + (tls ? " ssl" + certs.map { " crt \($0)" }.joined() + (first.http ? " alpn h2,http/1.1" : "") : ""))
        if let ranges = routed.first?.entry.sourceRanges, routed.allSatisfy({ $0.entry.sourceRanges == ranges }) {
            sourceRanges(&out, routed[0].entry)
        }
        out.raw(first.http ? config.haproxy.httpfront : config.haproxy.tcpfront)
        if !first.http && !first.terminateTLS {
            // Passthrough: wait for the ClientHello to read its SNI.
            out.line("tcp-request inspect-delay 5s")
            out.line("tcp-request content accept if { req.ssl_hello_type 1 }")
        }
        for r in routed where !r.entry.hostnames.isEmpty {
            let names = r.entry.hostnames.map(\.rawValue).joined(separator: " ")
            if first.http { out.line("use_backend \(r.backend) if { req.hdr(host),field(1,:),lower -m str \(names) }") }
            if first.terminateTLS { out.line("use_backend \(r.backend) if { ssl_fc_sni,lower -m str \(names) }") }
            if !first.http && !first.terminateTLS { out.line("use_backend \(r.backend) if { req.ssl_sni,lower -m str \(names) }") }
        }
        // Names no sharer answers: the fallback Service, else a backend that refuses them (HTTP
        // 404; TCP: closed). `http-request`/`tcp-request` rules would run before the routing.
        let nomatch = "be_\(name)_nomatch"
        out.line("default_backend \(fallback.map { routed[$0].backend } ?? nomatch)")
        for r in routed {
            renderBackend(&out, &servers, r.backend, vip: vip, entry: r.entry, port: r.port, policy: r.policy, endpoints: endpoints, config: config)
        }
        if fallback == nil {
            out.section("backend \(nomatch)")
            out.line("mode \(first.http ? "http" : "tcp")")
            if first.http { out.line("http-request deny deny_status 404") }
            servers[nomatch] = []
        }
    }

    private static func describe(_ p: PortPolicy) -> String {
        (p.terminateTLS ? "terminated TLS" : "no TLS termination") + (p.http ? ", HTTP" : ", TCP")
    }
}

/// Line-oriented config text with uniform indentation, built as bytes (configs for 10,000
/// Services are megabytes; byte appends are several times faster than String appends).
struct ConfigText {
    private var bytes: [UInt8] = []
    /// A digest of everything except `server` lines: equal digests mean only servers differ.
    private(set) var skeletonDigest: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Only HAProxy needs the digest (Runtime API decisions); other renderers skip the cost.
    var hashing = false

    /// Folds the bytes appended since `start` into the digest, eight at a time (a multiply and a
    /// shift per word; byte-wise FNV was a sixth of the render time at 10,000 Services).
    private mutating func hash(from start: Int) {
        guard hashing else { return }
        skeletonDigest = bytes.withUnsafeBytes { raw in
            var h = skeletonDigest
            var i = start
            while i + 8 <= raw.count {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                i += 8
            }
            while i < raw.count {
                h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
                i += 1
            }
            return h
        }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func section(_ header: String) {
        let start = bytes.count
        if !bytes.isEmpty { bytes.append(0x0A) }
        bytes.append(contentsOf: header.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    mutating func line(_ s: String) {
        let start = bytes.count
        bytes.append(contentsOf: [0x20, 0x20, 0x20, 0x20])
        bytes.append(contentsOf: s.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    /// Room for a config of this many VIPs (~1,100 bytes each rendered at 10,000 Services): untouched
    /// capacity costs no pages, while a regrowth copies the whole text.
    mutating func reserve(vips: Int) { bytes.reserveCapacity(4096 + vips * 2000) }

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

    /// One of k8slb's settings, left out when the operator's raw lines set it too (their `keys`
    /// hold its key): the operator's value wins (OperatorSettings).
    mutating func setting(_ text: String, unlessIn keys: Set<String>, key: (String) -> String, indent: Bool = true) {
        guard keys.isEmpty || !keys.contains(key(text)) else { return }
        if indent { line(text) } else { section(text) }
    }

    /// Opens a brace-delimited block (keepalived syntax); `close()` ends it.
    mutating func block(_ header: String) { section(header + " {") }

    mutating func close() {
        let start = bytes.count
        bytes.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        hash(from: start)
    }
}
