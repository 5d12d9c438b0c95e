import Foundation

/// A Kubernetes label selector as `kubectl -l` and `labelSelector=` take it: comma-separated
/// requirements `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. Used to decide
/// locally what the API server decides for a selector query (is this node an LB node?).
package struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    package enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case exists(String)
        case notExists(String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
    }

    package let requirements: [Requirement]
    package let description: String

    package struct ParseError: Error, CustomStringConvertible, Equatable {
        package let description: String
    }

    package init(parsing text: String) throws(ParseError) {
        description = text
        var out: [Requirement] = []
        for raw in Self.split(text) {
            let part = raw.trimmingCharacters(in: .whitespaces)
            guard !part.isEmpty else { continue }
            if let r = part.range(of: " notin ") ?? part.range(of: " in ") {
                let key = String(part[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                let rest = part[r.upperBound...].trimmingCharacters(in: .whitespaces)
                guard rest.hasPrefix("("), rest.hasSuffix(")") else {
                    throw ParseError(description: "\(text): set needs parentheses: \(part)")
                }
                let values = Set(
                    rest.dropFirst().dropLast().split(separator: ",").map {
                        String($0).trimmingCharacters(in: .whitespaces)
                    })
                try Self.checkKey(key, text)
                for v in values { try Self.checkValue(v, text) }
                out.append(part.contains(" notin ") ? .notIn(key, values) : .isIn(key, values))
            } else if let r = part.range(of: "!=") {
                let key = String(part[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                try Self.checkKey(key, text)
                let value = String(part[r.upperBound...]).trimmingCharacters(in: .whitespaces)
                try Self.checkValue(value, text)
                out.append(.notEquals(key, value))
            } else if let r = part.range(of: "==") ?? part.range(of: "=") {
                let key = String(part[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                try Self.checkKey(key, text)
                let value = String(part[r.upperBound...]).trimmingCharacters(in: .whitespaces)
                try Self.checkValue(value, text)
                out.append(.equals(key, value))
            } else if part.hasPrefix("!") {
                let key = String(part.dropFirst()).trimmingCharacters(in: .whitespaces)
                try Self.checkKey(key, text)
                out.append(.notExists(key))
            } else {
                try Self.checkKey(part, text)
                out.append(.exists(part))
            }
        }
        requirements = out
    }

    /// Whether `labels` satisfy every requirement.
    package func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            switch r {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .exists(let k): labels[k] != nil
            case .notExists(let k): labels[k] == nil
            case .isIn(let k, let vs): labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): !(labels[k].map(vs.contains) ?? false)
            }
        }
    }

    /// Splits on commas outside parentheses.
    private static func split(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for c in text {
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if c == ",", depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }

    private static func checkValue(_ value: String, _ text: String) throws(ParseError) {
        let ok =
            value.utf8.count <= 63
            && value.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
        if !ok { throw ParseError(description: "\(text): not a label value: \(value)") }
    }

    private static func checkKey(_ key: String, _ text: String) throws(ParseError) {
        let ok =
            !key.isEmpty && key.utf8.count <= 317
            && key.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F || $0 == 0x2F }
        if !ok { throw ParseError(description: "\(text): not a label key: \(key)") }
    }
}

/// Whether a node may hold VIPs: it matches the LB node selector and does not carry the
/// standard `node.kubernetes.io/exclude-from-external-load-balancers` label (as MetalLB's
/// speakers honour it). The watcher plans VIP groups only over eligible nodes; an actor on an
/// ineligible node hands every VIP over (VRRP FAULT: priority-0 advert, a backup takes over at once).
package enum NodeEligibility {
    package static let excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

    /// nil labels: the node object is unknown (not seen yet, or deleted).
    package static func eligible(labels: [String: String]?, selector: LabelSelector) -> Bool {
        guard let labels else { return false }
        return selector.matches(labels) && labels[excludeLabel] == nil
    }
}
