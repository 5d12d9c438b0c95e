import Core
import Testing

/// `json` is refused, and the error names `message` (a JSON path and the problem).
private func expectRefused(_ json: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try ControlPlaneConfig.parse(json)
        Issue.record("accepted: \(json)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.description.contains(message), "\(error.description)", sourceLocation: sourceLocation)
    }
}

@Suite struct ControlPlaneTests {
    static let example = """
        {
          "node": "cp2",
          "peers": {"cp1": "192.0.2.11", "cp2": "192.0.2.12", "cp3": "192.0.2.13"},
          "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 7}],
          "vrrp": {"advertInterval": 0.1},
          "apiserver": {"port": 6443, "caFile": "/etc/kubernetes/pki/ca.crt", "interval": 0.1, "fall": 2, "rise": 2}
        }
        """

    @Test func exampleParsesIntoTypes() throws {
        let (config, warnings) = try ControlPlaneConfig.parse(Self.example)
        #expect(warnings.isEmpty)
        #expect(config.node == "cp2")
        #expect(config.rank == 1)
        #expect(config.ownAddress == (try IPAddress(parsing: "192.0.2.12")))
        #expect(config.vips.map(\.vrid) == [7])
        #expect(config.advertIntervalCentiseconds == 10)
        #expect(config.probe.url == "https://127.0.0.1:6443/readyz")
        #expect(config.probe.caFile?.rawValue == "/etc/kubernetes/pki/ca.crt")
        #expect(config.probe.intervalMilliseconds == 100)
    }

