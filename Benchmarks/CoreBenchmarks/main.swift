// Core benchmarks: run with `swift run -c release CoreBenchmarks`.
// Prints allocation throughput from a /8 and a /64, restore of 10,000 assignments, and
// encode+decode size/time of the assignment document for 10,000 Services.
import BenchmarkFixtures
import CLibc
import Core
import Foundation

// As the actor does at start: big render buffers stay in the heap between syncs.
clibc_keep_large_buffers()

func measure<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let clock = ContinuousClock()
    var result: T?
    let elapsed = try clock.measure { result = try body() }
    return (result!, elapsed)
}

/// `runs` timings of `body`, sorted, and its last result.
func timings<T>(_ runs: Int, _ body: () throws -> T) rethrows -> (T, [Duration]) {
    var times: [Duration] = []
    var last: T?
    for _ in 0..<runs {
        let (r, d) = try measure(body)
        last = r
        times.append(d)
    }
    return (last!, times.sorted())
}

/// Median of `runs` timings (renders: the first run also pays for faulting in fresh memory).
func median<T>(_ runs: Int = 5, _ body: () throws -> T) rethrows -> (T, Duration) {
    let (r, times) = try timings(runs, body)
    return (r, times[runs / 2])
}

/// The first (cold) run, then the median and worst of `runs` more: the targets are on the worst
/// of the warm runs, which is what every sync after an actor's first meets (issue 23). The cold
/// run pays for faulting in fresh pages: glibc's malloc maps a buffer this big afresh until the
/// first free raises its mmap threshold.
func coldMedianAndWorst<T>(_ runs: Int = 5, _ body: () throws -> T) rethrows -> (
    T, cold: Duration, median: Duration, worst: Duration
) {
    let (_, cold) = try measure(body)
    let (r, times) = try timings(runs, body)
    return (r, cold, times[runs / 2], times[runs - 1])
}

