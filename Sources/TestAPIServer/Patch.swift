import Foundation

/// The patch formats `kubectl` and controllers send.
enum Patch {
    /// RFC 7386 JSON merge patch.
    static func merge(_ target: JSON, _ patch: JSON) -> JSON {
        guard case .object(let p) = patch else { return patch }
        var t = target.objectValue ?? [:]
        for (k, v) in p {
            if v == .null { t[k] = nil } else { t[k] = merge(t[k] ?? .null, v) }
        }
        return .object(t)
    }

    struct PatchError: Error { let message: String }

    /// RFC 6902 JSON patch.
    static func jsonPatch(_ target: JSON, _ ops: JSON) throws(PatchError) -> JSON {
        guard let list = ops.arrayValue else { throw PatchError(message: "json patch must be an array") }
        var doc = target
        for op in list {
            guard let name = op["op"]?.stringValue, let path = op["path"]?.stringValue else {
                throw PatchError(message: "json patch operation needs \"op\" and \"path\"")
            }
            let pointer = try parsePointer(path)
            switch name {
            case "add": doc = try set(doc, pointer, try value(op), insert: true)
            case "replace":
                _ = try get(doc, pointer)
                doc = try set(doc, pointer, try value(op), insert: false)
            case "remove": doc = try remove(doc, pointer)
            case "test":
                guard try get(doc, pointer) == (try value(op)) else {
                    throw PatchError(message: "test operation failed at \(path)")
                }
            case "move", "copy":
                guard let from = op["from"]?.stringValue else { throw PatchError(message: "\(name) needs \"from\"") }
                let fromPointer = try parsePointer(from)
                let v = try get(doc, fromPointer)
                if name == "move" { doc = try remove(doc, fromPointer) }
                doc = try set(doc, pointer, v, insert: true)
            default: throw PatchError(message: "unknown json patch operation \(name)")
            }
        }
        return doc
    }

    private static func value(_ op: JSON) throws(PatchError) -> JSON {
        guard let v = op["value"] else { throw PatchError(message: "operation needs \"value\"") }
        return v
    }

    private static func parsePointer(_ p: String) throws(PatchError) -> [String] {
        if p.isEmpty { return [] }
        guard p.hasPrefix("/") else { throw PatchError(message: "invalid JSON pointer \(p)") }
        return p.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ doc: JSON, _ path: [String]) throws(PatchError) -> JSON {
        var cur = doc
        for k in path {
            switch cur {
            case .object(let o):
                guard let next = o[k] else { throw PatchError(message: "path not found: \(k)") }
                cur = next
            case .array(let a):
                guard let i = Int(k), a.indices.contains(i) else {
                    throw PatchError(message: "index out of range: \(k)")
                }
                cur = a[i]
            default: throw PatchError(message: "path not found: \(k)")
            }
        }
        return cur
    }

    private static func set(_ doc: JSON, _ path: [String], _ v: JSON, insert: Bool) throws(PatchError) -> JSON {
        guard let k = path.first else { return v }
        let rest = Array(path.dropFirst())
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[k] = v
            } else {
                guard let child = o[k] else { throw PatchError(message: "path not found: \(k)") }
                o[k] = try set(child, rest, v, insert: insert)
            }
            return .object(o)
        case .array(var a):
            if rest.isEmpty {
                if k == "-" && insert {
                    a.append(v)
                    return .array(a)
                }
                guard let i = Int(k), i >= 0, i <= a.count, insert || i < a.count else {
                    throw PatchError(message: "index out of range: \(k)")
                }
                if insert { a.insert(v, at: i) } else { a[i] = v }
            } else {
                guard let i = Int(k), a.indices.contains(i) else {
                    throw PatchError(message: "index out of range: \(k)")
                }
                a[i] = try set(a[i], rest, v, insert: insert)
            }
            return .array(a)
        default: throw PatchError(message: "path not found: \(k)")
        }
    }

    private static func remove(_ doc: JSON, _ path: [String]) throws(PatchError) -> JSON {
        guard let k = path.first else { throw PatchError(message: "cannot remove the root") }
        let rest = Array(path.dropFirst())
        switch doc {
        case .object(var o):
            guard let child = o[k] else { throw PatchError(message: "path not found: \(k)") }
            o[k] = rest.isEmpty ? nil : try remove(child, rest)
            return .object(o)
        case .array(var a):
            guard let i = Int(k), a.indices.contains(i) else { throw PatchError(message: "index out of range: \(k)") }
            if rest.isEmpty { a.remove(at: i) } else { a[i] = try remove(a[i], rest) }
            return .array(a)
        default: throw PatchError(message: "path not found: \(k)")
        }
    }

    /// Strategic merge patch for the fields our kinds use: maps merge, `null` deletes, lists with
    /// a merge key (from `mergeKeys`, by dotted path) merge element-wise by that key, other lists
    /// replace. Directives: `$patch: replace|delete` on maps and list elements,
    /// `$setElementOrder/<list>`, `$retainKeys`, `$deleteFromPrimitiveList/<list>`.
    static func strategic(_ target: JSON, _ patch: JSON, mergeKeys: [String: String], path: [String] = []) -> JSON {
        guard case .object(var p) = patch else { return patch }
        if p["$patch"]?.stringValue == "replace" {
            p["$patch"] = nil
            return .object(p.filter { !$0.key.hasPrefix("$") })
        }
        if p["$patch"]?.stringValue == "delete" { return .null }
        var t = target.objectValue ?? [:]
        if let retain = p["$retainKeys"]?.arrayValue?.compactMap(\.stringValue) {
            t = t.filter { retain.contains($0.key) }
        }
        var orders: [String: [JSON]] = [:]
        for (k, v) in p {
            if k.hasPrefix("$setElementOrder/") {
                orders[String(k.dropFirst("$setElementOrder/".count))] = v.arrayValue ?? []
                continue
            }
            if k.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(k.dropFirst("$deleteFromPrimitiveList/".count))
                let drop = v.arrayValue ?? []
                if let a = t[field]?.arrayValue { t[field] = .array(a.filter { !drop.contains($0) }) }
                continue
            }
            if k.hasPrefix("$") { continue }
            let childPath = path + [k]
            if v == .null {
                t[k] = nil
                continue
            }
            if case .array(let items) = v, let mergeKey = mergeKeys[childPath.joined(separator: ".")] {
                var merged = t[k]?.arrayValue ?? []
                for item in items {
                    guard let id = item[mergeKey] else { continue }
                    let index = merged.firstIndex { $0[mergeKey] == id }
                    if item["$patch"]?.stringValue == "delete" {
                        if let index { merged.remove(at: index) }
                        continue
                    }
                    if let index {
                        merged[index] = strategic(merged[index], item, mergeKeys: mergeKeys, path: childPath)
                    } else {
                        merged.append(strategic(.object([:]), item, mergeKeys: mergeKeys, path: childPath))
                    }
                }
                t[k] = .array(merged)
                continue
            }
            if case .object = v {
                let result = strategic(t[k] ?? .object([:]), v, mergeKeys: mergeKeys, path: childPath)
                t[k] = result == .null ? nil : result
            } else {
                t[k] = v
            }
        }
        for (field, order) in orders {
            guard let mergeKey = mergeKeys[(path + [field]).joined(separator: ".")], let items = t[field]?.arrayValue
            else { continue }
            let ids = order.compactMap { $0[mergeKey] }
            let ordered = ids.compactMap { id in items.first { $0[mergeKey] == id } }
            let rest = items.filter { item in !ids.contains { $0 == item[mergeKey] } }
            t[field] = .array(ordered + rest)
        }
        return .object(t)
    }
}
