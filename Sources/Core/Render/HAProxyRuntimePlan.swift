/// One HAProxy Runtime API command and the reply that means success.
package struct HAProxyRuntimeCommand: Sendable, Hashable, CustomStringConvertible {
    package let text: String
    /// A reply containing this means success (ignored when `expectEmpty`).
    package let expect: String
    package let expectEmpty: Bool
    /// `del server` is refused while connections remain: the caller retries later.
    package let mayDefer: Bool
    /// `backend/server`.
    package let server: String

    package var description: String { text }

    /// `add server` (options explicit: dynamic servers do not inherit `default-server`), then
    /// `enable server`, and `enable health` when it has checks.
    package static func add(backend: String, _ s: HAProxyRenderer.Server) -> [HAProxyRuntimeCommand] {
        let id = "\(backend)/\(s.name)"
        var out = [
            HAProxyRuntimeCommand(
                text: "add server \(id) \(s.address) \(s.options)".trimmingSuffix(" "), expect: "New server registered",
                expectEmpty: false, mayDefer: false, server: id),
            HAProxyRuntimeCommand(
                text: "enable server \(id)", expect: "", expectEmpty: true, mayDefer: false, server: id),
        ]
        if s.options.split(separator: " ").contains("check") {
            out.append(
                HAProxyRuntimeCommand(
                    text: "enable health \(id)", expect: "", expectEmpty: true, mayDefer: false, server: id))
        }
        return out
    }

    /// Back from maintenance (a server whose delete was deferred and that is wanted again).
    package static func ready(_ id: String) -> [HAProxyRuntimeCommand] {
        [
            HAProxyRuntimeCommand(
                text: "set server \(id) state ready", expect: "", expectEmpty: true, mayDefer: false, server: id)
        ]
    }

    /// Maintenance (no new traffic), then `del server`; the delete may be deferred.
    package static func remove(_ id: String) -> [HAProxyRuntimeCommand] {
        [
            HAProxyRuntimeCommand(
                text: "set server \(id) state maint", expect: "", expectEmpty: true, mayDefer: false, server: id),
            HAProxyRuntimeCommand(
                text: "del server \(id)", expect: "Server deleted", expectEmpty: false, mayDefer: true, server: id),
        ]
    }
}

/// Whether a new haproxy.cfg can be reached through the Runtime API, and with which commands
/// (docs/architecture.md, "Data-plane facts: HAProxy"): only when nothing but `server` lines changed (equal skeleton digests, same
/// backends) and no server changed in place (address, port or options: that is a reload).
package enum HAProxyRuntimePlan {
    /// Commands turning the running servers `old` into `new`; nil when a reload is needed.
    /// `pendingDeletes` (`backend/server`): servers in maintenance whose `del server` was refused
    /// earlier (connections left): back into service if wanted again, else deleted again.
    package static func commands(
        from old: HAProxyRenderer.Rendered, to new: HAProxyRenderer.Rendered,
        pendingDeletes: Set<String>
    ) -> [HAProxyRuntimeCommand]? {
        guard old.skeletonDigest == new.skeletonDigest else { return nil }
        let oldLists = old.servers.byBackend
        let newLists = new.servers.byBackend
        guard Set(oldLists.keys) == Set(newLists.keys) else { return nil }
        var pending = pendingDeletes
        var commands: [HAProxyRuntimeCommand] = []
        for backend in newLists.keys.sorted() {
            let before = Dictionary(
                (oldLists[backend] ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let after = Dictionary(
                (newLists[backend] ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for name in after.keys.sorted() {
                let s = after[name]!
                let id = "\(backend)/\(name)"
                if let b = before[name] {
                    if b == s { continue }
                    // Only its weight changed (a Gateway's backendRef weights): set in place.
                    guard b.address == s.address, Self.withoutWeight(b.options) == Self.withoutWeight(s.options),
                        let weight = Self.weight(s.options)
                    else { return nil }
                    commands.append(
                        HAProxyRuntimeCommand(
                            text: "set server \(id) weight \(weight)", expect: "", expectEmpty: true, mayDefer: false,
                            server: id))
                } else if pending.remove(id) != nil {
                    commands += HAProxyRuntimeCommand.ready(id)
                } else {
                    commands += HAProxyRuntimeCommand.add(backend: backend, s)
                }
            }
            for name in before.keys.sorted() where after[name] == nil {
                let id = "\(backend)/\(name)"
                pending.remove(id)
                commands += HAProxyRuntimeCommand.remove(id)
            }
        }
        for id in pending.sorted() { commands += HAProxyRuntimeCommand.remove(id) }
        return commands
    }

    /// A server's options without its `weight N`.
    static func withoutWeight(_ options: String) -> [Substring] {
        var words = options.split(separator: " ")
        if let i = words.firstIndex(of: "weight"), i + 1 < words.count { words.removeSubrange(i...(i + 1)) }
        return words
    }

    /// The `weight N` of a server's options (HAProxy's default, 1, when absent).
    static func weight(_ options: String) -> Int? {
        let words = options.split(separator: " ")
        guard let i = words.firstIndex(of: "weight") else { return 1 }
        return i + 1 < words.count ? Int(words[i + 1]) : nil
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
