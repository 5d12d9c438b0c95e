/// Line-oriented config text with uniform indentation, built as bytes (configs for 10,000
/// Services are megabytes; byte appends are several times faster than String appends).
struct ConfigText {
    private var bytes: [UInt8] = []
    /// A digest of everything except `server` lines: equal digests mean only servers differ.
    private(set) var skeletonDigest: UInt64 = 0xcbf2_9ce4_8422_2325

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

    /// Room for a config of this many VIPs (~1,100 bytes each rendered at 10,000 Services): untouched
    /// capacity costs no pages, while a regrowth copies the whole text.
    mutating func reserve(vips: Int) { bytes.reserveCapacity(4096 + vips * 2000) }

    /// `    server ep_<addr>_<port> <addr>:<port><suffix>`, written straight into the buffer.
    mutating func server(_ ep: EndpointAddress, suffix: String) {
        let text = ep.address.description
        let port = String(ep.port)
        bytes.append(contentsOf: "    server ep_".utf8)
        for b in text.utf8 { bytes.append(b.isASCIIAlphanumeric ? b : UInt8(ascii: "_")) }
        bytes.append(UInt8(ascii: "_"))
        bytes.append(contentsOf: port.utf8)
        bytes.append(0x20)
        if ep.address.family == .ipv6 { bytes.append(UInt8(ascii: "[")) }
        bytes.append(contentsOf: text.utf8)
        if ep.address.family == .ipv6 { bytes.append(UInt8(ascii: "]")) }
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: port.utf8)
        bytes.append(contentsOf: suffix.utf8)
        bytes.append(0x0A)
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
