/// Strict parsers for address text. Everything malformed is rejected; nothing is guessed.
enum AddressParser {
    static func parseAddress(_ text: String) throws(AddressParseError) -> IPAddress {
        if text.isEmpty { throw AddressParseError(text, "empty address") }
        if text.contains(":") {
            return IPAddress(ipv6: try parseIPv6(text))
        }
        return IPAddress(ipv4: try parseIPv4(text, whole: text))
    }

    /// Dotted quad, four decimal octets, no leading zeros (they would mean octal elsewhere).
    static func parseIPv4(_ text: String, whole: String) throws(AddressParseError) -> UInt32 {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            throw AddressParseError(whole, "not an IPv4 address (expected four dot-separated numbers)")
        }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                throw AddressParseError(
                    whole, "not an IPv4 address (octet \"\(String(part).quotedForMessage)\" is not a number 0-255)")
            }
            if part.count > 1 && part.first == "0" {
                throw AddressParseError(whole, "octet \(part) has a leading zero (ambiguous: octal or decimal)")
            }
            guard let octet = UInt32(part), octet <= 255 else {
                throw AddressParseError(whole, "octet \(part) is larger than 255")
            }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ text: String) throws(AddressParseError) -> UInt128 {
        if text.contains("%") { throw AddressParseError(text, "zone indexes (%...) are not allowed") }
        if text.hasPrefix("[") || text.hasSuffix("]") {
            throw AddressParseError(text, "brackets are not part of an address")
        }
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else {
            throw AddressParseError(text, "\"::\" may appear only once")
        }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        func groups(_ part: Substring, isLast: Bool) throws(AddressParseError) -> [UInt16] {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, field) in fields.enumerated() {
                if field.contains(".") {
                    guard isLast, i == fields.count - 1 else {
                        throw AddressParseError(text, "an embedded IPv4 address may only end the address")
                    }
                    let v4 = try parseIPv4(String(field), whole: text)
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard !field.isEmpty else {
                    throw AddressParseError(text, "empty group (single \":\" at the edge or \":::\")")
                }
                guard field.count <= 4, let g = UInt16(field, radix: 16) else {
                    throw AddressParseError(text, "group \"\(String(field).quotedForMessage)\" is not 1-4 hex digits")
                }
                out.append(g)
            }
            return out
        }
        if halves.count == 2 {
            head = try groups(halves[0], isLast: false)
            tail = try groups(halves[1], isLast: true)
            guard head.count + tail.count <= 7 else {
                throw AddressParseError(text, "too many groups for \"::\"")
            }
        } else {
            head = try groups(halves[0], isLast: true)
            guard head.count == 8 else {
                throw AddressParseError(text, "not an IPv6 address (expected 8 groups, found \(head.count))")
            }
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        var value: UInt128 = 0
        for g in all { value = value << 16 | UInt128(g) }
        return value
    }

    /// A prefix length: decimal, no sign, no leading zeros, within the family's width.
    static func parsePrefix(_ text: Substring, family: IPFamily, whole: String) throws(AddressParseError) -> Int {
        guard !text.isEmpty, text.count <= 3, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            !(text.count > 1 && text.first == "0"), let n = Int(text)
        else {
            throw AddressParseError(whole, "prefix length \"\(String(text).quotedForMessage)\" is not a number")
        }
        guard n <= family.bitWidth else {
            throw AddressParseError(whole, "prefix length \(n) is larger than \(family.bitWidth)")
        }
        return n
    }
}

extension String {
    /// Splits at each "::" (used to find the zero-compression point of IPv6 text).
    fileprivate func components(separatedByDoubleColon _: Void) -> [Substring] {
        var parts: [Substring] = []
        var start = startIndex
        var i = startIndex
        while i < endIndex {
            let next = index(after: i)
            if self[i] == ":", next < endIndex, self[next] == ":" {
                parts.append(self[start..<i])
                start = index(after: next)
                i = start
                continue
            }
            i = next
        }
        parts.append(self[start..<endIndex])
        return parts
    }
}
