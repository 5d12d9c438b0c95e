/// Gateway API (gateway.networking.k8s.io, standard channel v1.6) specs and statuses, as far as
/// k8slb reads and writes them: plain values (the API client wraps them with their metadata as
/// `CustomResource`), which `GatewayPlan` parses into typed decisions. Unknown fields are ignored
/// on reading; k8slb writes only statuses.
package enum GatewayAPI {
    package static let group = "gateway.networking.k8s.io"
    package static let apiVersion = "gateway.networking.k8s.io/v1"
    /// The GatewayClass `controllerName` that is k8slb's.
    package static let controllerName = "k8slb.io/gateway-controller"
}

/// A `metav1.Condition` as the Gateway API statuses carry it.
package struct APICondition: Codable, Sendable, Equatable {
    package var type: String
    package var status: String
    package var reason: String
    package var message: String
    package var observedGeneration: Int64?
    package var lastTransitionTime: String

    package init(
        type: String, status: String, reason: String, message: String, observedGeneration: Int64?,
        lastTransitionTime: String
    ) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
    }
}

package struct GatewayClassSpec: Codable, Sendable, Equatable {
    package var controllerName: String
    package var description: String?
    package init(controllerName: String, description: String? = nil) {
        self.controllerName = controllerName
        self.description = description
    }
}

package struct GatewayClassStatus: Codable, Sendable, Equatable {
    package var conditions: [APICondition]?
    package init(conditions: [APICondition]? = nil) { self.conditions = conditions }
}

/// A reference from a Gateway or route to another object (certificates, backends, parents).
package struct ObjectRef: Codable, Sendable, Equatable, Hashable {
    package var group: String?
    package var kind: String?
    package var name: String
    package var namespace: String?
    package var port: Int?
    package var weight: Int?
    package var sectionName: String?

    package init(
        group: String? = nil, kind: String? = nil, name: String, namespace: String? = nil, port: Int? = nil,
        weight: Int? = nil, sectionName: String? = nil
    ) {
        self.group = group
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.port = port
        self.weight = weight
        self.sectionName = sectionName
    }
}

package struct GatewaySpec: Codable, Sendable, Equatable {
    package var gatewayClassName: String
    package var listeners: [Listener]
    package var addresses: [Address]?
    package var infrastructure: Infrastructure?

    package init(
        gatewayClassName: String, listeners: [Listener], addresses: [Address]? = nil,
        infrastructure: Infrastructure? = nil
    ) {
        self.gatewayClassName = gatewayClassName
        self.listeners = listeners
        self.addresses = addresses
        self.infrastructure = infrastructure
    }

    package struct Address: Codable, Sendable, Equatable {
        package var type: String?
        package var value: String
        package init(type: String? = "IPAddress", value: String) {
            self.type = type
            self.value = value
        }
    }

    package struct Infrastructure: Codable, Sendable, Equatable {
        package var annotations: [String: String]?
        package var labels: [String: String]?
        package init(annotations: [String: String]? = nil) { self.annotations = annotations }
    }

    package struct Listener: Codable, Sendable, Equatable {
        package var name: String
        package var hostname: String?
        package var port: Int
        package var `protocol`: String
        package var tls: TLS?
        package var allowedRoutes: AllowedRoutes?

        package init(
            name: String, hostname: String? = nil, port: Int, protocol: String, tls: TLS? = nil,
            allowedRoutes: AllowedRoutes? = nil
        ) {
            self.name = name
            self.hostname = hostname
            self.port = port
            self.protocol = `protocol`
            self.tls = tls
            self.allowedRoutes = allowedRoutes
        }
    }

    package struct TLS: Codable, Sendable, Equatable {
        package var mode: String?
        package var certificateRefs: [ObjectRef]?
        package init(mode: String? = nil, certificateRefs: [ObjectRef]? = nil) {
            self.mode = mode
            self.certificateRefs = certificateRefs
        }
    }

    package struct AllowedRoutes: Codable, Sendable, Equatable {
        package var namespaces: Namespaces?
        package var kinds: [RouteKind]?
        package init(namespaces: Namespaces? = nil, kinds: [RouteKind]? = nil) {
            self.namespaces = namespaces
            self.kinds = kinds
        }
    }

    package struct Namespaces: Codable, Sendable, Equatable {
        package var from: String?
        package var selector: LabelSelectorSpec?
        package init(from: String? = nil, selector: LabelSelectorSpec? = nil) {
            self.from = from
            self.selector = selector
        }
    }
}

