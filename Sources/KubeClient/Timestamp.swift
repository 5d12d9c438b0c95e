package import Foundation

/// Kubernetes time formats, rendered without DateFormatter (which loads ICU: megabytes of
/// resident memory for two fixed formats).
package enum Timestamp {
    /// RFC 3339 in UTC, seconds precision: `2006-01-02T15:04:05Z` (metav1.Time).
    package static func rfc3339(_ date: Date) -> String { format(date, micro: false) }

    /// MicroTime: `2006-01-02T15:04:05.000000Z` (Lease renewTime, Event eventTime).
    package static func micro(_ date: Date) -> String { format(date, micro: true) }

    private static func format(_ date: Date, micro: Bool) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out =
            "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if micro {
            let us = Int32(((interval - interval.rounded(.down)) * 1_000_000).rounded(.down))
            out += "." + pad(min(us, 999_999), 6)
        }
        return out + "Z"
    }
}
