/// An error answered by the API server, with its HTTP code and the `Status` it sent.
package struct KubeAPIError: Error, Sendable, CustomStringConvertible, Equatable {
    package let code: Int
    /// `Status.reason` (`NotFound`, `Conflict`, `AlreadyExists`, `Expired`, `Invalid`, ...).
    package let reason: String
    package let message: String
    /// From `Retry-After` (429, 503).
    package let retryAfterSeconds: Int?

    package init(code: Int, reason: String, message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    package var description: String { "\(code) \(reason): \(message)" }

    package var isNotFound: Bool { code == 404 }
    package var isConflict: Bool { code == 409 && reason != "AlreadyExists" }
    package var isAlreadyExists: Bool { code == 409 && reason == "AlreadyExists" }
    package var isGone: Bool { code == 410 }
}

/// How a caller should react to a failure (MetalLB's SyncState; client-go's error helpers).
package enum FailureClass: Sendable, Equatable {
    /// Network trouble, 429, 5xx: retry with backoff.
    case transient
    /// 409 on a stale resourceVersion: re-read and retry now.
    case conflict
    /// 410: the watch window moved on: relist.
    case gone
    /// Anything else (4xx: bad request, forbidden, invalid): retrying the same request won't help.
    case permanent

    package init(_ error: any Error) {
        switch error {
        case is TransportError: self = .transient
        case let e as KubeAPIError:
            if e.code == 429 || e.code >= 500 {
                self = .transient
            } else if e.isGone {
                self = .gone
            } else if e.isConflict {
                self = .conflict
            } else {
                self = .permanent
            }
        default: self = .permanent
        }
    }
}

extension FailureClass {
    /// For metrics and logs: `transient`, `conflict`, `gone`, `permanent`.
    package var label: String {
        switch self {
        case .transient: "transient"
        case .conflict: "conflict"
        case .gone: "gone"
        case .permanent: "permanent"
        }
    }
}
