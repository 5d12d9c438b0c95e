import Foundation
import NIOHTTP1
import Synchronization

/// Maps a request to a store operation and a reply.
struct Router {
    let server: TestAPIServer
    var store: ObjectStore { server.store }

    func route(_ head: HTTPRequestHead, body: Data) -> Reply {
        let components = URLComponents(string: head.uri)
        let path = (components?.path ?? head.uri).split(separator: "/").map(String.init)
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        if path.first == "testapi" { return admin(path, query) }
        record(head, body: body)
        if let code = server.faults.withLock({ f -> Int? in f.failNext.isEmpty ? nil : f.failNext.removeFirst() }) {
            let reason = code == 429 ? "TooManyRequests" : code == 503 ? "ServiceUnavailable" : "InternalError"
            let message = code == 429 ? "Too many requests, please try again later." : "injected failure"
            return .json(
                HTTPResponseStatus(statusCode: code), APIError(code: code, reason: reason, message: message).status,
                extraHeaders: code == 429 ? [("Retry-After", "1")] : [])
        }
        do {
            return try api(head, path, query, body)
        } catch {
            return .json(HTTPResponseStatus(statusCode: error.code), error.status)
        }
    }

    /// Keeps the last 200 requests (the body's first 1,000 bytes) for tests to read.
    private func record(_ head: HTTPRequestHead, body: Data) {
        server.log.withLock { log in
            log.append(
                .init(
                    method: head.method.rawValue, uri: head.uri, authorization: head.headers["Authorization"].first,
                    contentType: head.headers["Content-Type"].first,
                    body: String(decoding: body.prefix(1000), as: UTF8.self)))
            if log.count > 200 { log.removeFirst(log.count - 200) }
        }
    }

    /// A request refused as a fault rule says (recorded like any other).
    func refuse(_ head: HTTPRequestHead, body: Data, status code: Int, message: String) -> Reply {
        record(head, body: body)
        let reason =
            switch code {
            case 400: "BadRequest"
            case 403: "Forbidden"
            case 404: "NotFound"
            case 409: "Conflict"
            case 422: "Invalid"
            case 429: "TooManyRequests"
            case 503: "ServiceUnavailable"
            default: "InternalError"
            }
        return .json(
            HTTPResponseStatus(statusCode: code), APIError(code: code, reason: reason, message: message).status,
            extraHeaders: code == 429 ? [("Retry-After", "1")] : [])
    }

    private func admin(_ path: [String], _ query: [String: String]) -> Reply {
        switch path.dropFirst().first {
        case "close-watches": store.closeAllWatches()
        case "compact": store.compact()
        case "fail": server.failNext(Int(query["count"] ?? "1") ?? 1, status: Int(query["code"] ?? "500") ?? 500)
        case "latency": server.setLatency(.milliseconds(Int(query["ms"] ?? "0") ?? 0))
        default:
            return .json(.notFound, APIError(code: 404, reason: "NotFound", message: "unknown admin endpoint").status)
        }
        return .json(.ok, .object(["ok": .bool(true)]))
    }

