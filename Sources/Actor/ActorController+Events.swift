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
