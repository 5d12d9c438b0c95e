import Core
import Foundation
import KubeClient
import Logging

extension ActorController {
    /// An Event on Service `key` (reason and type from the one table).
    func event(_ key: ServiceKey, _ reason: EventReason, _ message: String) async {
        let uid = try? await client.get(Service.self, namespace: key.namespace, name: key.name).metadata.uid
        let ref = ObjectReference(apiVersion: "v1", kind: "Service", namespace: key.namespace, name: key.name, uid: uid)
        let event = Event.about(ref, type: reason.type, reason: reason.rawValue, message: message, component: settings.component)
        do { _ = try await client.create(event) } catch {
            logger.warning("cannot record event", metadata: ["reason": "\(reason.rawValue)", "error": "\(error)"])
        }
    }
}

extension ActorController {
    /// Services the proxy does not route on a VIP:port shared by host name: a Warning Event once
    /// per reason; the Service that has the name keeps serving.
    func reportUnrouted(_ unrouted: [ServiceKey: [String]]) async {
        for (key, reasons) in unrouted.sorted(by: { $0.key < $1.key }) {
            let message = reasons.joined(separator: "; ")
            guard unroutedReported[key] != message else { continue }
            unroutedReported[key] = message
            logger.warning("Service not routed", metadata: ["service": "\(key)", "reason": "\(message)"])
            await event(key, .notRouted, message)
        }
        for key in unroutedReported.keys where unrouted[key] == nil { unroutedReported[key] = nil }
    }
}
