package import Foundation

/// Standard object metadata (the fields we use; others are dropped on decode).
package struct ObjectMeta: Codable, Sendable, Equatable {
    package var name: String?
    package var generateName: String?
    package var namespace: String?
    package var uid: String?
    package var resourceVersion: String?
    package var generation: Int64?
    package var creationTimestamp: String?
    package var deletionTimestamp: String?
    package var labels: [String: String]?
    package var annotations: [String: String]?

    package init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

/// A kind the client can address.
package protocol KubeResource: Codable, Sendable {
    static var apiVersion: String { get }
    static var kind: String { get }
    static var plural: String { get }
    static var namespaced: Bool { get }
    var metadata: ObjectMeta { get set }
}

extension KubeResource {
    /// `namespace/name` (or `name` for cluster-scoped kinds): the work-queue key.
    package var key: String {
        Self.namespaced ? "\(metadata.namespace ?? "")/\(metadata.name ?? "")" : (metadata.name ?? "")
    }
}

/// `int-or-string` (targetPort).
package enum IntOrString: Codable, Sendable, Equatable, Hashable {
    case int(Int)
    case string(String)

    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }
}

/// A status condition.
package struct Condition: Codable, Sendable, Equatable {
    package var type: String
    package var status: String
    package var reason: String?
    package var message: String?
    package var lastTransitionTime: String?
    package var observedGeneration: Int64?

    package init(
        type: String, status: String, reason: String? = nil, message: String? = nil,
        lastTransitionTime: String? = nil, observedGeneration: Int64? = nil
    ) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastTransitionTime = lastTransitionTime
        self.observedGeneration = observedGeneration
    }
}

/// core/v1 Service.
package struct Service: KubeResource, Equatable {
    package static let apiVersion = "v1", kind = "Service", plural = "services", namespaced = true
    package var apiVersion: String? = Service.apiVersion
    package var kind: String? = Service.kind
    package var metadata: ObjectMeta
    package var spec: Spec?
    package var status: Status?

    package init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    package struct Spec: Codable, Sendable, Equatable {
        package var type: String?
        package var ports: [Port]?
        package var selector: [String: String]?
        package var clusterIP: String?
        package var clusterIPs: [String]?
        package var externalIPs: [String]?
        package var loadBalancerIP: String?
        package var loadBalancerClass: String?
        package var loadBalancerSourceRanges: [String]?
        package var ipFamilies: [String]?
        package var ipFamilyPolicy: String?
        package var externalTrafficPolicy: String?
        package var allocateLoadBalancerNodePorts: Bool?
        package var sessionAffinity: String?
        package var sessionAffinityConfig: SessionAffinityConfig?
        package var healthCheckNodePort: Int?

        package init(type: String? = nil, ports: [Port]? = nil, selector: [String: String]? = nil) {
            self.type = type
            self.ports = ports
            self.selector = selector
        }
    }

    /// `spec.sessionAffinityConfig`.
    package struct SessionAffinityConfig: Codable, Sendable, Equatable {
        package var clientIP: ClientIP?
        package struct ClientIP: Codable, Sendable, Equatable {
            package var timeoutSeconds: Int?
            package init(timeoutSeconds: Int?) { self.timeoutSeconds = timeoutSeconds }
        }
        package init(clientIP: ClientIP?) { self.clientIP = clientIP }
    }

    package struct Port: Codable, Sendable, Equatable {
        package var name: String?
        package var `protocol`: String?
        package var port: Int
        package var targetPort: IntOrString?
        package var nodePort: Int?

        package init(
            name: String? = nil, protocol: String? = nil, port: Int, targetPort: IntOrString? = nil,
            nodePort: Int? = nil
        ) {
            self.name = name
            self.protocol = `protocol`
            self.port = port
            self.targetPort = targetPort
            self.nodePort = nodePort
        }
    }

    package struct Status: Codable, Sendable, Equatable {
        package var loadBalancer: LoadBalancerStatus?
        package var conditions: [Condition]?

        package init(loadBalancer: LoadBalancerStatus? = nil, conditions: [Condition]? = nil) {
            self.loadBalancer = loadBalancer
            self.conditions = conditions
        }
    }

    package struct LoadBalancerStatus: Codable, Sendable, Equatable {
        package var ingress: [Ingress]?
        package init(ingress: [Ingress]? = nil) { self.ingress = ingress }
    }

    package struct Ingress: Codable, Sendable, Equatable {
        package var ip: String?
        package var hostname: String?
        /// `VIP` or `Proxy` (Kubernetes 1.30+).
        package var ipMode: String?

        package init(ip: String? = nil, hostname: String? = nil, ipMode: String? = nil) {
            self.ip = ip
            self.hostname = hostname
            self.ipMode = ipMode
        }
    }
}

