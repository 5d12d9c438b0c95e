import Core
import DataPlane
import Foundation
import Glibc
import Spawn
import TestSupport
import Testing

/// An operator's raw `global`/`defaults` (HAProxy) and main/`http` (nginx) lines that repeat a
/// setting k8slb renders: the operator's line wins, ours is left out (OperatorSettings), so the
/// real daemons load without an alert and run with the operator's value. The shipped example
/// config (`manifests/config/global.yaml`) loads in both without an alert or emergency.
@Suite(.serialized, .needs(.root("ip", "haproxy", "nginx", "openssl"))) struct OperatorSettingsTests {
    static let exampleFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("manifests/config/global.yaml")

    /// The config JSON of the example ConfigMap (the block under `config: |`).
    static func exampleConfig() throws -> UserConfig {
        let yaml = try String(contentsOf: exampleFile, encoding: .utf8)
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "config: |" }) else {
            throw NamespaceError(message: "no 'config: |' in \(exampleFile.path)")
        }
        let body = lines[(start + 1)...].prefix { $0.hasPrefix("    ") || $0.isEmpty }.joined(separator: "\n")
        return try UserConfig.parse(body).config
    }

    /// A daemon started in `ns` with its output in a file; stopped by PID.
    final class Running {
        let child: Child
        let log: String
        init(_ ns: CheckNamespace, _ ip: String, _ args: [String], log: String) throws {
            self.log = log
            child = try Child.start([ip, "netns", "exec", ns.name] + args, output: .file(log))
        }
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func stop() {
            if child.isRunning { kill(child.processIdentifier, SIGTERM) }
            child.waitUntilExit()
        }
    }

    /// HAProxy with `config` until its stats socket answers: `show info` and the log.
    static func haproxyInfo(_ config: UserConfig, _ scratch: Scratch, _ ns: CheckNamespace, ip: String, haproxy: String)
        async throws -> (info: String, log: String)
    {
        let socket = scratch.dir.appendingPathComponent("stats-\(UUID().uuidString.prefix(6)).sock").path
        let cfg = try scratch.write(
            RenderFixture.haproxy(certDirectory: scratch.dir.path, statsSocket: socket, config: config), "haproxy.cfg")
        let daemon = try Running(
            ns, ip, [haproxy, "-W", "-f", cfg], log: scratch.dir.appendingPathComponent("haproxy.log").path)
        defer { daemon.stop() }
        var info = ""
        for _ in 0..<100 where !info.contains("Maxconn:") {
            info = (try? MasterCLI.send("show info", socket: socket)) ?? ""
            if !info.contains("Maxconn:") { try await Task.sleep(for: .milliseconds(50)) }
        }
        return (info, daemon.output)
    }

    static func value(_ field: String, _ info: String) -> String? {
        info.split(separator: "\n").first { $0.hasPrefix(field + ": ") }.map { String($0.dropFirst(field.count + 2)) }
    }

    @Test func haproxyRunsTheOperatorsMaxconnAndTheExampleLoadsWithoutAnAlert() async throws {
        guard let haproxy = which("haproxy"), let ip = which("ip"), which("openssl") != nil else {
            if requireIntegration { Issue.record("haproxy, iproute2 and openssl are required when CI=true") }
            return
        }
        guard let ns = try CheckNamespace.make() else { return }
        defer { ns.delete() }
        let scratch = try Scratch(pools: ["default", "v6"])

        // The example: "maxconn 4096" in global, timeouts and retries in defaults.
        let example = try Self.exampleConfig()
        #expect(example.haproxy.global.map(\.text) == ["maxconn 4096"])
        let (info, log) = try await Self.haproxyInfo(example, scratch, ns, ip: ip, haproxy: haproxy)
        print("haproxy with the example config: Maxconn \(Self.value("Maxconn", info) ?? "?"); log:\n\(log)")
        #expect(Self.value("Maxconn", info) == "4096", "the operator's maxconn is the running one")
        // The load, up to "Loading success" (later lines are the fixture's unreachable pods
        // failing their health checks, not the config).
        let load = log.components(separatedBy: "Loading success").first ?? log
        #expect(log.contains("Loading success"), "\(log)")
        let configLines = load.split(separator: "\n").filter { $0.contains("[ALERT]") || $0.contains("[WARNING]") }
        #expect(configLines.isEmpty, "\(log)")
        let cfg = try String(contentsOfFile: scratch.dir.appendingPathComponent("haproxy.cfg").path, encoding: .utf8)
        #expect(cfg.components(separatedBy: "\n    maxconn ").count == 2, "one maxconn in global")
        #expect(
            cfg.components(separatedBy: "\n    timeout connect ").count == 2
                && cfg.contains("\n    timeout connect 5s\n    timeout check 1s"))
        #expect(cfg.contains("    retries 3\n") && !cfg.contains("    retries 2\n"))

        // Without the operator's line, k8slb's 8000 runs: the test tells the two apart.
        var plain = example
        plain.haproxy.global = []
        let ours = try await Self.haproxyInfo(plain, scratch, ns, ip: ip, haproxy: haproxy)
        #expect(Self.value("Maxconn", ours.info) == "8000")
        // Two-word settings and "no option": the operator's `no option redispatch` removes ours.
        var no = example
        no.haproxy.defaults = [
            try RawConfigLine(parsing: "no option redispatch"), try RawConfigLine(parsing: "timeout client 5m"),
        ]
        let text = RenderFixture.haproxy(certDirectory: scratch.dir.path, config: no)
        #expect(!text.contains("    option redispatch\n") && text.contains("    no option redispatch\n"))
        #expect(
            text.contains("    timeout client 5m\n") && !text.contains("    timeout client 30s\n")
                && text.contains("    timeout server 30s\n"))
        let checked = try run(haproxy, ["-c", "-f", try scratch.write(text, "no.cfg")])
        #expect(checked.status == 0 && !checked.output.contains("[ALERT]"), "\(checked.output)")
    }

    /// nginx refuses a repeated `worker_processes` outright; with the operator's line winning it
    /// loads, and runs the operator's number of workers. The example config loads without an
    /// emergency, and the temporary directories exist owned by the workers' user.
    @Test func nginxRunsTheOperatorsWorkerProcessesAndTheExampleLoadsCleanly() async throws {
        guard let nginx = which("nginx"), let ip = which("ip"), which("openssl") != nil else {
            if requireIntegration { Issue.record("nginx, iproute2 and openssl are required when CI=true") }
            return
        }
        guard let ns = try CheckNamespace.make() else { return }
        defer { ns.delete() }
        let scratch = try Scratch(pools: ["default", "v6"])
        chmod(scratch.dir.path, 0o755)

        func workers(_ config: UserConfig) async throws -> (count: Int, log: String) {
            let text = RenderFixture.nginx(
                certDirectory: scratch.dir.path, runDirectory: scratch.dir.path, config: config)
            var options = NginxRenderer.Options()
            options.runDirectory = scratch.dir.path
            let dirs = NginxRenderer(options: options).temporaryDirectories(config)
            try NginxProcess.prepareDirectories(dirs, owner: NginxRenderer.workerUser(config))
            for d in dirs {
                let attributes = try FileManager.default.attributesOfItem(atPath: d)
                #expect(attributes[.ownerAccountName] as? String == "nobody", "\(d) belongs to nginx's workers")
            }
            let conf = try scratch.write(text, "nginx.conf")
            let daemon = try Running(
                ns, ip, [nginx, "-e", "stderr", "-c", conf, "-g", "daemon off; master_process on;"],
                log: scratch.dir.appendingPathComponent("nginx.log").path)
            defer { daemon.stop() }
            var count = 0
            for _ in 0..<100 {
                // The master's children (its workers) by /proc: the master is the child of `ip netns exec`.
                guard
                    let master = try? String(
                        contentsOfFile: scratch.dir.appendingPathComponent("nginx.pid").path, encoding: .utf8
                    )
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                else {
                    try await Task.sleep(for: .milliseconds(50))
                    continue
                }
                let children =
                    (try? String(contentsOfFile: "/proc/\(master)/task/\(master)/children", encoding: .utf8)) ?? ""
                count = children.split(separator: " ").count
                if count > 0 {
                    try await Task.sleep(for: .milliseconds(200))
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return (count, daemon.output)
        }

        let example = try Self.exampleConfig()
        let loaded = try await workers(example)
        print("nginx with the example config: \(loaded.count) workers; log:\n\(loaded.log)")
        #expect(loaded.count == ProcessInfo.processInfo.activeProcessorCount, "worker_processes auto")
        #expect(
            !loaded.log.contains("[emerg]") && !loaded.log.contains("[alert]") && !loaded.log.contains("[warn]"),
            "\(loaded.log)")

        var config = example
        config.nginx.global = [try RawConfigLine(parsing: "worker_processes 1;")]
        config.nginx.http = [try RawConfigLine(parsing: "server_tokens on;")]
        let text = RenderFixture.nginx(certDirectory: scratch.dir.path, runDirectory: scratch.dir.path, config: config)
        #expect(!text.contains("worker_processes auto;") && !text.contains("server_tokens off;"))
        let one = try await workers(config)
        print("nginx with worker_processes 1 from the operator: \(one.count) workers")
        #expect(one.count == 1, "the operator's worker_processes runs")
        #expect(!one.log.contains("[emerg]"), "\(one.log)")
    }
}
