/// Exponential backoff with full jitter: each failure doubles the ceiling up to `cap`, and the
/// delay is drawn from [ceiling/2, ceiling] so many clients do not retry in lockstep.
package struct Backoff: Sendable {
    package let base: Duration
    package let cap: Duration
    package private(set) var failures = 0

    package init(base: Duration = .milliseconds(200), cap: Duration = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before the next retry; counts one more failure.
    package mutating func next<G: RandomNumberGenerator>(using rng: inout G) -> Duration {
        let ceiling = min(cap, base * (1 << min(failures, 20)))
        failures += 1
        let fraction = Double.random(in: 0.5...1, using: &rng)
        return ceiling * fraction
    }

    package mutating func next() -> Duration {
        var rng = SystemRandomNumberGenerator()
        return next(using: &rng)
    }

    package mutating func reset() { failures = 0 }
}
