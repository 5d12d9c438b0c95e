import Foundation

/// The JSONPath subset CRD printer columns use: `.a.b`, `[N]`, `[*]` and filters
/// `[?(@.field=="value")]` (kubectl's `jsonPath` on `additionalPrinterColumns`).
struct JSONPath: Sendable {
    enum Step: Sendable {
        case key(String)
        case index(Int)
        case all
        case filter(field: String, value: String)
    }

    let steps: [Step]

    init(_ text: String) {
        var steps: [Step] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                if !name.isEmpty { steps.append(.key(String(name))) }
                rest = rest.dropFirst(name.count)
            } else if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { break }
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                if inner == "*" {
                    steps.append(.all)
                } else if let n = Int(inner) {
                    steps.append(.index(n))
                } else if inner.hasPrefix("?(@."), inner.hasSuffix(")"), let eq = inner.range(of: "==") {
                    let field = inner[inner.index(inner.startIndex, offsetBy: 4)..<eq.lowerBound]
                    var value = inner[eq.upperBound..<inner.index(before: inner.endIndex)]
                    value = value.drop { $0 == "\"" || $0 == "'" }
                    while value.last == "\"" || value.last == "'" { value = value.dropLast() }
                    steps.append(.filter(field: String(field), value: String(value)))
                }
                rest = rest[rest.index(after: close)...]
            } else {
                let name = rest.prefix { $0 != "." && $0 != "[" }
                steps.append(.key(String(name)))
                rest = rest.dropFirst(name.count)
            }
        }
        self.steps = steps
    }

    /// Every value the path reaches in `json`.
    func evaluate(_ json: JSON) -> [JSON] {
        var current = [json]
        for step in steps {
            var next: [JSON] = []
            for value in current {
                switch step {
                case .key(let k): if let v = value[k] { next.append(v) }
                case .index(let i):
                    if let a = value.arrayValue, a.indices.contains(i) { next.append(a[i]) }
                case .all: next += value.arrayValue ?? []
                case .filter(let field, let want):
                    next += (value.arrayValue ?? []).filter {
                        $0[path: field.split(separator: ".").map(String.init)]?.scalarText == want
                    }
                }
            }
            current = next
        }
        return current
    }
}
