import Foundation
import Glibc
package import Spawn

/// The client side of the failover measurements: a new TCP connection + `GET /` every `every`
/// milliseconds, each with a 100 ms timeout, all in parallel (a lost SYN does not hold the next
/// attempt up, unlike a loop of curls). Each attempt is `(start, ok, first word of the body)`;
/// the outage after an event at `t0` is the start of the first success after the last failure.
package enum ConnectProbe {
    static let script = #"""
        import selectors, socket, sys, time
        host, port, seconds, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]) / 1000
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        sel = selectors.DefaultSelector()
        end = time.monotonic() + seconds
        nxt = time.monotonic()
        live = {}
        out = []
        def finish(s, ok, body=b""):
            t = live.pop(s)[0]
            try: sel.unregister(s)
            except Exception: pass
            s.close()
            out.append("%d %s %s" % (t, "ok" if ok else "fail", body.decode(errors="replace").split(" ")[0].strip()))
        while time.monotonic() < end or live:
            now = time.monotonic()
            if now >= nxt and now < end:
                s = socket.socket(fam, socket.SOCK_STREAM); s.setblocking(False)
                try: s.connect((host, port))
                except BlockingIOError: pass
                except OSError:
                    out.append("%d fail" % time.clock_gettime_ns(time.CLOCK_REALTIME)); s.close(); nxt += interval; continue
                live[s] = [time.clock_gettime_ns(time.CLOCK_REALTIME), now + 0.1, False, b""]
                sel.register(s, selectors.EVENT_WRITE)
                nxt += interval
            for key, ev in sel.select(timeout=0.002):
                s = key.fileobj; st = live.get(s)
                if st is None: continue
                try:
                    if not st[2]:
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0: finish(s, False); continue
                        s.send(b"GET / HTTP/1.0\r\n\r\n"); st[2] = True; sel.modify(s, selectors.EVENT_READ)
                    else:
                        d = s.recv(4096)
                        if d: st[3] += d
                        else:
                            body = st[3].split(b"\r\n\r\n", 1)[-1]
                            finish(s, st[3].startswith(b"HTTP/1.") and b" 200 " in st[3][:20], body)
                except OSError: finish(s, False)
            for s, st in list(live.items()):
                if time.monotonic() > st[1]: finish(s, False)
        print("\n".join(out))
        """#

    /// Starts the probe inside network namespace `namespace` (through `ip netns exec`).
    package static func start(
        ip: String, python: String, namespace: String, host: String, port: Int, seconds: Double, every ms: Double
    ) throws -> Child {
        try Child.start(
            [ip, "netns", "exec", namespace, python, "-c", script, host, "\(port)", "\(seconds)", "\(ms)"],
            output: .capture)
    }

    /// Waits for the probe and parses its attempts.
    package static func results(_ p: Child) -> [(t: Int64, ok: Bool, body: String)] {
        p.capturedOutput().split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 2, let t = Int64(f[0]) else { return nil }
            return (t, f[1] == "ok", f.count > 2 ? String(f[2]) : "")
        }
    }

    /// Seconds from `t0` (ns) to the start of the first successful attempt after the last failed
    /// one started after `t0`; 0 when none failed.
    package static func outage(_ r: [(t: Int64, ok: Bool, body: String)], after t0: Int64) -> Double {
        guard let lastFail = r.last(where: { !$0.ok && $0.t > t0 })?.t else { return 0 }
        let firstOK = r.first { $0.ok && $0.t > lastFail }?.t ?? lastFail
        return Double(firstOK - t0) / 1e9
    }

    /// CLOCK_REALTIME in nanoseconds (what the probe stamps its attempts with).
    package static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// A TCP port on 127.0.0.1 for a server a test starts: random, below the kernel's ephemeral range
/// (32768 and up, where outgoing connections take their local ports, so none can hold it), and
/// free at the time of the call (a bind to it succeeds). Two calls rarely return the same port;
/// each caller takes a new one.
package func unusedLoopbackPort() -> Int {
    for _ in 0..<100 {
        let port = Int.random(in: 20_000..<32_768)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if bound == 0 { return port }
    }
    return Int.random(in: 20_000..<32_768)
}