    @Test func unknownKeysAreWarningsNamingTheKnownOnes() throws {
        let json =
            #"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1, "weight": 2}], "extra": 1}"#
        let warnings = try ControlPlaneConfig.parse(json).warnings.map(\.description)
        #expect(
            warnings == [
                "vips[0].weight: unknown key ignored (known keys: address, interface, vrid, serve, port, announce)",
                "extra: unknown key ignored (known keys: node, peers, vips, vrrp, apiserver, roles, bgp)",
            ])
    }

    @Test func nodeNameFlagOverridesTheFile() throws {
        #expect(try ControlPlaneConfig.parse(Self.example, node: "cp3").config.rank == 2)
    }

    @Test(arguments: [
        (#"{"node": "cp1", "vips": []}"#, "vips: expected a non-empty array of VIPs"),
        (#"{"node": "cp1"}"#, "vips: required: at least one VIP"),
        (#"{"vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}]}"#, "node: required"),
        (
            #"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0\nx", "vrid": 1}]}"#,
            "vips[0].interface:"
        ),
        (#"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 256}]}"#, "vips[0].vrid:"),
        (#"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0"}]}"#, "vips[0].vrid: required"),
        (
            #"{"node": "cp9", "peers": {"cp1": "192.0.2.11"}, "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}]}"#,
            "peers: this node"
        ),
        (
            #"{"node": "cp1", "peers": {"cp1": "192.0.2.11"}, "vips": [{"address": "2001:db8::10", "interface": "eth0", "vrid": 1}]}"#,
            "unicast VRRP needs peer addresses"
        ),
        (
            #"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}, {"address": "192.0.2.11", "interface": "eth0", "vrid": 1}]}"#,
            "vips[1].vrid: VRID 1 is used by another"
        ),
        (
            #"{"node": "cp1", "apiserver": {"interval": 0}, "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}]}"#,
            "apiserver.interval: expected seconds"
        ),
        (
            #"{"node": "c p", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}]}"#,
            "node: c p is not a node name"
        ),
        ("[1]", "expected an object"),
    ])
    func badInputNamesTheField(json: String, message: String) {
        expectRefused(json, message)
    }

    @Test func rendersOneBackupInstancePerVIPWithUnicastAndTheTrackFile() throws {
        let config = try ControlPlaneConfig.parse(Self.example).config
        let text = ControlPlaneKeepalivedRenderer(
            config: config, trackDirectory: try SafePath(parsing: "/run/k8slb-control-plane")
        ).render()
        #expect(
            text == """
                global_defs {
                    router_id cp2
                    vrrp_version 3
                    max_auto_priority 50
                    vrrp_garp_master_refresh 60
                    vrrp_check_unicast_src
                }

                track_file priority_4_7 {
                    file "/run/k8slb-control-plane/priority-4_7"
                    weight 1
                }

                vrrp_instance CP_4_7 {
                    state BACKUP
                    interface eth0
                    virtual_router_id 7
                    priority 1
                    advert_int 0.10
                    unicast_src_ip 192.0.2.12
                    unicast_peer {
                        192.0.2.11
                        192.0.2.13
                    }
                    track_file {
                        priority_4_7
                    }
                    virtual_ipaddress {
                        192.0.2.10/32 dev eth0
                    }
                }

                """)
    }

    /// The holding rule: ready beats unready, the holder beats its own class, ranks stay distinct.
    @Test func priorityOrder() {
        func p(_ ready: Bool, _ holding: Bool, _ rank: Int) -> Int {
            ControlPlanePriority.trackValue(ready: ready, holding: holding, rank: rank)
        }
        for rank in 0..<ControlPlaneConfig.maxPeers {
            #expect(p(true, true, 0) > p(true, false, rank))
            #expect(p(true, false, rank) > p(false, true, 0))
            #expect(p(false, true, 0) > p(false, false, rank))
            #expect(p(false, false, rank) >= 1)
            #expect(p(true, true, rank) + 1 <= 254)
        }
        let backups = (0..<ControlPlaneConfig.maxPeers).map { p(true, false, $0) }
        #expect(Set(backups).count == backups.count)
    }
}

@Suite struct ControlPlaneProxyTests {
    static let config = """
        {
          "node": "cp1",
          "peers": {"cp1": "192.0.2.11", "cp2": "192.0.2.12", "cp3": "192.0.2.13"},
          "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1},
                   {"address": "192.0.2.20", "interface": "eth0", "vrid": 2, "serve": "balanced", "port": 8443}],
          "roles": [
            {"name": "ingress", "vip": "192.0.2.20", "port": 80, "targets": ["192.0.2.21:30080", "192.0.2.22:30080"],
             "check": {"path": "/healthz"}, "proxyProtocol": "v2", "stickySeconds": 600},
            {"name": "dns-tcp", "vip": "192.0.2.10", "port": 53, "targets": ["[2001:db8::31]:53"], "check": "none"}
          ]
        }
        """

    @Test func balancedVIPsAndRolesBecomeOneProxyPlan() throws {
        let config = try ControlPlaneConfig.parse(Self.config).config
        let plan = ControlPlanePlan.make(config)
        #expect(
            plan.proxy.frontends.map { "\($0.vip.withPort($0.port))" } == [
                "192.0.2.10:53", "192.0.2.20:80", "192.0.2.20:8443",
            ])
        let apiserver = plan.proxy.frontends[2].routes[0].backend
        #expect(
            apiserver.servers.map { "\($0.address):\($0.port)" } == [
                "192.0.2.11:6443", "192.0.2.12:6443", "192.0.2.13:6443",
            ])
        #expect(apiserver.httpCheck == (try ProxyPlan.HTTPCheck(path: "/readyz", tls: true)))
        #expect(plan.followsProxy(try IPAddress(parsing: "192.0.2.20")))
        #expect(!plan.followsProxy(try IPAddress(parsing: "192.0.2.10")), "a direct VIP follows its apiserver")
        let text = plan.haproxyConfig(runDirectory: try SafePath(parsing: "/run/k8slb-control-plane"))
        #expect(text.contains("option httpchk GET /readyz"))
        #expect(
            text.contains(
                "server ep_192_0_2_11_6443 192.0.2.11:6443 check check-ssl verify none inter 500ms fall 2 rise 2"))
        #expect(text.contains("send-proxy-v2"))
        #expect(text.contains("stick on src"))
        #expect(
            text.contains(
                "http-request return status 200 if { path /vip/192.0.2.20 } { nbsrv(be_192_0_2_20_8443) gt 0 }"))
        #expect(!text.contains("/vip/192.0.2.10"))
    }

    @Test(arguments: [
        (
            #""roles": [{"name": "x", "vip": "192.0.2.99", "port": 80, "targets": ["192.0.2.21:80"]}]"#,
            "roles[0].vip: 192.0.2.99 is not one of vips"
        ),
        (
            #""roles": [{"name": "x", "vip": "192.0.2.10", "port": 80, "targets": ["192.0.2.21"]}]"#,
            "roles[0].targets[0]: expected"
        ),
        (
            #""roles": [{"name": "x", "vip": "192.0.2.10", "port": 80, "protocol": "sctp", "targets": ["192.0.2.21:80"]}]"#,
            "roles[0].protocol: expected \"tcp\" or \"udp\""
        ),
        (
            #""roles": [{"name": "x", "vip": "192.0.2.10", "port": 53, "protocol": "udp", "check": "tcp", "targets": ["192.0.2.21:53"]}]"#,
            "roles[0].check: a UDP role's targets are checked passively"
        ),
        (
            #""roles": [{"name": "x", "vip": "192.0.2.10", "port": 80, "targets": ["192.0.2.21:80"], "check": {"path": "/a b"}}]"#,
            "roles[0].check.path"
        ),
        (
            #""roles": [{"name": "x", "vip": "192.0.2.10", "port": 80, "targets": ["192.0.2.21:80"]}, {"name": "y", "vip": "192.0.2.10", "port": 80, "targets": ["192.0.2.22:80"]}]"#,
            "roles[1].port: 192.0.2.10:80 is already served by roles[0]"
        ),
        (
            #""roles": [{"name": "x\ny", "vip": "192.0.2.10", "port": 80, "targets": ["192.0.2.21:80"]}]"#,
            "roles[0].name"
        ),
        (#""roles": [{"vip": "192.0.2.10", "port": 80, "targets": ["192.0.2.21:80"]}]"#, "roles[0].name: required"),
    ])
    func badRolesNameTheField(roles: String, message: String) {
        let json = """
            {"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1}], \(roles)}
            """
        expectRefused(json, message)
    }

    @Test func udpRolesGoToNginxBesideTCPOnTheSamePort() throws {
        let json = """
            {"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1, "serve": "balanced", "port": 8443}],
             "peers": {"cp1": "192.0.2.11"},
             "roles": [{"name": "dns", "vip": "192.0.2.10", "port": 53, "protocol": "udp", "targets": ["192.0.2.31:53"]},
                       {"name": "dns-tcp", "vip": "192.0.2.10", "port": 53, "targets": ["192.0.2.31:53"]}]}
            """
        let plan = ControlPlanePlan.make(try ControlPlaneConfig.parse(json).config)
        #expect(plan.udp.frontends.map { "\($0.proto) \($0.port)" } == ["udp 53"])
        #expect(plan.proxy.frontends.map { "\($0.proto) \($0.port)" } == ["tcp 53", "tcp 8443"])
        let nginx = try #require(plan.nginxConfig(runDirectory: try SafePath(parsing: "/run/cp/nginx")))
        #expect(nginx.text.contains("listen 192.0.2.10:53 udp;"))
        #expect(nginx.text.contains("server 192.0.2.31:53 max_fails=3 fail_timeout=5s;"))
        #expect(nginx.text.contains("listen 127.0.0.1:8408"))
        #expect(!nginx.text.contains(":8443"), "TCP stays with HAProxy")
    }

    @Test func balancedNeedsPeersAndAPort() {
        for (json, message) in [
            (
                #"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1, "serve": "balanced", "port": 8443}]}"#,
                "list them in peers"
            ),
            (
                #"{"node": "cp1", "peers": {"cp1": "192.0.2.11"}, "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1, "serve": "balanced"}]}"#,
                "vips[0].port: required"
            ),
            (
                #"{"node": "cp1", "vips": [{"address": "192.0.2.10", "interface": "eth0", "vrid": 1, "port": 8443}]}"#,
                "vips[0].port: only with"
            ),
        ] {
            expectRefused(json, message)
        }
    }
}

