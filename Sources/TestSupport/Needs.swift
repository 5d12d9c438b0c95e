import Foundation
import Glibc
package import Testing

/// What an integration test needs from the machine. Outside CI, a test whose needs are not met is
/// skipped — visibly, with the reason (`swift test` lists it as skipped, not passed). With
/// `CI=true` it always runs, and fails on what is missing (its own guard records the Issue).
package struct Needs: Sendable {
    package var root = false
    package var tools: [String] = []
    /// Executables of this package built beside the tests.
    package var built: [String] = []

    /// Root (namespaces) and these tools on PATH.
    package static func root(_ tools: String...) -> Needs { Needs(root: true, tools: tools) }
    /// These tools on PATH.
    package static func tools(_ tools: String...) -> Needs { Needs(tools: tools) }
    /// These package executables, built.
    package static func built(_ names: String...) -> Needs { Needs(built: names) }

    package func and(built names: String...) -> Needs {
        var n = self
        n.built += names
        return n
    }

    /// What is missing ("" when nothing is).
    package var missing: String {
        var out: [String] = []
        if root && getuid() != 0 { out.append("root") }
        out += tools.filter { which($0) == nil }
        out += built.filter { builtExecutable($0) == nil }.map { "\($0) (not built)" }
        return out.joined(separator: ", ")
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test when `needs` are met, or always under CI=true; otherwise a visible skip.
    package static func needs(_ needs: Needs) -> Self {
        let missing = needs.missing
        return .enabled(if: requireIntegration || missing.isEmpty, Comment(rawValue: "needs \(missing)"))
    }
}

/// True when benchmark-shaped tests run: `scripts/bench` sets K8SLB_BENCHMARKS=1.
package let runBenchmarks = ProcessInfo.processInfo.environment["K8SLB_BENCHMARKS"] == "1"

extension Trait where Self == ConditionTrait {
    /// A benchmark-shaped test (real daemons under load, timing figures): run by `scripts/bench`
    /// (`K8SLB_BENCHMARKS=1`, its smoke run under `scripts/test`), and skipped — visibly, with this
    /// reason — by a plain `swift test`, so the test run never does it twice. Selected by this trait,
    /// not by name: a rename cannot drop a benchmark from either run.
    package static var benchmark: Self {
        .enabled(if: runBenchmarks, "benchmark-shaped: run by scripts/bench (K8SLB_BENCHMARKS=1)")
    }
}
