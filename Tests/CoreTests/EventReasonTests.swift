import Core
import Foundation
import Testing

/// The README's Events table is the `EventReason` table: same reasons, types and meanings.
@Suite struct EventReasonTests {
    @Test func readmeTableMatchesTheEnum() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try #require(text.range(of: "## Events\n")).upperBound
        let rows = text[section...].split(separator: "\n").drop { !$0.hasPrefix("| reason") }.dropFirst(2).prefix {
            $0.hasPrefix("| `")
        }
        let documented = rows.map(String.init)
        let expected = EventReason.allCases.map { "| `\($0.rawValue)` | \($0.type) | \($0.meaning) |" }
        #expect(documented == expected)
    }
}

/// The `k8slb.io/Serving` condition from the nodes holding each VIP.
@Suite struct ServingConditionTests {
    static let a = try! IPAddress(parsing: "192.0.2.50")
    static let b = try! IPAddress(parsing: "192.0.2.51")

    @Test func everyReasonFromTheHolders() {
        let one = ServiceConditions.serving([Self.a], holders: [Self.a: ["lb-a"]], bgp: false)
        #expect(one.status && one.reason == "Serving" && one.message == "192.0.2.50 on lb-a")
        let none = ServiceConditions.serving([Self.a, Self.b], holders: [Self.a: ["lb-a"]], bgp: false)
        #expect(!none.status && none.reason == "Pending")
        #expect(none.message == "192.0.2.50 on lb-a; 192.0.2.51 on no LB node")
        let two = ServiceConditions.serving([Self.a], holders: [Self.a: ["lb-b", "lb-a"]], bgp: false)
        #expect(two.status && two.reason == "VIPOnTwoNodes" && two.message == "192.0.2.50 on lb-a, lb-b")
        let bgp = ServiceConditions.serving([Self.a], holders: [Self.a: ["lb-b", "lb-a"]], bgp: true)
        #expect(bgp.status && bgp.reason == "Serving" && bgp.message == "192.0.2.50 announced by lb-a, lb-b")
    }
}
