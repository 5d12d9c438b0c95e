/// Turns a stream of probe results into a healthy/failed verdict with hysteresis: `fall`
/// consecutive failures mark it failed, `rise` consecutive successes mark it healthy again. The
/// first result decides at once (no verdict yet: nothing to keep stable).
///
/// Pure state machine: the caller probes and feeds results; `record` returns the new verdict only
/// when it changed, which is the one moment the caller acts (writes keepalived's track file).
package struct HealthTracker: Sendable, Equatable {
    package let rise: Int
    package let fall: Int
    /// nil until the first result.
    package private(set) var healthy: Bool?
    private var streak = 0

    package init(rise: Int = 2, fall: Int = 2) {
        precondition(rise >= 1 && fall >= 1, "rise and fall are at least 1")
        self.rise = rise
        self.fall = fall
    }

    /// Records one probe result; returns the verdict when it changed (or was first reached).
    package mutating func record(_ ok: Bool) -> Bool? {
        guard let current = healthy else {
            healthy = ok
            streak = 0
            return ok
        }
        if ok == current {
            streak = 0
            return nil
        }
        streak += 1
        guard streak >= (ok ? rise : fall) else { return nil }
        healthy = ok
        streak = 0
        return ok
    }
}
