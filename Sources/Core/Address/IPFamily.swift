/// An IP address family. IPv4 sorts before IPv6.
package enum IPFamily: String, Sendable, Hashable, Comparable, CaseIterable, Codable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"

    /// Number of bits in an address of this family.
    package var bitWidth: Int { self == .ipv4 ? 32 : 128 }

    /// The largest address value of this family.
    package var maxValue: UInt128 { self == .ipv4 ? UInt128(UInt32.max) : UInt128.max }

    package static func < (lhs: IPFamily, rhs: IPFamily) -> Bool {
        lhs == .ipv4 && rhs == .ipv6
    }
}

extension IPFamily: CustomStringConvertible {
    /// `IPv4` or `IPv6`.
    package var description: String { rawValue }
}