func ms(_ d: Duration) -> String {
    String(format: "%.1f ms", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
}

/// Resident set size in KiB (Linux), to show memory follows assignments, not range size.
func rssKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return -1 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

func pool(_ name: String, _ network: String) -> Pool {
    let range = try! IPRange(parsing: network)
    return Pool(name: try! PoolName(parsing: name), network: range, range: range)
}

func allocate(_ count: Int, from pool: Pool) throws -> (IPAllocator, Duration) {
    var alloc = IPAllocator(pools: [pool])
    let (_, d) = try measure {
        for i in 0..<count {
            try alloc.assign(
                AllocationRequest(
                    service: ServiceKey(namespace: "bench", name: "s\(i)"), pools: [pool.name],
                    ports: [PortKey(.tcp, 80)]))
        }
    }
    return (alloc, d)
}

// K8SLB_BENCH_SMOKE=1: a tenth of the sizes (a quick check that every figure still computes).
let smoke = ProcessInfo.processInfo.environment["K8SLB_BENCH_SMOKE"] != nil
let n = smoke ? 10_000 : 100_000
let services = smoke ? 1_000 : 10_000
print("k8slb Core benchmarks (\(n) = N)")
let rss0 = rssKiB()
let (a8, d8) = try allocate(n, from: pool("v4", "10.0.0.0/8"))
let rss8 = rssKiB()
print(
    "allocate N dynamic from a /8:   \(ms(d8))  (\(Int(Double(n) / (Double(d8.components.attoseconds) / 1e18 + Double(d8.components.seconds))))/s), pool free after: \(a8.usage[0].dynamicFree)"
)
let (a64, d64) = try allocate(n, from: pool("v6", "2001:db8::/64"))
let rss64 = rssKiB()
print(
    "allocate N dynamic from a /64:  \(ms(d64))  (\(Int(Double(n) / (Double(d64.components.attoseconds) / 1e18 + Double(d64.components.seconds))))/s), pool free after: \(a64.usage[0].dynamicFree)"
)
print(
    "RSS growth: /8 run +\(rss8 - rss0) KiB, /64 run +\(rss64 - rss8) KiB for N assignments each (\((rss8 - rss0) * 1024 / n) and \((rss64 - rss8) * 1024 / n) bytes per assignment): memory follows assignments, not range size"
)

// Release every other address, then allocate again: fragmented free space (50,000 intervals).
var frag = a8
let (_, dRelease) = measure {
    for i in stride(from: 0, to: n, by: 2) { frag.release(ServiceKey(namespace: "bench", name: "s\(i)")) }
}
let fragPool = frag.usage[0].pool
let (_, dRefill) = try measure {
    for i in stride(from: 0, to: n, by: 2) {
        try frag.assign(
            AllocationRequest(
                service: ServiceKey(namespace: "bench2", name: "s\(i)"), pools: [fragPool], ports: [PortKey(.tcp, 80)]))
    }
}
print("release N/2 (fragmenting) then re-allocate N/2: \(ms(dRelease)) + \(ms(dRefill))")

// Restore 10,000 (1,000 in a smoke run) existing assignments spread over a /16 (what a restarting watcher does).
let restorePool = pool("default", "172.16.0.0/16")
let existing = (0..<services).map { i in
    (
        AllocationRequest(service: ServiceKey(namespace: "ns\(i % 100)", name: "svc\(i)"), ports: [PortKey(.tcp, 443)]),
        IPAddress(ipv4: 0xAC10_0000 + UInt32((i * 6151) % 65_000 + 1))
    )
}
var restored = IPAllocator(pools: [restorePool])
let (_, dRestore) = try measure { for (r, a) in existing { try restored.restore(r, addresses: [a]) } }
let (_, dReassign) = try measure { for (r, _) in existing { try restored.assign(r) } }
print(
    "restore \(services) assignments: \(ms(dRestore)); re-assign all (idempotent): \(ms(dReassign)); free after: \(restored.usage[0].dynamicFree)"
)

// The assignment document for 10,000 Services.
var vips: [AssignmentDocument.VIP] = []
for i in 0..<services {
    var entry = AssignmentDocument.ServiceEntry(
        key: ServiceKey(namespace: "team-\(i % 50)", name: "service-\(i)"),
        ports: [
            .init(name: "http", port: 80, targetPort: .number(8080)),
            .init(name: "https", port: 443, targetPort: .name("web-tls")),
        ])
    if i % 7 == 0 { entry.ssl = .on }
    vips.append(.init(address: IPAddress(ipv4: 0xAC10_0000 + UInt32(i + 1)), pool: .default, services: [entry]))
}
let document = AssignmentDocument(vips: vips)
let (single, dEncode1) = try measure { try JSONEncoder().encode(document) }
let (shards, dEncode) = try measure { try AssignmentShards.encode(document) }
let (decoded, dDecode) = try measure { try AssignmentShards.decode(index: shards.indexBytes, shards: shards.shards) }
precondition(decoded == document)
print(
    "document, \(services) services: \(single.count) bytes unsharded; sharded into \(shards.shards.count) ConfigMaps of \(shards.shards.map(\.count).map(String.init).joined(separator: ", ")) bytes (limit \(AssignmentShards.defaultMaxShardBytes) per shard, 1 MiB per object)"
)
print("encode (sharded): \(ms(dEncode)); decode+verify: \(ms(dDecode)); plain encode: \(ms(dEncode1))")

// Rendering for 10,000 Services (2 ports each, 3 endpoints per port, 3 LB nodes).
let renderConfig = try UserConfig.parse(
    #"{"pools":{"default":{"network":"172.16.0.0/16","range":"172.16.0.0/16","interface":"eth0"}}}"#
).config
var endpointMap = EndpointMap()
for vip in document.vips {
    for entry in vip.services {
        for p in entry.ports {
            endpointMap.endpoints[.init(service: entry.key, port: p.port, proto: p.proto)] =
                (0..<3).map {
                    EndpointAddress(
                        address: IPAddress(ipv4: 0x0A00_0000 + UInt32($0) << 16 + UInt32(p.port)), port: 8080)
                }
        }
    }
}
let nodes = ["lb-a", "lb-b", "lb-c"]
let (plan, dPlan) = measure {
    VRRPPlan.make(vips: document.vips.map { ($0.address, $0.pool) }, nodes: nodes, previous: [], vridOffset: 0)
}
let planned = AssignmentDocument(
    vips: document.vips.map {
        var v = $0
        v.vrid = plan.vridOf[v.address]
        return v
    }, nodes: nodes, groups: plan.groups)
var haOptions = HAProxyRenderer.Options()
haOptions.poolsWithCertificates = [.default]
// `K8SLB_PROFILE_RENDER=N`: render haproxy.cfg N times and stop (for `perf record`).
if let n = ProcessInfo.processInfo.environment["K8SLB_PROFILE_RENDER"].flatMap(Int.init) {
    let (_, times) = timings(n) {
        HAProxyRenderer(options: haOptions).render(planned, endpoints: endpointMap, config: renderConfig)
    }
    print("haproxy.cfg \(n) renders: median \(ms(times[n / 2])), worst \(ms(times[n - 1])); all: \(times.map(ms))")
    exit(0)
}
// haproxy.cfg as the actor gets it: plan, print, and the previous result freed.
let (haproxyText, dHAProxyCold, dHAProxy, dHAProxyWorst) = coldMedianAndWorst {
    HAProxyRenderer(options: haOptions).render(planned, endpoints: endpointMap, config: renderConfig)
}
let haPlan = ProxyPlan.make(planned, endpoints: endpointMap, certificates: haOptions.certificates, engine: .haproxy)
let (_, dProxyPlan) = median {
    ProxyPlan.make(planned, endpoints: endpointMap, certificates: haOptions.certificates, engine: .haproxy)
}
let (_, dPrint) = median {
    HAProxyRenderer(options: haOptions).render(haPlan, config: renderConfig, vips: planned.vips.count)
}
print(
    "haproxy.cfg for \(services) services: median \(ms(dHAProxy)), worst of 5 \(ms(dHAProxyWorst)) (first, cold: \(ms(dHAProxyCold))); stages (medians): ProxyPlan \(ms(dProxyPlan)), print \(ms(dPrint)), freeing the plan and the server lists the rest"
)
let (kaText, dKeepalived) = median {
    KeepalivedRenderer(options: .init(node: "lb-a", interfaces: [:])).render(planned, config: renderConfig).text
}
print(
    "render for \(services) services (median of 5): VRRP plan \(ms(dPlan)) (\(plan.groups.count) groups); haproxy.cfg \(ms(dHAProxy)) (\(haproxyText.utf8.count) bytes); keepalived.conf \(ms(dKeepalived)) (\(kaText.utf8.count) bytes)"
)
let (nginxText, dNginx) = median {
    NginxRenderer(options: NginxRenderer.Options()).render(planned, endpoints: endpointMap, config: renderConfig)
}
print("render for \(services) services: nginx.conf \(ms(dNginx)) (\(nginxText.utf8.count) bytes)")

// What one actor sync costs at this size: EndpointSlices → ready endpoints, haproxy.cfg with its
// server lists, and the skeleton compare that decides Runtime API vs reload.
var slices: [ServiceKey: [EndpointSliceInput]] = [:]
for vip in planned.vips {
    for entry in vip.services where slices[entry.key] == nil {
        let ports = entry.ports.map { EndpointSliceInput.Port(name: $0.name, proto: $0.proto, port: 8080) }
        let addresses = (0..<3).map { IPAddress(ipv4: 0x0A00_0000 + UInt32($0) << 16 + UInt32(entry.ports[0].port)) }
        slices[entry.key] = [
            EndpointSliceInput(
                service: entry.key, ports: ports, endpoints: addresses.map { .init(addresses: [$0], ready: true) })
        ]
    }
}
let (resolved, dResolve) = median { EndpointMap.resolve(planned, slices: slices) }
let (rendered, dRender) = median {
    HAProxyRenderer(options: haOptions).renderWithServers(planned, endpoints: resolved, config: renderConfig)
}
let (_, dSyncCold, dSync, dSyncWorst) = coldMedianAndWorst {
    HAProxyRenderer(options: haOptions).renderWithServers(
        planned, endpoints: EndpointMap.resolve(planned, slices: slices), config: renderConfig)
}
print(
    "actor sync for \(services) services: resolve endpoints \(ms(dResolve)); render with servers and skeleton digest \(ms(dRender)) (\(rendered.servers.count) backends); total median \(ms(dSync)), worst of 5 \(ms(dSyncWorst)) (first, cold: \(ms(dSyncCold)))"
)

// Gateway API at scale: one Gateway, 1,000 HTTPRoutes (BenchmarkFixtures.gateway): the watcher's
// plan and the actor's plan and render.
let routeCount = ProcessInfo.processInfo.environment["K8SLB_GW_ROUTES"].flatMap { Int($0) } ?? 1000
let (gwInputs, gwEndpoints) = BenchmarkFixtures.gateway(routes: routeCount)
let (gwPlan, dGatewayPlan) = median { GatewayPlan.make(gwInputs) }
let gwDoc = BenchmarkFixtures.document(gwPlan)
let (gwText, dGatewayRender) = median {
    HAProxyRenderer(options: haOptions).render(
        ProxyPlan.make(gwDoc, endpoints: gwEndpoints, certificates: .init(), engine: .haproxy), config: renderConfig,
        vips: 1
    ).text
}
print(
    "gateway with \(routeCount) HTTPRoutes (median of 5): GatewayPlan \(ms(dGatewayPlan)); ProxyPlan + haproxy.cfg \(ms(dGatewayRender)) (\(gwText.utf8.count) bytes)"
)
