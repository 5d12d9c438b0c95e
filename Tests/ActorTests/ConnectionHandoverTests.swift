import Core
import Foundation
import Glibc
import KubeClient
import Spawn
import TestSupport
import Testing

/// Connections that survive a planned move (issue 22): 100 long-lived TCP connections (HAProxy
/// TCP mode to an echo backend that answers with the LB node it sees) and 10 HTTP keep-alive
/// clients on one VIP, exchanging data every 100 ms. The holder is labelled out, or its actor gets
/// SIGTERM: with the handover (default) no connection is reset and each keeps exchanging data
/// through the same node until the drain ends, while a new connection lands on the new holder at
/// once. Without it (`--no-connection-handover`, today's behaviour before it) the same move
/// resets them.
@Suite(.serialized)
struct ConnectionHandoverTests {
    /// The client: N TCP and M HTTP keep-alive connections, one exchange each per round (every
    /// 0.1 s) for `seconds`; then a JSON summary per kind: ok exchanges, resets, graceful closes,
    /// stalls, which LB node answered (TCP), and the last second each connection was fine.
    static let client = #"""
        import http.client, json, socket, sys, time
        vip, tcp_n, http_n, seconds, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
        start = time.time()
        tcp = [socket.create_connection((vip, 9000), timeout=1) for _ in range(tcp_n)]
        web = [http.client.HTTPConnection(vip, 80, timeout=1) for _ in range(http_n)]
        stats = {k: {"ok": 0, "reset": 0, "closed": 0, "stalled": 0, "other": 0, "last_ok": [], "nodes": {}}
                 for k in ("tcp", "http")}
        last = {("tcp", i): 0.0 for i in range(tcp_n)}
        last.update({("http", i): 0.0 for i in range(http_n)})
        dead = set()
        def fail(kind, i, e):
            dead.add((kind, i))
            s = stats[kind]
            if isinstance(e, ConnectionResetError): s["reset"] += 1
            elif isinstance(e, (socket.timeout, TimeoutError)): s["stalled"] += 1
            elif isinstance(e, (EOFError, http.client.RemoteDisconnected, BrokenPipeError, ConnectionAbortedError)): s["closed"] += 1
            else: s["other"] += 1; print("other:", kind, i, repr(e), file=sys.stderr)
        while time.time() - start < seconds:
            open(marker, "w").write("%.3f" % (time.time() - start))
            for i, c in enumerate(tcp):
                if ("tcp", i) in dead: continue
                try:
                    c.sendall(b"x\n")
                    d = c.recv(100)
                    if not d: raise EOFError()
                    node = d.split()[0].decode()
                    stats["tcp"]["nodes"][node] = stats["tcp"]["nodes"].get(node, 0) + 1
                    stats["tcp"]["ok"] += 1; last[("tcp", i)] = time.time() - start
                except Exception as e: fail("tcp", i, e)
            for i, c in enumerate(web):
                if ("http", i) in dead: continue
                try:
                    c.request("GET", "/"); r = c.getresponse(); r.read()
                    if r.status != 200: raise RuntimeError("status %d" % r.status)
                    if r.getheader("Connection", "").lower() == "close": raise EOFError()
                    stats["http"]["ok"] += 1; last[("http", i)] = time.time() - start
                except Exception as e: fail("http", i, e)
            time.sleep(0.1)
        for (kind, i), t in last.items(): stats[kind]["last_ok"].append(round(t, 2))
        print(json.dumps(stats))
        """#

    /// The echo backend: answers each line with "PEER LINE" (PEER: the LB node's address).
    static let echo = #"""
        import socketserver
        class H(socketserver.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    self.wfile.write(self.client_address[0].encode() + b" " + line)
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer.request_queue_size = 512
        socketserver.ThreadingTCPServer.daemon_threads = True
        socketserver.ThreadingTCPServer(("0.0.0.0", 9000), H).serve_forever()
        """#

    struct Outcome {
        var tcp: [String: Any]
        var http: [String: Any]
        var newConnectionNode: String
        /// Seconds from the move to the first new connection through the new holder.
        var newConnectionAfter: Double
        var moveAt: Double
        func int(_ d: [String: Any], _ k: String) -> Int { d[k] as? Int ?? -1 }
    }

    enum Move: String {
        case labelOut = "holder labelled out"
        case sigterm = "holder's actor SIGTERMed"
    }

    /// Two LB nodes, the web and echo Services on 192.0.2.50; the client runs `seconds`, the move
    /// happens after 2 s. Returns the client's summary and the node a new connection reached.
    func run(_ move: Move, handover: Bool, tools: ActorHarness.Tools, drain: Int, seconds: Double) async throws
        -> Outcome?
    {
        var outcome: Outcome?
        try await ActorHarness.with(tools) { h in
            let nodes = ["lb-a", "lb-b"]
            var doc = try await h.webScenario(nodes: nodes, tools: tools)
            try await h.addLBNodes(nodes, hosts: false)
            let echoScript = h.work.appendingPathComponent("echo.py")
            try Self.echo.write(to: echoScript, atomically: true, encoding: .utf8)
            try h.topo.spawn("be", [tools.python, echoScript.path], listening: 9000)
            let echo = ServiceKey(namespace: "default", name: "echo")
            try await h.createService(echo, ports: [("echo", 9000)])
            doc.vips[0].services.append(
                .init(key: echo, ports: [.init(name: "echo", port: 9000, targetPort: .number(9000))]))
            try await h.publish(doc)
            try await h.setSlice(echo, name: "echo-1", addresses: ["192.0.2.21"], ports: [("echo", "TCP", 9000)])
            let extra = ["--drain-seconds", "\(drain)"] + (handover ? [] : ["--no-connection-handover"])
            for node in nodes { try h.startActor(node, extra: extra) }
            let holder = doc.groups[0].node
            let other = nodes.first { $0 != holder }!
            let holderIP = "192.0.2.\(11 + nodes.firstIndex(of: holder)!)"
            let otherIP = "192.0.2.\(11 + nodes.firstIndex(of: other)!)"
            func echoAnswer() throws -> String {
                try h.topo.exec(
                    "cl",
                    [
                        tools.python, "-c",
                        "import socket; c=socket.create_connection(('192.0.2.50',9000),timeout=1); c.sendall(b'x\\n'); print(c.recv(100).split()[0].decode())",
                    ]
                ).output.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(
                await eventually(.seconds(30)) { try h.webServes(tools) && echoAnswer() == holderIP },
                "both Services served through \(holder); logs:\n\(h.actorLogs())")
            // Records seen renewed (every 4 s) before the move.
            try await Task.sleep(for: .seconds(5))

            let script = h.work.appendingPathComponent("client.py")
            try Self.client.write(to: script, atomically: true, encoding: .utf8)
            let marker = h.work.appendingPathComponent("client.t").path
            let output = h.work.appendingPathComponent("client.out").path
            let client = try h.topo.spawn(
                "cl",
                [
                    "bash", "-c",
                    "\(tools.python) \(script.path) 192.0.2.50 100 10 \(seconds) \(marker) > \(output) 2> \(output).err",
                ])
            // The move, 2 s into the client's run.
            _ = await eventually(.seconds(20), every: .milliseconds(20)) {
                (Double((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "") ?? 0) >= 2
            }
            let moveAt = Double((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "") ?? 0
            let moved = ContinuousClock.now
            switch move {
            case .labelOut:
                var n = try await h.client.get(Node.self, name: holder)
                n.metadata.labels?[NodeEligibility.excludeLabel] = "true"
                _ = try await h.client.update(n)
            case .sigterm:
                kill(h.actors[holder]!.processIdentifier, SIGTERM)
            }
            // A new connection lands on the new holder at once.
            var fresh = ""
            _ = await eventually(.seconds(5), every: .milliseconds(50)) {
                fresh = (try? echoAnswer()) ?? ""
                return fresh == otherIP
            }
            let after = ContinuousClock.now - moved
            client.waitUntilExit()
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            guard let data = text.split(separator: "\n").last.map({ Data($0.utf8) }),
                let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]]
            else {
                Issue.record(
                    "no client summary: \(text) \((try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "")"
                )
                return
            }
            outcome = Outcome(
                tcp: json["tcp"] ?? [:], http: json["http"] ?? [:], newConnectionNode: fresh == otherIP ? other : fresh,
                newConnectionAfter: Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18,
                moveAt: moveAt)
            if move == .labelOut, handover {
                let log = h.log(holder) + h.log(other)
                #expect(log.contains("forwarding a draining node's connections"), "\(h.actorLogs())")
            }
        }
        return outcome
    }

    func report(_ move: Move, _ handover: Bool, _ o: Outcome, drain: Int) -> String {
        func line(_ kind: String, _ d: [String: Any]) -> String {
            let lastOK = (d["last_ok"] as? [Double]) ?? []
            return
                "\(kind): \(o.int(d, "ok")) exchanges ok, \(o.int(d, "reset")) reset, \(o.int(d, "closed")) closed, \(o.int(d, "stalled")) stalled"
                + ", last exchange of the first to stop at +\(lastOK.min() ?? -1) s"
                + (kind == "TCP" ? ", answered via \((d["nodes"] as? [String: Int]) ?? [:])" : "")
        }
        return
            "planned move (\(move.rawValue), handover \(handover ? "on" : "off"), drain \(drain) s) at +\(String(format: "%.1f", o.moveAt)) s: "
            + "\(line("TCP", o.tcp)); \(line("HTTP keep-alive", o.http)); new connections via \(o.newConnectionNode) "
            + String(format: "%.2f s after the move", o.newConnectionAfter)
    }

    @Test(.needs(.root("ip", "haproxy", "keepalived", "curl", "python3", "nft").and(built: "k8slb-actor")))
    func plannedMovesResetNoConnection() async throws {
        guard let tools = ActorHarness.tools() else { return }
        guard which("nft") != nil else {
            if requireIntegration { Issue.record("nft is required when CI=true") }
            return
        }
        let drain = 8
        // The client runs 2 s before the move and 5 s after (the drain lasts 8 s).
        for move in [Move.labelOut, .sigterm] {
            guard let o = try await run(move, handover: true, tools: tools, drain: drain, seconds: 7) else { continue }
            print(report(move, true, o, drain: drain))
            #expect(o.int(o.tcp, "ok") > 0 && o.int(o.tcp, "reset") == 0 && o.int(o.tcp, "closed") == 0)
            #expect(o.int(o.tcp, "stalled") == 0 && o.int(o.tcp, "other") == 0)
            let lastOK = (o.tcp["last_ok"] as? [Double]) ?? []
            #expect(
                lastOK.count == 100 && lastOK.allSatisfy { $0 >= 6 }, "every TCP connection exchanged data to the end")
            #expect(
                ((o.tcp["nodes"] as? [String: Int]) ?? [:]).count == 1, "the old connections stay on the old holder")
            #expect(o.int(o.http, "reset") == 0 && o.int(o.http, "stalled") == 0)
            if move == .labelOut {
                // The old holder's proxy keeps running: keep-alive connections go on too.
                #expect(o.int(o.http, "closed") == 0 && (o.http["last_ok"] as? [Double] ?? []).allSatisfy { $0 >= 6 })
            }
            #expect(
                !o.newConnectionNode.hasPrefix("192."),
                "a new connection lands on the new holder: \(o.newConnectionNode)")
        }
        // Today's figure without the handover: the same label-out resets the connections.
        if let o = try await run(.labelOut, handover: false, tools: tools, drain: drain, seconds: 4) {
            print(report(.labelOut, false, o, drain: drain))
            #expect(o.int(o.tcp, "reset") + o.int(o.tcp, "stalled") > 0, "without the handover connections break")
        }
    }
}
