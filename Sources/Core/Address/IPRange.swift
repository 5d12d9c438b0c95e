/// An inclusive range of addresses of one family, written `start-end` or as a CIDR.
package struct IPRange: Sendable, Hashable, CustomStringConvertible {
    /// The lowest address.
    package let start: IPAddress
    /// The highest address.
    package let end: IPAddress

    package var family: IPFamily { start.family }

    /// A range from its two ends; nil when families differ or `start` is after `end`.
    package init?(start: IPAddress, end: IPAddress) {
        guard start.family == end.family, start.value <= end.value else { return nil }
        self.start = start
        self.end = end
    }

    init(uncheckedStart start: IPAddress, end: IPAddress) {
        self.start = start
        self.end = end
    }

    /// Parses `a-b` (spaces around the dash allowed) or a CIDR.
    package init(parsing text: some StringProtocol) throws(AddressParseError) {
        let whole = String(text)
        if whole.contains("/") {
            self = try IPNetwork(parsing: whole).range
            return
        }
        let parts = whole.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw AddressParseError(whole, "not a range (expected start-end or a CIDR)")
        }
        let startText = parts[0].trimmingSpaces
        let endText = parts[1].trimmingSpaces
        let start: IPAddress
        let end: IPAddress
        do {
            start = try AddressParser.parseAddress(startText)
            end = try AddressParser.parseAddress(endText)
        } catch {
            throw AddressParseError(whole, error.problem)
        }
        guard start.family == end.family else {
            throw AddressParseError(whole, "start is \(start.family) but end is \(end.family)")
        }
        guard start.value <= end.value else { throw AddressParseError(whole, "start is after end") }
        self.start = start
        self.end = end
    }

    /// Number of addresses minus one (fits even for the whole IPv6 space).
    package var span: UInt128 { end.value - start.value }

    /// Number of addresses; nil only for the entire IPv6 space (2^128 does not fit).
    package var count: UInt128? { span == .max ? nil : span + 1 }

    /// True when `address` lies in the range.
    package func contains(_ address: IPAddress) -> Bool {
        address.family == family && address.value >= start.value && address.value <= end.value
    }

    /// True when `other` lies entirely within this range.
    package func contains(_ other: IPRange) -> Bool {
        other.family == family && other.start.value >= start.value && other.end.value <= end.value
    }

    /// True when the two ranges share at least one address.
    package func overlaps(_ other: IPRange) -> Bool {
        other.family == family && other.start.value <= end.value && start.value <= other.end.value
    }

    /// The range as a CIDR when it is exactly one, otherwise nil.
    package var asNetwork: IPNetwork? {
        guard span != .max else { return IPNetwork(address: start, prefixLength: 0) }
        let size = span + 1
        guard size & (size - 1) == 0 else { return nil }
        let hostBits = size.trailingZeroBitCount
        return IPNetwork(address: start, prefixLength: family.bitWidth - hostBits)
    }

    /// `a/len` when the range is a CIDR block, else `a-b`.
    package var description: String {
        if let network = asNetwork { return network.description }
        return "\(start)-\(end)"
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
