import Foundation

/// The one Kubernetes API client of k8slb (watcher and actor): typed operations over libcurl.
package final class KubeClient: Sendable {
    package let config: ClusterConfig
    let transport: HTTPTransport

    package init(config: ClusterConfig, lanes: Int = 4) {
        self.config = config
        self.transport = HTTPTransport(tls: config.tls, lanes: lanes)
    }

    /// A patch body and its content type.
    package enum PatchBody: Sendable {
        case merge([UInt8])
        case json([UInt8])
        case strategicMerge([UInt8])

        var contentType: String {
            switch self {
            case .merge: "application/merge-patch+json"
            case .json: "application/json-patch+json"
            case .strategicMerge: "application/strategic-merge-patch+json"
            }
        }

        var bytes: [UInt8] {
            switch self {
            case .merge(let b), .json(let b), .strategicMerge(let b): b
            }
        }

        /// A merge patch from an Encodable value.
        package static func mergeEncoding(_ value: some Encodable) throws -> PatchBody {
            .merge(Array(try KubeClient.encoder.encode(value)))
        }

        /// A strategic merge patch from an Encodable value (lists with a merge key, such as
        /// `status.conditions` by `type`, are merged item by item instead of replaced).
        package static func strategicMergeEncoding(_ value: some Encodable) throws -> PatchBody {
            .strategicMerge(Array(try KubeClient.encoder.encode(value)))
        }
    }

    // MARK: operations

    package func get<T: KubeResource>(_ type: T.Type, namespace: String? = nil, name: String) async throws -> T {
        try await call(T.self, "GET", path(T.self, namespace, name))
    }

    package func list<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        limit: Int? = nil, continueToken: String? = nil
    ) async throws -> KubeList<T> {
        var q: [(String, String)] = []
        if let labelSelector { q.append(("labelSelector", labelSelector)) }
        if let fieldSelector { q.append(("fieldSelector", fieldSelector)) }
        if let limit { q.append(("limit", String(limit))) }
        if let continueToken { q.append(("continue", continueToken)) }
        return try await call(KubeList<T>.self, "GET", path(T.self, namespace, nil, query: q))
    }

    /// Every item, following `continue` tokens page by page; the RV is the first page's.
    package func listAll<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        pageSize: Int = 500
    ) async throws -> KubeList<T> {
        var page = try await list(
            T.self, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize)
        var all = page
        while let token = page.metadata.continue, !token.isEmpty {
            page = try await list(
                T.self, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                limit: pageSize, continueToken: token)
            all.items += page.items
        }
        all.metadata.continue = nil
        return all
    }

    package func create<T: KubeResource>(_ object: T) async throws -> T {
        try await call(
            T.self, "POST", path(T.self, object.metadata.namespace, nil), body: Array(Self.encoder.encode(object)))
    }

    /// PUT: the object's `metadata.resourceVersion` is the precondition (409 when stale).
    package func update<T: KubeResource>(_ object: T) async throws -> T {
        try await call(
            T.self, "PUT", path(T.self, object.metadata.namespace, object.metadata.name ?? ""),
            body: Array(Self.encoder.encode(object)))
    }

    /// PUT of the status subresource.
    package func updateStatus<T: KubeResource>(_ object: T) async throws -> T {
        try await call(
            T.self, "PUT", path(T.self, object.metadata.namespace, object.metadata.name ?? "", sub: "status"),
            body: Array(Self.encoder.encode(object)))
    }

    package func patch<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, name: String, _ patch: PatchBody,
        subresource: String? = nil
    ) async throws -> T {
        try await call(
            T.self, "PATCH", path(T.self, namespace, name, sub: subresource), body: patch.bytes,
            contentType: patch.contentType)
    }

    /// Deletes; with `resourceVersion`, only if the object is still at it.
    package func delete<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, name: String, resourceVersion: String? = nil
    ) async throws {
        var body: [UInt8]?
        if let resourceVersion {
            body = Array(
                #"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"\#(resourceVersion)"}}"#
                    .utf8)
        }
        _ = try await raw("DELETE", path(T.self, namespace, name), body: body)
    }

    /// A watch stream from `resourceVersion`. Ends when the server ends it (timeout, restart);
    /// an `.error` event carries 410 Gone. Cancelling the consumer closes the connection.
    package func watch<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, resourceVersion: String?, labelSelector: String? = nil,
        fieldSelector: String? = nil, allowBookmarks: Bool = true,
        timeoutSeconds: Int? = nil
    ) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        var q: [(String, String)] = [("watch", "true")]
        if let resourceVersion { q.append(("resourceVersion", resourceVersion)) }
        if allowBookmarks { q.append(("allowWatchBookmarks", "true")) }
        if let labelSelector { q.append(("labelSelector", labelSelector)) }
        if let fieldSelector { q.append(("fieldSelector", fieldSelector)) }
        if let timeoutSeconds { q.append(("timeoutSeconds", String(timeoutSeconds))) }
        let url = config.server + path(T.self, namespace, nil, query: q)
        let headers: [(String, String)]
        do { headers = try requestHeaders(contentType: nil) } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
        let parts = transport.stream(HTTPRequest(method: "GET", url: url, headers: headers, timeoutMilliseconds: 0))
        return AsyncThrowingStream { continuation in
            let task = Task {
                var decoder = WatchLineDecoder<T>()
                var status = 0
                var errorBody: [UInt8] = []
                do {
                    for try await part in parts {
                        switch part {
                        case .head(let s, _): status = s
                        case .body(let bytes):
                            if status >= 300 {
                                errorBody += bytes
                                continue
                            }
                            for event in try decoder.feed(bytes) { continuation.yield(event) }
                        case .end(let s):
                            if s >= 300 || status >= 300 {
                                throw Self.apiError(max(s, status), errorBody, headers: [:])
                            }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: plumbing

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    private func call<R: Decodable>(
        _ type: R.Type, _ method: String, _ path: String, body: [UInt8]? = nil,
        contentType: String = "application/json"
    ) async throws -> R {
        let response = try await raw(method, path, body: body, contentType: contentType)
        return try JSONDecoder().decode(R.self, from: Data(response.body))
    }

    /// Performs a request; non-2xx answers become `KubeAPIError` with the server's Status.
    package func raw(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json")
        async throws -> HTTPResponse
    {
        let request = HTTPRequest(
            method: method, url: config.server + path,
            headers: try requestHeaders(contentType: body == nil ? nil : contentType), body: body)
        let response = try await transport.send(request)
        guard (200..<300).contains(response.status) else {
            throw Self.apiError(response.status, response.body, headers: response.headers)
        }
        return response
    }

    private func requestHeaders(contentType: String?) throws -> [(String, String)] {
        var h: [(String, String)] = [("Accept", "application/json"), ("User-Agent", "k8slb/0.1")]
        if let contentType { h.append(("Content-Type", contentType)) }
        if let token = try config.token?.current(), !token.isEmpty { h.append(("Authorization", "Bearer \(token)")) }
        return h
    }

    static func apiError(_ code: Int, _ body: [UInt8], headers: [String: String]) -> KubeAPIError {
        let status = try? JSONDecoder().decode(APIStatus.self, from: Data(body))
        return KubeAPIError(
            code: code, reason: status?.reason ?? "Unknown",
            message: status?.message ?? String(decoding: body.prefix(300), as: UTF8.self),
            retryAfterSeconds: headers["retry-after"].flatMap { Int($0) })
    }

    func path<T: KubeResource>(
        _ type: T.Type, _ namespace: String?, _ name: String?, sub: String? = nil,
        query: [(String, String)] = []
    ) -> String {
        var p = T.apiVersion.contains("/") ? "/apis/\(T.apiVersion)" : "/api/\(T.apiVersion)"
        if T.namespaced, let namespace { p += "/namespaces/\(Self.escape(namespace))" }
        p += "/\(T.plural)"
        if let name { p += "/\(Self.escape(name))" }
        if let sub { p += "/\(sub)" }
        if !query.isEmpty { p += "?" + query.map { "\($0.0)=\(Self.escape($0.1))" }.joined(separator: "&") }
        return p
    }

    static func escape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

/// Splits a watch body into lines and decodes each into a `WatchEvent`.
struct WatchLineDecoder<T: KubeResource> {
    private var buffer: [UInt8] = []

    private struct Envelope: Decodable {
        let type: String
        let object: T?
        let status: APIStatus?
        let bookmarkRV: String?

        enum CodingKeys: String, CodingKey { case type, object }
        struct Meta: Decodable { let metadata: ObjectMeta? }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decode(String.self, forKey: .type)
            switch type {
            case "ERROR":
                status = try c.decode(APIStatus.self, forKey: .object)
                object = nil
                bookmarkRV = nil
            case "BOOKMARK":
                bookmarkRV = try c.decode(Meta.self, forKey: .object).metadata?.resourceVersion
                object = nil
                status = nil
            default:
                object = try c.decode(T.self, forKey: .object)
                status = nil
                bookmarkRV = nil
            }
        }
    }

    mutating func feed(_ bytes: [UInt8]) throws -> [WatchEvent<T>] {
        buffer += bytes
        var events: [WatchEvent<T>] = []
        while let nl = buffer.firstIndex(of: 0x0A) {
            let line = Array(buffer[..<nl])
            buffer.removeSubrange(...nl)
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
            let env = try JSONDecoder().decode(Envelope.self, from: Data(line))
            switch env.type {
            case "ADDED": events.append(.added(env.object!))
            case "MODIFIED": events.append(.modified(env.object!))
            case "DELETED": events.append(.deleted(env.object!))
            case "BOOKMARK": events.append(.bookmark(resourceVersion: env.bookmarkRV ?? ""))
            case "ERROR":
                let s = env.status
                events.append(
                    .error(
                        KubeAPIError(code: s?.code ?? 500, reason: s?.reason ?? "Unknown", message: s?.message ?? "")))
            default: break
            }
        }
        return events
    }
}
