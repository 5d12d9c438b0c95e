import Foundation

/// A parsed label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).
struct LabelSelector {
    enum Requirement {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case notExists(String)
    }

    let requirements: [Requirement]

    init(parsing text: String) throws(APIError) {
        var reqs: [Requirement] = []
        var parts: [String] = []
        var depth = 0
        var current = ""
        for ch in text {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { parts.append(current) }
        for raw in parts {
            let part = raw.trimmingCharacters(in: " ")
            if part.isEmpty { continue }
            if let r = part.range(of: " notin ") {
                reqs.append(
                    .notIn(
                        String(part[..<r.lowerBound]).trimmingCharacters(in: " "),
                        try Self.set(String(part[r.upperBound...]))))
            } else if let r = part.range(of: " in ") {
                reqs.append(
                    .in(
                        String(part[..<r.lowerBound]).trimmingCharacters(in: " "),
                        try Self.set(String(part[r.upperBound...]))))
            } else if let r = part.range(of: "!=") {
                reqs.append(.notEquals(String(part[..<r.lowerBound]), String(part[r.upperBound...])))
            } else if let r = part.range(of: "==") {
                reqs.append(.equals(String(part[..<r.lowerBound]), String(part[r.upperBound...])))
            } else if let r = part.range(of: "=") {
                reqs.append(.equals(String(part[..<r.lowerBound]), String(part[r.upperBound...])))
            } else if part.hasPrefix("!") {
                reqs.append(.notExists(String(part.dropFirst())))
            } else {
                guard part.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
                    throw APIError.badRequest("unable to parse requirement: invalid label key \"\(part)\"")
                }
                reqs.append(.exists(part))
            }
        }
        requirements = reqs
    }

    private static func set(_ text: String) throws(APIError) -> Set<String> {
        let t = text.trimmingCharacters(in: " ")
        guard t.hasPrefix("("), t.hasSuffix(")") else {
            throw APIError.badRequest("unable to parse requirement: expected ( values )")
        }
        return Set(t.dropFirst().dropLast().split(separator: ",").map { String($0).trimmingCharacters(in: " ") })
    }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            switch r {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .in(let k, let vs): labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): !(labels[k].map(vs.contains) ?? false)
            case .exists(let k): labels[k] != nil
            case .notExists(let k): labels[k] == nil
            }
        }
    }
}

/// A parsed field selector (`metadata.name=x,spec.type!=ClusterIP`), limited to the fields the
/// kind supports, as the real server does.
struct FieldSelector {
    let terms: [(path: [String], value: String, negate: Bool)]

    init(parsing text: String, for r: ResourceType) throws(APIError) {
        var terms: [(path: [String], value: String, negate: Bool)] = []
        for part in text.split(separator: ",") {
            let p = String(part)
            let negate = p.contains("!=")
            let pieces =
                negate
                ? p.components(separatedBy: "!=")
                : p.replacingOccurrences(of: "==", with: "=").components(separatedBy: "=")
            guard pieces.count == 2 else { throw APIError.badRequest("invalid field selector: \(p)") }
            let field = pieces[0]
            guard field == "metadata.name" || field == "metadata.namespace" || r.fieldSelectors.contains(field) else {
                throw APIError.badRequest("field label not supported: \(field)")
            }
            terms.append((field.split(separator: ".").map(String.init), pieces[1], negate))
        }
        self.terms = terms
    }

    func matches(_ object: JSON) -> Bool {
        terms.allSatisfy { term in
            let actual = object[path: term.path]?.scalarText ?? ""
            return term.negate ? actual != term.value : actual == term.value
        }
    }
}

extension String {
    func trimmingCharacters(in c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}
