/// The `bgp` block: how LB nodes announce the VIPs of `"announce": "bgp"` pools to routers
/// (every node that can serve a VIP announces it; the routers spread flows over them, ECMP).
package struct BGPSettings: Sendable, Equatable {
    /// The LB nodes' own AS number (1-4294967295).
    package var asn: UInt32
    /// Fixed router id (IPv4); nil: FRR picks the node's highest IPv4 address (usually right:
    /// every node needs its own).
    package var routerID: IPAddress?
    package var peers: [BGPPeer]

    package init(asn: UInt32, routerID: IPAddress? = nil, peers: [BGPPeer] = []) {
        self.asn = asn
        self.routerID = routerID
        self.peers = peers
    }

    /// The peers a node with `labels` talks to (a peer without `nodeSelector`: every node).
    package func peers(forNodeLabels labels: [String: String]) -> [BGPPeer] {
        peers.filter { $0.nodeSelector?.matches(labels) ?? true }
    }
}

/// One BGP neighbor (a top-of-rack router, a route server).
package struct BGPPeer: Sendable, Equatable {
    package var address: IPAddress
    package var asn: UInt32
    package var port: UInt16?
    package var password: BGPPassword?
    /// Only LB nodes whose labels match peer with it (racks peer with their own top of rack).
    package var nodeSelector: LabelSelector?
    /// Seconds: keepalive 1-65535 and hold time 3-65535 (or 0: none), keepalive < hold time.
    /// nil: FRR's defaults (60/180 s: rely on BFD).
    package var keepaliveSeconds: Int?
    package var holdTimeSeconds: Int?
    package var bfd: BFDSettings?
    /// TTL for eBGP peers more than one hop away (1-255).
    package var ebgpMultihop: Int?
    /// The VIP families announced to this peer (default: the peer address's family; both =
    /// MP-BGP over one session).
    package var families: [IPFamily]

    package init(address: IPAddress, asn: UInt32) {
        self.address = address
        self.asn = asn
        self.families = [address.family]
    }
}

/// BFD towards a peer: fast failure detection (detection ≈ multiplier × interval).
package struct BFDSettings: Sendable, Hashable {
    /// Receive and transmit intervals in milliseconds (10-60000).
    package var receiveMilliseconds: Int
    package var transmitMilliseconds: Int
    /// Missed packets before the session is down (2-255).
    package var multiplier: Int

    /// The default, chosen from measurements on 2 cores (scripts/bgp-benchmark, router at the
    /// same timers): 70 ms × 3 gave a 0.252 s median, 0.280 s worst outage over 20 link losses
    /// and no BFD session down in 180 s with both cores saturated; 80 ms × 3 gave 0.291 s /
    /// 0.322 s; 50 ms × 3 flapped under the same load. The floor is detection
    /// (multiplier × interval = 210 ms) plus ~50-70 ms for bgpd and zebra to reprogram the FIB.
    package static let `default` = BFDSettings(receiveMilliseconds: 70, transmitMilliseconds: 70, multiplier: 3)

    package init(receiveMilliseconds: Int, transmitMilliseconds: Int, multiplier: Int) {
        self.receiveMilliseconds = receiveMilliseconds
        self.transmitMilliseconds = transmitMilliseconds
        self.multiplier = multiplier
    }
}

/// A TCP MD5 password for a BGP session: 1-80 printable ASCII characters without spaces (it is
/// written into frr.conf, where a newline would start a new command).
package struct BGPPassword: Sendable, Hashable, CustomStringConvertible {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        guard !text.isEmpty, text.utf8.count <= 80 else {
            throw AddressParseError("(password)", "must be 1-80 characters")
        }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw AddressParseError(
                "(password)", "may hold only printable ASCII characters, no spaces, newlines or control characters")
        }
        rawValue = text
    }

    /// Never printed: logs and errors show this instead.
    package var description: String { "(password)" }
}

/// A BGP community attached to a pool's announcements: standard `ASN:VALUE` (each 0-65535), or
/// the well-known `no-export`, `no-advertise`, `local-AS`, `blackhole`.
package struct BGPCommunity: Sendable, Hashable, CustomStringConvertible {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        if ["no-export", "no-advertise", "local-AS", "blackhole"].contains(text) {
            rawValue = text
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = UInt16(parts[0]), let b = UInt16(parts[1]), String(a) == parts[0],
            String(b) == parts[1]
        else {
            throw AddressParseError(
                text, "expected ASN:VALUE (each 0-65535) or no-export, no-advertise, local-AS, blackhole")
        }
        rawValue = "\(a):\(b)"
    }

    package var description: String { rawValue }
}

/// How a pool's VIPs reach the network.
package enum Announcement: String, Sendable, Hashable, CaseIterable {
    /// keepalived VRRP: one LB node holds each VIP (the original's way; the default).
    case vrrp
    /// BGP: every LB node that can serve the VIP announces it; routers spread flows (ECMP).
    case bgp
}
