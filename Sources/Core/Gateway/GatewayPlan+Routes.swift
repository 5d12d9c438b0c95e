/// An HTTPRoute parsed into typed matches and actions. A value that does not parse (or a feature
/// k8slb does not implement) makes the route not Accepted (UnsupportedValue, naming the field);
/// backendRefs that do not resolve leave ResolvedRefs False and their weight answers 500.
struct HTTPRouteCompiler: Sendable {
    var hostnames: [GatewayHostname]?
    var problem: (String, String)?
    var resolved: (Bool, String, String) = (true, "ResolvedRefs", "every backendRef resolved")
    var rules: [(matches: [HTTPMatch], action: HTTPAction)] = []

    static func compile(_ route: GatewayPlan.Object<HTTPRouteSpec>, _ i: GatewayPlan.Inputs, _ grants: ReferenceGrants)
        -> HTTPRouteCompiler
    {
        var c = HTTPRouteCompiler()
        var problems: [String] = []
        var hosts: [GatewayHostname] = []
        for (n, h) in (route.spec.hostnames ?? []).enumerated() {
            do { hosts.append(try GatewayHostname(parsing: h)) } catch {
                problems.append("spec.hostnames[\(n)]: \(error.description)")
            }
        }
        c.hostnames = hosts
        var unresolved: [(String, String)] = []
        for (r, rule) in (route.spec.rules ?? [HTTPRouteSpec.Rule()]).enumerated() {
            let path = "spec.rules[\(r)]"
            var matches: [HTTPMatch] = []
            for (m, match) in (rule.matches ?? []).enumerated() {
                do { matches.append(try Self.match(match)) } catch {
                    problems.append("\(path).matches[\(m)]: \(error.problem)")
                }
            }
            if rule.matches?.isEmpty ?? true { matches = [HTTPMatch()] }
            var action = HTTPAction()
            action.rule = "\(route.namespace)/\(route.name)#\(r)"
            do { try Self.filters(rule.filters ?? [], into: &action, matches: matches) } catch {
                problems.append("\(path).filters: \(error.problem)")
            }
            let (backends, invalid, issues) = BackendResolver.resolve(
                rule.backendRefs ?? [], from: .http, namespace: route.namespace, proto: .tcp, i, grants)
            action.backends = backends
            action.invalidWeight = invalid
            unresolved += issues.map { ($0.0, "\(path): \($0.1)") }
            c.rules.append((matches, action))
        }
        if !problems.isEmpty { c.problem = ("UnsupportedValue", problems.joined(separator: "; ")) }
        if let first = unresolved.first { c.resolved = (false, first.0, unresolved.map(\.1).joined(separator: "; ")) }
        return c
    }

    /// The route's entries on a listener, for the effective host names `hosts` (nil: any).
    func entries(for hosts: [GatewayHostname?], created: String, route: String) -> [PrecedenceEntry] {
        var out: [PrecedenceEntry] = []
        for (r, rule) in rules.enumerated() {
            for (m, match) in rule.matches.enumerated() {
                for h in hosts {
                    out.append(
                        PrecedenceEntry(
                            entry: HTTPRouteEntry(hostname: h, match: match, action: rule.action),
                            created: created, route: route, rule: r, match: m))
                }
            }
        }
        return out
    }

