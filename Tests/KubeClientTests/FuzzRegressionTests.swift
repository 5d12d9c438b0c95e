import Core
import Foundation
import FuzzTargets
import Testing

/// Every fuzz target (Sources/FuzzTargets) replays its seeds and every input that once crashed
/// it (Tests/Fixtures/fuzz/<target>/: `crash-*` files are inputs `scripts/fuzz` found, kept
/// after the fix), then a few thousand random mutations of them: a parser that traps on any of
/// them fails here, in every test run (the long runs are `scripts/fuzz`).
@Suite struct FuzzRegressionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz")

    static func inputs(_ target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
        let dir = fixtures.appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map {
            ($0, Array(try Data(contentsOf: dir.appendingPathComponent($0))))
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedsAndFoundCrashesRunAndMutationsDoNotTrap(_ target: FuzzTarget) throws {
        let inputs = try Self.inputs(target)
        #expect(!inputs.isEmpty, "every target has seeds in Tests/Fixtures/fuzz/\(target.rawValue)")
        for input in inputs { target.run(input.bytes) }
        // Byte flips, truncations and splices of the seeds (a fixed seed: the same every run).
        var rng = SplitMix(seed: 0x6b38_736c_6266_757a)
        var runs = 0
        for _ in 0..<2000 {
            var bytes = inputs[Int(rng.next() % UInt64(inputs.count))].bytes
            switch rng.next() % 4 {
            case 0 where !bytes.isEmpty:
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where !bytes.isEmpty: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 2:
                let other = inputs[Int(rng.next() % UInt64(inputs.count))].bytes
                bytes += other.suffix(Int(rng.next() % UInt64(other.count + 1)))
            default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(bytes.count + 1)))
            }
            target.run(bytes)
            runs += 1
        }
        print(
            "fuzz regression: \(target.rawValue): \(inputs.count) kept inputs (\(inputs.filter { $0.name.hasPrefix("crash-") }.map(\.name))) and \(runs) mutations ran"
        )
    }
}

extension FuzzRegressionTests {
    /// The NDP seeds are solicitations the responder answers (the fuzz target reaches past the
    /// header checks), and their truncations are not.
    @Test func ndpSeedsAreSolicitations() throws {
        let inputs = try Self.inputs(.ndp)
        let byName = Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.bytes) })
        let asked = try IPAddress(parsing: "2001:db8::1:5")
        let asker = try IPAddress(parsing: "2001:db8::100")
        let unspecified = try IPAddress(parsing: "::")
        let withOption = try #require(byName["solicitation-with-source-option.bin"])
        let ns = FuzzTarget.solicitation(withOption)
        #expect(ns?.target == asked)
        #expect(ns?.source == asker)
        #expect(ns?.mac == [0x02, 0, 0, 0, 0x01, 0])
        let dad = FuzzTarget.solicitation(try #require(byName["dad-probe.bin"]))
        #expect(dad?.target == asked && dad?.source == unspecified)
        for cut in [0, 14, 54, 77] { #expect(FuzzTarget.solicitation(Array(withOption.prefix(cut))) == nil) }
        var hops = withOption
        hops[21] = 64  // a hop limit other than 255: from off the link
        #expect(FuzzTarget.solicitation(hops) == nil)
    }
}

/// A small deterministic generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
