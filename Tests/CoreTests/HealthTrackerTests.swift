import Core
import Testing

@Suite struct HealthTrackerTests {
    @Test func firstResultDecidesAtOnceThenHysteresis() {
        var t = HealthTracker(rise: 2, fall: 2)
        #expect(t.healthy == nil)
        #expect(t.record(true) == true)
        #expect(t.record(false) == nil)  // one failure: still healthy
        #expect(t.record(true) == nil)  // streak broken
        #expect(t.record(false) == nil)
        #expect(t.record(false) == false)  // two in a row: failed
        #expect(t.healthy == false)
        #expect(t.record(false) == nil)
        #expect(t.record(true) == nil)
        #expect(t.record(true) == true)  // two in a row: healthy again
    }

    @Test(arguments: [(1, 1), (1, 3), (3, 1)])
    func riseAndFallCounts(rise: Int, fall: Int) {
        var t = HealthTracker(rise: rise, fall: fall)
        _ = t.record(true)
        for i in 1...fall { #expect(t.record(false) == (i == fall ? false : nil)) }
        for i in 1...rise { #expect(t.record(true) == (i == rise ? true : nil)) }
    }

    @Test func firstFailureIsReportedToo() {
        var t = HealthTracker()
        #expect(t.record(false) == false)
        #expect(t.record(true) == nil)
        #expect(t.record(true) == true)
    }
}

@Suite struct SafePathTests {
    @Test(arguments: ["/run/k8slb", "/etc/certs", "/tmp/k8slb-actor-ab12/lb-a", "/"])
    func accepted(_ text: String) throws {
        #expect(try SafePath(parsing: text).rawValue == text)
    }

    @Test(arguments: [
        ("run/k8slb", "absolute"), ("/run/k8 slb", "only letters"), ("/run/\"x", "only letters"),
        ("/run/x\ny", "only letters"), ("/run/../etc", "'..'"), ("/run//x", "empty"), ("/run/./x", "'.'"),
        ("/run/x/", "empty"),
    ])
    func refused(_ text: String, _ problem: String) {
        #expect { try SafePath(parsing: text) } throws: { "\($0)".contains(problem) }
    }

    @Test func appending() throws {
        #expect(try SafePath(parsing: "/run/k8slb").appending("proxy-health").rawValue == "/run/k8slb/proxy-health")
        #expect(throws: (any Error).self) { try SafePath(parsing: "/run").appending("a b") }
    }
}
