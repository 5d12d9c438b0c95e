import ArgumentParser
import Core
import Foundation

/// `k8slb-watcher check-config FILE`: validate a config before `kubectl apply`.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a k8slb config: the JSON, or a manifest holding ConfigMap \"global\" with data.config.",
        discussion: """
            Prints every error (one per line, "path: problem") and exits 1, or prints one line per \
            pool and exits 0. Warnings go to standard error and do not fail the check.
            """)

    @Argument(
        help: "The config JSON, or a ConfigMap (YAML or JSON, multi-document manifests too); '-' reads standard input.")
    var file: String

    func run() throws {
        let data: Data
        do {
            data =
                file == "-"
                ? FileHandle.standardInput.readDataToEndOfFile()
                : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            print("error: cannot read \(file): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        let report = ConfigCheck.run(String(decoding: data, as: UTF8.self))
        for line in report.warnings { FileHandle.standardError.write(Data("warning: \(line)\n".utf8)) }
        for line in report.lines { print(line) }
        if !report.ok { throw ExitCode.failure }
    }
}
