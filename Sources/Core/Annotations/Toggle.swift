/// A three-way switch: the original's `""` (decide automatically), `"true"` and `"false"`.
package enum Toggle: String, Sendable, Hashable, Codable {
    case auto
    case on
    case off
}

/// The proxy mode a Service asks for with `loadbalancer/mode`.
package enum ProxyMode: String, Sendable, Hashable, Codable {
    /// Decide from the port (TLS termination or an `http*` port name means HTTP).
    case auto
    /// Layer 7 (`"http"`).
    case http
    /// Layer 4 passthrough (the original's `"false"`; we also accept `"tcp"`).
    case tcp
}

/// A `loadbalancer/sharing-key`: Services with the same key may share an IP when their ports differ.
package struct SharingKey: Sendable, Hashable, Comparable, CustomStringConvertible, ParsedFromString {
    package let rawValue: String

    /// 1-253 characters of letters, digits, `.`, `_`, `-` and `/`.
    package init(parsing text: String) throws(AddressParseError) {
        guard !text.isEmpty, text.utf8.count <= 253 else {
            throw AddressParseError(text, "sharing key must be 1-253 characters")
        }
        guard text.utf8.allSatisfy({ $0.isASCIIAlphanumeric || "._-/".utf8.contains($0) }) else {
            throw AddressParseError(text, "sharing key may hold only letters, digits and ._-/")
        }
        self.rawValue = text
    }

    package var description: String { rawValue }
    package static func < (a: SharingKey, b: SharingKey) -> Bool { a.rawValue < b.rawValue }

}
