/// Prints haproxy.cfg from a `ProxyPlan` (the decisions: frontends, routes, TLS, backends) and
/// the config's raw line lists (validated single lines, the operator's escape hatch); every other
/// token comes from typed values (addresses, ports, validated pool names).
package struct HAProxyRenderer: Sendable {
    package struct Options: Sendable, Hashable {
        package var statsSocket = "/run/k8slb/haproxy.sock"
        package var healthPort: UInt16 = 8404
        package var certDirectory = "/etc/certs"
        /// Pools whose `<pool>.pem` was checked and is usable; others serve without TLS (an Event
        /// says so), never breaking the whole config.
        package var poolsWithCertificates: Set<PoolName> = []
        package var maxConnections = 8000
        /// The open-file limit HAProxy runs under (the actor's RLIMIT_NOFILE); nil: not known.
        /// HAProxy refuses a config needing more file descriptors than that (two per connection,
        /// one per listener, one per checked server): `maxconn` is lowered to fit
        /// (`fittedMaxConnections`), else every reload fails and new VIPs are never served.
        package var fileLimit: Int?
        package var hardStopAfterSeconds = 60
        /// Services whose `loadbalancer/tls-secret` checked out, with the bundle the actor wrote;
        /// a Service naming a Secret that is not here serves without TLS.
        package var serviceCertificates: [ServiceKey: SafePath] = [:]
        /// `transparent` on every VIP bind (IP_TRANSPARENT/IP_FREEBIND): HAProxy binds VIPs this
        /// node does not hold without the `ip_nonlocal_bind` sysctl, which an unprivileged
        /// container cannot set (/proc/sys is read-only there).
        package var transparentBinds = true
        /// Gateway listeners' certificate Secrets that checked out, with the bundle the actor wrote.
        package var gatewayCertificates: [SecretRef: SafePath] = [:]

        package init() {}

        /// The certificates a plan may use.
        package var certificates: ProxyPlan.Certificates {
            .init(pools: poolsWithCertificates, services: serviceCertificates)
        }
    }

    package let options: Options
    package init(options: Options) { self.options = options }

    /// A rendered config with its servers by backend (what the Runtime API can change without a
    /// reload: the actor diffs these when nothing else changed).
    package struct Rendered: Sendable, Equatable {
        package var text: String
        package var servers: ServerLists
        /// Digest of the config without its `server` lines: equal means only servers changed.
        package var skeletonDigest: UInt64
        /// Service ports the plan does not route, and why.
        package var skipped: [ProxyPlan.Unrouted] = []
        /// The `maxconn` rendered (lowered to fit `Options.fileLimit`), and the file descriptors
        /// the config needs with it.
        package var maxConnections = 0
        package var descriptorsNeeded = 0
    }

    /// Every backend's servers in print order, flat: the backend names, one array of servers and
    /// where each backend's run ends (20,000 backends at 10,000 Services make one array, not
    /// 20,000; building and freeing those was a sixth of the render).
    package struct ServerLists: Sendable, Equatable {
        package private(set) var backends: [String] = []
        private var ends: [Int] = []
        private var all: [Server] = []

        package init() {}

        package var count: Int { backends.count }

        /// Starts the servers of `backend` (a backend without servers stays listed, empty).
        mutating func begin(_ backend: String) {
            backends.append(backend)
            ends.append(all.count)
        }

        /// A server of the backend begun last.
        mutating func add(_ server: Server) {
            all.append(server)
            ends[ends.count - 1] = all.count
        }

        mutating func reserve(backends n: Int, servers m: Int) {
            backends.reserveCapacity(n)
            ends.reserveCapacity(n)
            all.reserveCapacity(m)
        }

        /// The servers by backend name (built per call: for a diff, not for lookups in a loop).
        package var byBackend: [String: ArraySlice<Server>] {
            var out: [String: ArraySlice<Server>] = [:]
            out.reserveCapacity(backends.count)
            var start = 0
            for (i, name) in backends.enumerated() {
                out[name] = all[start..<ends[i]]
                start = ends[i]
            }
            return out
        }

        /// The servers of one backend (a linear search).
        package func servers(of backend: String) -> ArraySlice<Server>? {
            guard let i = backends.firstIndex(of: backend) else { return nil }
            return all[(i == 0 ? 0 : ends[i - 1])..<ends[i]]
        }
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

    /// Plans (`ProxyPlan.make` with `options`' certificates) and prints.
    package func renderWithServers(_ document: AssignmentDocument, endpoints: EndpointMap, config: UserConfig)
        -> Rendered
    {
        render(
            ProxyPlan.make(document, endpoints: endpoints, certificates: options.certificates, engine: .haproxy),
            config: config,
            vips: document.vips.count)
    }

    /// Prints `plan`. `vips` sizes the output buffer.
    package func render(_ plan: ProxyPlan, config: UserConfig, vips: Int) -> Rendered {
        var out = ConfigText()
        out.hashing = true
        var servers = ServerLists()
        servers.reserve(backends: plan.frontends.count, servers: plan.frontends.count * 4)
        out.reserve(vips: vips)
        let fitted = fittedMaxConnections(plan)
        header(&out, config, maxConnections: fitted.maxconn)
        // Frontends come VIP by VIP; a VIP with several Services lists its ports in order.
        var i = 0
        var unresolved = false
        let frontends = plan.frontends
        while i < frontends.count {
            var j = i + 1
            while j < frontends.count && frontends[j].vip == frontends[i].vip { j += 1 }
            // Indices, not copies: a Frontend copy retains every array and string it holds.
            var ofVIP = (i..<j).filter { frontends[$0].proto == .tcp }
            if frontends[i].vipHasSeveralServices { ofVIP.sort { frontends[$0].port < frontends[$1].port } }
            for k in ofVIP {
                let f = frontends[k]
                if let g = f.gateway {
                    if gateway(&out, &servers, f, g, config) { unresolved = true }
                } else if f.sharedByName {
                    shared(&out, &servers, f, config)
                } else {
                    single(&out, &servers, f, config)
                }
            }
            i = j
        }
        if unresolved {
            // Gateway backendRefs that do not resolve get their share of requests answered 500.
            out.section("frontend k8slb_unresolved")
            out.line("mode http")
            out.line("bind \(Self.failAddress)")
            out.line("http-request return status 500")
        }
        return Rendered(
            text: out.text, servers: servers, skeletonDigest: out.skeletonDigest, skipped: plan.unrouted,
            maxConnections: fitted.maxconn, descriptorsNeeded: fitted.needed)
    }

    /// Listeners (binds) and checked servers: what HAProxy holds a descriptor for beside its
    /// connections.
    package static func listenersAndChecks(_ plan: ProxyPlan) -> (binds: Int, checked: Int) {
        var binds = 2  // the health frontend, the unresolved one
        var checked = 0
        for f in plan.frontends where f.proto == .tcp {
            binds += f.redirectsPort80 ? 2 : 1
            for r in f.routes where r.backend.healthCheck || r.backend.nodeHealthPort != nil {
                checked += r.backend.servers.count
            }
            for p in f.gateway?.pools ?? [] { checked += p.servers.count }
        }
        return (binds, checked)
    }

    /// The `maxconn` this plan can have under `options.fileLimit` (the configured one when it
    /// fits, else what fits, at least 100) and the descriptors the config then needs (more than
    /// the limit: it cannot fit at all).
    ///
    /// HAProxy sizes its socket budget (and its open-file limit) as one descriptor per listener
    /// and checked server, two per connection, and a few of its own (`show info`: Maxsock), and
    /// refuses to bind past it. A reload's new worker holds the listeners the old one hands over
    /// and its own at once, so the budget must also cover two per listener: 2 × maxconn ≥ the
    /// listeners. Measured: 9,001 frontends under 20,000 at maxconn 966 (a budget of ~11,000)
    /// failed every reload at the 4,132nd bind; 10,001 at maxconn 4,967 failed too (a budget of
    /// 19,940 < 2 × 10,001).
    package func fittedMaxConnections(_ plan: ProxyPlan) -> (maxconn: Int, needed: Int) {
        let (binds, checked) = Self.listenersAndChecks(plan)
        let own = binds + checked + 64
        var maxconn = max(options.maxConnections, (binds + 1) / 2)
        if let limit = options.fileLimit { maxconn = max(100, min(maxconn, (limit - own) / 2)) }
        return (maxconn, max(own + 2 * maxconn, 2 * binds + checked + 64))
    }

    private func header(_ out: inout ConfigText, _ config: UserConfig, maxConnections: Int) {
        // Settings the operator's raw lines also give are theirs (OperatorSettings).
        let global = OperatorSettings.haproxyKeys(config.haproxy.global)
        out.section("global")
        out.line("log stdout format iso local0 notice")  // ISO 8601 timestamps: ordered with the actor's lines
        out.line("stats socket \(options.statsSocket) mode 600 level admin expose-fd listeners")
        out.setting("stats timeout 30s", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.setting(
            "hard-stop-after \(options.hardStopAfterSeconds)s", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.setting("maxconn \(maxConnections)", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.setting(
            "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets", unlessIn: global,
            key: OperatorSettings.haproxyKey)
        // HAProxy's internal HTTP client (Lua only; k8slb uses none) loads the whole system CA
        // store at every start otherwise: 35 of the ~50 ms each `haproxy -c`, master re-exec and
        // new worker take. A raw `global` line can turn it back on.
        out.setting("httpclient.ssl.verify none", unlessIn: global, key: OperatorSettings.haproxyKey)
        out.raw(config.haproxy.global)
        let defaults = OperatorSettings.haproxyKeys(config.haproxy.defaults)
        out.section("defaults")
        out.line("log global")
        for setting in [
            "option dontlognull", "timeout connect 5s", "timeout client 30s", "timeout server 30s", "timeout check 2s",
            "retries 2", "option redispatch",
        ] {
            out.setting(setting, unlessIn: defaults, key: OperatorSettings.haproxyKey)
        }
        out.line("default-server inter 2s fall 3 rise 2")
        out.raw(config.haproxy.defaults)
        out.section("frontend k8slb_health")
        out.line("mode http")
        out.line("bind 127.0.0.1:\(options.healthPort)")
        out.line("monitor-uri /healthz")
    }

    private var bindSuffix: String { options.transparentBinds ? " transparent" : "" }

    /// The bundle file of a certificate.
    private func bundle(_ c: ProxyPlan.Certificate) -> String {
        switch c {
        case .pool(let pool): "\(options.certDirectory)/\(pool.rawValue).pem"
        case .secret(let path): path.rawValue
        }
    }

    /// A frontend of one Service.
    private func single(
        _ out: inout ConfigText, _ servers: inout ServerLists, _ f: ProxyPlan.Frontend, _ config: UserConfig
    ) {
        let route = f.routes[0]
        let name = f.identifier
        let backendName = "be_" + name
        out.section("frontend fe_", name)
        out.line(f.http ? "mode http" : "mode tcp")
        let tls = route.certificate.map { " ssl crt \(bundle($0))" + (f.http ? " alpn h2,http/1.1" : "") } ?? ""
        out.bind(f.vip, f.port, bindSuffix, tls)
        sourceRanges(&out, f.sourceRanges)
        if f.http { out.line(Self.idleClose) }
        out.raw(f.http ? config.haproxy.httpfront : config.haproxy.tcpfront)
        out.line("default_backend ", backendName)
        backend(&out, &servers, backendName, route.backend, config)
        redirect(&out, f)
    }

    private func redirect(_ out: inout ConfigText, _ f: ProxyPlan.Frontend) {
        guard f.redirectsPort80 else { return }
        out.section("frontend fe_\(f.vip.identifier)_80_redirect")
        out.line("mode http")
        out.line("bind \(f.vip.withPort(80))" + bindSuffix)
        out.line("http-request redirect scheme https code 301")
    }

    private func sourceRanges(_ out: inout ConfigText, _ ranges: [IPNetwork]) {
        guard !ranges.isEmpty else { return }
        out.line("tcp-request connection reject unless { src \(ranges.map(\.description).joined(separator: " ")) }")
    }

    /// An old process (a reload, a drain on shutdown) answers an idle keep-alive connection's next
    /// request with `Connection: close` instead of closing it under the client (which then sees
    /// its request reset).
    static let idleClose = "option idle-close-on-response"

    /// One route's backend: balance, stickiness, forwarded headers, servers.
    private func backend(
        _ out: inout ConfigText, _ servers: inout ServerLists, _ name: String, _ b: ProxyPlan.Backend,
        _ config: UserConfig
    ) {
        out.section("backend ", name)
        out.line(b.http ? "mode http" : "mode tcp")
        out.line("balance roundrobin")
        if let seconds = b.affinitySeconds {
            // sessionAffinity: ClientIP: the client's address sticks to its server for the timeout.
            out.line("stick-table type \(b.family == .ipv4 ? "ip" : "ipv6") size 1m expire \(seconds)s")
            out.line("stick on src")
        }
        if b.http && b.forwardedHeaders {
            out.line("option forwardfor")
            out.line(
                b.terminateTLS
                    ? "http-request set-header X-Forwarded-Proto https"
                    : "http-request set-header X-Forwarded-Proto http")
            out.line("http-request set-header X-Forwarded-Port " + String(b.port.port))
        }
        if b.nodeHealthPort != nil {
            // NodePort backends with externalTrafficPolicy Local: a node serves only while
            // kube-proxy's health check port says it has a ready local endpoint.
            out.line("option httpchk GET /healthz")
            out.line("http-check expect status 200")
        } else if let check = b.httpCheck {
            out.line("option httpchk GET \(check.path)")
            out.line("http-check expect status 200")
        }
        out.raw(b.http ? config.haproxy.httpback : config.haproxy.tcpback)
        // Explicit check timing: servers added through the Runtime API do not inherit default-server.
        var suffix = ""
        if b.healthCheck || b.nodeHealthPort != nil {
            suffix += " check"
            if let p = b.nodeHealthPort { suffix += " port \(p)" }
            if b.httpCheck?.tls == true { suffix += " check-ssl verify none" }
            if let t = b.checkTiming {
                suffix += " inter \(t.intervalMilliseconds)ms fall \(t.fall) rise \(t.rise)"
            } else {
                suffix += " inter 2s fall 3 rise 2"
            }
        }
        if b.tlsToBackend { suffix += " ssl verify none" }
        if let pp = b.proxyProtocol {
            suffix += pp == .v1 ? " send-proxy" : " send-proxy-v2"
            // Checks of the service port itself speak PROXY too (a pod expecting it would log
            // garbage otherwise); checks of kube-proxy's health port must not.
            if b.healthCheck && b.nodeHealthPort == nil { suffix += " check-send-proxy" }
        }
        // Backends mostly share one option list: one String for all of them, not one each.
        let options: String
        if let last = out.lastServerOptions, last.suffix == suffix {
            options = last.options
        } else {
            options = String(suffix.dropFirst())
            out.lastServerOptions = (suffix, options)
        }
        servers.begin(name)
        for ep in b.servers {
            out.server(ep, suffix: suffix)
            servers.add(Server(endpoint: ep, options: options))
        }
    }

    /// A VIP:port shared by host name: TLS passthrough routes by the ClientHello's SNI,
    /// terminated TLS by SNI and Host, plain HTTP by Host; what matches no name goes to the
    /// fallback route, else to a backend that refuses it (HTTP 404; TCP: closed).
    private func shared(
        _ out: inout ConfigText, _ servers: inout ServerLists, _ f: ProxyPlan.Frontend, _ config: UserConfig
    ) {
        let name = f.identifier
        func backendName(_ r: ProxyPlan.Route) -> String { "be_\(name)_\(r.backend.nameSuffix ?? "")" }
        out.section("frontend fe_\(name)")
        out.line("mode \(f.http ? "http" : "tcp")")
        // Terminated TLS: every route's bundle on the bind line; HAProxy picks the one whose names
        // match the SNI; the fallback route's (else the first's) is the default.
        var certs: [String] = []
        if let i = f.fallback, let c = f.routes[i].certificate { certs.append(bundle(c)) }
        for r in f.routes { if let c = r.certificate.map(bundle), !certs.contains(c) { certs.append(c) } }
        let tls = f.terminateTLS && !certs.isEmpty
        out.line(
            "bind \(f.vip.withPort(f.port))" + bindSuffix
                + (tls ? " ssl" + certs.map { " crt \($0)" }.joined() + (f.http ? " alpn h2,http/1.1" : "") : ""))
        sourceRanges(&out, f.sourceRanges)
        if f.http { out.line(Self.idleClose) }
        out.raw(f.http ? config.haproxy.httpfront : config.haproxy.tcpfront)
        if !f.http && !f.terminateTLS {
            // Passthrough: wait for the ClientHello to read its SNI.
            out.line("tcp-request inspect-delay 5s")
            out.line("tcp-request content accept if { req.ssl_hello_type 1 }")
        }
        for r in f.routes where !r.hostnames.isEmpty {
            let names = r.hostnames.map(\.rawValue).joined(separator: " ")
            if f.http {
                out.line("use_backend \(backendName(r)) if { req.hdr(host),field(1,:),lower -m str \(names) }")
            }
            if f.terminateTLS { out.line("use_backend \(backendName(r)) if { ssl_fc_sni,lower -m str \(names) }") }
            if !f.http && !f.terminateTLS {
                out.line("use_backend \(backendName(r)) if { req.ssl_sni,lower -m str \(names) }")
            }
        }
        // `http-request`/`tcp-request` rules would run before the routing: a backend refuses.
        let nomatch = "be_\(name)_nomatch"
        out.line("default_backend \(f.fallback.map { backendName(f.routes[$0]) } ?? nomatch)")
        for r in f.routes { backend(&out, &servers, backendName(r), r.backend, config) }
        if f.fallback == nil {
            out.section("backend \(nomatch)")
            out.line("mode \(f.http ? "http" : "tcp")")
            if f.http { out.line("http-request deny deny_status 404") }
            servers.begin(nomatch)
        }
        redirect(&out, f)
    }
}
