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
}
