/// What the watcher reads from one Service, as plain values (Core knows no API types).
package struct ServiceInput: Sendable, Hashable {
    package struct Port: Sendable, Hashable {
        package var name: String?
        package var proto: String?
        package var port: Int
        package var targetPort: AssignmentDocument.TargetPort?
        package var nodePort: Int?

        package init(
            name: String? = nil, proto: String? = nil, port: Int, targetPort: AssignmentDocument.TargetPort? = nil,
            nodePort: Int? = nil
        ) {
            self.name = name
            self.proto = proto
            self.port = port
            self.targetPort = targetPort
            self.nodePort = nodePort
        }
    }

    package var key: ServiceKey
    package var type: String
    package var loadBalancerClass: String?
    package var annotations: [String: String]
    package var loadBalancerIP: String?
    package var ipFamilyPolicy: String?
    package var ports: [Port]
    package var sourceRanges: [String]
    /// `spec.externalTrafficPolicy` ("Cluster" when nil).
    package var externalTrafficPolicy: String?
    /// `spec.sessionAffinity` ("None" when nil) and its `clientIP.timeoutSeconds`.
    package var sessionAffinity: String?
    package var affinityTimeoutSeconds: Int?
    /// `spec.healthCheckNodePort` (ETP Local).
    package var healthCheckNodePort: Int?

    package init(
        key: ServiceKey, type: String, loadBalancerClass: String? = nil, annotations: [String: String] = [:],
        loadBalancerIP: String? = nil, ipFamilyPolicy: String? = nil, ports: [Port], sourceRanges: [String] = [],
        externalTrafficPolicy: String? = nil, sessionAffinity: String? = nil, affinityTimeoutSeconds: Int? = nil,
        healthCheckNodePort: Int? = nil
    ) {
        self.key = key
        self.type = type
        self.loadBalancerClass = loadBalancerClass
        self.annotations = annotations
        self.loadBalancerIP = loadBalancerIP
        self.ipFamilyPolicy = ipFamilyPolicy
        self.ports = ports
        self.sourceRanges = sourceRanges
        self.externalTrafficPolicy = externalTrafficPolicy
        self.sessionAffinity = sessionAffinity
        self.affinityTimeoutSeconds = affinityTimeoutSeconds
        self.healthCheckNodePort = healthCheckNodePort
    }
}

