import Foundation
import Synchronization

/// CustomResourceDefinitions: creating one (`kubectl apply -f crd.yaml`) serves its kind at once
/// (list, watch, the status subresource, printer columns through the Table output, discovery for
/// kubectl), every served version over the same objects; deleting it removes the kind and its
/// objects. Schemas are accepted and not enforced (a known simplification).
extension ObjectStore {
    /// The kind served at `group/version/plural`, built-in or defined by a CRD.
    package func resource(group: String, version: String, plural: String) -> ResourceType? {
        state.withLock { s in s.resources.first { $0.group == group && $0.version == version && $0.plural == plural } }
    }

    /// Every kind served now.
    package var resources: [ResourceType] { state.withLock { $0.resources } }

    /// `obj` as read through `r`'s version.
    static func view(_ obj: JSON, _ r: ResourceType) -> JSON {
        guard r.custom, obj["apiVersion"]?.stringValue != r.apiVersion else { return obj }
        var out = obj
        out["apiVersion"] = .string(r.apiVersion)
        return out
    }

    /// Anything but metadata and status changed (what bumps `metadata.generation`).
    static func specChanged(_ a: JSON, _ b: JSON) -> Bool {
        var x = a.objectValue ?? [:]
        var y = b.objectValue ?? [:]
        for k in ["metadata", "status", "apiVersion", "kind"] {
            x[k] = nil
            y[k] = nil
        }
        return x != y
    }

    /// One kind per storage (the first served version of each).
    static func storageKinds(_ resources: [ResourceType]) -> [ResourceType] {
        var seen = Set<String>()
        return resources.filter { seen.insert($0.id).inserted }
    }

    /// The kinds a CRD object defines (one per served version).
    static func definedKinds(_ crd: JSON) -> [ResourceType] {
        guard let group = crd[path: ["spec", "group"]]?.stringValue,
            let plural = crd[path: ["spec", "names", "plural"]]?.stringValue,
            let kind = crd[path: ["spec", "names", "kind"]]?.stringValue
        else { return [] }
        let namespaced = crd[path: ["spec", "scope"]]?.stringValue != "Cluster"
        let shortNames = (crd[path: ["spec", "names", "shortNames"]]?.arrayValue ?? []).compactMap(\.stringValue)
        var out: [ResourceType] = []
        // The storage version first: it names the objects' stored apiVersion.
        let versions = (crd[path: ["spec", "versions"]]?.arrayValue ?? []).sorted {
            ($0["storage"]?.boolValue ?? false) && !($1["storage"]?.boolValue ?? false)
        }
        for v in versions where v["served"]?.boolValue ?? false {
            guard let name = v["name"]?.stringValue else { continue }
            var r = ResourceType(
                group: group, version: name, plural: plural, kind: kind, namespaced: namespaced,
                hasStatus: v[path: ["subresources", "status"]] != nil, shortNames: shortNames, fieldSelectors: [],
                mergeKeys: ["status.conditions": "type"])
            r.custom = true
            r.tracksGeneration = true
            r.printerColumns = (v["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { c in
                guard let name = c["name"]?.stringValue, let path = c["jsonPath"]?.stringValue else { return nil }
                return .init(
                    name: name, type: c["type"]?.stringValue ?? "string", jsonPath: path,
                    priority: Int(c["priority"]?.intValue ?? 0))
            }
            out.append(r)
        }
        return out
    }

    /// Checks a new CRD as the real server does (its name is `<plural>.<group>`, a kind, versions,
    /// exactly one storage version) and marks it established.
    static func prepareDefinition(_ obj: inout JSON, name: String, existing: [ResourceType]) throws(APIError) {
        let r = ResourceType.customResourceDefinitions
        var errors: [FieldError] = []
        let group = obj[path: ["spec", "group"]]?.stringValue ?? ""
        let plural = obj[path: ["spec", "names", "plural"]]?.stringValue ?? ""
        if group.isEmpty { errors.append(.required("spec.group", "")) }
        if plural.isEmpty { errors.append(.required("spec.names.plural", "")) }
        if (obj[path: ["spec", "names", "kind"]]?.stringValue ?? "").isEmpty {
            errors.append(.required("spec.names.kind", ""))
        }
        if !group.isEmpty, !plural.isEmpty, name != "\(plural).\(group)" {
            errors.append(.invalid("metadata.name", .string(name), "must be spec.names.plural+\".\"+spec.group"))
        }
        let versions = obj[path: ["spec", "versions"]]?.arrayValue ?? []
        if versions.isEmpty { errors.append(.required("spec.versions", "must have at least one version")) }
        if versions.filter({ $0["storage"]?.boolValue ?? false }).count != 1 {
            errors.append(
                .invalid("spec.versions", .array(versions), "must have exactly one version marked as storage version"))
        }
        if existing.contains(where: { $0.group == group && $0.plural == plural && !$0.custom }) {
            errors.append(.invalid("spec.names.plural", .string(plural), "is a built-in kind"))
        }
        if !errors.isEmpty { throw .invalid(r, name, errors) }
        let now = Self.timestamp()
        func condition(_ type: String, _ reason: String, _ message: String) -> JSON {
            .object([
                "type": .string(type), "status": .string("True"), "lastTransitionTime": .string(now),
                "reason": .string(reason), "message": .string(message),
            ])
        }
        obj["status"] = .object([
            "conditions": .array([
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ]),
            "acceptedNames": obj[path: ["spec", "names"]] ?? .object([:]),
            "storedVersions": .array(versions.filter { $0["storage"]?.boolValue ?? false }.compactMap { $0["name"] }),
        ])
    }

    /// A CRD was written or deleted: serve what it defines now; a deleted one takes its objects.
    static func definitionChanged(_ s: inout State, _ crd: JSON, deleted: Bool, windowSize: Int) {
        let defined = definedKinds(crd)
        guard
            let first = defined.first
                ?? (crd[path: ["spec", "group"]]?.stringValue).flatMap({ group in
                    crd[path: ["spec", "names", "plural"]]?.stringValue.map {
                        ResourceType(
                            group: group, version: "", plural: $0, kind: "", namespaced: false, hasStatus: false,
                            shortNames: [], fieldSelectors: [], mergeKeys: [:])
                    }
                })
        else { return }
        s.resources.removeAll { $0.custom && $0.id == first.id }
        if !deleted {
            s.resources += defined
            return
        }
        for (key, obj) in s.objects[first.id] ?? [:] {
            var kind = first
            kind.custom = true
            _ = commit(&s, kind, key: key, type: "DELETED", obj, old: obj, windowSize: windowSize)
        }
        s.objects[first.id] = nil
    }
}
