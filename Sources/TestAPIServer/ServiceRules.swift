/// Service defaulting and validation, as the real API server does it (the parts clients notice).
struct ServiceRules {
    /// Cluster IPs come from this /16 (the real default service CIDR's first /16). Only strings in
    /// objects: nothing ever routes to them.
    var nextClusterIP: UInt32 = 0x0A60_0001  // 10.96.0.1
    var usedNodePorts: Set<Int64> = []
    var nextNodePort: Int64 = 30000

    static let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]

    /// Defaults a new (or updated, given `old`) Service and validates it.
    mutating func prepare(_ obj: inout JSON, old: JSON?) -> [FieldError] {
        var spec = obj["spec"] ?? .object([:])
        let oldSpec = old?["spec"]
        if spec["type"] == nil { spec["type"] = .string("ClusterIP") }
        let type = spec["type"]?.stringValue ?? ""
        var errors: [FieldError] = []
        if !Self.types.contains(type) { errors.append(.notSupported("spec.type", type, Self.types)) }
        if spec["sessionAffinity"] == nil { spec["sessionAffinity"] = .string("None") }
        if spec["ipFamilyPolicy"] == nil { spec["ipFamilyPolicy"] = .string("SingleStack") }
        if spec["ipFamilies"] == nil { spec["ipFamilies"] = .array([.string("IPv4")]) }
        if spec["internalTrafficPolicy"] == nil { spec["internalTrafficPolicy"] = .string("Cluster") }
        if type == "LoadBalancer" || type == "NodePort" {
            if spec["externalTrafficPolicy"] == nil { spec["externalTrafficPolicy"] = .string("Cluster") }
        }
        if type == "LoadBalancer", spec["allocateLoadBalancerNodePorts"] == nil {
            spec["allocateLoadBalancerNodePorts"] = .bool(true)
        }
        // Cluster IP: keep the old one (it is immutable), else allocate.
        if type != "ExternalName" {
            if let oldIP = oldSpec?["clusterIP"] {
                if let newIP = spec["clusterIP"], newIP != oldIP, newIP != .string("") {
                    errors.append(.invalid("spec.clusterIPs[0]", newIP, "may not change once set"))
                }
                spec["clusterIP"] = oldIP
                spec["clusterIPs"] = oldSpec?["clusterIPs"] ?? .array([oldIP])
            } else if spec["clusterIP"] == nil || spec["clusterIP"] == .string("") {
                let ip = nextClusterIP
                nextClusterIP += 1
                let text = "\(ip >> 24).\((ip >> 16) & 0xff).\((ip >> 8) & 0xff).\(ip & 0xff)"
                spec["clusterIP"] = .string(text)
                spec["clusterIPs"] = .array([.string(text)])
            } else if spec["clusterIPs"] == nil, let ip = spec["clusterIP"] {
                spec["clusterIPs"] = .array([ip])
            }
        }
        // Ports.
        let needsNodePorts =
            type == "NodePort" || (type == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"] != .bool(false))
        var ports = spec["ports"]?.arrayValue ?? []
        let headless = spec["clusterIP"] == .string("None")
        if ports.isEmpty && type != "ExternalName" && !headless { errors.append(.required("spec.ports")) }
        var seen = Set<String>()
        var names = Set<String>()
        let oldPorts = oldSpec?["ports"]?.arrayValue ?? []
        for i in ports.indices {
            let f = "spec.ports[\(i)]"
            if ports[i]["protocol"] == nil { ports[i]["protocol"] = .string("TCP") }
            let proto = ports[i]["protocol"]?.stringValue ?? ""
            if !["TCP", "UDP", "SCTP"].contains(proto) {
                errors.append(.notSupported("\(f).protocol", proto, ["SCTP", "TCP", "UDP"]))
            }
            guard let port = ports[i]["port"]?.intValue, (1...65535).contains(port) else {
                errors.append(.invalid("\(f).port", ports[i]["port"], "must be between 1 and 65535, inclusive"))
                continue
            }
            if ports[i]["targetPort"] == nil { ports[i]["targetPort"] = .int(port) }
            switch ports[i]["targetPort"] {
            case .int(let t)? where !(1...65535).contains(t):
                errors.append(.invalid("\(f).targetPort", .int(t), "must be between 1 and 65535, inclusive"))
            case .string(let s)? where !Self.isPortName(s):
                errors.append(
                    .invalid(
                        "\(f).targetPort", .string(s),
                        "must contain at least one letter (a-z), only lowercase alphanumerics and '-', at most 15 characters"
                    ))
            default: break
            }
            if !seen.insert("\(port)/\(proto)").inserted {
                errors.append(
                    .duplicate(
                        f,
                        "core.ServicePort{Name:\"\(ports[i]["name"]?.stringValue ?? "")\", Protocol:\"\(proto)\", Port:\(port)}"
                    ))
            }
            let name = ports[i]["name"]?.stringValue ?? ""
            if ports.count > 1 && name.isEmpty { errors.append(.required("\(f).name")) }
            if !name.isEmpty && !names.insert(name).inserted { errors.append(.duplicate("\(f).name", "\"\(name)\"")) }
            if needsNodePorts {
                if ports[i]["nodePort"] == nil,
                    let kept = oldPorts.first(where: {
                        $0["port"] == ports[i]["port"] && $0["protocol"] == ports[i]["protocol"]
                    })?["nodePort"]
                {
                    ports[i]["nodePort"] = kept
                }
                if let np = ports[i]["nodePort"]?.intValue {
                    let ownedBefore = oldPorts.contains { $0["nodePort"]?.intValue == np }
                    if !(30000...32767).contains(np) {
                        errors.append(
                            .invalid(
                                "\(f).nodePort", .int(np),
                                "provided port is not in the valid range. The range of valid ports is 30000-32767"))
                    } else if usedNodePorts.contains(np) && !ownedBefore {
                        errors.append(.invalid("\(f).nodePort", .int(np), "provided port is already allocated"))
                    }
                } else if usedNodePorts.count >= 32767 - 30000 + 1 {
                    errors.append(
                        FieldError(
                            field: "\(f).nodePort", reason: "FieldValueInvalid",
                            detail: "Internal error occurred: failed to allocate a nodePort: range is full"))
                } else {
                    while usedNodePorts.contains(nextNodePort) {
                        nextNodePort = nextNodePort >= 32767 ? 30000 : nextNodePort + 1
                    }
                    ports[i]["nodePort"] = .int(nextNodePort)
                    usedNodePorts.insert(nextNodePort)
                }
            } else if ports[i]["nodePort"] != nil && type == "ClusterIP" {
                ports[i]["nodePort"] = nil
            }
        }
        if !ports.isEmpty || spec["ports"] != nil { spec["ports"] = .array(ports) }
        for (i, r) in (spec["loadBalancerSourceRanges"]?.arrayValue ?? []).enumerated() {
            if !Self.isCIDR(r.stringValue ?? "") {
                errors.append(
                    .invalid(
                        "spec.loadBalancerSourceRanges[\(i)]", r,
                        "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "))
            }
        }
        if let ip = spec["loadBalancerIP"]?.stringValue, !ip.isEmpty, !Self.isIP(ip) {
            errors.append(.invalid("spec.loadBalancerIP", .string(ip), "must be a valid IP address"))
        }
        obj["spec"] = spec
        if old == nil, obj["status"] == nil { obj["status"] = .object(["loadBalancer": .object([:])]) }
        if errors.isEmpty { commitNodePorts(spec, old: oldSpec) }
        return errors
    }

    /// Releases node ports a Service no longer holds (or all, when deleted).
    mutating func release(_ spec: JSON?) {
        for p in spec?["ports"]?.arrayValue ?? [] { if let np = p["nodePort"]?.intValue { usedNodePorts.remove(np) } }
    }

    private mutating func commitNodePorts(_ spec: JSON, old: JSON?) {
        let now = Set((spec["ports"]?.arrayValue ?? []).compactMap { $0["nodePort"]?.intValue })
        for p in old?["ports"]?.arrayValue ?? [] {
            if let np = p["nodePort"]?.intValue, !now.contains(np) { usedNodePorts.remove(np) }
        }
        usedNodePorts.formUnion(now)
    }

    /// Validates a status write: ingress IPs must parse; `ipMode` defaults to VIP when an IP is set.
    static func prepareStatus(_ obj: inout JSON) -> [FieldError] {
        var errors: [FieldError] = []
        guard var ingress = obj[path: ["status", "loadBalancer", "ingress"]]?.arrayValue else { return [] }
        for i in ingress.indices {
            if let ip = ingress[i]["ip"]?.stringValue {
                if !isIP(ip) {
                    errors.append(
                        .invalid("status.loadBalancer.ingress[\(i)].ip", .string(ip), "must be a valid IP address"))
                }
                if ingress[i]["ipMode"] == nil { ingress[i]["ipMode"] = .string("VIP") }
            }
            if let mode = ingress[i]["ipMode"]?.stringValue, !["VIP", "Proxy"].contains(mode) {
                errors.append(.notSupported("status.loadBalancer.ingress[\(i)].ipMode", mode, ["Proxy", "VIP"]))
            }
        }
        obj[path: ["status", "loadBalancer", "ingress"]] = .array(ingress)
        return errors
    }

    static func isPortName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 15 && s.contains(where: { $0.isLetter })
            && s.allSatisfy {
                ($0.isLetter && $0.isLowercase && $0.isASCII) || ($0.isNumber && $0.isASCII) || $0 == "-"
            }
            && !s.hasPrefix("-") && !s.hasSuffix("-") && !s.contains("--")
    }

    static func isIP(_ s: String) -> Bool {
        if s.contains(":") {
            return s.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } && s.filter({ $0 == ":" }).count >= 2
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }
    }

    static func isCIDR(_ s: String) -> Bool {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let len = Int(parts[1]), isIP(String(parts[0])) else { return false }
        return len >= 0 && len <= (parts[0].contains(":") ? 128 : 32)
    }
}
