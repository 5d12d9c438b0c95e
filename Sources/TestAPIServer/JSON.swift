package import Foundation

/// A JSON value as the test API server stores objects: generic, so unknown fields survive
/// round trips the way they do in a real API server.
package enum JSON: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSON].self))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses JSON bytes.
    package static func parse(_ data: some DataProtocol) throws -> JSON {
        try JSONDecoder().decode(JSON.self, from: Data(data))
    }

    /// Compact JSON with sorted keys.
    package var data: Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try! e.encode(self)
    }

    package subscript(key: String) -> JSON? {
        get { if case .object(let o) = self { return o[key] } else { return nil } }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    /// The value at a dotted path (`metadata.name`), nil when absent.
    package subscript(path path: [String]) -> JSON? {
        get {
            var cur: JSON? = self
            for k in path { cur = cur?[k] }
            return cur
        }
        set {
            guard let first = path.first else {
                if let newValue { self = newValue }
                return
            }
            if case .object = self {} else { self = .object([:]) }
            var child = self[first] ?? .object([:])
            if path.count == 1 {
                self[first] = newValue
                return
            }
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    package var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    package var intValue: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d) where d == d.rounded(): Int64(exactly: d)
        default: nil
        }
    }
    package var arrayValue: [JSON]? { if case .array(let a) = self { a } else { nil } }
    package var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    package var objectValue: [String: JSON]? { if case .object(let o) = self { o } else { nil } }

    /// Text form for selectors and table cells.
    package var scalarText: String? {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .bool(let b): String(b)
        case .double(let d): String(d)
        default: nil
        }
    }
}
