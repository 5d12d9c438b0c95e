/// One finding of config validation: where (a JSON path such as `pools.external.range`) and what.
package struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    /// Whether the config can be used despite the issue.
    package enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    package let severity: Severity
    /// Dotted JSON path of the offending value; empty for the document itself.
    package let path: String
    /// The problem, quoting the offending input where there is one.
    package let message: String

    package init(_ severity: Severity, _ path: String, _ message: String) {
        self.severity = severity
        self.path = path
        self.message = message
    }

    /// `path: message` (or just the message for the document root).
    package var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The config was rejected: every error found, in document order, plus the warnings.
package struct ConfigValidationError: Error, Sendable, CustomStringConvertible {
    package let errors: [ConfigIssue]
    package let warnings: [ConfigIssue]

    package var description: String { errors.map(\.description).joined(separator: "\n") }
}
