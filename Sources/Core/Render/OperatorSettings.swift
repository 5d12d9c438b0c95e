/// The settings k8slb renders into HAProxy's `global`/`defaults` and nginx's main and `http`
/// contexts, against the operator's raw lines for the same sections.
///
/// The rule (docs/config.md, "Raw lines"): **the operator's line wins**. A rendered setting the
/// operator gives too is left out, so the operator's value takes effect and the daemon never sees
/// it twice (HAProxy alerts on a repeated `maxconn` and keeps the first; nginx refuses a repeated
/// `worker_processes`). Settings that may appear several times (`log`, `stats socket`,
/// `default-server`, `include`, `error_log`) are added to ours, not replacing them. The few
/// directives the actor itself depends on are left out when the config is parsed, with a warning
/// naming the line's path and the reason (`haproxyReserved`, `nginxReserved`).
package enum OperatorSettings {
    /// HAProxy's setting key of a line: the directive, with the second word for two-word settings;
    /// `no option x` → `option x`.
    package static func haproxyKey(_ text: String) -> String {
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })[...]
        if words.first == "no" { words = words.dropFirst() }
        guard let first = words.first else { return "" }
        if ["timeout", "option", "stats"].contains(first), words.count > 1 {
            return first + " " + words[words.startIndex + 1]
        }
        return String(first)
    }

    /// nginx's setting key of a line: its directive.
    package static func nginxKey(_ text: String) -> String {
        String(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" }).first ?? "")
    }

    /// The keys of `lines`, for the renderers' "unless the operator set it" test.
    package static func haproxyKeys(_ lines: [RawConfigLine]) -> Set<String> { Set(lines.map { haproxyKey($0.text) }) }
    package static func nginxKeys(_ lines: [RawConfigLine]) -> Set<String> { Set(lines.map { nginxKey($0.text) }) }

    /// Directives ignored (with a warning) in `haproxy.global`, and why.
    package static let haproxyReserved: [String: String] = [
        "daemon": "the actor runs HAProxy in the foreground and supervises it ('daemon' would detach it)",
        "master-worker": "the actor starts HAProxy in master-worker mode itself (-W -S)",
    ]

    /// Directives ignored (with a warning) in `nginx.global`, and why.
    package static let nginxReserved: [String: String] = [
        "pid": "the actor signals nginx through the pid file it renders",
        "daemon": "the actor runs nginx in the foreground ('-g daemon off;') and supervises it",
        "master_process": "the actor sets it on the command line",
    ]
}
