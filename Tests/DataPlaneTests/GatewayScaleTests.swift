import BenchmarkFixtures
import Core
import DataPlane
import Foundation
import Glibc
import TestSupport
import Testing

/// A Gateway with 1,000 HTTPRoutes (K8SLB_GW_ROUTES) on the real HAProxy: how long the first start
/// and a reload (one route more: `haproxy -c`, rename, SIGUSR2, confirmed by `show proc`) take.
@Suite(.serialized, .benchmark, .needs(.root("ip", "haproxy"))) struct GatewayScaleTests {
    @Test func thousandRoutesStartAndReload() throws {
        guard let ns = try CheckNamespace.make(), let haproxy = which("haproxy"), let ip = which("ip") else { return }
        defer { ns.delete() }
        let routes = Int(ProcessInfo.processInfo.environment["K8SLB_GW_ROUTES"] ?? "1000") ?? 1000
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "k8slb-gwscale-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try UserConfig.parse(
            #"{"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.20"}}}"#
        ).config
        var options = HAProxyRenderer.Options()
        options.statsSocket = dir.appendingPathComponent("stats.sock").path
        func text(_ n: Int) -> String {
            let (inputs, endpoints) = BenchmarkFixtures.gateway(routes: n)
            let doc = BenchmarkFixtures.document(GatewayPlan.make(inputs))
            return HAProxyRenderer(options: options).render(
                ProxyPlan.make(doc, endpoints: endpoints, certificates: .init(), engine: .haproxy), config: config,
                vips: 1
            ).text
        }
        let proxy = HAProxyProcess(
            paths: .init(binary: haproxy, directory: dir.path), launcher: [ip, "netns", "exec", ns.name])
        defer { proxy.stopBlocking() }
        let first = text(routes)
        let second = text(routes + 1)
        var clock = ContinuousClock.now
        #expect(try proxy.applyBlocking(first) == .started)
        let started = ContinuousClock.now - clock
        clock = ContinuousClock.now
        guard case .reloaded = try proxy.applyBlocking(second) else {
            Issue.record("one route more is a reload")
            return
        }
        let reloaded = ContinuousClock.now - clock
        func ms(_ d: Duration) -> String {
            String(format: "%.0f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
        }
        print(
            "gateway scale: \(routes) HTTPRoutes on one Gateway (\(first.utf8.count) bytes): HAProxy start \(ms(started)), reload with one route more \(ms(reloaded)) (haproxy -c, rename, SIGUSR2, show proc)"
        )
    }
}
