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
