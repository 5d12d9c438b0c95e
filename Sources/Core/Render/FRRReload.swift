/// The vtysh commands that turn one FRR config `FRRRenderer` printed into another without
/// restarting FRR: what differs is removed (`no …`) or added, inside its context (`router bgp`,
/// its address families, a route-map, the `bfd` block and its profiles); BGP sessions whose lines
/// did not change are not touched. This replaces FRR's `frr-reload.py` for k8slb's own configs (the
/// image then needs no Python).
///
/// It understands the shape `FRRRenderer` prints and nothing more: text of another shape, or a
/// change FRR cannot take in place (`frr defaults`, the router's AS number), gives nil and the
/// caller restarts FRR with the new config instead.
package enum FRRReload {
    /// A statement, with the statements inside it when it opens a context.
    struct Node: Equatable {
        var line: String
        var children: [Node] = []
        /// How the context is left (`exit`, `exit-address-family`); nil for a plain statement.
        var exit: String?
    }

    /// Statements that open a context at the top level, and inside which contexts open further.
    private static func opensTopContext(_ line: String) -> Bool {
        line == "bfd" || line.hasPrefix("router bgp ") || line.hasPrefix("route-map ")
    }

    private static func opensInnerContext(_ line: String, parent: String) -> String? {
        if parent.hasPrefix("router bgp "), line.hasPrefix("address-family ") { return "exit-address-family" }
        if parent == "bfd", line.hasPrefix("profile ") { return "exit" }
        return nil
    }

    /// The config as a tree; nil when it is not of FRRRenderer's shape.
    static func parse(_ text: String) -> [Node]? {
        var top: [Node] = []
        var open: Node?
        var inner: Node?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let indented = raw.first == " "
            let line = raw.trimmingLeadingAndTrailingSpaces()
            if line.isEmpty || line.hasPrefix("!") { continue }
            if !indented {
                if line == "exit" {
                    guard let block = open, inner == nil else { return nil }
                    top.append(block)
                    open = nil
                } else if open != nil {
                    return nil
                } else if opensTopContext(line) {
                    open = Node(line: line, exit: "exit")
                } else {
                    top.append(Node(line: line))
                }
                continue
            }
            guard var block = open else { return nil }
            if var sub = inner {
                if line == sub.exit {
                    block.children.append(sub)
                    inner = nil
                } else {
                    sub.children.append(Node(line: line))
                    inner = sub
                }
            } else if let exit = opensInnerContext(line, parent: block.line) {
                inner = Node(line: line, exit: exit)
            } else {
                block.children.append(Node(line: line))
            }
            open = block
        }
        return open == nil && inner == nil ? top : nil
    }

    /// The commands (to run after `configure terminal`, in order) turning `old` into `new`; empty
    /// when they are the same; nil when FRR must be restarted with `new` instead.
    package static func commands(from old: String, to new: String) -> [String]? {
        guard let a = parse(old), let b = parse(new) else { return nil }
        let oldTop = a.filter { $0.exit == nil }.map(\.line)
        let newTop = b.filter { $0.exit == nil }.map(\.line)
        // `frr defaults` is read at start only.
        guard oldTop.filter({ $0.hasPrefix("frr defaults") }) == newTop.filter({ $0.hasPrefix("frr defaults") })
        else { return nil }
        let oldBlocks = a.filter { $0.exit != nil }
        let newBlocks = b.filter { $0.exit != nil }
        // One BGP router: another AS number is another router (every session restarts anyway).
        let oldRouter = oldBlocks.first { $0.line.hasPrefix("router bgp ") }?.line
        let newRouter = newBlocks.first { $0.line.hasPrefix("router bgp ") }?.line
        if let o = oldRouter, let n = newRouter, o != n { return nil }

        var out: [String] = []
        // Added top-level statements first (prefix-lists the route-maps below match on).
        out += added(oldTop, newTop)
        // Contexts in the new text's order: bfd profiles before the neighbors naming them.
        let ordered = newBlocks.filter { $0.line == "bfd" } + newBlocks.filter { $0.line != "bfd" }
        for block in ordered {
            if let before = oldBlocks.first(where: { $0.line == block.line }) {
                out += changed(before, block)
            } else {
                out += whole(block)
            }
        }
        // Then what went away: contexts, then top-level statements.
        for block in oldBlocks.reversed() where !newBlocks.contains(where: { $0.line == block.line }) {
            out.append(negated(block.line))
        }
        out += removed(oldTop, newTop).map(negated)
        return out
    }

    /// A block with everything in it (a context new in this config).
    private static func whole(_ node: Node) -> [String] {
        guard let exit = node.exit else { return [node.line] }
        return [node.line] + node.children.flatMap(whole) + [exit]
    }

    /// The commands inside a context both configs have.
    private static func changed(_ old: Node, _ new: Node) -> [String] {
        guard old != new, let exit = new.exit else { return [] }
        let oldLines = old.children.filter { $0.exit == nil }.map(\.line)
        let newLines = new.children.filter { $0.exit == nil }.map(\.line)
        // BGP neighbors that go away, or come back with another AS: `no neighbor X` once removes
        // everything about them (their other lines are not removed one by one).
        var gone = Set<String>()
        if new.line.hasPrefix("router bgp ") {
            let before = remoteAS(oldLines)
            let after = remoteAS(newLines)
            for (peer, asn) in before where after[peer] != asn { gone.insert(peer) }
        }
        func aboutGone(_ line: String) -> Bool {
            let f = line.split(separator: " ")
            if f.first == "neighbor", f.count > 1 { return gone.contains(String(f[1])) }
            return false
        }
        var body: [String] = gone.sorted().map { "no neighbor \($0)" }
        // Removed lines in reverse order (a setting's refinements before the setting), except
        // those a new line of the same setting replaces in place.
        for line in removed(oldLines, newLines).reversed() where !aboutGone(line) {
            body.append(negated(line))
        }
        for line in newLines where !oldLines.contains(line) || aboutGone(line) { body.append(line) }
        // Inner contexts (address families, BFD profiles).
        let oldInner = old.children.filter { $0.exit != nil }
        for sub in new.children where sub.exit != nil {
            if var before = oldInner.first(where: { $0.line == sub.line }) {
                // A neighbor removed and added again lost its lines here too: re-add them.
                before.children.removeAll { aboutGone($0.line) }
                body += changed(before, sub)
            } else {
                body += whole(sub)
            }
        }
        for sub in oldInner where !new.children.contains(where: { $0.line == sub.line }) {
            body.append(negated(sub.line))
        }
        return body.isEmpty ? [] : [new.line] + body + [exit]
    }

    /// `neighbor X remote-as N` lines: N by X.
    private static func remoteAS(_ lines: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for line in lines {
            let f = line.split(separator: " ")
            if f.count == 4, f[0] == "neighbor", f[2] == "remote-as" { out[String(f[1])] = String(f[3]) }
        }
        return out
    }

    /// What a line sets, without its value: a new line with the same key replaces the old one in
    /// place (`neighbor X timers 3 9` → `neighbor X timers 5 15`), no removal first.
    static func settingKey(_ line: String) -> String {
        let f = line.split(separator: " ").map(String.init)
        let kept: Int
        switch f.first {
        case "neighbor" where f.count >= 4 && f[2] == "timers" && f[3] == "connect": kept = 4
        case "neighbor" where f.count >= 4 && f[2] == "bfd" && f[3] == "profile": kept = 4
        case "neighbor" where f.count >= 4 && ["timers", "password", "port", "ebgp-multihop"].contains(f[2]): kept = 3
        case "set" where f.count >= 2: kept = 2
        // A prefix-list entry is its sequence number: FRR replaces the entry a new line names.
        case .some(let first)
        where (first == "ip" || first == "ipv6") && f.count >= 5 && f[1] == "prefix-list" && f[3] == "seq":
            kept = 5
        case "bgp" where f.count >= 3 && f[1] == "router-id": kept = 2
        case "hostname": kept = 1
        case "detect-multiplier", "receive-interval", "transmit-interval": kept = 1
        default: return line
        }
        return f.prefix(kept).joined(separator: " ")
    }

    private static func added(_ old: [String], _ new: [String]) -> [String] {
        let before = Set(old)
        return new.filter { !before.contains($0) }
    }

    /// Old lines not in the new config, except those a new line of the same setting replaces.
    private static func removed(_ old: [String], _ new: [String]) -> [String] {
        let after = Set(new)
        let keys = Set(new.map(settingKey))
        return old.filter { !after.contains($0) && !(settingKey($0) != $0 && keys.contains(settingKey($0))) }
    }

    /// `no X`, or `X` for a line that is itself `no X`.
    private static func negated(_ line: String) -> String {
        line.hasPrefix("no ") ? String(line.dropFirst(3)) : "no " + line
    }
}

extension Substring {
    fileprivate func trimmingLeadingAndTrailingSpaces() -> String {
        var s = self[...]
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" || s.last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
