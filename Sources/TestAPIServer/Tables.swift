import Foundation

/// `meta.k8s.io/v1` Table responses, which `kubectl get` prints as they come.
enum Tables {
    struct Column: Sendable {
        let name: String
        let type: String
        let priority: Int
        let cell: @Sendable (JSON, Date) -> JSON
    }

    static func table(for r: ResourceType, objects: [JSON], listMeta: JSON, now: Date = Date()) -> JSON {
        let cols = columns(r)
        return .object([
            "kind": .string("Table"), "apiVersion": .string("meta.k8s.io/v1"), "metadata": listMeta,
            "columnDefinitions": .array(
                cols.map {
                    .object([
                        "name": .string($0.name), "type": .string($0.type),
                        "format": .string($0.name == "Name" ? "name" : ""),
                        "description": .string(""), "priority": .int(Int64($0.priority)),
                    ])
                }),
            "rows": .array(
                objects.map { obj in
                    .object([
                        "cells": .array(cols.map { $0.cell(obj, now) }),
                        "object": .object([
                            "kind": .string("PartialObjectMetadata"), "apiVersion": .string("meta.k8s.io/v1"),
                            "metadata": obj["metadata"] ?? .object([:]),
                        ]),
                    ])
                }),
        ])
    }

    static func str(_ path: String) -> @Sendable (JSON, Date) -> JSON {
        let p = path.split(separator: ".").map(String.init)
        return { obj, _ in .string(obj[path: p]?.scalarText ?? "") }
    }

    static let name = Column(name: "Name", type: "string", priority: 0, cell: str("metadata.name"))
    static let age = Column(name: "Age", type: "string", priority: 0) { obj, now in
        .string(age(obj[path: ["metadata", "creationTimestamp"]]?.stringValue, now))
    }

