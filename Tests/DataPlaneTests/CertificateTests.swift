import Certificates
import Foundation
import TestSupport
import Testing

@Suite(.needs(.tools("openssl"))) struct CertificateTests {
    @Test func everyProblemIsRecognised() throws {
        guard let openssl = which("openssl") else {
            if requireIntegration { Issue.record("openssl is required when CI=true") }
            return
        }
        let scratch = try Scratch(pools: ["good", "other"])
        let dir = scratch.dir.path
        // good.pem: certificate + key. A valid bundle passes.
        guard case .success(let info) = CertificateCheck.bundle(at: "\(dir)/good.pem") else {
            Issue.record("a valid bundle must pass")
            return
        }
        #expect(info.notAfter > Date() && info.notBefore <= Date())
        // nginx pair.
        guard case .success = CertificateCheck.pair(certificate: "\(dir)/good.crt", key: "\(dir)/good.key") else {
            Issue.record("a valid pair must pass")
            return
        }
        // Missing file.
        #expect(CertificateCheck.bundle(at: "\(dir)/absent.pem") == .failure(.missing("\(dir)/absent.pem")))
        // Garbage.
        try "not a certificate\n".write(toFile: "\(dir)/junk.pem", atomically: true, encoding: .utf8)
        #expect(CertificateCheck.bundle(at: "\(dir)/junk.pem") == .failure(.noCertificate("\(dir)/junk.pem")))
        // Certificate without key.
        #expect(CertificateCheck.bundle(at: "\(dir)/good.crt") == .failure(.noPrivateKey("\(dir)/good.crt")))
        // Certificate of one key with another key.
        let mixed =
            try String(contentsOfFile: "\(dir)/good.crt", encoding: .utf8)
            + String(contentsOfFile: "\(dir)/other.key", encoding: .utf8)
        try mixed.write(toFile: "\(dir)/mixed.pem", atomically: true, encoding: .utf8)
        #expect(CertificateCheck.bundle(at: "\(dir)/mixed.pem") == .failure(.keyMismatch("\(dir)/mixed.pem")))
        // Expired: the 1-day certificate, checked two days from now.
        let later = Date().addingTimeInterval(2 * 86_400)
        guard case .failure(.expired) = CertificateCheck.bundle(at: "\(dir)/good.pem", now: later) else {
            Issue.record("expired certificate not detected")
            return
        }
        guard
            case .failure(.notYetValid) = CertificateCheck.bundle(
                at: "\(dir)/good.pem", now: Date().addingTimeInterval(-86_400))
        else {
            Issue.record("not-yet-valid certificate not detected")
            return
        }
        _ = openssl
    }
}
