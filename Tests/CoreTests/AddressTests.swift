import PropertyBased
import Testing

@testable import Core

@Suite struct IPAddressParsingTests {
    @Test(arguments: [
        ("0.0.0.0", "0.0.0.0"), ("192.0.2.1", "192.0.2.1"), ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("::", "::"), ("::1", "::1"),
        ("1::", "1::"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // RFC 5952 4.2.3: first longest run
        ("2001:0db8:0000:0000:0001:0000:0000:0000", "2001:db8:0:0:1::"),  // longer run wins
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // a single zero group is not shortened
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("::ffff:c000:0201", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"), ("fe80:0:0:0:0:0:0:0", "fe80::"),
    ])
    func canonicalText(input: String, expected: String) throws {
        #expect(try IPAddress(parsing: input).description == expected)
    }

    @Test(arguments: [
        ("", "empty address"),
        ("192.0.2", "expected four dot-separated numbers"),
        ("192.0.2.1.5", "expected four dot-separated numbers"),
        ("192.0.2.256", "octet 256 is larger than 255"),
        ("192.0.2.01", "leading zero"),
        ("192.0.2.-1", "is not a number 0-255"),
        ("192.0.2. 1", "is not a number 0-255"),
        ("192.0.2.1 ", "is not a number 0-255"),
        ("1.2.3.4/32", "is not a number 0-255"),
        ("2001:db8::1::2", "\"::\" may appear only once"),
        ("2001:db8:::1", "empty group"),
        ("2001:db8::12345", "is not 1-4 hex digits"),
        ("2001:db8::g", "is not 1-4 hex digits"),
        ("1:2:3:4:5:6:7", "expected 8 groups"),
        ("1:2:3:4:5:6:7:8:9", "expected 8 groups"),
        ("1:2:3:4::5:6:7:8", "too many groups"),
        ("fe80::1%eth0", "zone indexes"),
        ("[2001:db8::1]", "brackets"),
        (":1:2:3:4:5:6:7", "empty group"),
        ("::1.2.3.4:5", "embedded IPv4 address may only end"),
        ("::ffff:1.2.3", "expected four dot-separated numbers"),
    ])
    func rejects(input: String, problem: String) {
        #expect {
            _ = try IPAddress(parsing: input)
        } throws: { error in
            let message = "\(error)"
            return message.contains(problem) && message.hasPrefix(input.quotedForMessage)
        }
    }

    @Test func ordersByFamilyThenValue() throws {
        let a = try IPAddress(parsing: "255.255.255.255")
        let b = try IPAddress(parsing: "::")
        let c = try IPAddress(parsing: "::1")
        #expect(a < b && b < c)
        #expect(try IPAddress(parsing: "10.0.0.9") < IPAddress(parsing: "10.0.0.10"))
    }

    @Test func ipv6TextRoundTripsForRandomValues() async {
        await propertyCheck(count: 500, input: Gen.uint64(), Gen.uint64(), Gen.int(in: 0...7)) { hi, lo, zeroMask in
            // Mask groups to zero so the :: compression paths are exercised.
            var value = UInt128(hi) << 64 | UInt128(lo)
            for g in 0..<8 where (zeroMask >> (g % 3)) & 1 == 1 && g % 2 == 0 {
                value &= ~(UInt128(0xffff) << (16 * g))
            }
            let address = IPAddress(ipv6: value)
            let text = address.description
            #expect((try? IPAddress(parsing: text)) == address)
            #expect(!text.contains(":::"))
            #expect(text == text.lowercased())
        }
    }

    @Test func ipv4TextRoundTripsForRandomValues() async {
        await propertyCheck(count: 500, input: Gen.uint32()) { value in
            let address = IPAddress(ipv4: value)
            #expect((try? IPAddress(parsing: address.description)) == address)
        }
    }
}

@Suite struct NetworkAndRangeTests {
    @Test func cidrBounds() throws {
        let n = try IPNetwork(parsing: "192.0.2.0/24")
        #expect(n.address.description == "192.0.2.0" && n.lastAddress.description == "192.0.2.255")
        #expect(n.range.count == 256)
        let v6 = try IPNetwork(parsing: "2001:db8::/64")
        #expect(v6.lastAddress.description == "2001:db8::ffff:ffff:ffff:ffff")
        #expect(v6.range.count == UInt128(1) << 64)
        #expect(try IPNetwork(parsing: "0.0.0.0/0").range.count == UInt128(1) << 32)
        #expect(try IPNetwork(parsing: "::/0").range.count == nil)
        #expect(try IPNetwork(parsing: "203.0.113.7/32").range.count == 1)
    }

    @Test(arguments: [
        ("192.0.2.1/24", "host bits are set (the network is 192.0.2.0/24)"),
        ("1.2.3.0/22", "host bits are set (the network is 1.2.0.0/22)"),
        ("192.0.2.0/33", "prefix length 33 is larger than 32"),
        ("2001:db8::/129", "prefix length 129 is larger than 128"),
        ("192.0.2.0/", "is not a number"),
        ("192.0.2.0/024", "is not a number"),
        ("192.0.2.0/-1", "is not a number"),
        ("192.0.2.0/24/1", "not a CIDR"),
        ("2001:468:101::/96x", "is not a number"),
    ])
    func badCIDR(input: String, problem: String) {
        #expect {
            _ = try IPNetwork(parsing: input)
        } throws: { "\($0)".contains(problem) && "\($0)".hasPrefix(input) }
    }

