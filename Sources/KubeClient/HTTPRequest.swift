/// One HTTP request as the transport performs it.
package struct HTTPRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(String, String)]
    package var body: [UInt8]?
    /// Whole-request timeout in milliseconds; 0 = none (watch streams).
    package var timeoutMilliseconds: Int

    package init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeoutMilliseconds: Int = 30_000
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
    }
}

/// A complete HTTP response.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [String: String]
    package var body: [UInt8]
}

/// TLS and authentication settings applied to every request.
package struct TLSSettings: Sendable, Equatable {
    /// PEM of the CA bundle to trust; nil = the system store.
    package var caPEM: [UInt8]?
    /// Client certificate and key (PEM) for mutual TLS.
    package var clientCertificatePEM: [UInt8]?
    package var clientKeyPEM: [UInt8]?
    /// Only when the kubeconfig says `insecure-skip-tls-verify: true`.
    package var insecureSkipVerify = false
    /// False: the chain is checked against `caPEM`, the name in the certificate is not (a health
    /// probe of this node's own apiserver on 127.0.0.1, which its certificate need not name).
    package var verifyHostName = true

    package init(
        caPEM: [UInt8]? = nil, clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil,
        insecureSkipVerify: Bool = false
    ) {
        self.caPEM = caPEM
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// A transport-level failure (connection, TLS, timeout), keeping libcurl's code.
package struct TransportError: Error, Sendable, CustomStringConvertible {
    /// The raw `CURLcode`.
    package let code: Int
    package let message: String

    package var description: String { "transport error \(code): \(message)" }
}
