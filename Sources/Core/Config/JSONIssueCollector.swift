/// What the config parsers share (`UserConfig.parse`, `ControlPlaneConfig.parse`): issues
/// collected with their JSON path, and the checks of a value's JSON shape that record one.
protocol JSONIssueCollector {
    var issues: [ConfigIssue] { get set }
}

extension JSONIssueCollector {
    mutating func error(_ path: String, _ message: String) { issues.append(ConfigIssue(.error, path, message)) }
    mutating func warn(_ path: String, _ message: String) { issues.append(ConfigIssue(.warning, path, message)) }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func unknownKey(_ path: String, _ key: String, known: [String]) {
        warn(Self.join(path, key), "unknown key ignored (known keys: \(known.joined(separator: ", ")))")
    }

    mutating func object(_ value: JSONValue, _ path: String) -> [(key: String, value: JSONValue)]? {
        guard case .object(let members) = value else {
            error(path, "expected an object, found \(value.typeName)")
            return nil
        }
        return members
    }

    mutating func string(_ value: JSONValue, _ path: String) -> String? {
        guard case .string(let s) = value else {
            error(path, "expected a string, found \(value.typeName)")
            return nil
        }
        return s
    }

    /// A whole number in `range`.
    mutating func integer(_ value: JSONValue, _ path: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .number(let text) = value, let n = Int(text), range.contains(n) else {
            error(path, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return n
    }

    /// A string parsed into its type by `parse` (`ClusterName.init(parsing:)`, …); the parser's
    /// words on failure.
    mutating func parsed<T>(
        _ value: JSONValue, _ path: String, _ parse: (String) throws(AddressParseError) -> T
    ) -> T? {
        guard let text = string(value, path) else { return nil }
        do { return try parse(text) } catch {
            self.error(path, error.description)
            return nil
        }
    }
}