package struct GatewayStatus: Codable, Sendable, Equatable {
    package var addresses: [GatewaySpec.Address]?
    package var conditions: [APICondition]?
    package var listeners: [ListenerStatus]?
    package init(
        addresses: [GatewaySpec.Address]? = nil, conditions: [APICondition]? = nil, listeners: [ListenerStatus]? = nil
    ) {
        self.addresses = addresses
        self.conditions = conditions
        self.listeners = listeners
    }

    package struct ListenerStatus: Codable, Sendable, Equatable {
        package var name: String
        package var supportedKinds: [RouteKind]
        package var attachedRoutes: Int
        package var conditions: [APICondition]
        package init(name: String, supportedKinds: [RouteKind], attachedRoutes: Int, conditions: [APICondition]) {
            self.name = name
            self.supportedKinds = supportedKinds
            self.attachedRoutes = attachedRoutes
            self.conditions = conditions
        }
    }
}

/// `RouteGroupKind`.
package struct RouteKind: Codable, Sendable, Equatable, Hashable {
    package var group: String?
    package var kind: String
    package init(group: String? = GatewayAPI.group, kind: String) {
        self.group = group
        self.kind = kind
    }
}

/// `metav1.LabelSelector` (matchLabels and matchExpressions).
package struct LabelSelectorSpec: Codable, Sendable, Equatable {
    package var matchLabels: [String: String]?
    package var matchExpressions: [Expression]?

    package struct Expression: Codable, Sendable, Equatable {
        package var key: String
        package var `operator`: String
        package var values: [String]?
    }

    package init(matchLabels: [String: String]? = nil) { self.matchLabels = matchLabels }
}

/// A route's status: one entry per parent (Gateway, listener) it names.
package struct RouteStatus: Codable, Sendable, Equatable {
    package var parents: [RouteParentStatus]
    package init(parents: [RouteParentStatus]) { self.parents = parents }
}

package struct RouteParentStatus: Codable, Sendable, Equatable {
    package var parentRef: ObjectRef
    package var controllerName: String
    package var conditions: [APICondition]
    package init(parentRef: ObjectRef, controllerName: String, conditions: [APICondition]) {
        self.parentRef = parentRef
        self.controllerName = controllerName
        self.conditions = conditions
    }
}

