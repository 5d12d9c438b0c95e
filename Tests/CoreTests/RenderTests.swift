import Foundation
import Testing
@testable import Core
import TestSupport

extension RenderFixture {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/golden")

    /// Compares with the golden file byte for byte; K8SLB_RECORD_GOLDEN=1 rewrites it.
    static func expectGolden(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["K8SLB_RECORD_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(text == expected, "differs from \(name); re-record with K8SLB_RECORD_GOLDEN=1 if intended", sourceLocation: sourceLocation)
    }
}

@Suite struct RenderGoldenTests {
    @Test func haproxyGolden() throws { try RenderFixture.expectGolden(RenderFixture.haproxy(), "haproxy.cfg") }
    @Test func keepalivedGoldenPerNode() throws {
        for node in ["lb-a", "lb-b"] { try RenderFixture.expectGolden(RenderFixture.keepalived(node: node), "keepalived-\(node).conf") }
    }

    @Test func deterministic() {
        #expect(RenderFixture.haproxy() == RenderFixture.haproxy())
        #expect(RenderFixture.keepalived() == RenderFixture.keepalived())
    }

    @Test func missingCertificateDisablesTLSForThatPoolOnly() {
        let text = RenderFixture.haproxy(certs: [try! PoolName(parsing: "v6")])
        #expect(!text.contains("/etc/certs/default.pem"))
        #expect(text.contains("bind [2001:db8::10]:443 ssl crt /etc/certs/v6.pem"))
        #expect(text.contains("bind 192.0.2.10:443\n"))
    }

    @Test func prioritiesAreDistinctPerGroup() {
        let doc = RenderFixture.document
        for group in doc.groups {
            var seen = Set<Int>()
            for node in doc.nodes {
                let text = RenderFixture.keepalived(node: node)
                let header = "vrrp_instance VI_\(group.family == .ipv4 ? 4 : 6)_\(group.vrid) {\n"
                guard let start = text.range(of: header) else { continue }
                let rest = text[start.upperBound...]
                let line = rest.split(separator: "\n").first { $0.contains("priority") }!
                seen.insert(Int(line.split(separator: " ").last!)!)
            }
            #expect(seen.count == doc.nodes.count, "group \(group.vrid): \(seen)")
        }
    }
}
