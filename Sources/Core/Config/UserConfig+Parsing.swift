extension UserConfig {
    /// A config that passed validation, with the warnings it raised.
    package struct Validated: Sendable {
        package let config: UserConfig
        package let warnings: [ConfigIssue]
    }

    /// The one validating parser for the user config JSON. Reports every error it finds (not just
    /// the first), each with its JSON path; unknown keys are warnings.
    package static func parse(_ json: some StringProtocol) throws(ConfigValidationError) -> Validated {
        var parser = ConfigParser()
        let config = parser.parseDocument(String(json))
        guard parser.errors.isEmpty, let config else {
            throw ConfigValidationError(errors: parser.errors, warnings: parser.warnings)
        }
        return Validated(config: config, warnings: parser.warnings)
    }
}

extension UserConfig {
    /// A fleet file's `settings` block (`FleetFile`): the settings only the fleet owns, parsed by
    /// the config's own rules; errors and warnings under `path`.
    package static func parseFleetSettings(_ value: JSONValue, path: String) -> (
        config: UserConfig, issues: [ConfigIssue]
    ) {
        var parser = ConfigParser()
        let config = parser.parseFleetSettings(value, path)
        return (config, parser.issues)
    }
}

extension BGPSettings {
    /// A `bgp` block on its own (the control-plane file has one too): the same rules and messages
    /// as the config's, errors and warnings under `path`.
    package static func parse(_ value: JSONValue, path: String) -> (settings: BGPSettings?, issues: [ConfigIssue]) {
        var parser = ConfigParser()
        let settings = parser.parseBGP(value, path)
        return (settings, parser.issues)
    }
}

/// Walks the JSON tree collecting issues. Kept private to the parse functions above.
private struct ConfigParser: JSONIssueCollector {
    var issues: [ConfigIssue] = []
    var errors: [ConfigIssue] { issues.filter { $0.severity == .error } }
    var warnings: [ConfigIssue] { issues.filter { $0.severity == .warning } }

    mutating func parseDocument(_ text: String) -> UserConfig? {
        let root: JSONValue
        do {
            root = try JSONReader.parse(text)
        } catch {
            self.error("", error.description)
            return nil
        }
        guard let members = object(root, "") else { return nil }
        var config = UserConfig.empty
        var sawPools = false
        for (key, value) in members {
            switch key {
            case "pools":
                sawPools = true
                config.pools = parsePools(value, "pools")
            default: parseSetting(key, value, "", into: &config)
            }
        }
        for pool in config.pools
        where pool.announce == .bgp && config.bgp == nil && !members.contains(where: { $0.key == "bgp" }) {
            error("pools.\(pool.name).announce", "\"bgp\" needs a top-level bgp block (asn and peers)")
        }
        if !sawPools {
            error(
                "pools",
                "required: define at least one pool (\"default\" is used by Services without the loadbalancer/pool annotation)"
            )
        } else if errors.isEmpty, !config.pools.isEmpty, config.pool(named: .default) == nil {
            warn(
                "pools",
                "no pool named \"default\": Services without the loadbalancer/pool annotation will not get an address")
        }
        return config
    }

    /// One top-level key other than `pools`, under `prefix` (a fleet file's `settings`).
    mutating func parseSetting(_ key: String, _ value: JSONValue, _ prefix: String, into config: inout UserConfig) {
        let path = Self.join(prefix, key)
        switch key {
        case "keepalived": config.keepalived = parseKeepalived(value, path)
        case "haproxy": config.haproxy = parseHAProxy(value, path)
        case "nginx": config.nginx = parseNginx(value, path)
        case "vrrp": config.vrrp = parseVRRP(value, path)
        case "bgp": config.bgp = parseBGP(value, path)
        default: unknownKey(prefix, key, known: ["pools", "keepalived", "haproxy", "nginx", "vrrp", "bgp"])
        }
    }

    /// A fleet file's `settings`: the config's keys except `pools` (each cluster brings its own).
    mutating func parseFleetSettings(_ value: JSONValue, _ path: String) -> UserConfig {
        var config = UserConfig.empty
        guard let members = object(value, path) else { return config }
        for (key, v) in members {
            if key == "pools" {
                error(Self.join(path, key), "pools belong to the clusters' own configs, not to the fleet")
                continue
            }
            parseSetting(key, v, path, into: &config)
        }
        return config
    }