/// discovery.k8s.io/v1 EndpointSlice.
package struct EndpointSlice: KubeResource, Equatable {
    package static let apiVersion = "discovery.k8s.io/v1", kind = "EndpointSlice", plural = "endpointslices",
        namespaced = true
    package var apiVersion: String? = EndpointSlice.apiVersion
    package var kind: String? = EndpointSlice.kind
    package var metadata: ObjectMeta
    package var addressType: String?
    package var endpoints: [Endpoint]?
    package var ports: [EndpointPort]?

    package init(metadata: ObjectMeta, addressType: String, endpoints: [Endpoint], ports: [EndpointPort]) {
        self.metadata = metadata
        self.addressType = addressType
        self.endpoints = endpoints
        self.ports = ports
    }

    package struct Endpoint: Codable, Sendable, Equatable {
        package var addresses: [String]
        package var conditions: Conditions?
        package var nodeName: String?

        package init(addresses: [String], ready: Bool? = true, nodeName: String? = nil) {
            self.addresses = addresses
            self.conditions = Conditions(ready: ready)
            self.nodeName = nodeName
        }
    }

    package struct Conditions: Codable, Sendable, Equatable {
        package var ready: Bool?
        package var serving: Bool?
        package var terminating: Bool?
        package init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
            self.ready = ready
            self.serving = serving
            self.terminating = terminating
        }
    }

    package struct EndpointPort: Codable, Sendable, Equatable {
        package var name: String?
        package var `protocol`: String?
        package var port: Int?
        package init(name: String? = nil, protocol: String? = nil, port: Int? = nil) {
            self.name = name
            self.protocol = `protocol`
            self.port = port
        }
    }
}

