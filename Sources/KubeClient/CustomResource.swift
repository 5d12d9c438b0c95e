/// What a custom resource kind is: its apiVersion, kind, plural and scope (a marker type per kind;
/// `CustomResource<Kind, Spec, Status>` is then a `KubeResource` of it).
package protocol CustomResourceKind: Sendable {
    static var apiVersion: String { get }
    static var kind: String { get }
    static var plural: String { get }
    static var namespaced: Bool { get }
}

/// An object of a custom kind (Gateway API's, say): its metadata, spec and status. The spec and
/// status are plain values defined where they are used.
package struct CustomResource<
    Kind: CustomResourceKind, Spec: Codable & Sendable & Equatable, Status: Codable & Sendable & Equatable
>:
    KubeResource, Equatable
{
    package static var apiVersion: String { Kind.apiVersion }
    package static var kind: String { Kind.kind }
    package static var plural: String { Kind.plural }
    package static var namespaced: Bool { Kind.namespaced }

    package var apiVersion: String? = Kind.apiVersion
    package var kind: String? = Kind.kind
    package var metadata: ObjectMeta
    package var spec: Spec
    package var status: Status?

    package init(metadata: ObjectMeta, spec: Spec, status: Status? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    package static func == (a: Self, b: Self) -> Bool {
        a.metadata == b.metadata && a.spec == b.spec && a.status == b.status
    }
}

/// A status-less kind's placeholder status.
package struct NoStatus: Codable, Sendable, Equatable {}
