/// Typed values of Gateway API fields that reach a proxy config. Each is parsed from the object's
/// text with an explicit allowed set (no control characters, no quotes where the config syntax
/// would need them unescaped); printers quote and escape them for their engine.

/// An HTTP header (or query parameter) name: letters, digits, '-', '_' and '.', at most 256
/// characters (RFC 7230 allows a few more symbols, which no real header uses and which config
/// syntax would have to escape: they are refused with this message).
package struct HeaderName: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        let allowed = Array("-_.".utf8)
        guard !text.isEmpty, text.utf8.count <= 256,
            text.utf8.allSatisfy({ $0.isASCIIAlphanumeric || allowed.contains($0) })
        else {
            throw AddressParseError(
                text, "not a supported header name (letters, digits, '-', '_' and '.', at most 256)")
        }
        rawValue = text
    }

    package var description: String { rawValue }
    /// Header names compare case-insensitively.
    package var lowercased: String { rawValue.lowercased() }
    package static func < (a: HeaderName, b: HeaderName) -> Bool { a.rawValue < b.rawValue }
}

/// A header (or query parameter) value: printable ASCII and spaces, at most 4096 characters.
package struct HeaderValue: Sendable, Hashable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        guard text.utf8.count <= 4096, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw AddressParseError(text, "not a supported header value (printable ASCII, at most 4096 characters)")
        }
        rawValue = text
    }

    package var description: String { rawValue }
}

/// An absolute HTTP path as Gateway API allows it: `/` then unreserved, sub-delim, `:`, `@`, `/`
/// and percent-encoded characters, at most 1024.
package struct HTTPPath: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        let allowed = Array("-._~!$&'()*+,;=:@/%".utf8)
        guard text.hasPrefix("/"), text.utf8.count <= 1024,
            text.utf8.allSatisfy({ $0.isASCIIAlphanumeric || allowed.contains($0) })
        else {
            throw AddressParseError(text, "not a valid path (starts with '/', RFC 3986 path characters, at most 1024)")
        }
        // Percent signs only as %XX.
        let b = Array(text.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%") {
                guard i + 2 < b.count, b[i + 1].isASCIIHexDigit, b[i + 2].isASCIIHexDigit else {
                    throw AddressParseError(text, "'%' must start a %XX escape")
                }
                i += 3
            } else {
                i += 1
            }
        }
        guard !text.contains("//"), !text.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) else {
            throw AddressParseError(text, "must not contain '//', '/./' or '/../'")
        }
        rawValue = text
    }

    package var description: String { rawValue }
    package static func < (a: HTTPPath, b: HTTPPath) -> Bool { a.rawValue < b.rawValue }

    /// The path without a trailing slash (except "/" itself): what a PathPrefix match compares
    /// element by element.
    package var trimmed: String {
        rawValue.count > 1 && rawValue.hasSuffix("/") ? String(rawValue.dropLast()) : rawValue
    }
}

/// An HTTP method a route may match (Gateway API's list).
package enum HTTPMethod: String, Sendable, Hashable, Codable, CaseIterable {
    case get = "GET"
    case head = "HEAD"
    case post = "POST"
    case put = "PUT"
    case delete = "DELETE"
    case connect = "CONNECT"
    case options = "OPTIONS"
    case trace = "TRACE"
    case patch = "PATCH"
}

/// A Gateway or route host name: a DNS name, or `*.` followed by one (a wildcard for every name
/// ending in that suffix, at any depth), lower-cased.
package struct GatewayHostname: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    package init(parsing text: String) throws(AddressParseError) {
        if text.hasPrefix("*.") {
            let rest = try HostName(parsing: String(text.dropFirst(2)))
            rawValue = "*." + rest.rawValue
        } else {
            rawValue = try HostName(parsing: text).rawValue
        }
    }

    package var description: String { rawValue }
    package var isWildcard: Bool { rawValue.hasPrefix("*.") }
    /// `.example.com` for `*.example.com`.
    package var suffix: String { String(rawValue.dropFirst()) }
    package static func < (a: GatewayHostname, b: GatewayHostname) -> Bool { a.rawValue < b.rawValue }

    /// Whether this hostname (as a pattern) covers `other` (a name or a narrower pattern).
    package func covers(_ other: GatewayHostname) -> Bool {
        if rawValue == other.rawValue { return true }
        guard isWildcard else { return false }
        return other.rawValue.hasSuffix(suffix) && other.rawValue.count > suffix.count
    }

    /// The intersection of a listener's and a route's hostname: the more specific one when one
    /// covers the other, else nil.
    package static func intersection(_ a: GatewayHostname, _ b: GatewayHostname) -> GatewayHostname? {
        if a.covers(b) { return b }
        if b.covers(a) { return a }
        return nil
    }
}

extension UInt8 {
    var isASCIIHexDigit: Bool {
        (self >= 0x30 && self <= 0x39) || (self >= 0x41 && self <= 0x46) || (self >= 0x61 && self <= 0x66)
    }
}
