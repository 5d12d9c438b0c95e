import Testing

@testable import Core

/// Builds a config document around a `pools` body (and optional extra top-level members).
private func doc(
    pools: String = #""default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"}"#,
    _ extra: String = ""
) -> String {
    "{\"pools\": {\(pools)}\(extra.isEmpty ? "" : ", " + extra)}"
}

private func pool(
    _ name: String = "default", network: String = "192.0.2.0/24", range: String = "192.0.2.10-192.0.2.20",
    extra: String = ""
) -> String {
    "\"\(name)\": {\"network\": \"\(network)\", \"range\": \"\(range)\"\(extra.isEmpty ? "" : ", " + extra)}"
}

private func errors(_ json: String) -> [String] {
    do {
        _ = try UserConfig.parse(json)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

@Suite struct ConfigValidationTests {
    /// Each invalid config and the exact error line it must produce (among possibly others).
    static let invalid: [(String, String)] = [
        // Document shape
        ("", "invalid JSON at line 1, column 1: unexpected end of input"),
        ("{", "invalid JSON at line 1, column 2: expected a quoted key"),
        ("[]", "expected an object, found an array"),
        ("{\"pools\": {}} x", "invalid JSON at line 1, column 15: unexpected text after the document"),
        ("{\"pools\": {},}", "invalid JSON at line 1, column 14: expected a quoted key"),
        ("{\"pools\": {\"a\": 1, \"a\": 2}}", "invalid JSON at line 1, column 20: duplicate key \"a\""),
        ("{\n  \"pools\": {\n    // comment\n  }\n}", "invalid JSON at line 3, column 5: expected a quoted key"),
        (
            "{}",
            "pools: required: define at least one pool (\"default\" is used by Services without the loadbalancer/pool annotation)"
        ),
        ("{\"pools\": []}", "pools: expected an object, found an array"),
        ("{\"pools\": {}}", "pools: no pools defined"),
        // Pool names
        (
            doc(pools: pool("bad/name")),
            "pools.bad/name: bad/name: pool name may hold only letters, digits, '.', '_' and '-'"
        ),
        (doc(pools: pool("-lead")), "pools.-lead: -lead: pool name must start and end with a letter or digit"),
        (doc(pools: pool("")), "pools.: : pool name is empty"),
        (
            doc(pools: pool(String(repeating: "p", count: 64))),
            "pools.\(String(repeating: "p", count: 64)): \(String(repeating: "p", count: 64)): pool name is longer than 63 characters"
        ),
        (doc(pools: pool("..")), "pools...: ..: pool name must start and end with a letter or digit"),
        // Pool fields
        (doc(pools: "\"default\": 5"), "pools.default: expected an object, found a number"),
        (
            doc(pools: "\"default\": {\"range\": \"192.0.2.10-192.0.2.20\"}"),
            "pools.default.network: required: every address of the pool (a CIDR or start-stop)"
        ),
        (
            doc(pools: "\"default\": {\"network\": \"192.0.2.0/24\"}"),
            "pools.default.range: required: the dynamically assigned part of the network (a CIDR or start-stop)"
        ),
        (
            doc(pools: "\"default\": {\"network\": 192, \"range\": \"192.0.2.10-192.0.2.20\"}"),
            "pools.default.network: expected a string, found a number"
        ),
        (
            doc(pools: pool(network: "192.0.2.0/33")),
            "pools.default.network: 192.0.2.0/33: prefix length 33 is larger than 32"
        ),
        (
            doc(pools: pool(network: "1.2.3.0/22", range: "1.2.3.50-1.2.3.74")),
            "pools.default.network: 1.2.3.0/22: host bits are set (the network is 1.2.0.0/22)"
        ),
        (
            doc(pools: pool(network: "192.0.2.0/24", range: "1.2.3.80-1.2.3.74")),
            "pools.default.range: 1.2.3.80-1.2.3.74: start is after end"
        ),
        (
            doc(pools: pool(range: "192.0.2.10-192.0.2.300")),
            "pools.default.range: 192.0.2.10-192.0.2.300: octet 300 is larger than 255"
        ),
        (
            doc(pools: pool(range: "192.0.2.10")),
            "pools.default.range: 192.0.2.10: not a range (expected start-end or a CIDR)"
        ),
        (
            doc(pools: pool(range: "192.0.2.10-2001:db8::1")),
            "pools.default.range: 192.0.2.10-2001:db8::1: start is IPv4 but end is IPv6"
        ),
        (
            doc(pools: pool(range: "192.0.3.10-192.0.3.20")),
            "pools.default.range: 192.0.3.10-192.0.3.20: range is not inside network 192.0.2.0/24"
        ),
        (
            doc(pools: pool(range: "192.0.2.250-192.0.3.5")),
            "pools.default.range: 192.0.2.250-192.0.3.5: range is not inside network 192.0.2.0/24"
        ),
        // The original documentation's IPv6 example: range outside network.
        (
            doc(pools: pool("ipv6", network: "2001:468::/64", range: "2001:468:101::/96")),
            "pools.ipv6.range: 2001:468:101::/96: range is not inside network 2001:468::/64"
        ),
        (
            doc(pools: pool(network: "192.0.2.0/24", range: "2001:db8::/120")),
            "pools.default.range: 2001:db8::/120: range is IPv6 but network 192.0.2.0/24 is IPv4; a pool holds one family"
        ),
        (
            doc(pools: pool(network: "::/0", range: "::1-::5")),
            "pools.default.network: ::/0: covers the entire IPv6 address space"
        ),
        (
            doc(pools: pool(network: "fe80::1%eth0/64", range: "::1-::5")),
            "pools.default.network: fe80::1%eth0/64: zone indexes (%...) are not allowed"
        ),
        (
            doc(pools: pool(network: "192.0.2.0/24 ")),
            "pools.default.network: 192.0.2.0/24 : prefix length \"24 \" is not a number"
        ),
        // Interfaces
        (
            doc(pools: pool(extra: #""interface": "averyveryverylongname""#)),
            "pools.default.interface: averyveryverylongname: interface name is longer than 15 characters (Linux IFNAMSIZ)"
        ),
        (
            doc(pools: pool(extra: #""interface": "eth0;reboot""#)),
            "pools.default.interface: eth0;reboot: interface name may hold only letters, digits, '.', '_' and '-'"
        ),
        (
            doc(pools: pool(extra: #""interface": "eth 0""#)),
            "pools.default.interface: eth 0: interface name may hold only letters, digits, '.', '_' and '-'"
        ),
        (doc(pools: pool(extra: #""interface": "..""#)), "pools.default.interface: ..: not a valid interface name"),
        (doc(pools: pool(extra: #""interface": 0"#)), "pools.default.interface: expected a string, found a number"),
        (doc(pools: pool(extra: #""ha": "maybe""#)), "pools.default.ha: expected true or false, found a string"),
        // Overlaps
        (
            doc(pools: pool() + ", " + pool("other", network: "192.0.2.128/25", range: "192.0.2.130-192.0.2.140")),
            "pools.other: network 192.0.2.128/25 overlaps pool \"default\" (network 192.0.2.0/24); a static IP would belong to both"
        ),
        (
            doc(
                pools: pool("a", network: "192.0.2.0-192.0.2.100", range: "192.0.2.1-192.0.2.5") + ", "
                    + pool("b", network: "192.0.2.100-192.0.2.200", range: "192.0.2.150-192.0.2.160")),
            "pools.b: network 192.0.2.100-192.0.2.200 overlaps pool \"a\" (network 192.0.2.0-192.0.2.100); a static IP would belong to both"
        ),
        (
            doc(
                pools: pool("a", network: "2001:db8::/48", range: "2001:db8::1-2001:db8::9") + ", "
                    + pool("b", network: "2001:db8:0:1::/64", range: "2001:db8:0:1::1-2001:db8:0:1::9")),
            "pools.b: network 2001:db8:0:1::/64 overlaps pool \"a\" (network 2001:db8::/48); a static IP would belong to both"
        ),
        // Raw line lists
        (
            doc("\"haproxy\": {\"global\": [\"maxconn 10\\nlisten evil\"]}"),
            "haproxy.global[0]: maxconn 10\\nlisten evil: contains a newline; each list entry must be one line"
        ),
        (
            doc("\"haproxy\": {\"defaults\": [\"ok\", \"bad\\r\"]}"),
            "haproxy.defaults[1]: bad\\r: contains a carriage return; each list entry must be one line"
        ),
        (
            doc("\"haproxy\": {\"httpfront\": [\"a\\u0000b\"]}"),
            "haproxy.httpfront[0]: a\\0b: contains a NUL byte; each list entry must be one line"
        ),
        (
            doc("\"haproxy\": {\"tcpback\": \"balance roundrobin\"}"),
            "haproxy.tcpback: expected an array of strings, found a string"
        ),
        (doc("\"haproxy\": {\"httpback\": [1]}"), "haproxy.httpback[0]: expected a string, found a number"),
        (
            doc("\"nginx\": {\"stream\": [\"x\\u001by\"]}"),
            "nginx.stream[0]: x\\u{1b}y: contains control character U+1B; each list entry must be one line"
        ),
        (
            doc("\"nginx\": {\"http\": [\"}\\nserver {\"]}"),
            "nginx.http[0]: }\\nserver {: contains a newline; each list entry must be one line"
        ),
        (doc("\"nginx\": []"), "nginx: expected an object, found an array"),
        // keepalived
        (
            doc("\"keepalived\": {\"email\": \"ops@example.org, not-an-email\"}"),
            "keepalived.email: not-an-email: not an email address (expected local@domain)"
        ),
        (
            doc("\"keepalived\": {\"emailFrom\": \"a b@example.org\"}"),
            "keepalived.emailFrom: a b@example.org: the part before '@' may hold only letters, digits and ._%+-"
        ),
        (
            doc("\"keepalived\": {\"emailFrom\": \"lb@-bad-.org\"}"),
            "keepalived.emailFrom: lb@-bad-.org: the part after '@' is not a valid domain name"
        ),
        (
            doc("\"keepalived\": {\"emailServer\": \"smtp.example.org:99999\"}"),
            "keepalived.emailServer: smtp.example.org:99999: port \"99999\" is not 1-65535"
        ),
        (
            doc("\"keepalived\": {\"emailServer\": \"192.0.2.300\"}"),
            "keepalived.emailServer: 192.0.2.300: octet 300 is larger than 255"
        ),
        (
            doc("\"keepalived\": {\"emailServerTimeout\": \"soon\"}"),
            "keepalived.emailServerTimeout: soon: expected whole seconds from 1 to 3600"
        ),
        (
            doc("\"keepalived\": {\"emailServerTimeout\": 0}"),
            "keepalived.emailServerTimeout: 0: expected whole seconds from 1 to 3600"
        ),
        // vrrp (ours)
        (
            doc("\"vrrp\": {\"advertInterval\": 0.005}"),
            "vrrp.advertInterval: 0.005: expected seconds from 0.01 to 40.95 in steps of 0.01 (VRRPv3)"
        ),
        (
            doc("\"vrrp\": {\"advertInterval\": 41}"),
            "vrrp.advertInterval: 41: expected seconds from 0.01 to 40.95 in steps of 0.01 (VRRPv3)"
        ),
        (
            doc("\"vrrp\": {\"advertInterval\": 0}"),
            "vrrp.advertInterval: 0: expected seconds from 0.01 to 40.95 in steps of 0.01 (VRRPv3)"
        ),
        (doc("\"vrrp\": {\"vridOffset\": 255}"), "vrrp.vridOffset: 255: expected a whole number from 0 to 254"),
        (doc("\"vrrp\": {\"vridOffset\": -1}"), "vrrp.vridOffset: -1: expected a whole number from 0 to 254"),
        (doc("\"vrrp\": {\"vridOffset\": true}"), "vrrp.vridOffset: expected a number, found a boolean"),
    ]

    @Test(arguments: invalid)
    func rejects(json: String, expected: String) {
        let found = errors(json)
        #expect(found.contains(expected), "got: \(found)")
    }

    @Test func hasAtLeastFortyInvalidCases() {
        #expect(Self.invalid.count >= 40)
    }

    @Test func reportsEveryErrorNotJustTheFirst() {
        let json = doc(
            pools: pool("a", range: "192.0.2.30-192.0.2.20") + ", "
                + pool("b", network: "198.51.100.0/24", range: "198.51.100.1-198.51.100.999"),
            "\"haproxy\": {\"global\": [\"a\\nb\"]}")
        #expect(errors(json).count == 3)
    }

    @Test func originalExampleIsAccepted() throws {
        let json = """
            {
              "pools": {
                "default": {"network": "192.168.10.0/24", "range": "192.168.10.240-192.168.10.249"}
              },
              "keepalived": {"email": "", "emailFrom": "", "emailServer": "", "emailServerTimeout": "30"},
              "haproxy": {
                "defaults": ["log global", "retries 3", "balance leastconn", "timeout connect 30ms"],
                "global": ["chroot /var/lib/haproxy", "maxconn 4096", "daemon"],
                "tcpfront": [], "httpfront": ["option forwardfor", "http-request set-header X-Forwarded-Proto https if { ssl_fc }"],
                "tcpback": [], "httpback": []
              }
            }
            """
        let validated = try UserConfig.parse(json)
        // Its `daemon` would detach HAProxy from the actor: left out, with a warning saying why.
        #expect(
            validated.warnings.map(\.description) == [
                "haproxy.global[2]: ignored: the actor runs HAProxy in the foreground and supervises it ('daemon' would detach it)"
            ])
        #expect(validated.config.haproxy.global.map(\.text) == ["chroot /var/lib/haproxy", "maxconn 4096"])
        let pool = try #require(validated.config.pool(named: .default))
        #expect(pool.family == .ipv4 && pool.dynamicSize == 10 && pool.interface == nil && pool.highAvailability)
        #expect(
            validated.config.haproxy.httpfront.map(\.text) == [
                "option forwardfor", "http-request set-header X-Forwarded-Proto https if { ssl_fc }",
            ])
        #expect(validated.config.keepalived.smtpTimeoutSeconds == 30)
    }

    @Test func fullConfigParsesIntoTypes() throws {
        let json = doc(
            pools: pool() + ", "
                + pool(
                    "v6", network: "2001:db8::/64", range: "2001:db8::100/120",
                    extra: #""interface": "eth1", "ha": false"#),
            #""keepalived": {"email": "a@example.org b@example.org", "emailFrom": "lb@example.org", "emailServer": "[2001:db8::25]:2525", "emailServerTimeout": 10}, "vrrp": {"advertInterval": "0.3", "vridOffset": 40}"#
        )
        let config = try UserConfig.parse(json).config
        #expect(config.pools.map(\.name.rawValue) == ["default", "v6"])
        let v6 = try #require(config.pool(named: try PoolName(parsing: "v6")))
        #expect(v6.family == .ipv6 && v6.interface?.rawValue == "eth1" && !v6.highAvailability && v6.dynamicSize == 256)
        #expect(config.keepalived.notificationEmails.map(\.description) == ["a@example.org", "b@example.org"])
        #expect(config.keepalived.smtpServer?.description == "[2001:db8::25]:2525")
        #expect(config.keepalived.smtpTimeoutSeconds == 10)
        #expect(config.vrrp == VRRPSettings(advertIntervalCentiseconds: 30, vridOffset: 40))
    }

    @Test func unknownKeysAreWarnings() throws {
        let validated = try UserConfig.parse(doc(pools: pool(extra: #""ragne": "x""#), #""haproxi": {}"#))
        #expect(
            validated.warnings.map(\.description) == [
                "pools.default.ragne: unknown key ignored (known keys: network, range, interface, ha, backends, announce, communities, localPref)",
                "haproxi: unknown key ignored (known keys: pools, keepalived, haproxy, nginx, vrrp, bgp)",
            ])
    }

    @Test func missingDefaultPoolIsAWarning() throws {
        let validated = try UserConfig.parse(doc(pools: pool("external")))
        #expect(
            validated.warnings.map(\.description) == [
                "pools: no pool named \"default\": Services without the loadbalancer/pool annotation will not get an address"
            ])
    }

    @Test func reservedAddressesOfCIDRNetworks() throws {
        let config = try UserConfig.parse(
            doc(
                pools: pool(network: "192.0.2.0/24", range: "192.0.2.0/24") + ", "
                    + pool("six", network: "2001:db8::/126", range: "2001:db8::/126") + ", "
                    + pool("p2p", network: "198.51.100.0/31", range: "198.51.100.0/31"))
        ).config
        #expect(config.pool(named: .default)?.dynamicSize == 254)
        #expect(config.pool(named: try PoolName(parsing: "six"))?.dynamicSize == 3)
        #expect(config.pool(named: try PoolName(parsing: "p2p"))?.dynamicSize == 2)
    }
}
