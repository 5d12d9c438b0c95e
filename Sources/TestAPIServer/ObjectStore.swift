import Foundation
import Synchronization

/// The in-memory state of the test API server: objects of every kind under one global
/// resourceVersion counter, a bounded window of past events for watch replay, and live watchers.
package final class ObjectStore: Sendable {
    /// A live watch: receives encoded watch events, and is told when the server ends it.
    struct Watcher: Sendable {
        let resource: ResourceType
        let namespace: String?
        let labels: LabelSelector?
        let fields: FieldSelector?
        let send: @Sendable (JSON) -> Void
        let close: @Sendable () -> Void
    }

    struct Event: Sendable {
        let rv: Int64
        let resource: String
        let type: String
        let object: JSON
        let old: JSON?
    }

    struct State: Sendable {
        var rv: Int64 = 1
        var objects: [String: [String: JSON]] = [:]
        var window: [Event] = []
        /// Watches from a resourceVersion below this get 410 Gone.
        var compactedRV: Int64 = 0
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var services = ServiceRules()
        /// The kinds served: the built-ins and those CustomResourceDefinitions define.
        var resources = ResourceType.all
    }

    let state = Mutex(State())
    /// How many past events watch can replay.
    let windowSize: Int

    package init(
        windowSize: Int = 1000,
        namespaces: [String] = ["default", "kube-system", "kube-public", "kube-node-lease", "k8slb-system"]
    ) {
        self.windowSize = windowSize
        for ns in namespaces {
            _ = try? create(.namespaces, namespace: nil, body: .object(["metadata": .object(["name": .string(ns)])]))
        }
    }

    /// The current global resourceVersion.
    package var resourceVersion: Int64 { state.withLock { $0.rv } }

    // MARK: reads

    func get(_ r: ResourceType, namespace: String?, name: String) throws(APIError) -> JSON {
        let key = Self.key(namespace, name)
        guard let obj = state.withLock({ $0.objects[r.id]?[key] }) else { throw .notFound(r, name) }
        return Self.view(obj, r)
    }

    func list(
        _ r: ResourceType, namespace: String?, labels: LabelSelector?, fields: FieldSelector?,
        limit: Int?, continueToken: String?
    ) throws(APIError) -> JSON {
        let (rv, all) = state.withLock { s in (s.rv, s.objects[r.id] ?? [:]) }
        var start = ""
        var listRV = rv
        if let token = continueToken, !token.isEmpty {
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
                let sep = text.firstIndex(of: "|"), let tokenRV = Int64(text[..<sep])
            else {
                throw .badRequest("continue key is not valid: illegal base64 data")
            }
            start = String(text[text.index(after: sep)...])
            listRV = tokenRV
        }
        var items = all.filter { key, obj in
            (namespace == nil || key.hasPrefix(namespace! + "/")) && (start.isEmpty || key > start)
                && Self.matches(obj, labels, fields)
        }.sorted { $0.key < $1.key }
        var meta: [String: JSON] = ["resourceVersion": .string(String(listRV))]
        if let limit, limit > 0, items.count > limit {
            let remaining = items.count - limit
            items = Array(items.prefix(limit))
            meta["continue"] = .string(Data("\(listRV)|\(items.last!.key)".utf8).base64EncodedString())
            meta["remainingItemCount"] = .int(Int64(remaining))
        }
        return .object([
            "kind": .string(r.kind + "List"), "apiVersion": .string(r.apiVersion),
            "metadata": .object(meta), "items": .array(items.map { Self.view($0.value, r) }),
        ])
    }

    // MARK: writes

    /// As the real server: `type` defaults to Opaque, `stringData` is folded into `data` (base64),
    /// `data` values must be base64, and a kubernetes.io/tls Secret needs tls.crt and tls.key.
    static func prepareSecret(_ obj: inout JSON, name: String) throws(APIError) {
        var data = obj["data"]?.objectValue ?? [:]
        for (k, v) in obj["stringData"]?.objectValue ?? [:] {
            data[k] = .string(Data((v.stringValue ?? "").utf8).base64EncodedString())
        }
        obj["stringData"] = nil
        var errors: [FieldError] = []
        for (k, v) in data where Data(base64Encoded: v.stringValue ?? "") == nil {
            errors.append(.invalid("data[\(k)]", v, "illegal base64 data"))
        }
        let type = obj["type"]?.stringValue ?? ""
        obj["type"] = .string(type.isEmpty ? "Opaque" : type)
        if type == "kubernetes.io/tls" {
            for key in ["tls.crt", "tls.key"] where data[key] == nil { errors.append(.required("data[\(key)]", "")) }
        }
        if !data.isEmpty { obj["data"] = .object(data) }
        if !errors.isEmpty { throw .invalid(.secrets, name, errors) }
    }

    func create(_ r: ResourceType, namespace: String?, body: JSON) throws(APIError) -> JSON {
        guard case .object = body else { throw .badRequest("the body of the request was not an object") }
        var obj = body
        try Self.checkKind(obj, r)
        obj["kind"] = .string(r.kind)
        obj["apiVersion"] = .string(r.apiVersion)
        var meta = obj["metadata"]?.objectValue ?? [:]
        if let bodyNS = meta["namespace"]?.stringValue, let namespace, bodyNS != namespace, !bodyNS.isEmpty {
            throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        var name = meta["name"]?.stringValue ?? ""
        if name.isEmpty, let prefix = meta["generateName"]?.stringValue, !prefix.isEmpty {
            name = prefix + String(UUID().uuidString.lowercased().prefix(5))
        }
        if name.isEmpty {
            throw .invalid(r, "", [.required("metadata.name", "name or generateName is required")])
        }
        if let problem = Self.nameProblem(name, r) {
            throw .invalid(r, name, [.invalid("metadata.name", .string(name), problem)])
        }
        meta["name"] = .string(name)
        if r.namespaced { meta["namespace"] = .string(namespace ?? "default") } else { meta["namespace"] = nil }
        return try state.withLock { s throws(APIError) -> JSON in
            if r.namespaced, s.objects[ResourceType.namespaces.id]?[Self.key(nil, namespace ?? "default")] == nil {
                throw .notFound(.namespaces, namespace ?? "default")
            }
            let key = Self.key(r.namespaced ? namespace : nil, name)
            if s.objects[r.id]?[key] != nil { throw .alreadyExists(r, name) }
            meta["uid"] = .string(UUID().uuidString.lowercased())
            meta["creationTimestamp"] = .string(Self.timestamp())
            meta["resourceVersion"] = nil
            meta["deletionTimestamp"] = nil
            if r.tracksGeneration { meta["generation"] = .int(1) }
            obj["metadata"] = .object(meta)
            if r.hasStatus && r.custom { obj["status"] = nil }
            if r == .services {
                obj["status"] = nil
                let errors = s.services.prepare(&obj, old: nil)
                if !errors.isEmpty { throw .invalid(r, name, errors) }
            }
            if r == .secrets { try Self.prepareSecret(&obj, name: name) }
            if r == .namespaces {
                obj["spec"] = .object(["finalizers": .array([.string("kubernetes")])])
                obj["status"] = .object(["phase": .string("Active")])
            }
            if r == .customResourceDefinitions { try Self.prepareDefinition(&obj, name: name, existing: s.resources) }
            return Self.view(Self.commit(&s, r, key: key, type: "ADDED", obj, old: nil, windowSize: windowSize), r)
        }
    }

    /// PUT, of the object or its status subresource.
    func update(_ r: ResourceType, namespace: String?, name: String, body: JSON, status: Bool) throws(APIError) -> JSON
    {
        guard case .object = body else { throw .badRequest("the body of the request was not an object") }
        try Self.checkKind(body, r)
        if let bodyName = body[path: ["metadata", "name"]]?.stringValue, bodyName != name {
            throw .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        return try state.withLock { s throws(APIError) -> JSON in
            let key = Self.key(r.namespaced ? namespace : nil, name)
            guard let old = s.objects[r.id]?[key] else { throw .notFound(r, name) }
            if let rv = body[path: ["metadata", "resourceVersion"]]?.stringValue, !rv.isEmpty,
                rv != old[path: ["metadata", "resourceVersion"]]?.stringValue
            {
                throw .conflict(r, name)
            }
            return Self.view(
                try Self.write(
                    &s, r, key: key, name: name, old: old, new: body, status: status, windowSize: windowSize), r)
        }
    }

    /// PATCH (merge, JSON, strategic merge), of the object or its status subresource.
    func patch(_ r: ResourceType, namespace: String?, name: String, contentType: String, body: Data, status: Bool)
        throws(APIError) -> JSON
    {
        let patch: JSON
        do { patch = try JSON.parse(body) } catch { throw .badRequest("error decoding patch: \(error)") }
        return try state.withLock { s throws(APIError) -> JSON in
            let key = Self.key(r.namespaced ? namespace : nil, name)
            guard let old = s.objects[r.id]?[key] else { throw .notFound(r, name) }
            let patched: JSON
            switch contentType {
            case "application/merge-patch+json": patched = Patch.merge(old, patch)
            case "application/strategic-merge-patch+json": patched = Patch.strategic(old, patch, mergeKeys: r.mergeKeys)
            case "application/json-patch+json":
                switch Result(catching: { () throws(Patch.PatchError) -> JSON in try Patch.jsonPatch(old, patch) }) {
                case .success(let p): patched = p
                case .failure(let e): throw APIError(code: 422, reason: "Invalid", message: e.message)
                }
            default:
                throw APIError(
                    code: 415, reason: "UnsupportedMediaType",
                    message:
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
                )
            }
            if let rv = patched[path: ["metadata", "resourceVersion"]]?.stringValue,
                rv != old[path: ["metadata", "resourceVersion"]]?.stringValue
            {
                throw .conflict(r, name)
            }
            return Self.view(
                try Self.write(
                    &s, r, key: key, name: name, old: old, new: patched, status: status, windowSize: windowSize),
                r)
        }
    }

    func delete(_ r: ResourceType, namespace: String?, name: String, options: JSON?) throws(APIError) -> JSON {
        try state.withLock { s throws(APIError) -> JSON in
            let key = Self.key(r.namespaced ? namespace : nil, name)
            guard let old = s.objects[r.id]?[key] else { throw .notFound(r, name) }
            if let rv = options?[path: ["preconditions", "resourceVersion"]]?.stringValue,
                rv != old[path: ["metadata", "resourceVersion"]]?.stringValue
            {
                throw .conflict(r, name)
            }
            if let uid = options?[path: ["preconditions", "uid"]]?.stringValue,
                uid != old[path: ["metadata", "uid"]]?.stringValue
            {
                throw APIError(
                    code: 409, reason: "Conflict",
                    message:
                        "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old[path: ["metadata", "uid"]]?.stringValue ?? "")"
                )
            }
            if r == .services { s.services.release(old["spec"]) }
            if r == .namespaces {
                for other in Self.storageKinds(s.resources) where other.namespaced {
                    for (k, obj) in s.objects[other.id] ?? [:] where k.hasPrefix(name + "/") {
                        _ = Self.commit(&s, other, key: k, type: "DELETED", obj, old: obj, windowSize: windowSize)
                    }
                }
            }
            return Self.view(Self.commit(&s, r, key: key, type: "DELETED", old, old: old, windowSize: windowSize), r)
        }
    }

    // MARK: watch

    /// Registers a watch. `resourceVersion` nil/""/"0" sends the current objects as ADDED first;
    /// N replays the window after N, or fails with 410 when N was compacted away.
    func watch(
        _ r: ResourceType, namespace: String?, labels: LabelSelector?, fields: FieldSelector?, resourceVersion: String?,
        send: @escaping @Sendable (JSON) -> Void, close: @escaping @Sendable () -> Void
    ) throws(APIError) -> Int {
        try state.withLock { s throws(APIError) -> Int in
            let watcher = Watcher(
                resource: r, namespace: namespace, labels: labels, fields: fields, send: send, close: close)
            if let text = resourceVersion, !text.isEmpty, text != "0" {
                guard let from = Int64(text) else { throw .badRequest("invalid resource version \(text)") }
                if from < s.compactedRV {
                    throw .expired("too old resource version: \(from) (\(s.compactedRV + 1))")
                }
                for event in s.window where event.rv > from && event.resource == r.id {
                    if let line = Self.eventFor(watcher, event) { send(line) }
                }
            } else {
                for (key, obj) in (s.objects[r.id] ?? [:]).sorted(by: { $0.key < $1.key })
                where (namespace == nil || key.hasPrefix(namespace! + "/")) && Self.matches(obj, labels, fields) {
                    send(.object(["type": .string("ADDED"), "object": Self.view(obj, r)]))
                }
            }
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = watcher
            return id
        }
    }

    func stopWatch(_ id: Int) {
        _ = state.withLock { $0.watchers.removeValue(forKey: id) }
    }

    /// Sends a BOOKMARK at the current resourceVersion to watch `id`, under the lock so it can
    /// never overtake an event of a lower resourceVersion.
    func sendBookmark(_ id: Int) {
        state.withLock { s in
            guard let w = s.watchers[id] else { return }
            w.send(
                .object([
                    "type": .string("BOOKMARK"),
                    "object": .object([
                        "kind": .string(w.resource.kind), "apiVersion": .string(w.resource.apiVersion),
                        "metadata": .object(["resourceVersion": .string(String(s.rv))]),
                    ]),
                ]))
        }
    }

    // MARK: fault injection

    /// Ends every open watch stream (clients must resume from their last resourceVersion).
    package func closeAllWatches() {
        let watchers = state.withLock { s in
            let w = s.watchers
            s.watchers = [:]
            return w
        }
        for w in watchers.values { w.close() }
    }

    /// Forgets the event window: watches from any earlier resourceVersion get 410 Gone.
    package func compact() {
        state.withLock { s in
            s.compactedRV = s.rv
            s.window = []
        }
    }

    package var openWatchCount: Int { state.withLock { $0.watchers.count } }

    // MARK: internals

    private static func write(
        _ s: inout State, _ r: ResourceType, key: String, name: String, old: JSON, new: JSON,
        status: Bool, windowSize: Int
    ) throws(APIError) -> JSON {
        var obj: JSON
        if status {
            guard r.hasStatus else {
                throw APIError(
                    code: 404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            obj = old
            obj["status"] = new["status"]
            obj["apiVersion"] = old["apiVersion"]
            if r == .services {
                let errors = ServiceRules.prepareStatus(&obj)
                if !errors.isEmpty { throw .invalid(r, name, errors) }
            }
        } else {
            obj = new
            obj["kind"] = .string(r.kind)
            obj["apiVersion"] = old["apiVersion"]
            var meta = obj["metadata"]?.objectValue ?? [:]
            for k in ["uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp"] {
                meta[k] = old[path: ["metadata", k]]
            }
            obj["metadata"] = .object(meta)
            if r.hasStatus { obj["status"] = old["status"] }
            if r == .secrets { try prepareSecret(&obj, name: name) }
            if r == .services {
                let errors = s.services.prepare(&obj, old: old)
                if !errors.isEmpty { throw .invalid(r, name, errors) }
            }
            if r.tracksGeneration, Self.specChanged(obj, old), let g = old[path: ["metadata", "generation"]]?.intValue {
                obj[path: ["metadata", "generation"]] = .int(g + 1)
            }
        }
        obj[path: ["metadata", "resourceVersion"]] = old[path: ["metadata", "resourceVersion"]]
        if obj == old { return old }  // no-op: no new resourceVersion, no event
        return commit(&s, r, key: key, type: "MODIFIED", obj, old: old, windowSize: windowSize)
    }

    /// Stamps a new resourceVersion, stores (or removes) the object, records and fans out the event.
    static func commit(
        _ s: inout State, _ r: ResourceType, key: String, type: String, _ object: JSON, old: JSON?,
        windowSize: Int
    ) -> JSON {
        s.rv += 1
        var obj = object
        obj[path: ["metadata", "resourceVersion"]] = .string(String(s.rv))
        if type == "DELETED" { s.objects[r.id]?[key] = nil } else { s.objects[r.id, default: [:]][key] = obj }
        let event = Event(rv: s.rv, resource: r.id, type: type, object: obj, old: old)
        defer {
            if r.id == ResourceType.customResourceDefinitions.id {
                definitionChanged(&s, obj, deleted: type == "DELETED", windowSize: windowSize)
            }
        }
        s.window.append(event)
        if s.window.count > windowSize {
            let drop = s.window.count - windowSize
            s.compactedRV = s.window[drop - 1].rv
            s.window.removeFirst(drop)
        }
        for w in s.watchers.values where w.resource.id == r.id {
            if let line = eventFor(w, event) { w.send(line) }
        }
        return obj
    }

    /// The event a watcher sees: selector transitions become ADDED/DELETED, as in the real server.
    private static func eventFor(_ w: Watcher, _ e: Event) -> JSON? {
        let ns = e.object[path: ["metadata", "namespace"]]?.stringValue
        if let want = w.namespace, ns != want { return nil }
        let now = matches(e.object, w.labels, w.fields)
        let before = e.old.map { matches($0, w.labels, w.fields) } ?? false
        var type = e.type
        switch e.type {
        case "MODIFIED":
            if now && !before { type = "ADDED" } else if !now && before { type = "DELETED" } else if !now { return nil }
        default:
            if !now { return nil }
        }
        return .object(["type": .string(type), "object": view(e.object, w.resource)])
    }

    static func matches(_ obj: JSON, _ labels: LabelSelector?, _ fields: FieldSelector?) -> Bool {
        let l = (obj[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        return (labels?.matches(l) ?? true) && (fields?.matches(obj) ?? true)
    }

    static func key(_ namespace: String?, _ name: String) -> String { "\(namespace ?? "")/\(name)" }

    private static func checkKind(_ obj: JSON, _ r: ResourceType) throws(APIError) {
        if let kind = obj["kind"]?.stringValue, !kind.isEmpty, kind != r.kind {
            throw .badRequest(
                "the API version in the data (\(obj["apiVersion"]?.stringValue ?? "")) does not match the expected API version (\(r.apiVersion))"
            )
        }
    }

    /// DNS-1035 label for Services, DNS-1123 subdomain otherwise.
    private static func nameProblem(_ name: String, _ r: ResourceType) -> String? {
        let allowed = name.allSatisfy {
            ($0.isLowercase && $0.isASCII && $0.isLetter) || ($0.isNumber && $0.isASCII) || $0 == "-"
                || (r != .services && $0 == ".")
        }
        if r == .services {
            if name.count > 63 || !allowed || !(name.first?.isLetter ?? false) || name.hasSuffix("-") {
                return
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            }
        } else if name.count > 253 || !allowed || name.hasPrefix("-") || name.hasSuffix("-") || name.hasPrefix(".") {
            return
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        }
        return nil
    }

    static func timestamp(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
