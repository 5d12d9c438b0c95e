/// Printing a Gateway's frontend (`ProxyPlan.Frontend.gateway`) for HAProxy.
///
/// HTTP and HTTPS: the request's host picks a virtual host (exact names before wildcards, the
/// longest wildcard first, then the routes without names), then the first route entry of that
/// host whose match holds wins (entries come in Gateway API's precedence order); its filters run
/// and it goes to its pool of backends. No match: 404. Every user value reaches the file typed and
/// quoted (`HAProxyQuoting`).
extension HAProxyRenderer {
    /// Prints the frontend and its pools; true when a pool answers 500 for unresolved backendRefs
    /// (the caller prints `frontend k8slb_unresolved` once).
    func gateway(
        _ out: inout ConfigText, _ servers: inout ServerLists, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend,
        _ config: UserConfig
    ) -> Bool {
        let id = f.identifier
        switch g.kind {
        case .http, .https: gatewayHTTP(&out, f, g, id, config)
        case .tls: gatewayTLS(&out, f, g, id, config)
        case .tcp: gatewayTCP(&out, f, g, id, config)
        case .udp: return false
        }
        for pool in g.pools {
            let name = "be_\(id)_\(GatewayFrontend.suffix(pool.id))"
            out.section("backend \(name)")
            out.line("mode \(f.http ? "http" : "tcp")")
            out.line("balance roundrobin")
            if f.http {
                out.line("option forwardfor")
                out.line(
                    f.terminateTLS
                        ? "http-request set-header X-Forwarded-Proto https"
                        : "http-request set-header X-Forwarded-Proto http")
            }
            out.raw(f.http ? config.haproxy.httpback : config.haproxy.tcpback)
            let check = " check inter 2s fall 3 rise 2"
            servers.begin(name)
            for (ep, weight) in pool.servers {
                let suffix = check + " weight \(weight)"
                out.server(ep, suffix: suffix)
                servers.add(Server(endpoint: ep, options: String(suffix.dropFirst())))
            }
            if f.http && pool.failShare > 0 {
                // The share of backendRefs that do not resolve: answered 500, as the spec says.
                out.line("server k8slb_unresolved \(Self.failAddress) weight \(pool.failShare)")
            }
        }
        return f.http && g.pools.contains { $0.failShare > 0 }
    }

    /// Where the 500 answer for unresolved backendRefs listens (`frontend k8slb_unresolved`).
    static let failAddress = "abns@k8slb_unresolved"

    /// The bundles the listeners terminate with (those the actor wrote; a Secret not written is left out).
    private func gatewayCertificates(_ g: GatewayFrontend) -> [String] {
        var out: [String] = []
        for l in g.listeners {
            for s in l.certificates {
                if let path = options.gatewayCertificates[s]?.rawValue, !out.contains(path) { out.append(path) }
            }
        }
        return out
    }

    private func gatewayHTTP(
        _ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend, _ id: String, _ config: UserConfig
    ) {
        let certs = gatewayCertificates(g)
        out.section("frontend fe_\(id)")
        out.line("mode http")
        let tls = f.terminateTLS ? " ssl" + certs.map { " crt \($0)" }.joined() + " alpn h2,http/1.1" : ""
        out.line("bind \(f.vip.withPort(f.port))" + (options.transparentBinds ? " transparent" : "") + tls)
        out.line(Self.idleClose)
        out.raw(config.haproxy.httpfront)
        let entries = g.listeners.flatMap(\.http)
        let hosts = Self.virtualHosts(entries)
        selectVirtualHost(&out, hosts)
        let prefixes = pathPrefixACLs(&out, entries)
        let numbered = selectEntry(&out, entries, hosts: hosts, prefixes: prefixes)
        out.line("http-request deny deny_status 404 if !{ var(txn.k8slb_r) -m found }")
        for (n, e) in numbered { entryActions(&out, e, " if { var(txn.k8slb_r) -m int eq \(n) }", f, g, id) }
        for (n, e) in numbered where !e.action.responseHeaders.isEmpty {
            headerEdits(&out, "http-response", e.action.responseHeaders, " if { var(txn.k8slb_r) -m int eq \(n) }")
        }
    }

