/// A CIDR block such as `192.0.2.0/24` or `2001:db8::/64`. Host bits must be zero.
package struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The first address of the block.
    package let address: IPAddress
    /// The prefix length, 0 through the family's width.
    package let prefixLength: Int

    package var family: IPFamily { address.family }

    /// The block from an address and prefix; nil when host bits are set or the prefix is out of range.
    package init?(address: IPAddress, prefixLength: Int) {
        guard prefixLength >= 0, prefixLength <= address.family.bitWidth else { return nil }
        guard address.value & Self.hostMask(address.family, prefixLength) == 0 else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `address/prefix`. Host bits set is an error that names the network meant.
    package init(parsing text: some StringProtocol) throws(AddressParseError) {
        let whole = String(text)
        let parts = whole.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw AddressParseError(whole, "not a CIDR (expected address/prefix)") }
        let address: IPAddress
        do { address = try AddressParser.parseAddress(String(parts[0])) } catch {
            throw AddressParseError(whole, error.problem)
        }
        let prefix = try AddressParser.parsePrefix(parts[1], family: address.family, whole: whole)
        let mask = Self.hostMask(address.family, prefix)
        guard address.value & mask == 0 else {
            let base = IPAddress(family: address.family, value: address.value & ~mask)!
            throw AddressParseError(whole, "host bits are set (the network is \(base)/\(prefix))")
        }
        self.address = address
        self.prefixLength = prefix
    }

    /// The last address of the block.
    package var lastAddress: IPAddress {
        IPAddress(family: family, value: address.value | Self.hostMask(family, prefixLength))!
    }

    /// Every address of the block as a range.
    package var range: IPRange { IPRange(uncheckedStart: address, end: lastAddress) }

    package var description: String { "\(address)/\(prefixLength)" }

    /// The mask of host bits for a prefix (all ones below the prefix, within the family's width).
    static func hostMask(_ family: IPFamily, _ prefix: Int) -> UInt128 {
        let hostBits = family.bitWidth - prefix
        if hostBits == 0 { return 0 }
        if hostBits == 128 { return .max }
        return (UInt128(1) << hostBits) - 1
    }
}
