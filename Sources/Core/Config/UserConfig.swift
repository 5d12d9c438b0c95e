/// The operator's configuration (the original's `global` ConfigMap JSON plus our keys), validated.
///
/// Build one only through `UserConfig.parse(_:)`, the one validating parser.
package struct UserConfig: Sendable, Equatable {
    /// Pools sorted by name.
    package var pools: [Pool]
    package var keepalived: KeepalivedSettings
    package var haproxy: HAProxyRawSections
    package var nginx: NginxRawSections
    package var vrrp: VRRPSettings
    /// The `bgp` block (required when a pool says `"announce": "bgp"`).
    package var bgp: BGPSettings?

    /// The pool named `name`.
    package func pool(named name: PoolName) -> Pool? {
        pools.first { $0.name == name }
    }

    /// An empty configuration (no pools): what a fresh watcher uses before it reads one.
    package static let empty = UserConfig(
        pools: [], keepalived: KeepalivedSettings(), haproxy: HAProxyRawSections(),
        nginx: NginxRawSections(), vrrp: VRRPSettings())
}

/// keepalived's own SMTP alerts on VRRP state changes (the original's `keepalived` section).
package struct KeepalivedSettings: Sendable, Equatable {
    /// Recipients (`email`, comma or space separated in the JSON).
    package var notificationEmails: [EmailAddress] = []
    /// Sender (`emailFrom`).
    package var emailFrom: EmailAddress?
    /// SMTP server (`emailServer`: host, `host:port`, or `[IPv6]:port`).
    package var smtpServer: SMTPServer?
    /// SMTP timeout in seconds (`emailServerTimeout`, a string or number, 1-3600; default 30).
    package var smtpTimeoutSeconds: Int = 30
}

/// A validated email address: `local@domain` of a deliberately small character set, so it can be
/// written into keepalived.conf without quoting.
package struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    package let local: String
    package let domain: String

    package init(parsing text: String) throws(AddressParseError) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw AddressParseError(text, "not an email address (expected local@domain)")
        }
        guard parts[0].utf8.count <= 64,
            parts[0].utf8.allSatisfy({ $0.isASCIIAlphanumeric || "._%+-".utf8.contains($0) })
        else {
            throw AddressParseError(text, "the part before '@' may hold only letters, digits and ._%+-")
        }
        guard let domain = try? HostName(parsing: String(parts[1])) else {
            throw AddressParseError(text, "the part after '@' is not a valid domain name")
        }
        self.local = String(parts[0])
        self.domain = domain.rawValue
    }

    package var description: String { "\(local)@\(domain)" }
}

/// A DNS host name (RFC 1123 labels), lower-cased.
package struct HostName: Sendable, Hashable, CustomStringConvertible {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        guard !text.isEmpty, text.utf8.count <= 253 else { throw AddressParseError(text, "not a valid host name") }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count <= 63,
                bytes.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2D }),
                bytes.first != 0x2D, bytes.last != 0x2D
            else { throw AddressParseError(text, "not a valid host name") }
        }
        self.rawValue = text.lowercased()
    }

    package var description: String { rawValue }
}

extension HostName: ParsedFromString {}

/// Where keepalived sends its alerts.
package struct SMTPServer: Sendable, Hashable, CustomStringConvertible {
    package enum Host: Sendable, Hashable {
        case address(IPAddress)
        case name(HostName)
    }

    package let host: Host
    package let port: UInt16?

    package init(parsing text: String) throws(AddressParseError) {
        func port(_ s: Substring) throws(AddressParseError) -> UInt16 {
            guard let p = UInt16(s), p > 0 else {
                throw AddressParseError(text, "port \"\(String(s).quotedForMessage)\" is not 1-65535")
            }
            return p
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw AddressParseError(text, "missing ']'") }
            let inner = text[text.index(after: text.startIndex)..<close]
            let address = try IPAddress(parsing: inner)
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                self.init(host: .address(address), port: nil)
            } else {
                guard rest.first == ":" else { throw AddressParseError(text, "expected ':port' after ']'") }
                self.init(host: .address(address), port: try port(rest.dropFirst()))
            }
            return
        }
        if text.filter({ $0 == ":" }).count > 1 {
            self.init(host: .address(try IPAddress(parsing: text)), port: nil)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let hostText = String(parts[0])
        let p = parts.count == 2 ? try port(parts[1]) : nil
        if hostText.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) {
            self.init(host: .address(try IPAddress(parsing: hostText)), port: p)
        } else {
            self.init(host: .name(try HostName(parsing: hostText)), port: p)
        }
    }

    init(host: Host, port: UInt16?) {
        self.host = host
        self.port = port
    }

    package var description: String {
        let h =
            switch host {
            case .address(let a): a.family == .ipv6 && port != nil ? "[\(a)]" : a.description
            case .name(let n): n.rawValue
            }
        return port.map { "\(h):\($0)" } ?? h
    }
}

/// The original's raw HAProxy line lists, validated to be single lines.
package struct HAProxyRawSections: Sendable, Equatable {
    package var global: [RawConfigLine] = []
    package var defaults: [RawConfigLine] = []
    package var tcpfront: [RawConfigLine] = []
    package var httpfront: [RawConfigLine] = []
    package var tcpback: [RawConfigLine] = []
    package var httpback: [RawConfigLine] = []
}

/// The original's raw nginx line lists, validated to be single lines.
package struct NginxRawSections: Sendable, Equatable {
    package var global: [RawConfigLine] = []
    package var http: [RawConfigLine] = []
    package var stream: [RawConfigLine] = []
    package var upstream: [RawConfigLine] = []
    package var proxy: [RawConfigLine] = []
}

/// Our VRRP keys (`vrrp` section), shared by every actor so all LB nodes agree.
package struct VRRPSettings: Sendable, Equatable {
    /// VRRPv3 advertisement interval in centiseconds (`advertInterval` in seconds, 0.01-40.95).
    package var advertIntervalCentiseconds: Int = VRRPSettings.defaultAdvertIntervalCentiseconds
    /// The default, 0.08 s, chosen from two measurements on 2 cores (scripts/bench): a master's link
    /// lost → served again in 0.204 s median, 0.248 s worst over 20 trials with 50 VIPs (the floor,
    /// the master-down interval, is 3 × 0.08 + 6/256 × 0.08 = 0.242 s), and no VIP moved or
    /// doubled in 600 s with both cores saturated by busy loops (the failover benchmark measures it).
    package static let defaultAdvertIntervalCentiseconds = 8
    /// Added to every VRID so several clusters can share a segment (`vridOffset`, 0-254).
    package var vridOffset: Int = 0
}