    /// The entries' host names in matching order: exact names, then wildcards (longest suffix
    /// first), then any host (nil).
    private static func virtualHosts(_ entries: [HTTPRouteEntry]) -> [GatewayHostname?] {
        var hosts: [GatewayHostname?] = []
        for e in entries where !hosts.contains(e.hostname) { hosts.append(e.hostname) }
        return hosts.sorted { a, b in
            switch (a, b) {
            case (nil, _): return false
            case (_, nil): return true
            case (let x?, let y?):
                if x.isWildcard != y.isWildcard { return !x.isWildcard }
                if x.rawValue.count != y.rawValue.count { return x.rawValue.count > y.rawValue.count }
                return x.rawValue < y.rawValue
            }
        }
    }

    /// `txn.k8slb_vh` = the index of the first virtual host the request's Host matches.
    private func selectVirtualHost(_ out: inout ConfigText, _ hosts: [GatewayHostname?]) {
        out.line("http-request set-var(txn.k8slb_host) req.hdr(host),field(1,:),lower")
        for (v, h) in hosts.enumerated() {
            let cond: String
            switch h {
            case nil: cond = ""
            case let name? where name.isWildcard:
                cond = " { var(txn.k8slb_host) -m end \(HAProxyQuoting.quoted(name.suffix)) }"
            case let name?: cond = " { var(txn.k8slb_host) -m str \(HAProxyQuoting.quoted(name.rawValue)) }"
            }
            out.line("http-request set-var(txn.k8slb_vh) int(\(v)) if !{ var(txn.k8slb_vh) -m found }" + cond)
        }
    }

    /// One named ACL per path prefix, element-wise (`/a` is `/a` or under `/a/`); the prefixes in
    /// ACL order.
    private func pathPrefixACLs(_ out: inout ConfigText, _ entries: [HTTPRouteEntry]) -> [String] {
        var prefixes: [String] = []
        for e in entries {
            if case .prefix(let p) = e.match.path, p.trimmed != "/", !prefixes.contains(p.trimmed) {
                prefixes.append(p.trimmed)
            }
        }
        for (n, p) in prefixes.enumerated() {
            out.line("acl k8slb_p\(n) path -m str \(HAProxyQuoting.quoted(p))")
            out.line("acl k8slb_p\(n) path -m beg \(HAProxyQuoting.quoted(p + "/"))")
        }
        return prefixes
    }

    /// `txn.k8slb_r` = the winning entry: in host order, then the entries' precedence order.
    /// Returns the entries with their numbers.
    private func selectEntry(
        _ out: inout ConfigText, _ entries: [HTTPRouteEntry], hosts: [GatewayHostname?], prefixes: [String]
    ) -> [(Int, HTTPRouteEntry)] {
        var numbered: [(Int, HTTPRouteEntry)] = []
        for (v, h) in hosts.enumerated() {
            for e in entries where e.hostname == h {
                let n = numbered.count
                numbered.append((n, e))
                var cond = " { var(txn.k8slb_vh) -m int eq \(v) }"
                switch e.match.path {
                case .exact(let p): cond += " { path -m str \(HAProxyQuoting.quoted(p.rawValue)) }"
                case .prefix(let p): if p.trimmed != "/" { cond += " k8slb_p\(prefixes.firstIndex(of: p.trimmed)!)" }
                }
                if let m = e.match.method { cond += " { method \(m.rawValue) }" }
                for h in e.match.headers {
                    cond += " { req.hdr(\(h.name.rawValue)) -m str \(HAProxyQuoting.quoted(h.value.rawValue)) }"
                }
                for q in e.match.query {
                    cond += " { url_param(\(q.name.rawValue)) -m str \(HAProxyQuoting.quoted(q.value.rawValue)) }"
                }
                out.line("http-request set-var(txn.k8slb_r) int(\(n)) if !{ var(txn.k8slb_r) -m found }" + cond)
            }
        }
        return numbered
    }

