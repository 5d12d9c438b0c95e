/// Line-oriented config text with uniform indentation, built as bytes (configs for 10,000
/// Services are megabytes; byte appends are several times faster than String appends).
struct ConfigText {
    private var bytes: [UInt8] = []
    /// A digest of everything except `server` lines: equal digests mean only servers differ.
    private(set) var skeletonDigest: UInt64 = 0xcbf2_9ce4_8422_2325

    /// The renderer's last `server` option list, with the suffix it came from (shared, not rebuilt).
    var lastServerOptions: (suffix: String, options: String)?

    /// Only HAProxy needs the digest (Runtime API decisions); other renderers skip the cost.
    var hashing = false

    /// Folds the bytes appended since `start` into the digest, eight at a time (a multiply and a
    /// shift per word; byte-wise FNV was a sixth of the render time at 10,000 Services).
    private mutating func hash(from start: Int) {
        guard hashing else { return }
        skeletonDigest = bytes.withUnsafeBytes { raw in
            var h = skeletonDigest
            var i = start
            while i + 8 <= raw.count {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                i += 8
            }
            while i < raw.count {
                h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
                i += 1
            }
            return h
        }
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func section(_ header: String) {
        let start = bytes.count
        if !bytes.isEmpty { bytes.append(0x0A) }
        bytes.append(contentsOf: header.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    mutating func line(_ s: String) {
        let start = bytes.count
        bytes.append(contentsOf: [0x20, 0x20, 0x20, 0x20])
        bytes.append(contentsOf: s.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    /// `section(a + b)` and `line(a + b + c)` without building the joined String (the
    /// per-frontend lines at 10,000 Services).
    mutating func section(_ a: String, _ b: String) {
        let start = bytes.count
        if !bytes.isEmpty { bytes.append(0x0A) }
        bytes.append(contentsOf: a.utf8)
        bytes.append(contentsOf: b.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    mutating func line(_ a: String, _ b: String, _ c: String = "") {
        let start = bytes.count
        bytes.append(contentsOf: [0x20, 0x20, 0x20, 0x20])
        bytes.append(contentsOf: a.utf8)
        bytes.append(contentsOf: b.utf8)
        bytes.append(contentsOf: c.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    /// `    bind <vip>:<port><rest>` (IPv6 in brackets), as `IPAddress.withPort` prints it.
    mutating func bind(_ vip: IPAddress, _ port: UInt16, _ rest: String, _ more: String = "") {
        let start = bytes.count
        bytes.append(contentsOf: "    bind ".utf8)
        if vip.family == .ipv4 {
            appendDottedQuad(UInt32(truncatingIfNeeded: vip.value), separator: UInt8(ascii: "."))
        } else {
            bytes.append(UInt8(ascii: "["))
            bytes.append(contentsOf: vip.description.utf8)
            bytes.append(UInt8(ascii: "]"))
        }
        bytes.append(UInt8(ascii: ":"))
        appendDecimal(port)
        bytes.append(contentsOf: rest.utf8)
        bytes.append(contentsOf: more.utf8)
        bytes.append(0x0A)
        hash(from: start)
    }

    /// Room for a config of this many VIPs (~1,100 bytes each rendered at 10,000 Services): untouched
    /// capacity costs no pages, while a regrowth copies the whole text.
    mutating func reserve(vips: Int) { bytes.reserveCapacity(4096 + vips * 2000) }

    /// `    server ep_<addr>_<port> <addr>:<port><suffix>`, written straight into the buffer (no
    /// intermediate String: 20,000 of these at 10,000 Services).
    mutating func server(_ ep: EndpointAddress, suffix: String) {
        bytes.append(contentsOf: "    server ep_".utf8)
        if ep.address.family == .ipv4 {
            appendDottedQuad(UInt32(truncatingIfNeeded: ep.address.value), separator: UInt8(ascii: "_"))
        } else {
            for b in ep.address.description.utf8 { bytes.append(b.isASCIIAlphanumeric ? b : UInt8(ascii: "_")) }
        }
        bytes.append(UInt8(ascii: "_"))
        appendDecimal(ep.port)
        bytes.append(0x20)
        if ep.address.family == .ipv4 {
            appendDottedQuad(UInt32(truncatingIfNeeded: ep.address.value), separator: UInt8(ascii: "."))
        } else {
            bytes.append(UInt8(ascii: "["))
            bytes.append(contentsOf: ep.address.description.utf8)
            bytes.append(UInt8(ascii: "]"))
        }
        bytes.append(UInt8(ascii: ":"))
        appendDecimal(ep.port)
        bytes.append(contentsOf: suffix.utf8)
        bytes.append(0x0A)
    }

    /// An IPv4 address as IPAddress.description prints it, with `separator` between the octets.
    private mutating func appendDottedQuad(_ v: UInt32, separator: UInt8) {
        for shift: UInt32 in [24, 16, 8, 0] {
            let octet = UInt8(truncatingIfNeeded: v >> shift)
            if shift != 24 { bytes.append(separator) }
            if octet >= 100 { bytes.append(0x30 + octet / 100) }
            if octet >= 10 { bytes.append(0x30 + (octet / 10) % 10) }
            bytes.append(0x30 + octet % 10)
        }
    }

    private mutating func appendDecimal(_ n: UInt16) {
        var divisor: UInt16 = 10000
        var started = false
        while divisor > 0 {
            let digit = UInt8(truncatingIfNeeded: (n / divisor) % 10)
            if digit != 0 || started || divisor == 1 {
                bytes.append(0x30 + digit)
                started = true
            }
            divisor /= 10
        }
    }

    mutating func raw(_ lines: [RawConfigLine]) { for l in lines where !l.text.isEmpty { line(l.text) } }

    /// One of k8slb's settings, left out when the operator's raw lines set it too (their `keys`
    /// hold its key): the operator's value wins (OperatorSettings).
    mutating func setting(_ text: String, unlessIn keys: Set<String>, key: (String) -> String, indent: Bool = true) {
        guard keys.isEmpty || !keys.contains(key(text)) else { return }
        if indent { line(text) } else { section(text) }
    }

    /// Opens a brace-delimited block (keepalived syntax); `close()` ends it.
    mutating func block(_ header: String) { section(header + " {") }

    mutating func close() {
        let start = bytes.count
        bytes.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        hash(from: start)
    }
}

extension ConfigText {
    /// A top-level statement (no indentation).
    mutating func top(_ s: String) { section(s) }
}