@Suite struct ControlPlaneBGPTests {
    static let config = """
        {
          "node": "cp1",
          "vips": [{"address": "203.0.113.10", "announce": "bgp"}, {"address": "2001:db8:ff::11", "announce": "bgp"}],
          "bgp": {"asn": 64513, "peers": [{"address": "192.0.2.1", "asn": 64512, "bfd": {}}]}
        }
        """

    @Test func bgpVIPsAnnounceTheirHostRouteOrTheirFallback() throws {
        let config = try ControlPlaneConfig.parse(Self.config).config
        #expect(config.vips.map(\.announce) == [.bgp, .bgp])
        #expect(config.vips.map(\.fallbackPrefixLength) == [31, 127])
        let text = try #require(ControlPlaneFRRRenderer.render(config))
        #expect(text.contains("ip prefix-list k8slb-control-plane-4 seq 5 permit 203.0.113.10/31 ge 31"))
        #expect(text.contains("ipv6 prefix-list k8slb-control-plane-6 seq 5 permit 2001:db8:ff::10/127 ge 127"))
        #expect(text.contains("router bgp 64513") && text.contains("neighbor 192.0.2.1 remote-as 64512"))
        #expect(text.contains("neighbor 192.0.2.1 bfd profile k8slb-70-70-3"))
        #expect(text.contains("redistribute connected route-map k8slb-vips"))
        let keepalived = ControlPlaneKeepalivedRenderer(config: config, trackDirectory: try SafePath(parsing: "/run/x"))
            .render()
        #expect(!keepalived.contains("vrrp_instance"), "BGP VIPs have no VRRP instance")
    }

    @Test func bgpVIPsNeedTheBlockAndNoVRRPFields() {
        for (json, message) in [
            (#"{"node": "cp1", "vips": [{"address": "203.0.113.10", "announce": "bgp"}]}"#, "bgp: required"),
            (
                #"{"node": "cp1", "vips": [{"address": "203.0.113.10", "announce": "bgp", "vrid": 3}], "bgp": {"asn": 1, "peers": []}}"#,
                "interface and vrid are for VRRP"
            ),
            (
                #"{"node": "cp1", "vips": [{"address": "203.0.113.10", "announce": "bgp"}], "bgp": {"asn": "x"}}"#,
                "bgp.asn"
            ),
        ] {
            expectRefused(json, message)
        }
    }
}