    static func match(_ m: HTTPRouteSpec.Match) throws(AddressParseError) -> HTTPMatch {
        var out = HTTPMatch()
        if let p = m.path {
            let value = try HTTPPath(parsing: p.value ?? "/")
            switch p.type ?? "PathPrefix" {
            case "Exact": out.path = .exact(value)
            case "PathPrefix": out.path = .prefix(value)
            default: throw AddressParseError(p.type ?? "", "path match type is not supported (Exact, PathPrefix)")
            }
        }
        var seen = Set<String>()
        for h in m.headers ?? [] {
            guard (h.type ?? "Exact") == "Exact" else {
                throw AddressParseError(h.type ?? "", "header match type is not supported (Exact)")
            }
            let name = try HeaderName(parsing: h.name)
            // The spec: a repeated header name (case-insensitively) counts once, the first.
            guard seen.insert(name.lowercased).inserted else { continue }
            out.headers.append(NameValue(name: name, value: try HeaderValue(parsing: h.value)))
        }
        var seenQuery = Set<String>()
        for q in m.queryParams ?? [] {
            guard (q.type ?? "Exact") == "Exact" else {
                throw AddressParseError(q.type ?? "", "query match type is not supported (Exact)")
            }
            let name = try HeaderName(parsing: q.name)
            guard seenQuery.insert(name.rawValue).inserted else { continue }
            let value = try HeaderValue(parsing: q.value)
            guard !value.rawValue.contains(" ") else {
                throw AddressParseError(q.value, "a query parameter value cannot hold a space")
            }
            out.query.append(NameValue(name: name, value: value))
        }
        if let method = m.method {
            guard let parsed = HTTPMethod(rawValue: method) else {
                throw AddressParseError(method, "not an HTTP method Gateway API allows")
            }
            out.method = parsed
        }
        return out
    }

    static func filters(_ filters: [HTTPRouteSpec.Filter], into a: inout HTTPAction, matches: [HTTPMatch])
        throws(AddressParseError)
    {
        func edits(_ m: HTTPRouteSpec.HeaderModifier) throws(AddressParseError) -> HTTPAction.HeaderEdits {
            var e = HTTPAction.HeaderEdits()
            for h in m.set ?? [] {
                e.set.append(NameValue(name: try HeaderName(parsing: h.name), value: try HeaderValue(parsing: h.value)))
            }
            for h in m.add ?? [] {
                e.add.append(NameValue(name: try HeaderName(parsing: h.name), value: try HeaderValue(parsing: h.value)))
            }
            for h in m.remove ?? [] { e.remove.append(try HeaderName(parsing: h)) }
            return e
        }
        func pathChange(_ p: HTTPRouteSpec.PathModifier) throws(AddressParseError) -> HTTPAction.PathChange {
            switch p.type {
            case "ReplaceFullPath": return .full(try HTTPPath(parsing: p.replaceFullPath ?? ""))
            case "ReplacePrefixMatch":
                guard matches.allSatisfy({ if case .prefix = $0.path { true } else { false } }) else {
                    throw AddressParseError(
                        p.type, "ReplacePrefixMatch needs every match of the rule to be a PathPrefix match")
                }
                return .prefix(try HTTPPath(parsing: p.replacePrefixMatch ?? ""))
            default: throw AddressParseError(p.type, "path modifier type is not supported")
            }
        }
        for f in filters {
            switch f.type {
            case "RequestHeaderModifier":
                guard let m = f.requestHeaderModifier else {
                    throw AddressParseError(f.type, "requestHeaderModifier is missing")
                }
                a.requestHeaders = try edits(m)
            case "ResponseHeaderModifier":
                guard let m = f.responseHeaderModifier else {
                    throw AddressParseError(f.type, "responseHeaderModifier is missing")
                }
                a.responseHeaders = try edits(m)
            case "RequestRedirect":
                guard let r = f.requestRedirect else { throw AddressParseError(f.type, "requestRedirect is missing") }
                var out = HTTPAction.Redirect()
                if let s = r.scheme {
                    guard s == "http" || s == "https" else {
                        throw AddressParseError(s, "redirect scheme must be http or https")
                    }
                    out.scheme = s
                }
                if let h = r.hostname { out.hostname = try HostName(parsing: h) }
                if let p = r.port {
                    guard (1...65535).contains(p) else {
                        throw AddressParseError(String(p), "redirect port must be 1-65535")
                    }
                    out.port = UInt16(p)
                }
                if let p = r.path { out.path = try pathChange(p) }
                let code = r.statusCode ?? 302
                guard [301, 302, 303, 307, 308].contains(code) else {
                    throw AddressParseError(String(code), "redirect status code must be 301, 302, 303, 307 or 308")
                }
                out.statusCode = code
                a.redirect = out
            case "URLRewrite":
                guard let r = f.urlRewrite else { throw AddressParseError(f.type, "urlRewrite is missing") }
                var out = HTTPAction.Rewrite()
                if let h = r.hostname { out.hostname = try HostName(parsing: h) }
                if let p = r.path { out.path = try pathChange(p) }
                a.rewrite = out
            default:
                throw AddressParseError(
                    f.type,
                    "filter type is not supported (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite)"
                )
            }
        }
        if a.redirect != nil && a.rewrite != nil {
            throw AddressParseError("RequestRedirect", "a rule cannot both redirect and rewrite")
        }
    }
}