    // MARK: JSON shape helpers (also JSONIssueCollector's object, string, unknownKey)

    mutating func bool(_ value: JSONValue, _ path: String) -> Bool? {
        switch value {
        case .bool(let b): return b
        case .string("true"): return true
        case .string("false"): return false
        default:
            error(path, "expected true or false, found \(value.typeName)")
            return nil
        }
    }

    /// A number given as a JSON number or a decimal string (the original wrote "30").
    mutating func numberText(_ value: JSONValue, _ path: String) -> String? {
        switch value {
        case .number(let n): return n
        case .string(let s): return s
        default:
            error(path, "expected a number, found \(value.typeName)")
            return nil
        }
    }

    /// A raw line list; a line whose directive (`key`) is in `reserved` is left out with a warning
    /// giving the reason (`OperatorSettings`: the few directives the actor depends on; the
    /// original's example config has `daemon`, so refusing would break configs that work).
    mutating func lines(
        _ value: JSONValue, _ path: String, reserved: [String: String] = [:],
        key: (String) -> String = { _ in "" }
    ) -> [RawConfigLine] {
        guard case .array(let items) = value else {
            error(path, "expected an array of strings, found \(value.typeName)")
            return []
        }
        var out: [RawConfigLine] = []
        for (i, item) in items.enumerated() {
            let itemPath = "\(path)[\(i)]"
            guard let s = string(item, itemPath) else { continue }
            do {
                let line = try RawConfigLine(parsing: s)
                if let why = reserved[key(line.text)] {
                    warn(itemPath, "ignored: \(why)")
                    continue
                }
                out.append(line)
            } catch {
                self.error(itemPath, error.description)
            }
        }
        return out
    }

    // MARK: pools

    mutating func parsePools(_ value: JSONValue, _ path: String) -> [Pool] {
        guard let members = object(value, path) else { return [] }
        if members.isEmpty { error(path, "no pools defined") }
        var pools: [Pool] = []
        for (name, body) in members {
            let poolPath = Self.join(path, name)
            let poolName: PoolName
            do {
                poolName = try PoolName(parsing: name)
            } catch {
                self.error(poolPath, error.description)
                continue
            }
            if let pool = parsePool(poolName, body, poolPath) { pools.append(pool) }
        }
        pools.sort { $0.name < $1.name }
        checkOverlaps(pools, path)
        return pools
    }

