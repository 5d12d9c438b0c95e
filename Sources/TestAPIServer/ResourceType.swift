/// One kind the test API server serves.
package struct ResourceType: Sendable, Hashable {
    package let group: String
    package let version: String
    package let plural: String
    package let kind: String
    package let namespaced: Bool
    package let hasStatus: Bool
    package let shortNames: [String]
    /// Field selector paths this kind supports (besides metadata.name/namespace).
    package let fieldSelectors: [String]
    /// Strategic-merge list keys by dotted path.
    package let mergeKeys: [String: String]
    /// A CustomResourceDefinition's `additionalPrinterColumns` (`kubectl get` prints them).
    package var printerColumns: [PrinterColumn] = []
    /// `metadata.generation` counts spec changes (Services and custom resources).
    package var tracksGeneration = false
    /// Defined by a CustomResourceDefinition (served while it exists).
    package var custom = false

    /// One printer column: its header and the JSONPath of its cells.
    package struct PrinterColumn: Sendable, Hashable {
        package var name: String
        package var type: String
        package var jsonPath: String
        package var priority: Int
    }

    package init(
        group: String, version: String, plural: String, kind: String, namespaced: Bool, hasStatus: Bool,
        shortNames: [String], fieldSelectors: [String], mergeKeys: [String: String]
    ) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.hasStatus = hasStatus
        self.shortNames = shortNames
        self.fieldSelectors = fieldSelectors
        self.mergeKeys = mergeKeys
    }

    package var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// Where its objects are stored: every served version of a kind sees the same objects (as the
    /// real server with conversion strategy None), under its own apiVersion.
    package var id: String { "\(group)/\(plural)" }
    package var singular: String { kind.lowercased() }

    package static let services: ResourceType = {
        var r = ResourceType(
            group: "", version: "v1", plural: "services", kind: "Service", namespaced: true, hasStatus: true,
            shortNames: ["svc"], fieldSelectors: ["spec.type", "spec.clusterIP"],
            mergeKeys: ["spec.ports": "port", "metadata.ownerReferences": "uid", "status.conditions": "type"])
        r.tracksGeneration = true
        return r
    }()
    package static let configMaps = ResourceType(
        group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true, hasStatus: false,
        shortNames: ["cm"], fieldSelectors: [], mergeKeys: ["metadata.ownerReferences": "uid"])
    package static let secrets = ResourceType(
        group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true, hasStatus: false,
        shortNames: [], fieldSelectors: ["type"], mergeKeys: ["metadata.ownerReferences": "uid"])
    package static let endpoints = ResourceType(
        group: "", version: "v1", plural: "endpoints", kind: "Endpoints", namespaced: true, hasStatus: false,
        shortNames: ["ep"], fieldSelectors: [], mergeKeys: [:])
    package static let nodes = ResourceType(
        group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false, hasStatus: true,
        shortNames: ["no"], fieldSelectors: ["spec.unschedulable"],
        mergeKeys: ["status.conditions": "type", "status.addresses": "type"])
    package static let events = ResourceType(
        group: "", version: "v1", plural: "events", kind: "Event", namespaced: true, hasStatus: false,
        shortNames: ["ev"],
        fieldSelectors: [
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        ],
        mergeKeys: [:])
    package static let namespaces = ResourceType(
        group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, hasStatus: true,
        shortNames: ["ns"], fieldSelectors: ["status.phase"], mergeKeys: [:])
    package static let endpointSlices = ResourceType(
        group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice", namespaced: true,
        hasStatus: false, shortNames: [], fieldSelectors: ["addressType"], mergeKeys: [:])
    /// Pods are stored and listed like any object (no scheduling, no kubelet): enough for
    /// `kubectl apply --dry-run` of a generated pod and for clients that read pods.
    package static let pods = ResourceType(
        group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, hasStatus: true,
        shortNames: ["po"], fieldSelectors: ["spec.nodeName", "status.phase"], mergeKeys: [:])
    package static let leases = ResourceType(
        group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true,
        hasStatus: false, shortNames: [], fieldSelectors: [], mergeKeys: [:])

    package static let customResourceDefinitions = ResourceType(
        group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition", namespaced: false, hasStatus: true, shortNames: ["crd", "crds"],
        fieldSelectors: [], mergeKeys: ["status.conditions": "type"])

    /// The built-in kinds (CustomResourceDefinitions add more at run time: `ObjectStore.resources`).
    package static let all: [ResourceType] = [
        services, configMaps, secrets, endpoints, nodes, events, namespaces, endpointSlices, leases, pods,
        customResourceDefinitions,
    ]
}
