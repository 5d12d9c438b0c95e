import COpenSSL
package import Foundation

/// What is wrong with a pool's certificate. TLS is disabled for that pool only (with an Event),
/// never the whole proxy config: HAProxy refuses to start when one bundle is bad.
package enum CertificateProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(String)
    case unreadable(String, String)
    case noCertificate(String)
    case noPrivateKey(String)
    case keyMismatch(String)
    case expired(String, notAfter: Date)
    case notYetValid(String, notBefore: Date)

    package var description: String {
        switch self {
        case .missing(let p): "certificate \(p) does not exist"
        case .unreadable(let p, let why): "certificate \(p) cannot be read: \(why)"
        case .noCertificate(let p): "\(p) holds no PEM certificate"
        case .noPrivateKey(let p): "\(p) holds no PEM private key"
        case .keyMismatch(let p): "the private key in \(p) does not belong to its certificate"
        case .expired(let p, let d): "certificate \(p) expired at \(d)"
        case .notYetValid(let p, let d): "certificate \(p) is not valid before \(d)"
        }
    }

    /// Metric label.
    package var reason: String {
        switch self {
        case .missing: "Missing"
        case .unreadable: "Unreadable"
        case .noCertificate: "NoCertificate"
        case .noPrivateKey: "NoPrivateKey"
        case .keyMismatch: "KeyMismatch"
        case .expired: "Expired"
        case .notYetValid: "NotYetValid"
        }
    }
}

/// A usable certificate.
package struct CertificateInfo: Sendable, Equatable {
    package let notBefore: Date
    package let notAfter: Date
    /// The serial number, hex (which certificate a renewal brought).
    package var serial: String = ""
}

/// Checks PEM bundles with OpenSSL before they reach a proxy config.
package enum CertificateCheck {
    /// HAProxy: one file with the certificate (chain) and the key.
    package static func bundle(at path: String, now: Date = Date()) -> Result<CertificateInfo, CertificateProblem> {
        check(certificatePath: path, keyPath: path, now: now)
    }

    /// nginx: `<pool>.pem` and `<pool>.key`.
    package static func pair(certificate: String, key: String, now: Date = Date()) -> Result<
        CertificateInfo, CertificateProblem
    > {
        check(certificatePath: certificate, keyPath: key, now: now)
    }

    /// A certificate (chain) and key given as bytes (a `kubernetes.io/tls` Secret's `tls.crt`
    /// and `tls.key`); `name` is what messages call it.
    package static func pair(certificate: Data, key: Data, name: String, now: Date = Date()) -> Result<
        CertificateInfo, CertificateProblem
    > {
        check(certData: certificate, keyData: key, certificatePath: name, keyPath: name, now: now)
    }

    private static func check(certificatePath: String, keyPath: String, now: Date) -> Result<
        CertificateInfo, CertificateProblem
    > {
        guard FileManager.default.fileExists(atPath: certificatePath) else {
            return .failure(.missing(certificatePath))
        }
        guard let certData = FileManager.default.contents(atPath: certificatePath) else {
            return .failure(.unreadable(certificatePath, "permission denied or not a file"))
        }
        guard let keyData = keyPath == certificatePath ? certData : FileManager.default.contents(atPath: keyPath) else {
            return FileManager.default.fileExists(atPath: keyPath)
                ? .failure(.unreadable(keyPath, "permission denied")) : .failure(.missing(keyPath))
        }
        return check(certData: certData, keyData: keyData, certificatePath: certificatePath, keyPath: keyPath, now: now)
    }

    private static func check(certData: Data, keyData: Data, certificatePath: String, keyPath: String, now: Date)
        -> Result<CertificateInfo, CertificateProblem>
    {
        guard let cert = Certificate(pem: certData) else { return .failure(.noCertificate(certificatePath)) }
        guard let key = PrivateKey(pem: keyData) else { return .failure(.noPrivateKey(keyPath)) }
        guard X509_check_private_key(cert.pointer, key.pointer) == 1 else {
            ERR_clear_error()
            return .failure(.keyMismatch(certificatePath))
        }
        var t = time_t(now.timeIntervalSince1970)
        let notBefore = cert.time(X509_get0_notBefore(cert.pointer))
        let notAfter = cert.time(X509_get0_notAfter(cert.pointer))
        if X509_cmp_time(X509_get0_notAfter(cert.pointer), &t) < 0 {
            return .failure(.expired(certificatePath, notAfter: notAfter))
        }
        if X509_cmp_time(X509_get0_notBefore(cert.pointer), &t) > 0 {
            return .failure(.notYetValid(certificatePath, notBefore: notBefore))
        }
        return .success(CertificateInfo(notBefore: notBefore, notAfter: notAfter, serial: cert.serial))
    }
}

/// Owns an X509 (freed in deinit).
private final class Certificate {
    let pointer: OpaquePointer

    init?(pem: Data) {
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else { return nil }
        pointer = parsed
    }

    deinit { X509_free(pointer) }

    /// The serial number in hex ("" when it cannot be read).
    var serial: String {
        guard let asn1 = X509_get_serialNumber(pointer), let bn = ASN1_INTEGER_to_BN(asn1, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { copenssl_free(hex) }
        return String(cString: hex)
    }

    /// An ASN1_TIME as a Date (seconds since the epoch via ASN1_TIME_diff).
    func time(_ t: UnsafePointer<ASN1_TIME>?) -> Date {
        guard let t, let epoch = ASN1_TIME_set(nil, 0) else { return .distantPast }
        defer { ASN1_STRING_free(epoch) }
        var days: Int32 = 0
        var seconds: Int32 = 0
        guard ASN1_TIME_diff(&days, &seconds, epoch, t) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: Double(days) * 86_400 + Double(seconds))
    }
}

/// Owns an EVP_PKEY (freed in deinit).
private final class PrivateKey {
    let pointer: OpaquePointer

    init?(pem: Data) {
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else { return nil }
        pointer = parsed
    }

    deinit { EVP_PKEY_free(pointer) }
}

extension CertificateCheck {
    /// The linked OpenSSL ("OpenSSL 3.0.x …"), for `--version`.
    package static var libraryVersion: String { String(cString: copenssl_version()) }
}
