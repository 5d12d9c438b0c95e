import ArgumentParser
import Foundation
import TestAPIServer

/// `k8slb-testapi`: the project's Kubernetes API server for tests and the local demo.
@main
struct TestAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8slb-testapi",
        abstract: "A Kubernetes API server for k8slb tests and the local demo (in memory, plain HTTP).",
        discussion: """
            Serves Services (+status), ConfigMaps, Endpoints, Nodes, Events, Namespaces, EndpointSlices and \
            Leases with resourceVersions, watches (bookmarks, 410 Gone), patches and Table output, so real \
            kubectl works against it. Fault injection: POST /testapi/close-watches, /testapi/compact, \
            /testapi/fail?code=500&count=3, /testapi/latency?ms=100.
            """)

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen = "127.0.0.1:8080"

    @Option(help: "How many past events a watch can replay before clients get 410 Gone.")
    var watchWindow = 1000

    @Option(help: "Seconds between BOOKMARK events on watches that allow them.")
    var bookmarkSeconds = 5

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let server = TestAPIServer(windowSize: watchWindow, bookmarkInterval: .seconds(bookmarkSeconds))
        let bound = try await server.start(host: host, port: port)
        print("k8slb-testapi listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound)")
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