    /// What entry `e` does when it won (`r`: the condition that says so): a redirect, or request
    /// header edits, a rewrite and its backend (500 when none resolves, as the spec says).
    private func entryActions(
        _ out: inout ConfigText, _ e: HTTPRouteEntry, _ r: String, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend,
        _ id: String
    ) {
        let a = e.action
        var prefixLength: Int?
        if case .prefix(let p) = e.match.path { prefixLength = p.trimmed == "/" ? 0 : p.trimmed.utf8.count }
        if a.redirect?.path.map({ if case .prefix = $0 { true } else { false } }) == true
            || a.rewrite?.path.map({ if case .prefix = $0 { true } else { false } }) == true,
            let length = prefixLength
        {
            out.line("http-request set-var(txn.k8slb_rest) path,bytes(\(length))" + r)
        }
        if let redirect = a.redirect {
            let location = redirectLocation(redirect, f, g)
            out.line(
                "http-request redirect location \(HAProxyQuoting.quoted(location + "?%[query]", logFormat: .verbatim)) code \(redirect.statusCode)"
                    + r + " { query -m len gt 0 }")
            out.line(
                "http-request redirect location \(HAProxyQuoting.quoted(location, logFormat: .verbatim)) code \(redirect.statusCode)"
                    + r)
            return
        }
        headerEdits(&out, "http-request", a.requestHeaders, r)
        if let rewrite = a.rewrite { rewriteLines(&out, rewrite, r) }
        if a.backends.isEmpty {
            out.line("http-request return status 500" + r)
        } else if g.pool(a.rule) != nil {
            out.line("use_backend be_\(id)_\(GatewayFrontend.suffix(a.rule))" + r)
        }
    }

    /// URLRewrite: the Host header, and the full path or the matched prefix replaced (the rest of
    /// the path is in `txn.k8slb_rest`).
    private func rewriteLines(_ out: inout ConfigText, _ rewrite: HTTPAction.Rewrite, _ r: String) {
        if let h = rewrite.hostname {
            out.line("http-request set-header host \(HAProxyQuoting.quoted(h.rawValue, logFormat: .escaped))" + r)
        }
        switch rewrite.path {
        case .full(let p)?:
            out.line("http-request set-path \(HAProxyQuoting.quoted(p.rawValue, logFormat: .escaped))" + r)
        case .prefix(let p)?:
            if p.trimmed == "/" {
                out.line("http-request set-path %[var(txn.k8slb_rest)]" + r + " { var(txn.k8slb_rest) -m len gt 0 }")
                out.line("http-request set-path /" + r + " !{ var(txn.k8slb_rest) -m len gt 0 }")
            } else {
                out.line(
                    "http-request set-path \(HAProxyQuoting.quoted(HAProxyQuoting.escapeLogFormat(p.trimmed) + "%[var(txn.k8slb_rest)]", logFormat: .verbatim))"
                        + r)
            }
        case nil: break
        }
    }

    private func headerEdits(_ out: inout ConfigText, _ verb: String, _ edits: HTTPAction.HeaderEdits, _ cond: String) {
        for h in edits.set {
            out.line(
                "\(verb) set-header \(h.name.rawValue) \(HAProxyQuoting.quoted(h.value.rawValue, logFormat: .escaped))"
                    + cond)
        }
        for h in edits.add {
            out.line(
                "\(verb) add-header \(h.name.rawValue) \(HAProxyQuoting.quoted(h.value.rawValue, logFormat: .escaped))"
                    + cond)
        }
        for h in edits.remove { out.line("\(verb) del-header \(h.rawValue)" + cond) }
    }