/// What the watcher should do with one Service: pure, so every rule is unit-tested.
package enum ServicePlan: Sendable, Equatable {
    /// Not a LoadBalancer Service of our class: release anything it holds.
    case notOurs
    /// Ours, but its spec or annotations are unusable: report, keep what it already has.
    case invalid([String])
    /// Ours: allocate for `request`, publish `entry`. `warnings` (unknown annotations, ignored
    /// values) are reported.
    case serve(request: AllocationRequest, entry: AssignmentDocument.ServiceEntry, warnings: [AnnotationError])

    /// Plans `input` for a watcher serving `servedClass` (nil: Services without a class).
    package static func make(_ input: ServiceInput, servedClass: String?) -> ServicePlan {
        guard input.type == "LoadBalancer", input.loadBalancerClass == servedClass else { return .notOurs }
        let (annotations, annotationProblems) = ServiceAnnotations.parse(input.annotations)
        var problems = annotationProblems.filter { !$0.isWarning }.map(\.description)
        let warnings = annotationProblems.filter(\.isWarning)

        var statics = annotations.addresses
        if statics.isEmpty, let text = input.loadBalancerIP, !text.isEmpty {
            do { statics = [try IPAddress(parsing: text)] } catch { problems.append("spec.loadBalancerIP: \(error)") }
        }
        let policy: IPFamilyPolicy
        switch input.ipFamilyPolicy ?? "SingleStack" {
        case "PreferDualStack": policy = .preferDualStack
        case "RequireDualStack": policy = .requireDualStack
        default: policy = .singleStack
        }
        var ports: [AssignmentDocument.Port] = []
        var keys = Set<PortKey>()
        for (i, p) in input.ports.enumerated() {
            guard let proto = TransportProtocol(rawValue: p.proto ?? "TCP") else {
                problems.append(
                    "spec.ports[\(i)].protocol: \"\((p.proto ?? "").quotedForMessage)\" is not TCP, UDP or SCTP")
                continue
            }
            guard let number = UInt16(exactly: p.port), number > 0 else {
                problems.append("spec.ports[\(i)].port: \(p.port) is not 1-65535")
                continue
            }
            let target = p.targetPort ?? .number(number)
            if case .name(let n) = target, !isPortName(n) {
                problems.append("spec.ports[\(i)].targetPort: \"\(n.quotedForMessage)\" is not a valid port name")
                continue
            }
            if let name = p.name, !name.isEmpty, !isPortName(name) {
                problems.append("spec.ports[\(i)].name: \"\(name.quotedForMessage)\" is not a valid port name")
                continue
            }
            keys.insert(PortKey(proto, number))
            ports.append(
                .init(
                    name: p.name?.isEmpty == false ? p.name : nil, proto: proto, port: number, targetPort: target,
                    nodePort: p.nodePort.flatMap { UInt16(exactly: $0) }))
        }
        if input.ports.isEmpty { problems.append("spec.ports: a LoadBalancer Service needs at least one port") }
        var ranges: [IPNetwork] = []
        for (i, text) in input.sourceRanges.enumerated() {
            do { ranges.append(try IPNetwork(parsing: text.trimmingSpaces)) } catch {
                problems.append("spec.loadBalancerSourceRanges[\(i)]: \(error)")
            }
        }
        let local: Bool
        switch input.externalTrafficPolicy ?? "Cluster" {
        case "Cluster": local = false
        case "Local": local = true
        default:
            problems.append(
                "spec.externalTrafficPolicy: \"\((input.externalTrafficPolicy ?? "").quotedForMessage)\" is not Cluster or Local"
            )
            local = false
        }
        var affinity: Int?
        switch input.sessionAffinity ?? "None" {
        case "None": affinity = nil
        case "ClientIP":
            // Kubernetes' default and bounds: 10800 s, 1-86400.
            let t = input.affinityTimeoutSeconds ?? 10_800
            if (1...86_400).contains(t) {
                affinity = t
            } else {
                problems.append("spec.sessionAffinityConfig.clientIP.timeoutSeconds: \(t) is not 1-86400")
            }
        default:
            problems.append(
                "spec.sessionAffinity: \"\((input.sessionAffinity ?? "").quotedForMessage)\" is not None or ClientIP")
        }
        var healthCheckNodePort: UInt16?
        if local, let p = input.healthCheckNodePort {
            if let n = UInt16(exactly: p), n > 0 {
                healthCheckNodePort = n
            } else {
                problems.append("spec.healthCheckNodePort: \(p) is not 1-65535")
            }
        }
        guard problems.isEmpty else { return .invalid(problems) }

        var entry = AssignmentDocument.ServiceEntry(key: input.key, ports: ports)
        entry.proxy = annotations.proxy
        entry.sourceRanges = ranges
        entry.affinitySeconds = affinity
        entry.localTraffic = local
        entry.healthCheckNodePort = healthCheckNodePort
        let request = AllocationRequest(
            service: input.key, pools: annotations.pools, familyPolicy: policy,
            staticAddresses: statics, ports: keys, sharingKey: annotations.sharingKey,
            hostnames: Set(annotations.hostnames))
        return .serve(request: request, entry: entry, warnings: warnings)
    }

    /// An IANA service name as Kubernetes accepts it for port names: 1-15 lower-case letters,
    /// digits and '-', at least one letter, no leading/trailing/double '-'.
    static func isPortName(_ s: String) -> Bool {
        let b = Array(s.utf8)
        return !b.isEmpty && b.count <= 15
            && b.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && b.contains { $0 >= 0x61 && $0 <= 0x7A }
            && b.first != 0x2D && b.last != 0x2D && !s.contains("--")
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
