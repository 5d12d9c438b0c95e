/// How the watcher writes `status.loadBalancer.ingress`.
package enum StatusMode: Sendable, Hashable {
    /// `ip`, with `ipMode` (`Proxy` when HAProxy/nginx terminate traffic, so kube-proxy does not
    /// capture it on every node; `VIP` for the kube-proxy backend). Kubernetes 1.30+.
    case ip(ipMode: String)
    /// `hostname` (as the original, for clusters older than 1.30): `192-0-2-10.<suffix>`.
    case hostname(suffix: String)

    /// The ingress entries for a Service's addresses.
    package func ingress(for addresses: [IPAddress]) -> [(ip: String?, hostname: String?, ipMode: String?)] {
        addresses.sorted().map { a in
            switch self {
            case .ip(let mode): (a.description, nil, mode)
            case .hostname(let suffix):
                (nil, a.description.replacingDotsAndColons + "." + suffix, nil)
            }
        }
    }

    /// Addresses recovered from an existing status (either mode), for restore at start-up.
    package func addresses(fromIngress ingress: [(ip: String?, hostname: String?)]) -> [IPAddress] {
        ingress.compactMap { entry in
            if let ip = entry.ip { return try? IPAddress(parsing: ip) }
            guard let host = entry.hostname, case .hostname(let suffix) = self, host.hasSuffix("." + suffix) else {
                return nil
            }
            let label = String(host.dropLast(suffix.count + 1))
            if let v4 = try? IPAddress(parsing: label.replacingOccurrences("-", ".")) {
                return v4.family == .ipv4 ? v4 : nil
            }
            return try? IPAddress(parsing: label.replacingOccurrences("-", ":"))
        }
    }
}

extension String {
    fileprivate var replacingDotsAndColons: String {
        String(map { $0 == "." || $0 == ":" ? "-" : $0 })
    }

    fileprivate func replacingOccurrences(_ a: Character, _ b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}
