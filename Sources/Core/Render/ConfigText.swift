/// Line-oriented config text with uniform indentation, built as bytes in a buffer of its own
/// (configs for 10,000 Services are megabytes: an Array's uniqueness and capacity checks on
/// every byte appended were a third of the haproxy.cfg print). Noncopyable: one owner writes it.
struct ConfigText: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// The renderer's last `server` option list, with the suffix it came from (shared, not rebuilt).
    var lastServerOptions: (suffix: String, options: String)?

    /// Only HAProxy needs the digest (Runtime API decisions); other renderers skip recording
    /// where server lines run.
    var hashing = false

    init() {
        capacity = 4096
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    /// Room for `n` more bytes (the buffer doubles: amortized, and rare once `reserve` sized it).
    @inline(__always)
    private mutating func ensure(_ n: Int) {
        guard count + n > capacity else { return }
        grow(to: max(capacity * 2, count + n))
    }

    private mutating func grow(to grown: Int) {
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }

    /// One byte; the caller ensured room.
    @inline(__always)
    private mutating func put(_ b: UInt8) {
        base[count] = b
        count += 1
    }

    /// A string's UTF-8, room ensured here.
    @inline(__always)
    private mutating func put(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            ensure(utf8.count)
            guard let from = utf8.baseAddress else { return }
            (base + count).update(from: from, count: utf8.count)
            count += utf8.count
        }
    }

    /// Where `server` lines run (start, end pairs, one pair per run of adjacent ones): the digest
    /// skips them.
    private var serverRuns: [Int] = []

    /// A digest of everything except `server` lines: equal digests mean only servers differ.
    /// Computed once over the finished text (four independent multiply-shift lanes per 32 bytes;
    /// hashing each line as it was appended was a tenth of the render at 10,000 Services).
    var skeletonDigest: UInt64 {
        var h = Digest()
        var from = 0
        var i = 0
        while i < serverRuns.count {
            h.fold(base + from, serverRuns[i] - from)
            from = serverRuns[i + 1]
            i += 2
        }
        h.fold(base + from, count - from)
        return h.value
    }

    /// A streaming digest: the same bytes give the same value however they are split into
    /// segments (a backend going from no servers to some must not change the skeleton's digest).
    private struct Digest {
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (
            0xcbf2_9ce4_8422_2325, 0x8422_2325_cbf2_9ce4, 0x9E37_79B9_7F4A_7C15, 0x7F4A_7C15_9E37_79B9
        )
        /// Bytes not yet folded (fewer than 32), and the total.
        var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var pendingCount = 0
        var total = 0

        static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
            let m = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            return m ^ (m >> 29)
        }

        mutating func block(_ raw: UnsafeRawPointer) {
            lanes.0 = Self.mix(lanes.0, raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            lanes.1 = Self.mix(lanes.1, raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            lanes.2 = Self.mix(lanes.2, raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            lanes.3 = Self.mix(lanes.3, raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }

        mutating func fold(_ p: UnsafePointer<UInt8>, _ n: Int) {
            total += n
            var i = 0
            if pendingCount > 0 {
                let take = min(32 - pendingCount, n)
                withUnsafeMutableBytes(of: &pending) { buf in
                    for k in 0..<take { buf[pendingCount + k] = p[k] }
                }
                pendingCount += take
                i = take
                guard pendingCount == 32 else { return }
                let full = pending
                withUnsafeBytes(of: full) { block($0.baseAddress!) }
                pendingCount = 0
            }
            let raw = UnsafeRawPointer(p)
            while i + 32 <= n {
                block(raw + i)
                i += 32
            }
            let rest = n - i
            if rest > 0 {
                withUnsafeMutableBytes(of: &pending) { buf in
                    for k in 0..<rest { buf[k] = p[i + k] }
                }
                pendingCount = rest
            }
        }

        var value: UInt64 {
            var last = pending
            withUnsafeMutableBytes(of: &last) { buf in
                for k in pendingCount..<32 { buf[k] = 0 }
            }
            var h = self
            withUnsafeBytes(of: last) { h.block($0.baseAddress!) }
            return Self.mix(Self.mix(Self.mix(Self.mix(h.lanes.0, h.lanes.1), h.lanes.2), h.lanes.3), UInt64(total))
        }
    }

    var text: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }

    mutating func section(_ header: String) {
        ensure(1)
        if count > 0 { put(0x0A) }
        put(header)
        ensure(1)
        put(0x0A)
    }

    mutating func line(_ s: String) {
        indent()
        put(s)
        newline()
    }

    /// Four spaces, room ensured.
    @inline(__always)
    private mutating func indent() {
        ensure(4)
        UnsafeMutableRawPointer(base + count).storeBytes(of: 0x2020_2020, as: UInt32.self)
        count += 4
    }

    @inline(__always)
    private mutating func newline() {
        ensure(1)
        put(0x0A)
    }

    /// `section(a + b)` and `line(a + b + c)` without building the joined String (the
    /// per-frontend lines at 10,000 Services).
    mutating func section(_ a: String, _ b: String) {
        ensure(1)
        if count > 0 { put(0x0A) }
        put(a)
        put(b)
        newline()
    }

    mutating func line(_ a: String, _ b: String, _ c: String = "") {
        indent()
        put(a)
        put(b)
        if !c.isEmpty { put(c) }
        newline()
    }

    /// `    bind <vip>:<port><rest>` (IPv6 in brackets), as `IPAddress.withPort` prints it.
    mutating func bind(_ vip: IPAddress, _ port: UInt16, _ rest: String, _ more: String = "") {
        put("    bind ")
        address(vip, separator: UInt8(ascii: "."))
        ensure(7)
        put(UInt8(ascii: ":"))
        appendDecimal(port)
        put(rest)
        if !more.isEmpty { put(more) }
        newline()
    }

    /// Room for a config of this many VIPs (~1,100 bytes each rendered at 10,000 Services): untouched
    /// capacity costs no pages, while a regrowth copies the whole text.
    mutating func reserve(vips: Int) {
        let wanted = count + 4096 + vips * 2000
        if wanted > capacity { grow(to: wanted) }
    }

    /// `    server ep_<addr>_<port> <addr>:<port><suffix>`, written straight into the buffer (no
    /// intermediate String: 20,000 of these at 10,000 Services).
    mutating func server(_ ep: EndpointAddress, suffix: String) {
        let start = count
        defer {
            if hashing {
                if let last = serverRuns.last, last == start {
                    serverRuns[serverRuns.count - 1] = count
                } else {
                    serverRuns.append(start)
                    serverRuns.append(count)
                }
            }
        }
        put("    server ep_")
        if ep.address.family == .ipv4 {
            ensure(24)
            appendDottedQuad(UInt32(truncatingIfNeeded: ep.address.value), separator: UInt8(ascii: "_"))
        } else {
            let printed = ep.address.description.utf8
            ensure(printed.count + 8)
            for b in printed { put(b.isASCIIAlphanumeric ? b : UInt8(ascii: "_")) }
        }
        put(UInt8(ascii: "_"))
        appendDecimal(ep.port)
        put(0x20)
        address(ep.address, separator: UInt8(ascii: "."))
        ensure(7)
        put(UInt8(ascii: ":"))
        appendDecimal(ep.port)
        put(suffix)
        newline()
    }

    /// An address as `IPAddress.withPort` prints it before the port: IPv4 with `separator`
    /// between the octets, IPv6 in brackets.
    private mutating func address(_ a: IPAddress, separator: UInt8) {
        if a.family == .ipv4 {
            ensure(15)
            appendDottedQuad(UInt32(truncatingIfNeeded: a.value), separator: separator)
        } else {
            ensure(1)
            put(UInt8(ascii: "["))
            put(a.description)
            ensure(1)
            put(UInt8(ascii: "]"))
        }
    }

    /// An IPv4 address as IPAddress.description prints it, with `separator` between the octets;
    /// the caller ensured 15 bytes.
    private mutating func appendDottedQuad(_ v: UInt32, separator: UInt8) {
        octet(UInt8(truncatingIfNeeded: v >> 24))
        put(separator)
        octet(UInt8(truncatingIfNeeded: v >> 16))
        put(separator)
        octet(UInt8(truncatingIfNeeded: v >> 8))
        put(separator)
        octet(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    private mutating func octet(_ o: UInt8) {
        if o >= 100 { put(0x30 + o / 100) }
        if o >= 10 { put(0x30 + (o / 10) % 10) }
        put(0x30 + o % 10)
    }

    /// A port in decimal; the caller ensured 5 bytes.
    private mutating func appendDecimal(_ n: UInt16) {
        if n < 10 {
            put(0x30 + UInt8(n))
            return
        }
        var digits = 1
        var scale: UInt16 = 10
        while digits < 5 && n >= scale {
            digits += 1
            scale = scale &* 10
        }
        var rest = n
        var i = digits - 1
        while i >= 0 {
            base[count + i] = 0x30 + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
            i -= 1
        }
        count += digits
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
        ensure(2)
        put(UInt8(ascii: "}"))
        put(0x0A)
    }
}

extension ConfigText {
    /// A top-level statement (no indentation).
    mutating func top(_ s: String) { section(s) }
}
