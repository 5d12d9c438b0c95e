import Foundation
import Testing

@testable import Watcher

@Suite struct ConfigCheckTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func shippedExampleManifestIsValid() throws {
        let text = try String(
            contentsOf: Self.repoRoot.appendingPathComponent("manifests/config/global.yaml"), encoding: .utf8)
        let report = ConfigCheck.run(text)
        #expect(report.ok)
        #expect(report.warnings.isEmpty)
        #expect(
            report.lines == [
                "pool default: IPv4, network 192.0.2.0/24, range 192.0.2.200-192.0.2.249 (50 dynamic), interface auto",
                "pool external: IPv4, network 198.51.100.0/24, range 198.51.100.50-198.51.100.74 (25 dynamic), interface eth0",
                "pool ipv6: IPv6, network 2001:db8:1::/64, range 2001:db8:1::1:0/112 (65536 dynamic), interface auto",
            ])
    }

    @Test func plainJSONWithErrorsListsEachOnItsOwnLine() {
        let report = ConfigCheck.run(
            #"""
            {"pools": {
              "external": {"network": "1.2.3.0/24", "range": "1.2.3.80-1.2.3.74"},
              "ipv6": {"network": "2001:468::/64", "range": "2001:468:101::/96"}
            }}
            """#)
        #expect(!report.ok)
        #expect(
            report.lines == [
                "error: pools.external.range: 1.2.3.80-1.2.3.74: start is after end",
                "error: pools.ipv6.range: 2001:468:101::/96: range is not inside network 2001:468::/64",
            ])
    }

    @Test func multiDocumentManifestPicksConfigMapGlobal() {
        let manifest = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: k8slb-system
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: other
              namespace: k8slb-system
            data:
              config: "not json"
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: global
              namespace: k8slb-system
            data:
              config: |
                {"pools": {"default": {"network": "192.0.2.0/24", "range": "192.0.2.10-192.0.2.19"}}}
            """
        let report = ConfigCheck.run(manifest)
        #expect(report.ok)
        #expect(
            report.lines == [
                "pool default: IPv4, network 192.0.2.0/24, range 192.0.2.10-192.0.2.19 (10 dynamic), interface auto"
            ])
    }

    @Test func configMapAsJSON() {
        let report = ConfigCheck.run(
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"global"},"data":{"config":"{\"pools\":{\"default\":{\"network\":\"192.0.2.0/24\",\"range\":\"192.0.2.10-192.0.2.11\",\"colour\":1}}}"}}"#
        )
        #expect(report.ok)
        #expect(
            report.warnings == [
                "pools.default.colour: unknown key ignored (known keys: network, range, interface, ha, backends, announce, communities, localPref)"
            ])
    }

    @Test func manifestWithoutConfigIsAnError() {
        #expect(
            ConfigCheck.run("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n").lines
                == ["error: no ConfigMap with data.config found (expected ConfigMap \"global\")"])
        #expect(!ConfigCheck.run("{\"pools\": ").ok)
        #expect(
            ConfigCheck.run("{\"pools\": ").lines == [
                "error: invalid JSON at line 1, column 11: unexpected end of input"
            ])
    }
}
