/// An IPv4 or IPv6 address as a number in its family's space.
///
/// Values sort by family first (IPv4 before IPv6), then numerically. `description` is the
/// canonical text: dotted quad for IPv4, RFC 5952 for IPv6.
package struct IPAddress: Sendable, Hashable, Comparable {
    /// The address family.
    package let family: IPFamily
    /// The address as an unsigned number (IPv4 values use the low 32 bits).
    package let value: UInt128

    /// An IPv4 address from its 32-bit value.
    package init(ipv4 value: UInt32) {
        self.family = .ipv4
        self.value = UInt128(value)
    }

    /// An IPv6 address from its 128-bit value.
    package init(ipv6 value: UInt128) {
        self.family = .ipv6
        self.value = value
    }

    /// An address of `family` from a value; nil when the value does not fit the family.
    package init?(family: IPFamily, value: UInt128) {
        guard value <= family.maxValue else { return nil }
        self.family = family
        self.value = value
    }

    /// An address from its bytes in network order: 4 (IPv4) or 16 (IPv6); nil for any other
    /// count (netlink attributes, packets).
    package init?(networkBytes bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self.init(ipv4: bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self.init(ipv6: bytes.reduce(0) { $0 << 8 | UInt128($1) })
        default: return nil
        }
    }

    /// The address's bytes in network order (4 or 16).
    package var networkBytes: [UInt8] {
        let count = family.bitWidth / 8
        return (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * (count - 1 - $0))) }
    }

    /// Parses IPv4 dotted-quad or IPv6 text; throws with a message that quotes the input.
    package init(parsing text: some StringProtocol) throws(AddressParseError) {
        self = try AddressParser.parseAddress(String(text))
    }

    /// The next address, or nil at the top of the family's space.
    package var successor: IPAddress? {
        value == family.maxValue ? nil : IPAddress(family: family, value: value + 1)
    }

    /// The previous address, or nil at zero.
    package var predecessor: IPAddress? {
        value == 0 ? nil : IPAddress(family: family, value: value - 1)
    }

    package static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        lhs.family != rhs.family ? lhs.family < rhs.family : lhs.value < rhs.value
    }
}

extension IPAddress: CustomStringConvertible {
    /// Canonical text: dotted quad, or RFC 5952 (lower case, no leading zeros, the longest run of
    /// two or more zero groups shortened to `::`, the first on a tie, IPv4-mapped as `::ffff:a.b.c.d`).
    package var description: String {
        switch family {
        case .ipv4:
            return Self.dottedQuad(UInt32(truncatingIfNeeded: value))
        case .ipv6:
            return Self.rfc5952(value)
        }
    }

    private static func dottedQuad(_ v: UInt32) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(15)
        for shift in [24, 16, 8, 0] as [UInt32] {
            let octet = UInt8(truncatingIfNeeded: v >> shift)
            if shift != 24 { bytes.append(UInt8(ascii: ".")) }
            if octet >= 100 { bytes.append(0x30 + octet / 100) }
            if octet >= 10 { bytes.append(0x30 + (octet / 10) % 10) }
            bytes.append(0x30 + octet % 10)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func rfc5952(_ value: UInt128) -> String {
        if value >> 32 == 0xffff {
            return "::ffff:" + dottedQuad(UInt32(truncatingIfNeeded: value))
        }
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

extension IPAddress: Codable {
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try IPAddress(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