package struct HTTPRouteSpec: Codable, Sendable, Equatable {
    package var parentRefs: [ObjectRef]?
    package var hostnames: [String]?
    package var rules: [Rule]?
    package init(parentRefs: [ObjectRef]? = nil, hostnames: [String]? = nil, rules: [Rule]? = nil) {
        self.parentRefs = parentRefs
        self.hostnames = hostnames
        self.rules = rules
    }

    package struct Rule: Codable, Sendable, Equatable {
        package var name: String?
        package var matches: [Match]?
        package var filters: [Filter]?
        package var backendRefs: [ObjectRef]?
        package init(matches: [Match]? = nil, filters: [Filter]? = nil, backendRefs: [ObjectRef]? = nil) {
            self.matches = matches
            self.filters = filters
            self.backendRefs = backendRefs
        }
    }

    package struct Match: Codable, Sendable, Equatable {
        package var path: PathMatch?
        package var headers: [ValueMatch]?
        package var queryParams: [ValueMatch]?
        package var method: String?
        package init(
            path: PathMatch? = nil, headers: [ValueMatch]? = nil, queryParams: [ValueMatch]? = nil,
            method: String? = nil
        ) {
            self.path = path
            self.headers = headers
            self.queryParams = queryParams
            self.method = method
        }
    }

    package struct PathMatch: Codable, Sendable, Equatable {
        package var type: String?
        package var value: String?
        package init(type: String? = "PathPrefix", value: String?) {
            self.type = type
            self.value = value
        }
    }

    package struct ValueMatch: Codable, Sendable, Equatable {
        package var type: String?
        package var name: String
        package var value: String
        package init(type: String? = "Exact", name: String, value: String) {
            self.type = type
            self.name = name
            self.value = value
        }
    }

    package struct Filter: Codable, Sendable, Equatable {
        package var type: String
        package var requestHeaderModifier: HeaderModifier?
        package var responseHeaderModifier: HeaderModifier?
        package var requestRedirect: Redirect?
        package var urlRewrite: Rewrite?
        package init(
            type: String, requestHeaderModifier: HeaderModifier? = nil, responseHeaderModifier: HeaderModifier? = nil,
            requestRedirect: Redirect? = nil, urlRewrite: Rewrite? = nil
        ) {
            self.type = type
            self.requestHeaderModifier = requestHeaderModifier
            self.responseHeaderModifier = responseHeaderModifier
            self.requestRedirect = requestRedirect
            self.urlRewrite = urlRewrite
        }
    }

    package struct HeaderModifier: Codable, Sendable, Equatable {
        package var set: [Header]?
        package var add: [Header]?
        package var remove: [String]?
        package init(set: [Header]? = nil, add: [Header]? = nil, remove: [String]? = nil) {
            self.set = set
            self.add = add
            self.remove = remove
        }
    }

    package struct Header: Codable, Sendable, Equatable {
        package var name: String
        package var value: String
        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    package struct PathModifier: Codable, Sendable, Equatable {
        package var type: String
        package var replaceFullPath: String?
        package var replacePrefixMatch: String?
        package init(type: String, replaceFullPath: String? = nil, replacePrefixMatch: String? = nil) {
            self.type = type
            self.replaceFullPath = replaceFullPath
            self.replacePrefixMatch = replacePrefixMatch
        }
    }

    package struct Redirect: Codable, Sendable, Equatable {
        package var scheme: String?
        package var hostname: String?
        package var path: PathModifier?
        package var port: Int?
        package var statusCode: Int?
        package init(
            scheme: String? = nil, hostname: String? = nil, path: PathModifier? = nil, port: Int? = nil,
            statusCode: Int? = nil
        ) {
            self.scheme = scheme
            self.hostname = hostname
            self.path = path
            self.port = port
            self.statusCode = statusCode
        }
    }

    package struct Rewrite: Codable, Sendable, Equatable {
        package var hostname: String?
        package var path: PathModifier?
        package init(hostname: String? = nil, path: PathModifier? = nil) {
            self.hostname = hostname
            self.path = path
        }
    }
}

/// TLSRoute, TCPRoute and UDPRoute: parents, (TLS) host names, and rules of backends.
package struct L4RouteSpec: Codable, Sendable, Equatable {
    package var parentRefs: [ObjectRef]?
    package var hostnames: [String]?
    package var rules: [Rule]?
    package init(parentRefs: [ObjectRef]? = nil, hostnames: [String]? = nil, rules: [Rule]? = nil) {
        self.parentRefs = parentRefs
        self.hostnames = hostnames
        self.rules = rules
    }

    package struct Rule: Codable, Sendable, Equatable {
        package var name: String?
        package var backendRefs: [ObjectRef]?
        package init(backendRefs: [ObjectRef]? = nil) { self.backendRefs = backendRefs }
    }
}

package struct ReferenceGrantSpec: Codable, Sendable, Equatable {
    package var from: [From]
    package var to: [To]
    package init(from: [From], to: [To]) {
        self.from = from
        self.to = to
    }

    package struct From: Codable, Sendable, Equatable {
        package var group: String
        package var kind: String
        package var namespace: String
        package init(group: String = GatewayAPI.group, kind: String, namespace: String) {
            self.group = group
            self.kind = kind
            self.namespace = namespace
        }
    }

    package struct To: Codable, Sendable, Equatable {
        package var group: String
        package var kind: String
        package var name: String?
        package init(group: String = "", kind: String, name: String? = nil) {
            self.group = group
            self.kind = kind
            self.name = name
        }
    }
}
