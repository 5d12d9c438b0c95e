/// What a custom resource kind is: its apiVersion, kind, plural and scope. The spec type of the
/// kind conforms, so `CustomResource<Spec, Status>` is a `KubeResource` for it.
package protocol CustomResourceKind: Codable, Sendable, Equatable {
    static var apiVersion: String { get }
    static var kind: String { get }
    static var plural: String { get }
    static var namespaced: Bool { get }
}

/// An object of a custom kind (Gateway API's, say): its metadata, spec and status. The spec and
/// status are plain values defined where they are used.
package struct CustomResource<Spec: CustomResourceKind, Status: Codable & Sendable & Equatable>: KubeResource, Equatable
{
    package static var apiVersion: String { Spec.apiVersion }
    package static var kind: String { Spec.kind }
    package static var plural: String { Spec.plural }
    package static var namespaced: Bool { Spec.namespaced }

    package var apiVersion: String? = Spec.apiVersion
    package var kind: String? = Spec.kind
    package var metadata: ObjectMeta
    package var spec: Spec
    package var status: Status?

    package init(metadata: ObjectMeta, spec: Spec, status: Status? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// A status-less kind's placeholder status.
package struct NoStatus: Codable, Sendable, Equatable {}
