import Foundation
import Synchronization
import Yams

/// Where the API server is and how to authenticate: from a kubeconfig or in-cluster.
package struct ClusterConfig: Sendable {
    /// Base URL, e.g. `https://10.0.0.1:443`.
    package var server: String
    package var tls: TLSSettings
    package var token: TokenSource?
    /// The namespace of the current context / service account.
    package var namespace: String

    package init(
        server: String, tls: TLSSettings = TLSSettings(), token: TokenSource? = nil, namespace: String = "default"
    ) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.tls = tls
        self.token = token
        self.namespace = namespace
    }

    /// A bearer token, fixed or read from a file that is re-read when it changes (service-account
    /// tokens are rotated on disk by the kubelet).
    package final class TokenSource: Sendable {
        private enum Origin {
            case fixed(String)
            case file(String)
        }
        private let origin: Origin
        private let cache = Mutex<(mtime: Date?, token: String)>((nil, ""))

        package init(token: String) { origin = .fixed(token) }
        package init(file: String) { origin = .file(file) }

        /// The current token.
        package func current() throws -> String {
            switch origin {
            case .fixed(let t): return t
            case .file(let path):
                let mtime = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
                if let cached = cache.withLock({ c -> String? in c.mtime == mtime && mtime != nil ? c.token : nil }) {
                    return cached
                }
                let token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                cache.withLock { $0 = (mtime, token) }
                return token
            }
        }
    }

    /// A configuration problem, naming the file and field.
    package struct LoadError: Error, CustomStringConvertible {
        package let description: String
    }

    /// What both executables accept: `--kubeconfig`, else `KUBECONFIG`, else in-cluster credentials.
    package static func resolve(
        kubeconfig flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ClusterConfig {
        if let path = flag ?? environment["KUBECONFIG"], !path.isEmpty { return try kubeconfig(path: path) }
        return try inCluster(environment: environment)
    }

    /// In-cluster: `KUBERNETES_SERVICE_HOST/PORT` and the service-account directory.
    package static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> ClusterConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"]
        else {
            throw LoadError(
                description:
                    "not running in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (use --kubeconfig)"
            )
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let caPath = serviceAccountDirectory + "/ca.crt"
        guard let ca = FileManager.default.contents(atPath: caPath) else {
            throw LoadError(description: "cannot read the service-account CA bundle \(caPath)")
        }
        let namespace =
            (try? String(contentsOfFile: serviceAccountDirectory + "/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "default"
        return ClusterConfig(
            server: "https://\(hostPart):\(port)", tls: TLSSettings(caPEM: Array(ca)),
            token: TokenSource(file: serviceAccountDirectory + "/token"), namespace: namespace)
    }

    /// From a kubeconfig file (current context unless `context` is given).
    package static func kubeconfig(path: String, context wanted: String? = nil) throws -> ClusterConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "cannot read kubeconfig \(path)")
        }
        guard let root = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) as? [String: Any] else {
            throw LoadError(description: "\(path): not a kubeconfig (expected a YAML mapping)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        func named(_ list: String, _ name: String, _ inner: String) throws -> [String: Any] {
            let entries = root[list] as? [[String: Any]] ?? []
            guard let entry = entries.first(where: { $0["name"] as? String == name }),
                let body = entry[inner] as? [String: Any]
            else {
                throw LoadError(description: "\(path): \(list) has no entry named \"\(name)\"")
            }
            return body
        }
        func file(_ p: String) throws -> [UInt8] {
            let full = p.hasPrefix("/") ? p : dir + "/" + p
            guard let d = FileManager.default.contents(atPath: full) else {
                throw LoadError(description: "\(path): cannot read \(full)")
            }
            return Array(d)
        }
        func base64(_ s: String, _ field: String) throws -> [UInt8] {
            guard let d = Data(base64Encoded: s.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw LoadError(description: "\(path): \(field) is not valid base64")
            }
            return Array(d)
        }
        guard let contextName = wanted ?? root["current-context"] as? String, !contextName.isEmpty else {
            throw LoadError(description: "\(path): no current-context")
        }
        let context = try named("contexts", contextName, "context")
        guard let clusterName = context["cluster"] as? String else {
            throw LoadError(description: "\(path): context \"\(contextName)\" names no cluster")
        }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"] as? String, !server.isEmpty else {
            throw LoadError(description: "\(path): cluster \"\(clusterName)\" has no server")
        }
        var tls = TLSSettings()
        if let ca = cluster["certificate-authority-data"] as? String {
            tls.caPEM = try base64(ca, "certificate-authority-data")
        } else if let ca = cluster["certificate-authority"] as? String {
            tls.caPEM = try file(ca)
        }
        tls.insecureSkipVerify = cluster["insecure-skip-tls-verify"] as? Bool ?? false
        var token: TokenSource?
        if let userName = context["user"] as? String, !userName.isEmpty {
            let user = try named("users", userName, "user")
            if user["exec"] != nil || user["auth-provider"] != nil {
                throw LoadError(
                    description:
                        "\(path): user \"\(userName)\" uses exec/auth-provider credentials, which k8slb does not run; use a token or client certificate"
                )
            }
            if let t = user["token"] as? String {
                token = TokenSource(token: t)
            } else if let f = user["tokenFile"] as? String {
                token = TokenSource(file: f.hasPrefix("/") ? f : dir + "/" + f)
            }
            if let c = user["client-certificate-data"] as? String {
                tls.clientCertificatePEM = try base64(c, "client-certificate-data")
            } else if let c = user["client-certificate"] as? String {
                tls.clientCertificatePEM = try file(c)
            }
            if let k = user["client-key-data"] as? String {
                tls.clientKeyPEM = try base64(k, "client-key-data")
            } else if let k = user["client-key"] as? String {
                tls.clientKeyPEM = try file(k)
            }
        }
        return ClusterConfig(
            server: server, tls: tls, token: token, namespace: context["namespace"] as? String ?? "default")
    }
}