    static func columns(_ r: ResourceType) -> [Column] {
        switch r {
        case .services:
            return [
                name,
                Column(name: "Type", type: "string", priority: 0, cell: str("spec.type")),
                Column(name: "Cluster-IP", type: "string", priority: 0, cell: str("spec.clusterIP")),
                Column(name: "External-IP", type: "string", priority: 0) { obj, _ in .string(externalIP(obj)) },
                Column(name: "Port(s)", type: "string", priority: 0) { obj, _ in .string(ports(obj)) },
                age,
                Column(name: "Selector", type: "string", priority: 1) { obj, _ in
                    let sel = (obj[path: ["spec", "selector"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
                    return .string(
                        sel.isEmpty
                            ? "<none>"
                            : sel.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
                },
            ]
        case .events:
            return [
                Column(name: "Last Seen", type: "string", priority: 0) { obj, now in
                    .string(
                        age(
                            obj["lastTimestamp"]?.stringValue ?? obj["eventTime"]?.stringValue
                                ?? obj[path: ["metadata", "creationTimestamp"]]?.stringValue, now))
                },
                Column(name: "Type", type: "string", priority: 0, cell: str("type")),
                Column(name: "Reason", type: "string", priority: 0, cell: str("reason")),
                Column(name: "Object", type: "string", priority: 0) { obj, _ in
                    .string(
                        "\((obj[path: ["involvedObject", "kind"]]?.stringValue ?? "").lowercased())/\(obj[path: ["involvedObject", "name"]]?.stringValue ?? "")"
                    )
                },
                Column(name: "Message", type: "string", priority: 0, cell: str("message")),
            ]
        case .configMaps:
            return [
                name,
                Column(name: "Data", type: "integer", priority: 0) { obj, _ in
                    .int(Int64(obj["data"]?.objectValue?.count ?? 0))
                }, age,
            ]
        case .secrets:
            return [
                name, Column(name: "Type", type: "string", priority: 0, cell: str("type")),
                Column(name: "Data", type: "integer", priority: 0) { obj, _ in
                    .int(Int64(obj["data"]?.objectValue?.count ?? 0))
                }, age,
            ]
        case .namespaces:
            return [name, Column(name: "Status", type: "string", priority: 0, cell: str("status.phase")), age]
        case .leases:
            return [name, Column(name: "Holder", type: "string", priority: 0, cell: str("spec.holderIdentity")), age]
        default:
            guard r.custom, !r.printerColumns.isEmpty else { return [name, age] }
            // A CRD's additionalPrinterColumns: a `date` column prints as an age, as kubectl does.
            return [name]
                + r.printerColumns.map { c in
                    let path = JSONPath(c.jsonPath)
                    return Column(name: c.name, type: c.type == "date" ? "string" : c.type, priority: c.priority) {
                        obj, now in
                        // Scalars as text, lists and objects as compact JSON (kubectl's way).
                        let values = path.evaluate(obj).map {
                            $0.scalarText ?? String(decoding: $0.data, as: UTF8.self)
                        }
                        if c.type == "date" { return .string(values.first.map { age($0, now) } ?? "<unknown>") }
                        return .string(values.joined(separator: ","))
                    }
                }
        }
    }

    /// As kubectl shows it: ingress IPs/hostnames (and externalIPs), `<pending>` for a
    /// LoadBalancer without them, `<none>` otherwise.
    static func externalIP(_ obj: JSON) -> String {
        let type = obj[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
        let external = (obj[path: ["spec", "externalIPs"]]?.arrayValue ?? []).compactMap(\.stringValue)
        let ingress = (obj[path: ["status", "loadBalancer", "ingress"]]?.arrayValue ?? []).compactMap {
            $0["ip"]?.stringValue ?? $0["hostname"]?.stringValue
        }
        switch type {
        case "LoadBalancer":
            let all = ingress + external
            return all.isEmpty ? "<pending>" : all.joined(separator: ",")
        case "ExternalName":
            return obj[path: ["spec", "externalName"]]?.stringValue ?? "<none>"
        default:
            return external.isEmpty ? "<none>" : external.joined(separator: ",")
        }
    }

    static func ports(_ obj: JSON) -> String {
        let list = (obj[path: ["spec", "ports"]]?.arrayValue ?? []).map { p -> String in
            let port = p["port"]?.scalarText ?? ""
            let proto = p["protocol"]?.stringValue ?? "TCP"
            if let np = p["nodePort"]?.scalarText { return "\(port):\(np)/\(proto)" }
            return "\(port)/\(proto)"
        }
        return list.isEmpty ? "<none>" : list.joined(separator: ",")
    }

    /// kubectl's HumanDuration.
    static func age(_ timestamp: String?, _ now: Date) -> String {
        guard let timestamp, let date = ISO8601DateFormatter().date(from: timestamp) else { return "<unknown>" }
        let s = Int(now.timeIntervalSince(date))
        if s < -1 { return "<invalid>" }
        if s < 0 { return "0s" }
        if s < 120 { return "\(s)s" }
        let m = s / 60
        if m < 10 { return s % 60 == 0 ? "\(m)m" : "\(m)m\(s % 60)s" }
        if m < 180 { return "\(m)m" }
        let h = m / 60
        if h < 8 { return m % 60 == 0 ? "\(h)h" : "\(h)h\(m % 60)m" }
        if h < 48 { return "\(h)h" }
        if h < 192 { return h % 24 == 0 ? "\(h / 24)d" : "\(h / 24)d\(h % 24)h" }
        let d = h / 24
        if d < 365 * 2 { return "\(d)d" }
        if d < 365 * 8 { return "\(d / 365)y\(d % 365)d" }
        return "\(d / 365)y"
    }
}

/// Discovery documents so real `kubectl` finds our kinds.
enum Discovery {
    static func version() -> JSON {
        .object([
            "major": .string("1"), "minor": .string("32"), "gitVersion": .string("v1.32.0+k8slb-testapi"),
            "gitCommit": .string("0000000000000000000000000000000000000000"), "gitTreeState": .string("clean"),
            "buildDate": .string("2026-01-01T00:00:00Z"), "goVersion": .string("n/a"), "compiler": .string("swift"),
            "platform": .string("linux/amd64"),
        ])
    }

    static func coreVersions() -> JSON {
        .object([
            "kind": .string("APIVersions"), "versions": .array([.string("v1")]),
            "serverAddressByClientCIDRs": .array([
                .object(["clientCIDR": .string("0.0.0.0/0"), "serverAddress": .string("127.0.0.1")])
            ]),
        ])
    }

    static func groups(_ all: [ResourceType]) -> [String] {
        Array(Set(all.map(\.group).filter { !$0.isEmpty })).sorted()
    }

    static func group(_ all: [ResourceType], _ g: String) -> JSON {
        var versions: [String] = []
        for r in all where r.group == g && !versions.contains(r.version) { versions.append(r.version) }
        let gvs: [JSON] = versions.map { .object(["groupVersion": .string("\(g)/\($0)"), "version": .string($0)]) }
        return .object([
            "kind": .string("APIGroup"), "apiVersion": .string("v1"), "name": .string(g),
            "versions": .array(gvs), "preferredVersion": gvs.first ?? .object([:]),
        ])
    }

    static func groupList(_ all: [ResourceType]) -> JSON {
        .object([
            "kind": .string("APIGroupList"), "apiVersion": .string("v1"),
            "groups": .array(groups(all).map { group(all, $0) }),
        ])
    }

    static func resourceList(_ all: [ResourceType], group: String, version: String) -> JSON? {
        let rs = all.filter { $0.group == group && $0.version == version }
        guard !rs.isEmpty else { return nil }
        var resources: [JSON] = []
        for r in rs {
            resources.append(
                .object([
                    "name": .string(r.plural), "singularName": .string(r.singular), "namespaced": .bool(r.namespaced),
                    "kind": .string(r.kind),
                    "verbs": .array(
                        ["create", "delete", "get", "list", "patch", "update", "watch"].map { .string($0) }),
                    "shortNames": .array(r.shortNames.map { .string($0) }),
                ]))
            if r.hasStatus {
                resources.append(
                    .object([
                        "name": .string("\(r.plural)/status"), "singularName": .string(""),
                        "namespaced": .bool(r.namespaced), "kind": .string(r.kind),
                        "verbs": .array(["get", "patch", "update"].map { .string($0) }),
                    ]))
            }
        }
        return .object([
            "kind": .string("APIResourceList"), "apiVersion": .string("v1"),
            "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources),
        ])
    }
}

/// Minimal OpenAPI v3 documents: enough for kubectl to see that PATCH accepts `fieldValidation`,
/// so it validates on the server instead of downloading schemas.
enum OpenAPI {
    static func root(_ all: [ResourceType]) -> JSON {
        var paths: [String: JSON] = [:]
        for gv in Set(
            all.map { $0.group.isEmpty ? "api/\($0.version)" : "apis/\($0.group)/\($0.version)" })
        {
            paths[gv] = .object(["serverRelativeURL": .string("/openapi/v3/\(gv)")])
        }
        return .object(["paths": .object(paths)])
    }

    static func spec(_ all: [ResourceType], group: String, version: String) -> JSON? {
        let rs = all.filter { $0.group == group && $0.version == version }
        guard !rs.isEmpty else { return nil }
        var paths: [String: JSON] = [:]
        let param: JSON = .object([
            "name": .string("fieldValidation"), "in": .string("query"), "schema": .object(["type": .string("string")]),
        ])
        for r in rs {
            let prefix = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
            let path =
                r.namespaced ? "\(prefix)/namespaces/{namespace}/\(r.plural)/{name}" : "\(prefix)/\(r.plural)/{name}"
            let gvk: JSON = .object(["group": .string(group), "version": .string(version), "kind": .string(r.kind)])
            let op: JSON = .object([
                "x-kubernetes-group-version-kind": gvk, "parameters": .array([param]),
                "responses": .object(["200": .object(["description": .string("OK")])]),
            ])
            paths[path] = .object(["patch": op, "put": op])
        }
        return .object([
            "openapi": .string("3.0.0"),
            "info": .object(["title": .string("Kubernetes"), "version": .string("v1.32.0")]),
            "paths": .object(paths),
        ])
    }
}