/// core/v1 ConfigMap.
package struct ConfigMap: KubeResource, Equatable {
    package static let apiVersion = "v1", kind = "ConfigMap", plural = "configmaps", namespaced = true
    package var apiVersion: String? = ConfigMap.apiVersion
    package var kind: String? = ConfigMap.kind
    package var metadata: ObjectMeta
    package var data: [String: String]?

    package init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

/// core/v1 Secret (the actor reads `kubernetes.io/tls` ones for `loadbalancer/tls-secret`).
package struct Secret: KubeResource, Equatable {
    package static let apiVersion = "v1", kind = "Secret", plural = "secrets", namespaced = true
    package var apiVersion: String? = Secret.apiVersion
    package var kind: String? = Secret.kind
    package var metadata: ObjectMeta
    package var type: String?
    /// Values, base64 in JSON (decoded by `Data`'s Codable).
    package var data: [String: Data]?

    package init(metadata: ObjectMeta, type: String? = nil, data: [String: Data]? = nil) {
        self.metadata = metadata
        self.type = type
        self.data = data
    }
}

/// core/v1 Node.
package struct Node: KubeResource, Equatable {
    package static let apiVersion = "v1", kind = "Node", plural = "nodes", namespaced = false
    package var apiVersion: String? = Node.apiVersion
    package var kind: String? = Node.kind
    package var metadata: ObjectMeta
    package var spec: Spec?
    package var status: Status?

    package init(metadata: ObjectMeta, addresses: [Address] = []) {
        self.metadata = metadata
        self.status = Status(addresses: addresses, conditions: nil)
    }

    package struct Spec: Codable, Sendable, Equatable { package var unschedulable: Bool? }
    package struct Status: Codable, Sendable, Equatable {
        package var addresses: [Address]?
        package var conditions: [Condition]?
    }
    package struct Address: Codable, Sendable, Equatable {
        package var type: String
        package var address: String
        package init(type: String, address: String) {
            self.type = type
            self.address = address
        }
    }
}

/// core/v1 Event.
package struct Event: KubeResource, Equatable {
    package static let apiVersion = "v1", kind = "Event", plural = "events", namespaced = true
    package var apiVersion: String? = Event.apiVersion
    package var kind: String? = Event.kind
    package var metadata: ObjectMeta
    package var involvedObject: ObjectReference
    package var reason: String?
    package var message: String?
    /// `Normal` or `Warning`.
    package var type: String?
    package var source: Source?
    package var firstTimestamp: String?
    package var lastTimestamp: String?
    package var count: Int?
    package var reportingComponent: String?
    package var reportingInstance: String?

    package init(
        metadata: ObjectMeta, involvedObject: ObjectReference, reason: String, message: String, type: String,
        component: String, timestamp: String
    ) {
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
        self.source = Source(component: component)
        self.firstTimestamp = timestamp
        self.lastTimestamp = timestamp
        self.count = 1
        self.reportingComponent = component
    }

    package struct Source: Codable, Sendable, Equatable {
        package var component: String?
        package var host: String?
        package init(component: String? = nil, host: String? = nil) {
            self.component = component
            self.host = host
        }
    }
}

/// A reference to an object (Event.involvedObject).
package struct ObjectReference: Codable, Sendable, Equatable {
    package var apiVersion: String?
    package var kind: String?
    package var namespace: String?
    package var name: String?
    package var uid: String?
    package var resourceVersion: String?

    package init(
        apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil,
        uid: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }
}

/// coordination.k8s.io/v1 Lease.
package struct Lease: KubeResource, Equatable {
    package static let apiVersion = "coordination.k8s.io/v1", kind = "Lease", plural = "leases", namespaced = true
    package var apiVersion: String? = Lease.apiVersion
    package var kind: String? = Lease.kind
    package var metadata: ObjectMeta
    package var spec: Spec?

    package init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }

    package struct Spec: Codable, Sendable, Equatable {
        package var holderIdentity: String?
        package var leaseDurationSeconds: Int?
        /// MicroTime: `2006-01-02T15:04:05.000000Z`.
        package var acquireTime: String?
        package var renewTime: String?
        package var leaseTransitions: Int?
        package init(
            holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil,
            renewTime: String? = nil, leaseTransitions: Int? = nil
        ) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
            self.leaseTransitions = leaseTransitions
        }
    }
}

/// meta/v1 Status (errors, ERROR watch events).
package struct APIStatus: Codable, Sendable, Equatable {
    package var status: String?
    package var message: String?
    package var reason: String?
    package var code: Int?
}

/// A list response.
package struct KubeList<T: KubeResource>: Codable, Sendable {
    package var metadata: ListMeta
    package var items: [T]

    package struct ListMeta: Codable, Sendable, Equatable {
        package var resourceVersion: String?
        package var `continue`: String?
        package var remainingItemCount: Int?
    }
}

/// One event of a watch stream.
package enum WatchEvent<T: KubeResource>: Sendable {
    case added(T)
    case modified(T)
    case deleted(T)
    /// Only `metadata.resourceVersion` is meaningful.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with a Status (410 Gone: relist).
    case error(KubeAPIError)
}

/// A Namespace: its labels (Gateway listeners may admit routes by namespace selector).
package struct Namespace: KubeResource, Equatable {
    package static let apiVersion = "v1", kind = "Namespace", plural = "namespaces", namespaced = false
    package var apiVersion: String? = Namespace.apiVersion
    package var kind: String? = Namespace.kind
    package var metadata: ObjectMeta

    package init(metadata: ObjectMeta) { self.metadata = metadata }
}

/// A CustomResourceDefinition, as far as its metadata (the Gateway API bundle version annotation).
package struct CustomResourceDefinition: KubeResource, Equatable {
    package static let apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition"
    package static let plural = "customresourcedefinitions", namespaced = false
    package var apiVersion: String? = CustomResourceDefinition.apiVersion
    package var kind: String? = CustomResourceDefinition.kind
    package var metadata: ObjectMeta

    package init(metadata: ObjectMeta) { self.metadata = metadata }
}