    private func api(_ head: HTTPRequestHead, _ path: [String], _ query: [String: String], _ body: Data)
        throws(APIError) -> Reply
    {
        switch path {
        case ["version"]: return .json(.ok, Discovery.version())
        case ["healthz"], ["readyz"], ["livez"]: return .json(.ok, .string("ok"))
        case ["api"]: return .json(.ok, Discovery.coreVersions())
        case ["apis"]: return .json(.ok, Discovery.groupList(store.resources))
        case ["openapi", "v3"]: return .json(.ok, OpenAPI.root(store.resources))
        default: break
        }
        if path.count >= 4, path[0] == "openapi", path[1] == "v3" {
            let spec =
                path[2] == "api"
                ? OpenAPI.spec(store.resources, group: "", version: path[3])
                : path.count >= 5 ? OpenAPI.spec(store.resources, group: path[3], version: path[4]) : nil
            guard let spec else { throw notFoundPath() }
            return .json(.ok, spec)
        }
        var group = ""
        var version = ""
        var rest: ArraySlice<String> = []
        if path.first == "api", path.count >= 2 {
            version = path[1]
            rest = path[2...]
        } else if path.first == "apis", path.count >= 3 {
            group = path[1]
            version = path[2]
            rest = path[3...]
        } else if path.first == "apis", path.count == 2 {
            guard Discovery.groups(store.resources).contains(path[1]) else { throw notFoundPath() }
            return .json(.ok, Discovery.group(store.resources, path[1]))
        } else {
            throw notFoundPath()
        }
        if rest.isEmpty {
            guard let list = Discovery.resourceList(store.resources, group: group, version: version) else {
                throw notFoundPath()
            }
            return .json(.ok, list)
        }
        var namespace: String?
        var parts = Array(rest)
        if parts.count >= 3, parts[0] == "namespaces",
            let r = store.resource(group: group, version: version, plural: parts[2]), r.namespaced
        {
            namespace = parts[1]
            parts.removeFirst(2)
        }
        guard let r = store.resource(group: group, version: version, plural: parts[0]) else { throw notFoundPath() }
        if namespace != nil && !r.namespaced { throw notFoundPath() }
        let name = parts.count >= 2 ? parts[1] : nil
        let sub = parts.count >= 3 ? parts[2] : nil
        if parts.count > 3 || (sub != nil && sub != "status") { throw notFoundPath() }
        let isStatus = sub == "status"
        if isStatus && !r.hasStatus { throw notFoundPath() }
        let ns = r.namespaced ? namespace : nil
        let wantsTable = (head.headers["Accept"].first ?? "").contains("as=Table")

        switch head.method {
        case .GET:
            if let name {
                let obj = try store.get(r, namespace: ns, name: name)
                return .json(.ok, wantsTable ? Tables.table(for: r, objects: [obj], listMeta: .object([:])) : obj)
            }
            let labels = try query["labelSelector"].flatMap { s throws(APIError) in
                s.isEmpty ? nil : try LabelSelector(parsing: s)
            }
            let fields = try query["fieldSelector"].flatMap { s throws(APIError) in
                s.isEmpty ? nil : try FieldSelector(parsing: s, for: r)
            }
            if query["watch"] == "true" || query["watch"] == "1" {
                return .watch(
                    r, namespace: ns, labels: labels, fields: fields, rv: query["resourceVersion"],
                    bookmarks: query["allowWatchBookmarks"] == "true",
                    timeout: query["timeoutSeconds"].flatMap { Int($0) })
            }
            let list = try store.list(
                r, namespace: ns, labels: labels, fields: fields,
                limit: query["limit"].flatMap { Int($0) }, continueToken: query["continue"])
            if wantsTable {
                return .json(
                    .ok,
                    Tables.table(
                        for: r, objects: list["items"]?.arrayValue ?? [], listMeta: list["metadata"] ?? .object([:])))
            }
            return .json(.ok, list)
        case .POST:
            guard name == nil else {
                throw APIError(
                    code: 405, reason: "MethodNotAllowed",
                    message: "the server does not allow this method on the requested resource")
            }
            let obj = try store.create(
                r, namespace: ns, body: try decode(body, contentType: head.headers["Content-Type"].first))
            return .json(.created, obj)
        case .PUT:
            guard let name else {
                throw APIError(
                    code: 405, reason: "MethodNotAllowed",
                    message: "the server does not allow this method on the requested resource")
            }
            return .json(
                .ok,
                try store.update(
                    r, namespace: ns, name: name,
                    body: try decode(body, contentType: head.headers["Content-Type"].first), status: isStatus))
        case .PATCH:
            guard let name else {
                throw APIError(
                    code: 405, reason: "MethodNotAllowed",
                    message: "the server does not allow this method on the requested resource")
            }
            let type = (head.headers["Content-Type"].first ?? "").split(separator: ";").first.map(String.init) ?? ""
            return .json(
                .ok, try store.patch(r, namespace: ns, name: name, contentType: type, body: body, status: isStatus))
        case .DELETE:
            guard let name else {
                throw APIError(
                    code: 405, reason: "MethodNotAllowed",
                    message: "the server does not allow this method on the requested resource")
            }
            let options = body.isEmpty ? nil : try decode(body)
            return .json(.ok, try store.delete(r, namespace: ns, name: name, options: options))
        default:
            throw APIError(
                code: 405, reason: "MethodNotAllowed",
                message: "the server does not allow this method on the requested resource")
        }
    }

    private func decode(_ body: Data, contentType: String? = nil) throws(APIError) -> JSON {
        if contentType?.hasPrefix(KubeProtobuf.contentType) == true { return try KubeProtobuf.decode(body) }
        do { return try JSON.parse(body) } catch {
            throw .badRequest("the object provided is unrecognized (must be of type JSON): \(error)")
        }
    }

    private func notFoundPath() -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
    }
}
