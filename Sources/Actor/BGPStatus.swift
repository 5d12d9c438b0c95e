import Foundation

/// What FRR says about this node's BGP sessions (`show bgp summary json`, `show bfd peers json`).
struct BGPStatus: Sendable, Equatable {
    struct Peer: Sendable, Equatable {
        var address: String
        var established: Bool
        /// Prefixes this node announces to the peer (all address families).
        var prefixesSent: Int
        /// BFD session up (nil: no BFD session for this peer).
        var bfdUp: Bool?
    }

    var peers: [Peer]

    /// Parses FRR 8.4's JSON; unknown shapes give no peers rather than an error.
    static func parse(summary: String, bfd: String?) -> BGPStatus {
        var byPeer: [String: Peer] = [:]
        if let root = try? JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any] {
            for (_, family) in root {
                guard let peers = (family as? [String: Any])?["peers"] as? [String: Any] else { continue }
                for (address, value) in peers {
                    guard let p = value as? [String: Any] else { continue }
                    var peer =
                        byPeer[address] ?? Peer(address: address, established: false, prefixesSent: 0, bfdUp: nil)
                    if (p["state"] as? String) == "Established" { peer.established = true }
                    peer.prefixesSent += (p["pfxSnt"] as? Int) ?? 0
                    byPeer[address] = peer
                }
            }
        }
        if let bfd, let list = try? JSONSerialization.jsonObject(with: Data(bfd.utf8)) as? [[String: Any]] {
            for session in list {
                guard let address = session["peer"] as? String else { continue }
                var peer = byPeer[address] ?? Peer(address: address, established: false, prefixesSent: 0, bfdUp: nil)
                peer.bfdUp = (session["status"] as? String) == "up"
                byPeer[address] = peer
            }
        }
        return BGPStatus(peers: byPeer.values.sorted { $0.address < $1.address })
    }
}
