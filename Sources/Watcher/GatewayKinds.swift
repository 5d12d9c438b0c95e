import Core
import KubeClient

/// The Gateway API kinds the watcher reads (and whose status it writes), as `CustomResource`s of
/// Core's spec and status values.
enum GatewayClassKind: CustomResourceKind {
    static let apiVersion = GatewayAPI.apiVersion, kind = "GatewayClass", plural = "gatewayclasses", namespaced = false
}
enum GatewayKind: CustomResourceKind {
    static let apiVersion = GatewayAPI.apiVersion, kind = "Gateway", plural = "gateways", namespaced = true
}
enum HTTPRouteKind: CustomResourceKind {
    static let apiVersion = GatewayAPI.apiVersion, kind = "HTTPRoute", plural = "httproutes", namespaced = true
}
enum TLSRouteKind: CustomResourceKind {
    static let apiVersion = GatewayAPI.apiVersion, kind = "TLSRoute", plural = "tlsroutes", namespaced = true
}
enum TCPRouteKind: CustomResourceKind {
    static let apiVersion = GatewayAPI.apiVersion, kind = "TCPRoute", plural = "tcproutes", namespaced = true
}
enum UDPRouteKind: CustomResourceKind {
    static let apiVersion = GatewayAPI.apiVersion, kind = "UDPRoute", plural = "udproutes", namespaced = true
}
enum ReferenceGrantKind: CustomResourceKind {
    static let apiVersion = "gateway.networking.k8s.io/v1beta1", kind = "ReferenceGrant", plural = "referencegrants"
    static let namespaced = true
}

typealias GatewayClassObject = CustomResource<GatewayClassKind, GatewayClassSpec, GatewayClassStatus>
typealias GatewayObject = CustomResource<GatewayKind, GatewaySpec, GatewayStatus>
typealias HTTPRouteObject = CustomResource<HTTPRouteKind, HTTPRouteSpec, RouteStatus>
typealias TLSRouteObject = CustomResource<TLSRouteKind, L4RouteSpec, RouteStatus>
typealias TCPRouteObject = CustomResource<TCPRouteKind, L4RouteSpec, RouteStatus>
typealias UDPRouteObject = CustomResource<UDPRouteKind, L4RouteSpec, RouteStatus>
typealias ReferenceGrantObject = CustomResource<ReferenceGrantKind, ReferenceGrantSpec, NoStatus>

/// The informers of Gateway API kinds (run only with `--gateway-api`).
struct GatewayInformers: Sendable {
    let classes: Informer<GatewayClassObject>
    let gateways: Informer<GatewayObject>
    let httpRoutes: Informer<HTTPRouteObject>
    let tlsRoutes: Informer<TLSRouteObject>
    let tcpRoutes: Informer<TCPRouteObject>
    let udpRoutes: Informer<UDPRouteObject>
    let grants: Informer<ReferenceGrantObject>
    /// `kubernetes.io/tls` Secrets (certificateRefs must name one that exists).
    let secrets: Informer<Secret>
    let namespaces: Informer<Namespace>
    /// The Gateway CRD: its bundle-version annotation (GatewayClass SupportedVersion).
    let definition: Informer<CustomResourceDefinition>

    init(client: KubeClient) {
        classes = Informer(client: client)
        gateways = Informer(client: client)
        httpRoutes = Informer(client: client)
        tlsRoutes = Informer(client: client)
        tcpRoutes = Informer(client: client)
        udpRoutes = Informer(client: client)
        grants = Informer(client: client)
        secrets = Informer(client: client, fieldSelector: "type=kubernetes.io/tls")
        namespaces = Informer(client: client)
        definition = Informer(client: client, fieldSelector: "metadata.name=gateways.gateway.networking.k8s.io")
    }

    var hasSynced: Bool {
        get async {
            guard await classes.hasSynced, await gateways.hasSynced, await httpRoutes.hasSynced,
                await tlsRoutes.hasSynced,
                await tcpRoutes.hasSynced, await udpRoutes.hasSynced, await grants.hasSynced, await secrets.hasSynced,
                await namespaces.hasSynced, await definition.hasSynced
            else { return false }
            return true
        }
    }

    /// Runs every informer; each change calls `changed`.
    func run(_ changed: @escaping @Sendable () async -> Void) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await classes.run { _ in await changed() } }
            group.addTask { await gateways.run { _ in await changed() } }
            group.addTask { await httpRoutes.run { _ in await changed() } }
            group.addTask { await tlsRoutes.run { _ in await changed() } }
            group.addTask { await tcpRoutes.run { _ in await changed() } }
            group.addTask { await udpRoutes.run { _ in await changed() } }
            group.addTask { await grants.run { _ in await changed() } }
            group.addTask { await secrets.run { _ in await changed() } }
            group.addTask { await namespaces.run { _ in await changed() } }
            group.addTask { await definition.run { _ in await changed() } }
        }
    }
}