/// TLSRoute, TCPRoute, UDPRoute: host names (TLS) and backends.
struct L4RouteCompiler: Sendable {
    var hostnames: [GatewayHostname]?
    var problem: (String, String)?
    var resolved: (Bool, String, String) = (true, "ResolvedRefs", "every backendRef resolved")
    var backends: [WeightedBackend] = []
    var invalidWeight: UInt32 = 0

    static func compile(
        _ route: GatewayPlan.Object<L4RouteSpec>, kind: GatewayPlan.RouteKindName, _ i: GatewayPlan.Inputs,
        _ grants: ReferenceGrants
    ) -> L4RouteCompiler {
        var c = L4RouteCompiler()
        var problems: [String] = []
        if kind == .tls {
            var hosts: [GatewayHostname] = []
            for (n, h) in (route.spec.hostnames ?? []).enumerated() {
                do { hosts.append(try GatewayHostname(parsing: h)) } catch {
                    problems.append("spec.hostnames[\(n)]: \(error.description)")
                }
            }
            c.hostnames = hosts
        }
        let rules = route.spec.rules ?? []
        if rules.count > 1 { problems.append("spec.rules: k8slb serves one rule per \(kind.rawValue)") }
        let (backends, invalid, issues) = BackendResolver.resolve(
            rules.first?.backendRefs ?? [], from: kind, namespace: route.namespace, proto: kind == .udp ? .udp : .tcp,
            i, grants)
        c.backends = backends
        c.invalidWeight = invalid
        if let first = issues.first { c.resolved = (false, first.0, issues.map(\.1).joined(separator: "; ")) }
        if !problems.isEmpty { c.problem = ("UnsupportedValue", problems.joined(separator: "; ")) }
        return c
    }
}

/// backendRefs → Service ports with weights.
enum BackendResolver {
    /// The usable backends, the weight of those that are not (their share answers 500), and why
    /// each was not (reason, message).
    static func resolve(
        _ refs: [ObjectRef], from kind: GatewayPlan.RouteKindName, namespace: String, proto: TransportProtocol,
        _ i: GatewayPlan.Inputs, _ grants: ReferenceGrants
    ) -> ([WeightedBackend], UInt32, [(String, String)]) {
        var out: [WeightedBackend] = []
        var invalid: UInt32 = 0
        var problems: [(String, String)] = []
        for (n, ref) in refs.enumerated() {
            let weight = UInt32(clamping: max(0, min(ref.weight ?? 1, 1_000_000)))
            let ns = ref.namespace ?? namespace
            func fail(_ reason: String, _ message: String) {
                invalid += weight
                problems.append((reason, "backendRefs[\(n)]: \(message)"))
            }
            guard (ref.group ?? "") == "", (ref.kind ?? "Service") == "Service" else {
                fail("InvalidKind", "\(ref.kind ?? "") is not a Service")
                continue
            }
            if ns != namespace, !grants.allows(from: (kind.rawValue, namespace), to: ("", "Service", ns, ref.name)) {
                fail(
                    "RefNotPermitted",
                    "Service \(ns)/\(ref.name) is in another namespace and no ReferenceGrant there allows it")
                continue
            }
            let key = ServiceKey(namespace: ns, name: ref.name)
            guard let ports = i.services[key] else {
                fail("BackendNotFound", "Service \(key) does not exist")
                continue
            }
            guard let number = ref.port, let port = ports.first(where: { Int($0.port) == number && $0.proto == proto })
            else {
                fail(
                    "BackendNotFound",
                    ref.port.map { "Service \(key) has no \(proto.rawValue) port \($0)" }
                        ?? "a Service backendRef needs a port")
                continue
            }
            guard weight > 0 else { continue }
            out.append(WeightedBackend(service: key, port: port, weight: weight))
        }
        return (out, invalid, problems)
    }
}
