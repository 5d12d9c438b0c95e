import Foundation
import Glibc
import TestSupport
import Testing

/// The README's main command, `scripts/demo`, run in CI against the binaries just built: it must
/// get an EXTERNAL-IP, serve through the VIP from both pods, and keep serving when the LB node
/// holding the VIP loses its link; it prints where the metrics are and, with Prometheus installed,
/// what Prometheus saw of the failover.
@Suite(
    .serialized,
    .needs(
        .root("bash", "kubectl", "haproxy", "keepalived", "curl", "python3").and(
            built: "k8slb-actor", "k8slb-watcher", "k8slb-testapi"))) struct DemoTests
{
    @Test func demoScriptRunsEndToEnd() throws {
        guard getuid() == 0, let bash = which("bash"), which("kubectl") != nil, which("keepalived") != nil,
            which("haproxy") != nil
        else {
            if requireIntegration {
                Issue.record("root, bash, kubectl, haproxy and keepalived are required when CI=true")
            }
            return
        }
        guard let actor = builtExecutable("k8slb-actor") else {
            Issue.record("k8slb-actor not built beside the tests")
            return
        }
        let binDir = URL(fileURLWithPath: actor).deletingLastPathComponent()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var env = ProcessInfo.processInfo.environment
        env["K8SLB_DEMO_BIN"] = binDir.path
        let result = try run(bash, [root.appendingPathComponent("scripts/demo").path], environment: env)
        let out = result.output.replacingOccurrences(of: "\u{1B}[1m", with: "").replacingOccurrences(
            of: "\u{1B}[0m", with: "")
        #expect(result.status == 0, "scripts/demo failed:\n\(out)")
        #expect(
            out.contains("hello from pod-1") && out.contains("hello from pod-2"), "both pods answer through the VIP")
        #expect(
            out.range(of: #"web +LoadBalancer +10\.96\.\d+\.\d+ +192\.0\.2\.2\d\d "#, options: .regularExpression)
                != nil, "EXTERNAL-IP shown")
        let probe = out.split(separator: "\n").first { $0.hasPrefix("probe: ") } ?? ""
        let numbers = probe.split(separator: " ").compactMap { Int($0) }
        print("demo: \(probe)")
        #expect(numbers.count == 2 && numbers[0] > 100 && numbers[1] <= 25, "probe during the failover: \(probe)")
        #expect(out.contains("is now held by: lb-"))
        #expect(out.contains("metrics: http://127.0.0.1:19090/metrics (watcher)"), "the demo prints the metrics URLs")
        // With Prometheus (always under CI), the demo shows the failover as Prometheus saw it.
        if which("prometheus") != nil || requireIntegration {
            let seen = out.split(separator: "\n").filter { $0.contains(" VIP held by ") || $0.hasPrefix("  alert") }
            for line in seen { print("demo: prometheus:\(line)") }
            let holders = Set(
                seen.filter { $0.contains(" VIP held by ") }.compactMap { $0.split(separator: " ").dropFirst(4).first })
            #expect(holders.count == 2, "Prometheus saw the VIP on one node, then on the other: \(seen)")
        }
    }
}
