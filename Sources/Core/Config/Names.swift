/// The name of an IP pool. It names files (`/etc/certs/<pool>.pem`) and config sections, so it is
/// restricted to 1-63 characters of letters, digits, `.`, `_` and `-`, starting and ending with a
/// letter or digit.
package struct PoolName: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    /// The pool used when a Service names none.
    package static let `default` = PoolName(unchecked: "default")

    /// Validates `text` as a pool name.
    package init(parsing text: String) throws(AddressParseError) {
        guard let problem = Self.problem(text) else {
            self.rawValue = text
            return
        }
        throw AddressParseError(text, problem)
    }

    init(unchecked text: String) { self.rawValue = text }

    static func problem(_ text: String) -> String? {
        if text.isEmpty { return "pool name is empty" }
        if text.utf8.count > 63 { return "pool name is longer than 63 characters" }
        let ok = text.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
        if !ok { return "pool name may hold only letters, digits, '.', '_' and '-'" }
        if !(text.utf8.first!.isASCIIAlphanumeric && text.utf8.last!.isASCIIAlphanumeric) {
            return "pool name must start and end with a letter or digit"
        }
        return nil
    }

    package var description: String { rawValue }
    package static func < (a: PoolName, b: PoolName) -> Bool { a.rawValue < b.rawValue }

}

/// A Linux network interface name: 1-15 bytes (IFNAMSIZ), not `.` or `..`, of letters, digits,
/// `.`, `_` and `-` (the kernel forbids `/`, `:` and whitespace; we also keep out anything that
/// would need quoting in a generated config).
package struct InterfaceName: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    /// Validates `text` as an interface name.
    package init(parsing text: String) throws(AddressParseError) {
        if text.isEmpty { throw AddressParseError(text, "interface name is empty") }
        if text.utf8.count > 15 {
            throw AddressParseError(text, "interface name is longer than 15 characters (Linux IFNAMSIZ)")
        }
        if text == "." || text == ".." { throw AddressParseError(text, "not a valid interface name") }
        guard text.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
            throw AddressParseError(text, "interface name may hold only letters, digits, '.', '_' and '-'")
        }
        self.rawValue = text
    }

    package var description: String { rawValue }
    package static func < (a: InterfaceName, b: InterfaceName) -> Bool { a.rawValue < b.rawValue }

}

/// One operator-supplied line for a raw HAProxy or nginx section: a single line, no control
/// characters (a newline would let one list entry open a new section).
package struct RawConfigLine: Sendable, Hashable, CustomStringConvertible {
    package let text: String

    /// Validates one raw line.
    package init(parsing text: String) throws(AddressParseError) {
        for scalar in text.unicodeScalars where scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7f {
            let what =
                switch scalar {
                case "\n": "a newline"
                case "\r": "a carriage return"
                case "\0": "a NUL byte"
                default: "control character U+\(String(scalar.value, radix: 16, uppercase: true))"
                }
            throw AddressParseError(text, "contains \(what); each list entry must be one line")
        }
        self.text = text
    }

    /// The line's first word (its directive: `keepalive` in `  keepalive 8;`), for a renderer that
    /// must not emit a directive the operator already gave.
    package var directive: Substring {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" }).first ?? ""
    }

    /// What the line sets in HAProxy's `global` or `defaults`: its directive, plus the second
    /// word for the settings HAProxy names with two (`timeout connect`, `option redispatch`,
    /// `stats timeout`); `no option x` sets `option x`. A rendered line with the same key is left
    /// out (the operator's wins: `OperatorSettings`).
    package var haproxySettingKey: String { OperatorSettings.haproxyKey(text) }

    package var description: String { text }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (self >= 0x30 && self <= 0x39) || (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A)
    }
}

/// An absolute file path that generated configs may hold (quoted or not): `/` then letters,
/// digits, `/`, `.`, `_` and `-`, with no empty, `.` or `..` component, at most 255 bytes. Flags such as
/// `--run-dir` and `--cert-dir` are parsed into it, so no path brings quotes, spaces or newlines
/// into haproxy.cfg, keepalived.conf or nginx.conf.
package struct SafePath: Sendable, Hashable, CustomStringConvertible {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        guard text.hasPrefix("/") else { throw AddressParseError(text, "path must be absolute") }
        guard text.utf8.count <= 255 else { throw AddressParseError(text, "path is longer than 255 bytes") }
        guard text.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == 0x2F || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D })
        else {
            throw AddressParseError(text, "path may hold only letters, digits, '/', '.', '_' and '-'")
        }
        let parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if text != "/" {
            for p in parts where p.isEmpty || p == "." || p == ".." {
                throw AddressParseError(text, "path has an empty, '.' or '..' component")
            }
        }
        rawValue = text
    }

    /// `self` + "/" + `name` (name: one component of the same characters).
    package func appending(_ name: String) throws(AddressParseError) -> SafePath {
        try SafePath(parsing: rawValue == "/" ? "/" + name : rawValue + "/" + name)
    }

    package var description: String { rawValue }
}
