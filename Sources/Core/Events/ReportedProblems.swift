/// What a controller has told the cluster about its objects' problems, so each problem is
/// reported once: keyed by object and reason (not ad-hoc strings), and forgotten when the problem
/// goes away (`settle`: a reconcile of the object that no longer finds it) or the object does
/// (`forget`). A problem fixed and then made again is reported again.
package struct ReportedProblems: Sendable {
    /// What an Event is about.
    package enum Object: Sendable, Hashable, CustomStringConvertible {
        case service(ServiceKey)
        case configMap(namespace: String, name: String)

        package var description: String {
            switch self {
            case .service(let k): "service/\(k)"
            case .configMap(let ns, let name): "configmap/\(ns)/\(name)"
            }
        }
    }

    package struct Key: Sendable, Hashable {
        package var object: Object
        package var reason: EventReason
    }

    private var messages: [Key: String] = [:]

    package init() {}

    /// True when `message` is news for `object` and `reason` (not the message last reported for
    /// them); it is recorded as reported.
    package mutating func isNews(_ object: Object, _ reason: EventReason, _ message: String) -> Bool {
        let key = Key(object: object, reason: reason)
        guard messages[key] != message else { return false }
        messages[key] = message
        return true
    }

    /// Of the reasons in `among`, the object has `current` now: the others went away and are
    /// forgotten (reasons outside `among` are decided elsewhere and kept).
    package mutating func settle(_ object: Object, current: Set<EventReason>, among: Set<EventReason>) {
        for key in messages.keys
        where key.object == object && among.contains(key.reason) && !current.contains(key.reason) {
            messages[key] = nil
        }
    }

    /// Forgets one problem of `object` (it went away).
    package mutating func clear(_ object: Object, _ reason: EventReason) {
        messages[Key(object: object, reason: reason)] = nil
    }

    /// The object is gone: forget all it had.
    package mutating func forget(_ object: Object) {
        for key in messages.keys where key.object == object { messages[key] = nil }
    }

    /// What is remembered (tests, metrics).
    package var count: Int { messages.count }
    package func message(_ object: Object, _ reason: EventReason) -> String? {
        messages[Key(object: object, reason: reason)]
    }
}