    @Test(arguments: [
        ("192.0.2.10-192.0.2.20", "192.0.2.10-192.0.2.20", UInt128(11)),
        ("192.0.2.10 - 192.0.2.20", "192.0.2.10-192.0.2.20", UInt128(11)),
        ("192.0.2.0-192.0.2.255", "192.0.2.0/24", UInt128(256)),
        ("2001:db8::1-2001:db8::ff", "2001:db8::1-2001:db8::ff", UInt128(255)),
        ("203.0.113.5-203.0.113.5", "203.0.113.5/32", UInt128(1)),
        ("2001:db8::/64", "2001:db8::/64", UInt128(1) << 64),
    ])
    func ranges(input: String, canonical: String, count: UInt128) throws {
        let r = try IPRange(parsing: input)
        #expect(r.description == canonical)
        #expect(r.count == count)
    }

    @Test(arguments: [
        ("1.2.3.80-1.2.3.74", "\"1.2.3.80-1.2.3.74\"".dropFirst().dropLast() + ": start is after end"),
        ("192.0.2.1-2001:db8::1", "192.0.2.1-2001:db8::1: start is IPv4 but end is IPv6"),
        ("192.0.2.1-", "192.0.2.1-: empty address"),
        ("192.0.2.1-192.0.2.5-192.0.2.9", "not a range"),
        ("192.0.2.1", "not a range"),
        ("192.0.2.1-192.0.2.300", "octet 300 is larger than 255"),
    ])
    func badRanges(input: String, message: String) {
        #expect {
            _ = try IPRange(parsing: input)
        } throws: { "\($0)".contains(message) }
    }

    @Test func containmentAndOverlap() throws {
        let net = try IPRange(parsing: "192.0.2.0/24")
        #expect(net.contains(try IPRange(parsing: "192.0.2.10-192.0.2.20")))
        #expect(!net.contains(try IPRange(parsing: "192.0.2.200-192.0.3.1")))
        #expect(net.overlaps(try IPRange(parsing: "192.0.2.255-192.0.3.1")))
        #expect(!net.overlaps(try IPRange(parsing: "192.0.3.0/24")))
        #expect(!net.overlaps(try IPRange(parsing: "::/0")))
    }
}

@Suite struct IntervalSetTests {
    @Test func mergesAndSplits() {
        var s = IntervalSet()
        let inserted = [s.insert(5), s.insert(7), s.insert(6), s.insert(6)]
        #expect(inserted == [true, true, true, false])
        #expect(s.intervals == [5...7] && s.count == 3)
        let removed = [s.remove(6), s.remove(6)]
        #expect(removed == [true, false])
        #expect(s.intervals == [5...5, 7...7] && s.count == 2)
        s.insert(1...UInt128.max)
        #expect(s.intervals == [1...UInt128.max] && s.count == .max)
        let edges = [s.remove(1), s.remove(.max), s.insert(0)]
        #expect(edges == [true, true, true] && s.min == 0 && s.intervals == [0...0, 2...(UInt128.max - 1)])
        #expect(s.firstMember(atLeast: .max) == nil && s.firstMember(atLeast: 3) == 3)
    }

    @Test func copiesAreIndependent() {
        var a = IntervalSet(0...99)
        let b = a
        a.remove(50)
        #expect(a.count == 99 && b.count == 100 && b.contains(50) && !a.contains(50))
    }

    @Test func hugeRangeIsOneInterval() {
        var s = IntervalSet(0...(UInt128(1) << 64 - 1))
        for _ in 0..<1000 { s.remove(s.min!) }
        #expect(s.intervalCount == 1 && s.min == 1000 && s.count == UInt128(1) << 64 - 1000)
    }

    /// Random insert/remove sequences agree with a plain Set model, intervals stay maximal and
    /// sorted, and the tree stays balanced.
    @Test func matchesSetModel() async {
        let op = PropertyBased.zip(Gen.bool, Gen.int(in: 0...63))
        await propertyCheck(count: 300, input: op.array(of: 1...200)) { ops in
            var set = IntervalSet()
            var model = Set<UInt128>()
            for (isInsert, n) in ops {
                let x = UInt128(n)
                if isInsert {
                    let got = set.insert(x)
                    #expect(got == model.insert(x).inserted)
                } else {
                    let got = set.remove(x)
                    #expect(got == (model.remove(x) != nil))
                }
            }
            #expect(set.count == UInt128(model.count))
            #expect(set.min == model.min())
            for x in 0..<UInt128(64) {
                #expect(set.contains(x) == model.contains(x))
                #expect(set.firstMember(atLeast: x) == model.filter { $0 >= x }.min())
            }
            let iv = set.intervals
            for (a, b) in zip(iv, iv.dropFirst()) { #expect(a.upperBound + 1 < b.lowerBound) }
        }
    }
}
