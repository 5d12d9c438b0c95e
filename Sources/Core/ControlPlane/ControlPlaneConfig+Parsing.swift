extension ControlPlaneConfig {
    /// Parses the control-plane config file. Every error names its JSON path; unknown keys are
    /// warnings. `node` overrides the file's `node` (the `--node-name` flag).
    package static func parse(_ json: some StringProtocol, node: String? = nil) throws(ConfigValidationError) -> (
        config: ControlPlaneConfig, warnings: [ConfigIssue]
    ) {
        var p = ControlPlaneParser()
        let config = p.document(String(json), node: node)
        let errors = p.issues.filter { $0.severity == .error }
        let warnings = p.issues.filter { $0.severity == .warning }
        guard errors.isEmpty, let config else { throw ConfigValidationError(errors: errors, warnings: warnings) }
        return (config, warnings)
    }
}

/// Walks the control-plane JSON collecting issues.
private struct ControlPlaneParser: JSONIssueCollector {
    var issues: [ConfigIssue] = []

    mutating func document(_ text: String, node override: String?) -> ControlPlaneConfig? {
        let root: JSONValue
        do { root = try JSONReader.parse(text) } catch {
            self.error("", error.description)
            return nil
        }
        guard let members = object(root, "") else { return nil }
        var config = ControlPlaneConfig(node: override ?? "")
        var sawVIPs = false
        for (key, value) in members {
            switch key {
            case "node":
                if override == nil, let s = nodeName(value, "node") { config.node = s }
            case "peers": config.peers = peers(value, "peers")
            case "vips":
                sawVIPs = true
                config.vips = vips(value, "vips")
            case "vrrp": config.advertIntervalCentiseconds = vrrp(value, "vrrp") ?? config.advertIntervalCentiseconds
            case "apiserver": config.probe = probe(value, "apiserver")
            case "roles": config.roles = roles(value, "roles")
            case "bgp":
                let (settings, found) = BGPSettings.parse(value, path: "bgp")
                issues += found
                config.bgp = settings
            default:
                unknownKey("", key, known: ["node", "peers", "vips", "vrrp", "apiserver", "roles", "bgp"])
            }
        }
        if config.node.isEmpty, !members.contains(where: { $0.key == "node" }) {
            self.error("node", "required (or --node-name): this node's name")
        }
        if !sawVIPs { self.error("vips", "required: at least one VIP") }
        if !config.peers.isEmpty, !config.node.isEmpty, config.ownAddress == nil {
            self.error("peers", "this node (\(config.node.quotedForMessage)) is not one of the peers")
        }
        if config.vips.contains(where: { $0.announce == .bgp }), config.bgp == nil,
            !members.contains(where: { $0.key == "bgp" })
        {
            self.error("bgp", "required: a VIP announced by BGP needs the bgp block (asn and peers)")
        }
        if let own = config.ownAddress,
            config.vips.contains(where: { $0.announce == .vrrp && $0.address.family != own.family })
        {
            self.error("vips", "unicast VRRP needs peer addresses of each VIP's family (peers are \(own.family))")
        }
        crossCheck(config)
        return config
    }

    /// What single fields cannot say: roles on configured VIPs, one user per VIP:port, targets
    /// for balanced VIPs.
    mutating func crossCheck(_ config: ControlPlaneConfig) {
        var taken: [String: String] = [:]  // "vip:port" → who
        for (i, vip) in config.vips.enumerated() {
            guard case .balanced(let port) = vip.serve else { continue }
            if config.peers.isEmpty {
                self.error("vips[\(i)].serve", "\"balanced\" spreads over the peers' apiservers: list them in peers")
            }
            taken[vip.address.withPort(port)] = "vips[\(i)] (balanced)"
        }
        for (i, role) in config.roles.enumerated() {
            let path = "roles[\(i)]"
            if !config.vips.contains(where: { $0.address == role.vip }) {
                self.error("\(path).vip", "\(role.vip) is not one of vips (a role is served on a VIP this file holds)")
            }
            let place = role.vip.withPort(role.port) + (role.proto == .udp ? "/udp" : "")
            if let other = taken[place] {
                self.error("\(path).port", "\(place) is already served by \(other)")
            } else {
                taken[place] = path
            }
            if config.roles[..<i].contains(where: { $0.name == role.name }) {
                self.error("\(path).name", "role name \(role.name) is used twice")
            }
        }
    }

