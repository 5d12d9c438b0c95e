import Foundation

extension Event {
    /// An Event about `object` (named `<name>.<random>`, in the object's namespace, message cut to
    /// 1 KiB, stamped now): what both executables record.
    package static func about(
        _ object: ObjectReference, type: String, reason: String, message: String, component: String
    ) -> Event {
        let suffix = String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
        return Event(
            metadata: ObjectMeta(name: "\(object.name ?? "object").\(suffix)", namespace: object.namespace),
            involvedObject: object,
            reason: reason, message: String(message.prefix(1024)), type: type, component: component,
            timestamp: Timestamp.rfc3339(Date()))
    }
}
