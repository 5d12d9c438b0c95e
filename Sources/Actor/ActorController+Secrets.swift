import Certificates
import Core
import Foundation
import KubeClient
import Logging

/// `loadbalancer/tls-secret`: certificates from `kubernetes.io/tls` Secrets.
extension ActorController {
    /// What the Secrets give this sync: the bundle each usable Service terminates TLS with, the
    /// bundles' bytes by file, and a digest of them (nginx reloads when it changes).
    struct SecretCertificates: Sendable {
        var byService: [ServiceKey: SafePath] = [:]
        /// Gateway listeners' certificateRefs that checked out.
        var bySecret: [SecretRef: SafePath] = [:]
        /// FNV-1a over the bundles, in the order they were added.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325

        /// The bundle at `path`: the certificate (and chain), then the key, each ending in a newline
        /// (once per file).
        mutating func add(_ path: SafePath, certificate: Data, key: Data) {
            guard bundles[path] == nil else { return }
            var bundle = certificate
            if bundle.last != 0x0A { bundle.append(0x0A) }
            bundle.append(key)
            if bundle.last != 0x0A { bundle.append(0x0A) }
            bundles[path] = bundle
            for b in bundle { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        var bundles: [SafePath: Data] = [:]
        var digest: UInt64?
    }

    /// The Secrets named by the document's Services, checked with OpenSSL. A missing, malformed
    /// or expired one turns TLS off for the Services naming it only (Event, metric); the rest
    /// keep updating. The Secret is looked up in the actor's namespace, and with
    /// `--tls-secrets service-namespace` in the Service's own namespace first.
    func secretCertificates(_ document: AssignmentDocument) async -> SecretCertificates {
        guard settings.backend != .kubeproxy else { return SecretCertificates() }
        var wanted: [ServiceKey: ResourceName] = [:]
        for vip in document.vips {
            for entry in vip.services {
                guard let secret = entry.tlsSecret,
                    entry.ports.contains(where: { PortPolicy.resolve(entry, $0).terminateTLS })
                else { continue }
                wanted[entry.key] = secret
            }
        }
        var out = SecretCertificates()
        var problems: [ServiceKey: String] = [:]
        var okSecrets = Set<String>()
        for (service, name) in wanted.sorted(by: { $0.key < $1.key }) {
            var namespaces = [settings.namespace]
            if settings.tlsSecretScope == .serviceNamespace && service.namespace != settings.namespace {
                namespaces.insert(service.namespace, at: 0)
            }
            var found: Secret?
            for ns in namespaces {
                if let s = await secrets.get("\(ns)/\(name.rawValue)") {
                    found = s
                    break
                }
            }
            guard let secret = found, let ns = secret.metadata.namespace, let nsName = try? ResourceName(parsing: ns)
            else {
                problems[service] = "Secret \(name) not found in \(namespaces.joined(separator: " or "))"
                continue
            }
            let label = "\(ns)/\(name)"
            guard secret.type == "kubernetes.io/tls", let crt = secret.data?["tls.crt"],
                let key = secret.data?["tls.key"]
            else {
                problems[service] = "Secret \(label) is not a kubernetes.io/tls Secret with tls.crt and tls.key"
                continue
            }
            switch CertificateCheck.pair(certificate: crt, key: key, name: "Secret \(label)") {
            case .failure(let problem):
                problems[service] = "\(problem)"
                continue
            case .success(let info):
                metrics.certificateExpiry("secret/\(label)", info.notAfter)
            }
            guard let path = try? secretDirectory.appending(nsName.rawValue).appending(name.rawValue + ".pem") else {
                continue
            }
            out.byService[service] = path
            out.add(path, certificate: crt, key: key)
            okSecrets.insert(label)
        }
        // Gateway listeners' Secrets (the watcher checked they exist and are permitted).
        for vip in document.vips {
            for entry in vip.services {
                for l in entry.gateway?.listeners ?? [] {
                    for ref in l.certificates where out.bySecret[ref] == nil {
                        guard let secret = await secrets.get("\(ref.namespace)/\(ref.name.rawValue)"),
                            secret.type == "kubernetes.io/tls",
                            let crt = secret.data?["tls.crt"], let key = secret.data?["tls.key"],
                            case .success(let info) = CertificateCheck.pair(
                                certificate: crt, key: key, name: "Secret \(ref)"),
                            let nsName = try? ResourceName(parsing: ref.namespace),
                            let path = try? secretDirectory.appending(nsName.rawValue).appending(
                                ref.name.rawValue + ".pem")
                        else {
                            logger.error(
                                "Gateway certificate unusable here (missing, not kubernetes.io/tls, or outside what --tls-secrets lets the actor read)",
                                metadata: ["k8s.secret": "\(ref)"])
                            continue
                        }
                        out.bySecret[ref] = path
                        out.add(path, certificate: crt, key: key)
                        metrics.certificateExpiry("secret/\(ref)", info.notAfter)
                    }
                }
            }
        }
        if !out.bundles.isEmpty { out.digest = out.hash }
        // Report each Service's problem once per change; clear the ones that went away.
        for (service, problem) in problems.sorted(by: { $0.key < $1.key }) where secretProblems[service] != problem {
            secretProblems[service] = problem
            logger.error(
                "TLS Secret unusable; TLS termination off for this Service",
                metadata: ["k8s.service": "\(service)", "problem": "\(problem)"])
            event(service, .certificateInvalid, "TLS Secret unusable, TLS termination off for this Service: \(problem)")
        }
        for service in secretProblems.keys where problems[service] == nil {
            secretProblems[service] = nil
            logger.info("TLS Secret usable again; TLS back on", metadata: ["k8s.service": "\(service)"])
        }
        metrics.secretProblems(problems.count)
        return out
    }

    /// Where the Secrets' bundles are written (mode 0600).
    var secretDirectory: SafePath {
        let base = settings.runDirectory + "/tls" + (settings.fleetCluster.map { "/" + $0.rawValue } ?? "")
        return (try? SafePath(parsing: base)) ?? (try! SafePath(parsing: "/run/k8slb/tls"))
    }
}