    mutating func nodeName(_ value: JSONValue, _ path: String) -> String? {
        guard let s = string(value, path) else { return nil }
        let ok =
            !s.isEmpty && s.utf8.count <= 253
            && s.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x2D }
        guard ok else {
            self.error(path, "\(s.quotedForMessage) is not a node name (letters, digits, '.', '-')")
            return nil
        }
        return s
    }

    mutating func address(_ value: JSONValue, _ path: String) -> IPAddress? {
        guard case .string(let s) = value else {
            self.error(path, "expected an address string, found \(value.typeName)")
            return nil
        }
        do { return try IPAddress(parsing: s) } catch {
            self.error(path, error.description)
            return nil
        }
    }

    /// Seconds (a JSON number) in `range`, as whole milliseconds.
    mutating func milliseconds(_ value: JSONValue, _ path: String, _ range: ClosedRange<Double>) -> Int? {
        guard case .number(let text) = value, let s = Double(text), range.contains(s) else {
            self.error(path, "expected seconds from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return Int((s * 1000).rounded())
    }

    mutating func peers(_ value: JSONValue, _ path: String) -> [ControlPlaneConfig.Peer] {
        guard case .object(let members) = value else {
            self.error(path, "expected an object of node name to address, found \(value.typeName)")
            return []
        }
        if members.count > ControlPlaneConfig.maxPeers {
            self.error(path, "at most \(ControlPlaneConfig.maxPeers) peers")
        }
        var out: [ControlPlaneConfig.Peer] = []
        for (name, v) in members {
            let p = "\(path).\(name)"
            guard let n = nodeName(.string(name), p), let a = address(v, p) else { continue }
            if out.contains(where: { $0.address == a }) { self.error(p, "address \(a) is given twice") }
            out.append(.init(name: n, address: a))
        }
        return out
    }

    mutating func vips(_ value: JSONValue, _ path: String) -> [ControlPlaneConfig.VIP] {
        guard case .array(let items) = value, !items.isEmpty else {
            self.error(path, "expected a non-empty array of VIPs")
            return []
        }
        var out: [ControlPlaneConfig.VIP] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let members = object(item, p) else { continue }
            var address: IPAddress?
            var interface: InterfaceName?
            var vrid: Int?
            var serveText = "direct"
            var port: Int?
            var announce = Announcement.vrrp
            for (key, v) in members {
                switch key {
                case "announce":
                    guard case .string(let t) = v, let a = Announcement(rawValue: t) else {
                        self.error("\(p).announce", "expected \"vrrp\" or \"bgp\"")
                        continue
                    }
                    announce = a
                case "serve":
                    guard case .string(let t) = v, ["direct", "balanced"].contains(t) else {
                        self.error("\(p).serve", "expected \"direct\" or \"balanced\"")
                        continue
                    }
                    serveText = t
                case "port": port = integer(v, "\(p).port", 1...65535)
                case "address": address = self.address(v, "\(p).address")
                case "interface":
                    guard let s = string(v, "\(p).interface") else { continue }
                    do { interface = try InterfaceName(parsing: s) } catch {
                        self.error("\(p).interface", error.description)
                    }
                case "vrid": vrid = integer(v, "\(p).vrid", 1...255)
                default:
                    unknownKey(p, key, known: ["address", "interface", "vrid", "serve", "port", "announce"])
                }
            }
            if announce == .bgp {
                // Announced from lo; no VRRP instance.
                if members.contains(where: { $0.key == "interface" || $0.key == "vrid" }) {
                    self.error("\(p)", "interface and vrid are for VRRP; a BGP VIP is bound on lo and announced")
                }
                interface = try? InterfaceName(parsing: "lo")
                vrid = 0
            }
            guard let address, let interface, let vrid else {
                if !members.contains(where: { $0.key == "address" }) { self.error("\(p).address", "required") }
                if !members.contains(where: { $0.key == "interface" }) { self.error("\(p).interface", "required") }
                if !members.contains(where: { $0.key == "vrid" }) { self.error("\(p).vrid", "required (1-255)") }
                continue
            }
            if out.contains(where: { $0.address == address }) {
                self.error("\(p).address", "\(address) is given twice")
            }
            if announce == .vrrp, out.contains(where: { $0.vrid == vrid && $0.address.family == address.family }) {
                self.error("\(p).vrid", "VRID \(vrid) is used by another \(address.family) VIP")
            }
            var serve = ControlPlaneConfig.Serve.direct
            if serveText == "balanced" {
                guard let port else {
                    self.error(
                        "\(p).port",
                        "required with \"serve\": \"balanced\" (the VIP's port; 6443 only with the apiservers bound to the node address)"
                    )
                    continue
                }
                serve = .balanced(port: UInt16(port))
            } else if members.contains(where: { $0.key == "port" }) {
                self.error(
                    "\(p).port", "only with \"serve\": \"balanced\" (a direct VIP reaches the apiserver's own port)")
            }
            out.append(.init(address: address, interface: interface, vrid: vrid, serve: serve, announce: announce))
        }
        return out
    }

    mutating func roles(_ value: JSONValue, _ path: String) -> [ControlPlaneConfig.Role] {
        guard case .array(let items) = value else {
            self.error(path, "expected an array of roles, found \(value.typeName)")
            return []
        }
        var out: [ControlPlaneConfig.Role] = []
        for (i, item) in items.enumerated() {
            if let role = self.role(item, "\(path)[\(i)]") { out.append(role) }
        }
        return out
    }

    mutating func role(_ item: JSONValue, _ p: String) -> ControlPlaneConfig.Role? {
        guard let members = object(item, p) else { return nil }
        var name: String?
        var vip: IPAddress?
        var port: Int?
        var targets: [EndpointAddress] = []
        var check = ControlPlaneConfig.RoleCheck.tcp
        var proto = TransportProtocol.tcp
        var proxyProtocol: ProxyProtocolVersion?
        var sticky: Int?
        let errorsBefore = issues.count
        for (key, v) in members {
            let kp = "\(p).\(key)"
            switch key {
            case "name":
                guard case .string(let s) = v, !s.isEmpty, s.utf8.count <= 63,
                    s.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D })
                else {
                    self.error(kp, "expected 1-63 letters, digits, '.', '_' or '-'")
                    continue
                }
                name = s
            case "vip": vip = address(v, kp)
            case "port": port = integer(v, kp, 1...65535)
            case "protocol":
                guard case .string(let t) = v, let p = TransportProtocol(rawValue: t.uppercased()), p != .sctp else {
                    self.error(kp, "expected \"tcp\" or \"udp\"")
                    continue
                }
                proto = p
            case "targets": targets = self.targets(v, kp)
            case "check": check = roleCheck(v, kp) ?? check
            case "proxyProtocol":
                guard case .string(let t) = v, let version = ProxyProtocolVersion(rawValue: t) else {
                    self.error(kp, "expected \"v1\" or \"v2\"")
                    continue
                }
                proxyProtocol = version
            case "stickySeconds": sticky = integer(v, kp, 1...86400)
            default:
                unknownKey(
                    p, key,
                    known: ["name", "vip", "port", "protocol", "targets", "check", "proxyProtocol", "stickySeconds"])
            }
        }
        for key in ["name", "vip", "port", "targets"] where !members.contains(where: { $0.key == key }) {
            self.error("\(p).\(key)", "required")
        }
        if proto == .udp {
            if members.contains(where: { $0.key == "check" }), check != .none {
                self.error(
                    "\(p).check",
                    "a UDP role's targets are checked passively (nginx skips a target that did not answer for 5 s): leave check out or set \"none\""
                )
            }
            if proxyProtocol != nil { self.error("\(p).proxyProtocol", "PROXY protocol is for TCP roles") }
            check = .none
        }
        guard issues.count == errorsBefore || !issues[errorsBefore...].contains(where: { $0.severity == .error }),
            let name, let vip, let port
        else { return nil }
        return .init(
            name: name, vip: vip, port: UInt16(port), proto: proto, targets: targets, check: check,
            proxyProtocol: proxyProtocol, stickySeconds: sticky)
    }

    /// `["192.0.2.21:30080", "[2001:db8::21]:30080"]`
    mutating func targets(_ value: JSONValue, _ path: String) -> [EndpointAddress] {
        guard case .array(let items) = value, !items.isEmpty else {
            self.error(path, "expected a non-empty array of \"address:port\"")
            return []
        }
        var out: [EndpointAddress] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard case .string(let text) = item, let colon = text.lastIndex(of: ":"),
                let port = UInt16(text[text.index(after: colon)...]), port > 0
            else {
                self.error(p, "expected \"address:port\" (IPv6 in brackets)")
                continue
            }
            var host = text[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            do {
                let target = EndpointAddress(address: try IPAddress(parsing: host), port: port)
                if out.contains(target) { self.error(p, "\(text) is listed twice") } else { out.append(target) }
            } catch {
                self.error(p, error.description)
            }
        }
        return out
    }

    /// `"tcp"`, `"none"`, or `{"path": "/healthz", "tls": false}`.
    mutating func roleCheck(_ value: JSONValue, _ path: String) -> ControlPlaneConfig.RoleCheck? {
        switch value {
        case .string("tcp"): return .tcp
        case .string("none"): return ControlPlaneConfig.RoleCheck.none
        case .object(let members):
            var checkPath = "/"
            var tls = false
            for (key, v) in members {
                switch (key, v) {
                case ("path", .string(let s)): checkPath = s
                case ("tls", .bool(let b)): tls = b
                default: self.error("\(path).\(key)", "expected path (a string) or tls (true or false)")
                }
            }
            do { return .http(try ProxyPlan.HTTPCheck(path: checkPath, tls: tls)) } catch {
                self.error("\(path).path", error.description)
                return nil
            }
        default:
            self.error(path, "expected \"tcp\", \"none\" or {\"path\": …, \"tls\": …}")
            return nil
        }
    }

    mutating func vrrp(_ value: JSONValue, _ path: String) -> Int? {
        guard let members = object(value, path) else { return nil }
        var advert: Int?
        for (key, v) in members {
            if key == "advertInterval" {
                advert = milliseconds(v, "\(path).advertInterval", 0.01...255).map { max(1, $0 / 10) }
            } else {
                unknownKey(path, key, known: ["advertInterval"])
            }
        }
        return advert
    }

    mutating func probe(_ value: JSONValue, _ path: String) -> ControlPlaneConfig.Probe {
        var probe = ControlPlaneConfig.Probe()
        guard let members = object(value, path) else { return probe }
        for (key, v) in members {
            let p = "\(path).\(key)"
            switch key {
            case "address": probe.address = address(v, p) ?? probe.address
            case "port": probe.port = integer(v, p, 1...65535) ?? probe.port
            case "caFile":
                guard case .string(let s) = v else {
                    self.error(p, "expected a path, found \(v.typeName)")
                    continue
                }
                do { probe.caFile = try SafePath(parsing: s) } catch { self.error(p, error.description) }
            case "interval": probe.intervalMilliseconds = milliseconds(v, p, 0.02...60) ?? probe.intervalMilliseconds
            case "timeout": probe.timeoutMilliseconds = milliseconds(v, p, 0.02...60) ?? probe.timeoutMilliseconds
            case "fall": probe.fall = integer(v, p, 1...100) ?? probe.fall
            case "rise": probe.rise = integer(v, p, 1...100) ?? probe.rise
            default:
                unknownKey(path, key, known: ["address", "port", "caFile", "interval", "timeout", "fall", "rise"])
            }
        }
        return probe
    }
}
