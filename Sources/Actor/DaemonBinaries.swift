import ArgumentParser

/// Where the daemons the actor runs are: the same flags and defaults for `run` and
/// `control-plane` (`@OptionGroup`).
struct DaemonBinaries: ParsableArguments {
    @Option(name: .customLong("haproxy"), help: "haproxy binary.")
    var haproxy = "/usr/sbin/haproxy"

    @Option(name: .customLong("keepalived"), help: "keepalived binary.")
    var keepalived = "/usr/sbin/keepalived"

    @Option(name: .customLong("nginx"), help: "nginx binary.")
    var nginx = "/usr/sbin/nginx"

    @Option(
        name: .customLong("frr-dir"),
        help: "Directory of FRR's daemons (zebra, bfdd, bgpd), for BGP pools and VIPs.")
    var frrDirectory = "/usr/lib/frr"

    @Option(name: .customLong("vtysh"), help: "vtysh binary (BGP pools and VIPs).")
    var vtysh = "/usr/bin/vtysh"

    @Option(name: .customLong("nft"), help: "nft binary (connections that survive a planned move).")
    var nft = "/usr/sbin/nft"
}
