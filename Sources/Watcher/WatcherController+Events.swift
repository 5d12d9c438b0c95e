import Core
import Foundation
import KubeClient
import Logging

/// Events: reasons from the one table (`EventReason`), each problem reported once per object.
extension WatcherController {
    /// A Warning Event, unless the same problem was already reported for this Service (and
    /// reason); a reconcile in progress remembers that it still has it.
    func report(_ svc: ServiceSummary, _ reason: EventReason, _ message: String) async {
        reconcileReasons.insert(reason)
        guard reported.isNews(.service(svc.serviceKey), reason, message) else { return }
        logger.warning("\(reason.rawValue)", metadata: ["k8s.service": "\(svc.key)", "message": "\(message)"])
        await event(svc, reason, message)
    }

    func event(_ svc: ServiceSummary, _ reason: EventReason, _ message: String) async {
        let ref = ObjectReference(
            apiVersion: "v1", kind: "Service", namespace: svc.metadata.namespace, name: svc.metadata.name,
            uid: svc.metadata.uid)
        await record(
            ref, namespace: svc.metadata.namespace ?? "default", name: svc.metadata.name ?? "service", reason, message)
    }

    func eventOn(configMap cm: ConfigMap, _ reason: EventReason, _ message: String) async {
        let ref = ObjectReference(
            apiVersion: "v1", kind: "ConfigMap", namespace: cm.metadata.namespace, name: cm.metadata.name,
            uid: cm.metadata.uid)
        await record(
            ref, namespace: cm.metadata.namespace ?? settings.namespace, name: cm.metadata.name ?? "config", reason,
            message)
    }

    /// Hands the Event to `eventLoop` (never waits for the API).
    private func record(
        _ ref: ObjectReference, namespace: String, name: String, _ reason: EventReason, _ message: String
    ) async {
        var object = ref
        object.namespace = namespace
        object.name = name
        let event = Event.about(
            object, type: reason.type, reason: reason.rawValue, message: message, component: settings.component)
        eventsContinuation.yield(event)
    }

    /// Writes the Events handed over, in order, on a task of its own: a reconcile never waits
    /// for one (an Event is news, not state: one the API refuses is logged and dropped).
    nonisolated func eventLoop() async {
        for await event in events {
            do { _ = try await client.create(event) } catch {
                logger.warning(
                    "cannot record event", metadata: ["k8s.reason": "\(event.reason ?? "")", "error": "\(error)"])
            }
        }
    }
}

extension KubeClient.PatchBody {
    init(_ value: some Encodable) throws { self = try .mergeEncoding(value) }
}
