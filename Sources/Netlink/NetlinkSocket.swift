import CNetlink
package import Core
import Glibc

/// The one owner of a libnl route socket. Not thread-safe (libnl sockets are not): use one per
/// serial executor. Frees everything it allocates.
package final class NetlinkSocket {
    private let sock: OpaquePointer

    package init() throws(NetlinkError) {
        guard let s = nl_socket_alloc() else {
            throw NetlinkError(operation: "socket", code: -1, message: "out of memory")
        }
        let rc = nl_connect(s, NETLINK_ROUTE)
        guard rc == 0 else {
            nl_socket_free(s)
            throw NetlinkError(operation: "connect", code: rc, message: String(cString: nl_geterror(rc)))
        }
        sock = s
    }

    deinit {
        nl_close(sock)
        nl_socket_free(sock)
    }

    /// An address on an interface.
    package struct Address: Sendable, Hashable {
        package let interface: String
        package let address: IPAddress
        package let prefixLength: Int
        package let flags: UInt32
    }

    /// Adds `address` as a /32 or /128 (or `/prefixLength`) to `interface`. Idempotent
    /// (`NLM_F_REPLACE`). IPv6 VIPs get `nodad` and preferred lifetime 0 (usable at once, never a
    /// source address), as keepalived does. IPv4 labels must be `<if>:<suffix>`, at most 15
    /// characters.
    package func add(_ address: IPAddress, interface: String, label: String? = nil, prefixLength: Int? = nil)
        throws(NetlinkError)
    {
        let length = prefixLength ?? address.family.bitWidth
        let op = "add \(address)/\(length) on \(interface)"
        let (addr, local) = try make(address, length, interface: interface, op: op)
        defer {
            rtnl_addr_put(addr)
            nl_addr_put(local)
        }
        if let label, address.family == .ipv4 {
            let rc = rtnl_addr_set_label(addr, label)
            guard rc == 0 else {
                throw NetlinkError(
                    operation: op, code: rc, message: "label \(label): \(String(cString: nl_geterror(rc)))")
            }
        }
        if address.family == .ipv6 {
            rtnl_addr_set_flags(addr, UInt32(IFA_F_NODAD))
            rtnl_addr_set_valid_lifetime(addr, 0xFFFF_FFFF)
            rtnl_addr_set_preferred_lifetime(addr, 0)
        }
        let rc = rtnl_addr_add(sock, addr, NLM_F_REPLACE)
        guard rc == 0 else { throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc))) }
    }

    /// Removes `address` (/32 or /128, or `/prefixLength`) from `interface`; an absent address is
    /// success.
    package func remove(_ address: IPAddress, interface: String, prefixLength: Int? = nil) throws(NetlinkError) {
        let length = prefixLength ?? address.family.bitWidth
        let op = "remove \(address)/\(length) from \(interface)"
        let (addr, local) = try make(address, length, interface: interface, op: op)
        defer {
            rtnl_addr_put(addr)
            nl_addr_put(local)
        }
        let rc = rtnl_addr_delete(sock, addr, 0)
        guard rc == 0 || rc == -NLE_NOADDR else {
            throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc)))
        }
    }

    /// Every address on every interface.
    package func addresses() throws(NetlinkError) -> [Address] {
        var cache: OpaquePointer?
        let rc = rtnl_addr_alloc_cache(sock, &cache)
        guard rc == 0, let cache else {
            throw NetlinkError(operation: "list addresses", code: rc, message: String(cString: nl_geterror(rc)))
        }
        defer { nl_cache_free(cache) }
        var out: [Address] = []
        // One name lookup per interface (if_indextoname is a socket and an ioctl: thousands of
        // VIPs share a few interfaces).
        var names: [Int32: String] = [:]
        var obj = nl_cache_get_first(cache)
        while let o = obj {
            if let local = rtnl_addr_get_local(o), let ip = Self.ipAddress(local) {
                let index = rtnl_addr_get_ifindex(o)
                let name = names[index] ?? Self.name(index)
                names[index] = name
                out.append(
                    Address(
                        interface: name, address: ip,
                        prefixLength: Int(rtnl_addr_get_prefixlen(o)), flags: rtnl_addr_get_flags(o)))
            }
            obj = nl_cache_get_next(o)
        }
        return out
    }

    /// The interface of the most specific main-table route covering `address` (pool interface
    /// auto-detection); nil when no route covers it.
    package func routeInterface(for address: IPAddress) throws(NetlinkError) -> String? {
        var cache: OpaquePointer?
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let rc = rtnl_route_alloc_cache(sock, family, 0, &cache)
        guard rc == 0, let cache else {
            throw NetlinkError(operation: "list routes", code: rc, message: String(cString: nl_geterror(rc)))
        }
        defer { nl_cache_free(cache) }
        var best: (prefix: Int, ifindex: Int32)?
        var obj = nl_cache_get_first(cache)
        while let route = obj {
            obj = nl_cache_get_next(route)
            guard rtnl_route_get_table(route) == 254, rtnl_route_get_nnexthops(route) > 0,
                let dst = rtnl_route_get_dst(route)
            else { continue }
            let prefix = Int(nl_addr_get_prefixlen(dst))
            let network: IPAddress? = prefix == 0 ? IPAddress(family: address.family, value: 0) : Self.ipAddress(dst)
            guard let network, network.family == address.family else { continue }
            let mask =
                prefix == 0
                ? UInt128(0) : ~((UInt128(1) << (address.family.bitWidth - prefix)) - 1) & address.family.maxValue
            guard address.value & mask == network.value & mask else { continue }
            guard let nh = rtnl_route_nexthop_n(route, 0) else { continue }
            let ifindex = rtnl_route_nh_get_ifindex(nh)
            if best == nil || prefix > best!.prefix { best = (prefix, ifindex) }
        }
        return best.map { Self.name($0.ifindex) }
    }

    /// Packets with firewall mark `mark` are delivered locally whatever their destination (IPv4):
    /// a rule (priority `priority`, `fwmark mark lookup table`) and `local 0.0.0.0/0 dev lo` in
    /// `table`, as TPROXY setups have. Idempotent.
    package func ensureLocalDelivery(mark: UInt32, table: UInt32, priority: UInt32) throws(NetlinkError) {
        let op = "local delivery of fwmark \(mark) (table \(table))"
        guard let rule = rtnl_rule_alloc() else {
            throw NetlinkError(operation: op, code: -1, message: "out of memory")
        }
        defer { rtnl_rule_put(rule) }
        rtnl_rule_set_family(rule, AF_INET)
        rtnl_rule_set_mark(rule, mark)
        rtnl_rule_set_mask(rule, 0xFFFF_FFFF)
        rtnl_rule_set_table(rule, table)
        rtnl_rule_set_prio(rule, priority)
        rtnl_rule_set_action(rule, UInt8(FR_ACT_TO_TBL))
        var rc = rtnl_rule_add(sock, rule, NLM_F_CREATE | NLM_F_EXCL)
        guard rc == 0 || rc == -NLE_EXIST else {
            throw NetlinkError(operation: op + ": rule", code: rc, message: String(cString: nl_geterror(rc)))
        }
        let route = try localRoute("0.0.0.0/0", family: AF_INET, table: table, protocol: nil, op: op)
        defer { rtnl_route_put(route) }
        rc = rtnl_route_add(sock, route, NLM_F_CREATE | NLM_F_REPLACE)
        guard rc == 0 else {
            throw NetlinkError(operation: op + ": route", code: rc, message: String(cString: nl_geterror(rc)))
        }
    }

    /// The routing protocol number k8slb's VIP routes carry (`ip route show proto 248`): tells
    /// them from the kernel's own local routes (one per address) and from other software's.
    package static let vipRouteProtocol: UInt8 = 248

    /// `local <address>/128 dev lo table local proto 248`: this node accepts packets to `address`
    /// as its own without the address on an interface (IPv6 VRRP followers: adding and removing
    /// thousands of IPv6 addresses costs the kernel a walk of every route per removal; routes
    /// cost microseconds). Idempotent.
    package func addVIPRoute(_ address: IPAddress) throws(NetlinkError) {
        let op = "add the local route of \(address)"
        let route = try vipRoute(address, op: op)
        defer { rtnl_route_put(route) }
        let rc = rtnl_route_add(sock, route, NLM_F_CREATE | NLM_F_REPLACE)
        guard rc == 0 else { throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc))) }
    }

    /// Removes `addVIPRoute`'s route; an absent one is success.
    package func removeVIPRoute(_ address: IPAddress) throws(NetlinkError) {
        let op = "remove the local route of \(address)"
        let route = try vipRoute(address, op: op)
        defer { rtnl_route_put(route) }
        let rc = rtnl_route_delete(sock, route, 0)
        guard rc == 0 || rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NOADDR else {
            throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc)))
        }
    }

    /// The addresses `addVIPRoute` routes here now. IPv6 only: only IPv6 followers are routes
    /// (VRRPFollowers), and a node's IPv4 routes (a CNI's, one per pod) need not be read.
    package func vipRoutes() throws(NetlinkError) -> [IPAddress] {
        var cache: OpaquePointer?
        let rc = rtnl_route_alloc_cache(sock, AF_INET6, 0, &cache)
        guard rc == 0, let cache else {
            throw NetlinkError(operation: "list routes", code: rc, message: String(cString: nl_geterror(rc)))
        }
        defer { nl_cache_free(cache) }
        var out: [IPAddress] = []
        var obj = nl_cache_get_first(cache)
        while let route = obj {
            obj = nl_cache_get_next(route)
            guard rtnl_route_get_table(route) == 255, rtnl_route_get_protocol(route) == Self.vipRouteProtocol,
                rtnl_route_get_type(route) == UInt8(RTN_LOCAL), let dst = rtnl_route_get_dst(route),
                let ip = Self.ipAddress(dst), Int(nl_addr_get_prefixlen(dst)) == ip.family.bitWidth
            else { continue }
            out.append(ip)
        }
        return out
    }

    private func vipRoute(_ address: IPAddress, op: String) throws(NetlinkError) -> OpaquePointer {
        try localRoute(
            "\(address)/\(address.family.bitWidth)", family: address.family == .ipv4 ? AF_INET : AF_INET6,
            table: 255, protocol: Self.vipRouteProtocol, op: op)
    }

    /// `local <destination> dev lo table <table> [proto <protocol>]`, scope host, not yet sent
    /// (the caller adds or deletes it, then puts it).
    private func localRoute(
        _ destination: String, family: Int32, table: UInt32, protocol: UInt8?, op: String
    ) throws(NetlinkError) -> OpaquePointer {
        var dst: OpaquePointer?
        var rc = nl_addr_parse(destination, family, &dst)
        guard rc == 0, let dst else {
            throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc)))
        }
        defer { nl_addr_put(dst) }
        guard let route = rtnl_route_alloc() else {
            throw NetlinkError(operation: op, code: -1, message: "out of memory")
        }
        guard let hop = rtnl_route_nh_alloc() else {
            rtnl_route_put(route)
            throw NetlinkError(operation: op, code: -1, message: "out of memory")
        }
        rtnl_route_set_family(route, UInt8(family))
        rtnl_route_set_table(route, table)
        rtnl_route_set_type(route, UInt8(RTN_LOCAL))
        rtnl_route_set_scope(route, UInt8(RT_SCOPE_HOST.rawValue))
        if let `protocol` { rtnl_route_set_protocol(route, `protocol`) }
        rc = rtnl_route_set_dst(route, dst)
        rtnl_route_nh_set_ifindex(hop, Int32(if_nametoindex("lo")))
        rtnl_route_add_nexthop(route, hop)  // the route owns it now
        guard rc == 0 else {
            rtnl_route_put(route)
            throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc)))
        }
        return route
    }

    private func make(_ address: IPAddress, _ prefixLength: Int, interface: String, op: String) throws(NetlinkError)
        -> (OpaquePointer, OpaquePointer)
    {
        let index = if_nametoindex(interface)
        guard index != 0 else {
            throw NetlinkError(operation: op, code: -1, message: "no interface named \(interface)")
        }
        var local: OpaquePointer?
        let rc = nl_addr_parse(
            "\(address)/\(prefixLength)", address.family == .ipv4 ? AF_INET : AF_INET6, &local)
        guard rc == 0, let local else {
            throw NetlinkError(operation: op, code: rc, message: String(cString: nl_geterror(rc)))
        }
        guard let addr = rtnl_addr_alloc() else {
            nl_addr_put(local)
            throw NetlinkError(operation: op, code: -1, message: "out of memory")
        }
        rtnl_addr_set_ifindex(addr, Int32(index))
        let set = rtnl_addr_set_local(addr, local)
        guard set == 0 else {
            rtnl_addr_put(addr)
            nl_addr_put(local)
            throw NetlinkError(operation: op, code: set, message: String(cString: nl_geterror(set)))
        }
        return (addr, local)
    }

    private static func ipAddress(_ a: OpaquePointer) -> IPAddress? {
        let length = Int(nl_addr_get_len(a))
        guard let raw = nl_addr_get_binary_addr(a) else { return nil }
        let family = nl_addr_get_family(a)
        guard (family == AF_INET && length == 4) || (family == AF_INET6 && length == 16) else { return nil }
        return IPAddress(networkBytes: UnsafeRawBufferPointer(start: raw, count: length))
    }

    private static func name(_ index: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(bitPattern: index), &buffer) != nil else { return "if\(index)" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension NetlinkSocket {
    /// The libnl the actor was built against ("libnl 3.7.0"), for `--version`.
    package static var libraryVersion: String { String(cString: cnetlink_version()) }
}
