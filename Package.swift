// swift-tools-version:6.1
import PackageDescription

/// One strict setting list for every target (STYLE: declared once).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "k8slb",
    products: [
        .executable(name: "k8slb-watcher", targets: ["WatcherEntry"]),
        .executable(name: "k8slb-actor", targets: ["ActorEntry"]),
        // Both daemons in one file (the image's /usr/local/bin/k8slb; k8slb-watcher and
        // k8slb-actor are links to it): one copy of the Swift runtime and Foundation, not two.
        .executable(name: "k8slb", targets: ["Multicall"]),
        .executable(name: "k8slb-testapi", targets: ["TestAPI"]),
        .executable(name: "k8slb-fuzz", targets: ["Fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Pure domain logic: no I/O, no clocks, no randomness, no C imports.
        .target(name: "Core", swiftSettings: strict),

        // C libraries chosen by the project (system-library targets over shim.h).
        .systemLibrary(
            name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CNetlink", path: "Sources/CNetlink", pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        .systemLibrary(name: "CLibc", path: "Sources/CLibc"),
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),

        // The two daemons as libraries; the executables below only call their entry points.
        .target(
            name: "Watcher",
            dependencies: [
                "Core", "KubeClient", "Observability", "CLibc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/Watcher",
            swiftSettings: strict),
        .target(
            name: "Actor",
            dependencies: [
                "Core", "KubeClient", "Netlink", "Certificates", "DataPlane", "Observability",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/Actor",
            swiftSettings: strict),

        .executableTarget(name: "WatcherEntry", dependencies: ["Watcher"], swiftSettings: strict),
        .executableTarget(name: "ActorEntry", dependencies: ["Actor"], swiftSettings: strict),
        .executableTarget(name: "Multicall", dependencies: ["Actor", "Watcher"], swiftSettings: strict),

        // The one Kubernetes API client (libcurl), shared by watcher and actor.
        .target(
            name: "KubeClient",
            dependencies: ["CCurl", .product(name: "Yams", package: "Yams"),
                           .product(name: "DequeModule", package: "swift-collections"),
                           .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict),

        // OpenSSL certificate checks for the actor (a bad bundle disables TLS for its pool only).
        .target(name: "Certificates", dependencies: ["COpenSSL"], swiftSettings: strict),

        // Running the data-plane daemons: HAProxy master-worker with validated, verified reloads.
        // Child processes by posix_spawn (the daemons, their checks; tests' clients).
        .systemLibrary(name: "CSpawn", path: "Sources/CSpawn"),
        .target(name: "Spawn", dependencies: ["CSpawn"], swiftSettings: strict),

        .target(name: "DataPlane", dependencies: ["Core", "CLibc", "Spawn"], swiftSettings: strict),

        // libnl wrapper for the actor: VIPs, address listing, interface detection.
        .target(
            name: "Netlink",
            dependencies: ["Core", "CNetlink", "CLibc", "CAnnounce", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Gratuitous ARP and unsolicited NA (a holder re-announcing its VIPs after a split brain).
        .target(name: "CAnnounce", path: "Sources/CAnnounce"),

        // Metrics and health endpoints shared by both executables.
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),

        // The project's Kubernetes API server for tests and the demo (DESIGN §5).
        .target(
            name: "TestAPIServer",
            dependencies: [
                "CLibc",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "TestAPI",
            dependencies: ["TestAPIServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/TestAPI",
            swiftSettings: strict),

        // The parsers facing user and network bytes as fuzz targets; `k8slb-fuzz` runs them under
        // libFuzzer (scripts/fuzz builds it with -sanitize=fuzzer -DFUZZING) or replays files.
        .target(
            name: "FuzzTargets", dependencies: ["Core", "KubeClient", "TestAPIServer", "CAnnounce"],
            swiftSettings: strict),
        .executableTarget(name: "Fuzz", dependencies: ["FuzzTargets"], swiftSettings: strict),

        // Helpers shared by the test targets (fixtures, processes).
        .target(name: "TestSupport", dependencies: ["Core", "Spawn"], swiftSettings: strict),

        // Synthetic inputs at scale shared by CoreBenchmarks and the benchmark-shaped tests.
        .target(name: "BenchmarkFixtures", dependencies: ["Core"], swiftSettings: strict),

        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: ["Core", "BenchmarkFixtures", "CLibc"],
            path: "Benchmarks/CoreBenchmarks",
            swiftSettings: strict),

        .executableTarget(
            name: "KubeBenchmarks",
            dependencies: ["KubeClient", "TestAPIServer"],
            path: "Benchmarks/KubeBenchmarks",
            swiftSettings: strict),

        .executableTarget(
            name: "WatcherBenchmarks",
            dependencies: ["KubeClient", "TestAPIServer"],
            path: "Benchmarks/WatcherBenchmarks",
            swiftSettings: strict),

        .testTarget(
            name: "CoreTests",
            dependencies: [
                "Core", "TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strict),
        .testTarget(
            name: "KubeClientTests",
            dependencies: ["KubeClient", "TestAPIServer", "TestSupport", "Spawn", "FuzzTargets"],
            swiftSettings: strict),
        .testTarget(
            name: "DataPlaneTests",
            dependencies: ["Core", "TestSupport", "Spawn", "Netlink", "Certificates", "DataPlane", "CLibc", "BenchmarkFixtures", .product(name: "PropertyBased", package: "swift-property-based"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .testTarget(
            name: "WatcherTests",
            dependencies: ["Watcher", "Core", "KubeClient", "TestAPIServer", "TestSupport", "Spawn",
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // The real k8slb-actor binary on simulated LB nodes (network namespaces) against the
        // in-process test API server.
        .testTarget(
            name: "ActorTests",
            dependencies: ["Actor", "Core", "KubeClient", "TestAPIServer", "TestSupport", "Spawn", "DataPlane",
                           .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
    ]
)