    /// The Location of a redirect, as a log-format string: scheme, host, port (left out when it is
    /// the scheme's own), path (replaced whole, by prefix, or the request's).
    private func redirectLocation(_ r: HTTPAction.Redirect, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend) -> String {
        let scheme = r.scheme ?? (g.kind == .https ? "https" : "http")
        let host = r.hostname.map { HAProxyQuoting.escapeLogFormat($0.rawValue) } ?? "%[var(txn.k8slb_host)]"
        let port: UInt16? = r.port ?? (r.scheme == nil ? f.port : nil)
        let wellKnown: UInt16 = scheme == "https" ? 443 : 80
        let portText = port.map { $0 == wellKnown ? "" : ":\($0)" } ?? ""
        let path: String
        switch r.path {
        case .full(let p)?: path = HAProxyQuoting.escapeLogFormat(p.rawValue)
        case .prefix(let p)?:
            path =
                p.trimmed == "/"
                ? "%[var(txn.k8slb_rest)]" : HAProxyQuoting.escapeLogFormat(p.trimmed) + "%[var(txn.k8slb_rest)]"
        case nil: path = "%[path]"
        }
        return "\(scheme)://\(host)\(portText)\(path)"
    }

    /// TLS passthrough: the ClientHello's SNI picks the route (exact names before wildcards).
    private func gatewayTLS(
        _ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend, _ id: String, _ config: UserConfig
    ) {
        out.section("frontend fe_\(id)")
        out.line("mode tcp")
        out.line("bind \(f.vip.withPort(f.port))" + (options.transparentBinds ? " transparent" : ""))
        out.raw(config.haproxy.tcpfront)
        out.line("tcp-request inspect-delay 5s")
        out.line("tcp-request content accept if { req.ssl_hello_type 1 }")
        let (rules, fallback) = g.sniRoutes()
        for (h, pool) in rules {
            let cond =
                h.isWildcard
                ? "-m end \(HAProxyQuoting.quoted(h.suffix))" : "-m str \(HAProxyQuoting.quoted(h.rawValue))"
            out.line("use_backend be_\(id)_\(pool) if { req.ssl_sni,lower \(cond) }")
        }
        if let fallback { out.line("default_backend be_\(id)_\(fallback)") }
    }

    /// TCP: the listener's (oldest) route.
    private func gatewayTCP(
        _ out: inout ConfigText, _ f: ProxyPlan.Frontend, _ g: GatewayFrontend, _ id: String, _ config: UserConfig
    ) {
        out.section("frontend fe_\(id)")
        out.line("mode tcp")
        out.line("bind \(f.vip.withPort(f.port))" + (options.transparentBinds ? " transparent" : ""))
        out.raw(config.haproxy.tcpfront)
        if let e = g.listeners.first?.l4.first, g.pool(e.route) != nil {
            out.line("default_backend be_\(id)_\(GatewayFrontend.suffix(e.route))")
        }
    }
}

/// HAProxy's quoting of user values: double quotes, with `\`, `"` and `$` escaped (the parser
/// expands environment variables inside double quotes); in a log-format string (header values,
/// redirect locations, paths) `%` too.
package enum HAProxyQuoting {
    package enum LogFormat {
        /// Not a log-format argument.
        case none
        /// A log-format argument whose text is user data: `%` escaped.
        case escaped
        /// A log-format string built by the renderer (user parts already escaped).
        case verbatim
    }

    package static func quoted(_ s: String, logFormat: LogFormat = .none) -> String {
        var out = "\""
        for c in (logFormat == .escaped ? escapeLogFormat(s) : s) {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "$": out += "\\$"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    /// `%` doubled: literal text in a log-format string.
    package static func escapeLogFormat(_ s: String) -> String {
        var out = ""
        for c in s { if c == "%" { out += "%%" } else { out.append(c) } }
        return out
    }
}
