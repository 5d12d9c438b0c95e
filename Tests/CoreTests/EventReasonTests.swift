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