    mutating func parsePool(_ name: PoolName, _ value: JSONValue, _ path: String) -> Pool? {
        guard let members = object(value, path) else { return nil }
        var network: IPRange?
        var range: IPRange?
        var interface: InterfaceName?
        var ha = true
        var backends = PoolBackends.pods
        var announce = Announcement.vrrp
        var communities: [BGPCommunity] = []
        var localPref: UInt32?
        var failed = false
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "network", "range":
                guard let s = string(v, p) else {
                    failed = true
                    continue
                }
                do {
                    let parsed = try IPRange(parsing: s)
                    if key == "network" { network = parsed } else { range = parsed }
                    if parsed.family == .ipv6, parsed.span == .max {
                        error(p, "\(s.quotedForMessage): covers the entire IPv6 address space")
                        failed = true
                    }
                } catch {
                    self.error(p, error.description)
                    failed = true
                }
            case "interface":
                guard let s = string(v, p) else {
                    failed = true
                    continue
                }
                if s.isEmpty { continue }  // the original's way of saying "auto-detect"
                do { interface = try InterfaceName(parsing: s) } catch {
                    self.error(p, error.description)
                    failed = true
                }
            case "ha":
                if let b = bool(v, p) { ha = b } else { failed = true }
            case "backends":
                if let b: PoolBackends = choice(v, p, expected: "\"pods\" or \"nodeports\"") {
                    backends = b
                } else {
                    failed = true
                }
            case "announce":
                if let a: Announcement = choice(v, p, expected: "\"vrrp\" or \"bgp\"") {
                    announce = a
                } else {
                    failed = true
                }
            case "communities":
                if let list = parseCommunities(v, p) { communities = list } else { failed = true }
            case "localPref":
                guard let text = numberText(v, p) else {
                    failed = true
                    continue
                }
                guard let n = UInt32(text) else {
                    error(p, "\(text.quotedForMessage): expected a whole number from 0 to 4294967295")
                    failed = true
                    continue
                }
                localPref = n
            default:
                unknownKey(
                    path, key,
                    known: ["network", "range", "interface", "ha", "backends", "announce", "communities", "localPref"])
            }
        }
        if network == nil && !members.contains(where: { $0.key == "network" }) {
            error(Self.join(path, "network"), "required: every address of the pool (a CIDR or start-stop)")
            failed = true
        }
        if range == nil && !members.contains(where: { $0.key == "range" }) {
            error(
                Self.join(path, "range"),
                "required: the dynamically assigned part of the network (a CIDR or start-stop)")
            failed = true
        }
        guard !failed, let network, let range else { return nil }
        let rangeText = rawString(members, "range") ?? range.description
        let networkText = rawString(members, "network") ?? network.description
        guard network.family == range.family else {
            error(
                Self.join(path, "range"),
                "\(rangeText.quotedForMessage): range is \(range.family) but network \(networkText.quotedForMessage) is \(network.family); a pool holds one family"
            )
            return nil
        }
        guard network.contains(range) else {
            error(
                Self.join(path, "range"),
                "\(rangeText.quotedForMessage): range is not inside network \(networkText.quotedForMessage)")
            return nil
        }
        var pool = Pool(
            name: name, network: network, range: range, interface: interface, highAvailability: ha, backends: backends)
        pool.announce = announce
        pool.communities = communities
        pool.localPreference = localPref
        if pool.dynamicSize == 0 {
            warn(
                Self.join(path, "range"),
                "\(rangeText.quotedForMessage): holds no assignable address (only the network's reserved addresses); only static IPs can be used"
            )
        }
        return pool
    }

    /// One of an enum's raw values; an error listing `expected` otherwise.
    mutating func choice<T: RawRepresentable>(_ v: JSONValue, _ p: String, expected: String) -> T?
    where T.RawValue == String {
        guard let s = string(v, p) else { return nil }
        guard let value = T(rawValue: s) else {
            error(p, "\(s.quotedForMessage): expected \(expected)")
            return nil
        }
        return value
    }

    /// A pool's BGP `communities`; nil on an error.
    mutating func parseCommunities(_ v: JSONValue, _ p: String) -> [BGPCommunity]? {
        guard case .array(let items) = v else {
            error(p, "expected an array of strings, found \(v.typeName)")
            return nil
        }
        var out: [BGPCommunity] = []
        var failed = false
        for (i, item) in items.enumerated() {
            guard let s = string(item, "\(p)[\(i)]") else {
                failed = true
                continue
            }
            do { out.append(try BGPCommunity(parsing: s)) } catch {
                self.error("\(p)[\(i)]", error.description)
                failed = true
            }
        }
        return failed ? nil : out
    }

    func rawString(_ members: [(key: String, value: JSONValue)], _ key: String) -> String? {
        guard case .string(let s)? = members.first(where: { $0.key == key })?.value else { return nil }
        return s
    }

    mutating func checkOverlaps(_ pools: [Pool], _ path: String) {
        let sorted = pools.sorted { ($0.network.start, $0.name) < ($1.network.start, $1.name) }
        var widest: Pool?  // the pool reaching furthest so far, per family
        for pool in sorted {
            if let w = widest, w.family == pool.family, w.network.overlaps(pool.network) {
                error(
                    Self.join(path, pool.name.rawValue),
                    "network \(pool.network) overlaps pool \"\(w.name)\" (network \(w.network)); a static IP would belong to both"
                )
            }
            if widest == nil || widest!.family != pool.family || pool.network.end > widest!.network.end {
                widest = pool
            }
        }
    }

    // MARK: other sections

    mutating func parseKeepalived(_ value: JSONValue, _ path: String) -> KeepalivedSettings {
        var settings = KeepalivedSettings()
        guard let members = object(value, path) else { return settings }
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "email":
                guard let s = string(v, p) else { continue }
                let parts = s.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
                for part in parts {
                    do { settings.notificationEmails.append(try EmailAddress(parsing: part)) } catch {
                        self.error(p, error.description)
                    }
                }
            case "emailFrom":
                guard let s = string(v, p), !s.isEmpty else { continue }
                do { settings.emailFrom = try EmailAddress(parsing: s) } catch { self.error(p, error.description) }
            case "emailServer":
                guard let s = string(v, p), !s.isEmpty else { continue }
                do { settings.smtpServer = try SMTPServer(parsing: s) } catch { self.error(p, error.description) }
            case "emailServerTimeout":
                guard let s = numberText(v, p) else { continue }
                if s.isEmpty { continue }
                guard let n = Int(s), (1...3600).contains(n) else {
                    error(p, "\(s.quotedForMessage): expected whole seconds from 1 to 3600")
                    continue
                }
                settings.smtpTimeoutSeconds = n
            default:
                unknownKey(path, key, known: ["email", "emailFrom", "emailServer", "emailServerTimeout"])
            }
        }
        if !settings.notificationEmails.isEmpty && settings.smtpServer == nil {
            warn(Self.join(path, "emailServer"), "email recipients are set but no emailServer: no alerts will be sent")
        }
        return settings
    }

    mutating func parseHAProxy(_ value: JSONValue, _ path: String) -> HAProxyRawSections {
        var s = HAProxyRawSections()
        guard let members = object(value, path) else { return s }
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "global":
                s.global = lines(v, p, reserved: OperatorSettings.haproxyReserved, key: OperatorSettings.haproxyKey)
            case "defaults": s.defaults = lines(v, p)
            case "tcpfront": s.tcpfront = lines(v, p)
            case "httpfront": s.httpfront = lines(v, p)
            case "tcpback": s.tcpback = lines(v, p)
            case "httpback": s.httpback = lines(v, p)
            default:
                unknownKey(path, key, known: ["global", "defaults", "tcpfront", "httpfront", "tcpback", "httpback"])
            }
        }
        return s
    }

    mutating func parseNginx(_ value: JSONValue, _ path: String) -> NginxRawSections {
        var s = NginxRawSections()
        guard let members = object(value, path) else { return s }
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "global":
                s.global = lines(v, p, reserved: OperatorSettings.nginxReserved, key: OperatorSettings.nginxKey)
            case "http": s.http = lines(v, p)
            case "stream": s.stream = lines(v, p)
            case "upstream": s.upstream = lines(v, p)
            case "proxy": s.proxy = lines(v, p)
            default: unknownKey(path, key, known: ["global", "http", "stream", "upstream", "proxy"])
            }
        }
        return s
    }

    mutating func parseVRRP(_ value: JSONValue, _ path: String) -> VRRPSettings {
        var s = VRRPSettings()
        guard let members = object(value, path) else { return s }
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "advertInterval":
                guard let text = numberText(v, p) else { continue }
                guard let cs = Self.centiseconds(text), (1...4095).contains(cs) else {
                    error(p, "\(text.quotedForMessage): expected seconds from 0.01 to 40.95 in steps of 0.01 (VRRPv3)")
                    continue
                }
                s.advertIntervalCentiseconds = cs
            case "vridOffset":
                guard let text = numberText(v, p) else { continue }
                guard let n = Int(text), (0...254).contains(n) else {
                    error(p, "\(text.quotedForMessage): expected a whole number from 0 to 254")
                    continue
                }
                s.vridOffset = n
            default: unknownKey(path, key, known: ["advertInterval", "vridOffset"])
            }
        }
        return s
    }

    mutating func parseBGP(_ value: JSONValue, _ path: String) -> BGPSettings? {
        guard let members = object(value, path) else { return nil }
        var asn: UInt32?
        var routerID: IPAddress?
        var peers: [BGPPeer] = []
        var failed = false
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "asn":
                asn = parseASN(v, p)
                if asn == nil { failed = true }
            case "routerId":
                guard let s = string(v, p) else {
                    failed = true
                    continue
                }
                guard let a = try? IPAddress(parsing: s), a.family == .ipv4 else {
                    error(p, "\(s.quotedForMessage): a router id is an IPv4 address")
                    failed = true
                    continue
                }
                routerID = a
            case "peers":
                guard case .array(let items) = v else {
                    error(p, "expected an array of peers, found \(v.typeName)")
                    failed = true
                    continue
                }
                for (i, item) in items.enumerated() {
                    if let peer = parsePeer(item, "\(p)[\(i)]") { peers.append(peer) } else { failed = true }
                }
            default: unknownKey(path, key, known: ["asn", "routerId", "peers"])
            }
        }
        if asn == nil && !members.contains(where: { $0.key == "asn" }) {
            error(Self.join(path, "asn"), "required: the LB nodes' AS number")
            failed = true
        }
        if peers.isEmpty && !failed {
            error(Self.join(path, "peers"), "required: at least one peer")
            failed = true
        }
        var seen = Set<IPAddress>()
        for (i, peer) in peers.enumerated() where !seen.insert(peer.address).inserted {
            error("\(path).peers[\(i)].address", "\(peer.address) is listed twice")
            failed = true
        }
        guard !failed, let asn else { return nil }
        return BGPSettings(asn: asn, routerID: routerID, peers: peers)
    }

    mutating func parseASN(_ v: JSONValue, _ p: String) -> UInt32? {
        guard let text = numberText(v, p) else { return nil }
        guard let n = UInt32(text), n > 0 else {
            error(p, "\(text.quotedForMessage): an AS number is 1-4294967295")
            return nil
        }
        return n
    }

    /// A whole number in `range` (JSON number or decimal string); an error naming `what` otherwise.
    mutating func int(_ v: JSONValue, _ p: String, _ range: ClosedRange<Int>, _ what: String) -> Int? {
        guard let text = numberText(v, p) else { return nil }
        guard let n = Int(text), range.contains(n) else {
            error(
                p,
                "\(text.quotedForMessage): \(what) must be a whole number from \(range.lowerBound) to \(range.upperBound)"
            )
            return nil
        }
        return n
    }

    mutating func parsePeer(_ value: JSONValue, _ path: String) -> BGPPeer? {
        guard let members = object(value, path) else { return nil }
        var failed = false
        var address: IPAddress?
        var asn: UInt32?
        var peer = BGPPeer(address: IPAddress(ipv4: 0), asn: 1)
        var families: [IPFamily]?
        for (key, v) in members {
            let p = Self.join(path, key)
            switch key {
            case "address":
                guard let s = string(v, p) else {
                    failed = true
                    continue
                }
                do { address = try IPAddress(parsing: s) } catch {
                    self.error(p, error.description)
                    failed = true
                }
            case "asn":
                asn = parseASN(v, p)
                if asn == nil { failed = true }
            case "port":
                if let n = int(v, p, 1...65535, "the port") { peer.port = UInt16(n) } else { failed = true }
            case "password":
                guard let s = string(v, p) else {
                    failed = true
                    continue
                }
                do { peer.password = try BGPPassword(parsing: s) } catch {
                    self.error(p, error.problem)
                    failed = true
                }
            case "nodeSelector":
                guard let s = string(v, p) else {
                    failed = true
                    continue
                }
                do { peer.nodeSelector = try LabelSelector(parsing: s) } catch {
                    self.error(p, error.description)
                    failed = true
                }
            case "holdTime":
                if let n = int(v, p, 0...65535, "the hold time (seconds)") {
                    if (1...2).contains(n) {
                        error(p, "\(n): the hold time is 0 (none) or 3-65535 seconds")
                        failed = true
                    } else {
                        peer.holdTimeSeconds = n
                    }
                } else {
                    failed = true
                }
            case "keepalive":
                if let n = int(v, p, 1...65535, "the keepalive (seconds)") {
                    peer.keepaliveSeconds = n
                } else {
                    failed = true
                }
            case "ebgpMultihop":
                if let n = int(v, p, 1...255, "ebgpMultihop") { peer.ebgpMultihop = n } else { failed = true }
            case "bfd":
                if case .bool(false) = v { continue }
                if let bfd = parseBFD(v, p) { peer.bfd = bfd } else { failed = true }
            case "families":
                if let list = parseFamilies(v, p) { families = list } else { failed = true }
            default:
                unknownKey(
                    path, key,
                    known: [
                        "address", "asn", "port", "password", "nodeSelector", "holdTime", "keepalive", "bfd",
                        "ebgpMultihop", "families",
                    ])
            }
        }
        if address == nil && !members.contains(where: { $0.key == "address" }) {
            error(Self.join(path, "address"), "required: the peer's IP address")
            failed = true
        }
        if asn == nil && !members.contains(where: { $0.key == "asn" }) {
            error(Self.join(path, "asn"), "required: the peer's AS number")
            failed = true
        }
        if let k = peer.keepaliveSeconds, let h = peer.holdTimeSeconds, h != 0, k >= h {
            error(Self.join(path, "keepalive"), "\(k): must be shorter than the hold time (\(h))")
            failed = true
        }
        if (peer.keepaliveSeconds == nil) != (peer.holdTimeSeconds == nil) {
            error(
                Self.join(path, peer.keepaliveSeconds == nil ? "keepalive" : "holdTime"),
                "keepalive and holdTime go together")
            failed = true
        }
        guard !failed, let address, let asn else { return nil }
        peer.address = address
        peer.asn = asn
        peer.families = families ?? [address.family]
        return peer
    }

    /// A peer's `bfd`: `true` (the defaults) or `{"rx", "tx", "multiplier"}`; nil on an error.
    mutating func parseBFD(_ v: JSONValue, _ p: String) -> BFDSettings? {
        if case .bool(true) = v { return .default }
        guard let members = object(v, p) else { return nil }
        var bfd = BFDSettings.default
        var failed = false
        for (key, value) in members {
            let bp = Self.join(p, key)
            switch key {
            case "rx":
                if let n = int(value, bp, 10...60000, "rx (milliseconds)") {
                    bfd.receiveMilliseconds = n
                } else {
                    failed = true
                }
            case "tx":
                if let n = int(value, bp, 10...60000, "tx (milliseconds)") {
                    bfd.transmitMilliseconds = n
                } else {
                    failed = true
                }
            case "multiplier":
                if let n = int(value, bp, 2...255, "the multiplier") { bfd.multiplier = n } else { failed = true }
            default: unknownKey(p, key, known: ["rx", "tx", "multiplier"])
            }
        }
        return failed ? nil : bfd
    }

    /// A peer's `families`: a non-empty array of "ipv4", "ipv6"; nil on an error.
    mutating func parseFamilies(_ v: JSONValue, _ p: String) -> [IPFamily]? {
        guard case .array(let items) = v, !items.isEmpty else {
            error(p, "expected a non-empty array of \"ipv4\", \"ipv6\"")
            return nil
        }
        var list: [IPFamily] = []
        var failed = false
        for (i, item) in items.enumerated() {
            let ip = "\(p)[\(i)]"
            guard let s = string(item, ip) else {
                failed = true
                continue
            }
            switch s {
            case "ipv4": if !list.contains(.ipv4) { list.append(.ipv4) }
            case "ipv6": if !list.contains(.ipv6) { list.append(.ipv6) }
            default:
                error(ip, "\(s.quotedForMessage): unknown address family (expected \"ipv4\" or \"ipv6\")")
                failed = true
            }
        }
        return failed ? nil : list
    }

    /// "0.3" → 30; nil when not a plain decimal with at most two fraction digits.
    static func centiseconds(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 3,
            parts[0].allSatisfy(\.isASCIIDigit), let whole = Int(parts[0])
        else { return nil }
        var frac = 0
        if parts.count == 2 {
            let f = parts[1]
            guard (1...2).contains(f.count), f.allSatisfy(\.isASCIIDigit), let v = Int(f) else { return nil }
            frac = f.count == 1 ? v * 10 : v
        }
        return whole * 100 + frac
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
