package import Foundation
package import Logging

/// Log lines on stderr like swift-log's StreamLogHandler, but with RFC 3339 timestamps to the
/// millisecond (UTC): a failover investigated from two nodes' logs can be ordered. Metadata keys
/// are dotted by domain: `lb.` for the load balancer's own (`lb.vip`, `lb.vips`, `lb.pool`,
/// `lb.group`, `lb.node`, `lb.interface`), `k8s.` for Kubernetes objects (`k8s.service`
/// namespace/name, `k8s.configmap`, `k8s.key`, `k8s.reason`); plain words for the rest (`error`,
/// `code`, `count`).
///   2026-12-01T21:44:12.345Z info k8slb-actor: lb.vip=192.0.2.50 [Actor] VIP active on this node
package struct K8slbLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String

    package init(label: String) { self.label = label }

    /// Installs this handler for every Logger of the process.
    package static func bootstrap() {
        LoggingSystem.bootstrap { K8slbLogHandler(label: $0) }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        let meta =
            merged.isEmpty
            ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(Self.timestamp(Date())) \(event.level) \(label):\(meta) [\(event.source)] \(event.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// `2026-12-01T21:44:12.345Z`.
    package static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = Int((date.timeIntervalSince1970 - Double(t)) * 1000)
        func pad(_ v: Int32, _ n: Int = 2) -> String {
            String(repeating: "0", count: max(0, n - String(v).count)) + String(v)
        }
        return
            "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(Int32(ms), 3))Z"
    }
}

/// `--log-level` of both executables (one default: info).
package enum LogLevel: String, CaseIterable, Sendable {
    case trace, debug, info, notice, warning, error, critical
    package var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}
