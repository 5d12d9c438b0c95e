import PropertyBased
import Testing

@testable import Core

@Suite struct AnnotationTests {
    @Test func defaultsAreTheOriginals() {
        let (a, problems) = ServiceAnnotations.parse([:])
        #expect(problems.isEmpty)
        #expect(a == ServiceAnnotations())
        #expect(a.pools == [.default] && a.ssl == .auto && a.mode == .auto && a.sslRedirect && !a.noCheck)
    }

    @Test func everyAnnotationIsDeclaredOnce() {
        let keys = ServiceAnnotations.table.map(\.key)
        #expect(Set(keys).count == keys.count)
        #expect(
            keys == [
                "loadbalancer/pool", "loadbalancer/ssl", "loadbalancer/mode", "loadbalancer/sslbackend",
                "loadbalancer/sslredirect", "loadbalancer/nocheck", "loadbalancer/ip", "loadbalancer/sharing-key",
                "loadbalancer/proxy-protocol", "loadbalancer/forwarded-headers", "loadbalancer/tls-secret",
                "loadbalancer/hostnames",
            ])
        #expect(ServiceAnnotations.table.allSatisfy { !$0.doc.isEmpty })
    }

    @Test func parsesTypedValues() throws {
        let (a, problems) = ServiceAnnotations.parse([
            "loadbalancer/pool": "external, v6",
            "loadbalancer/ssl": "true",
            "loadbalancer/mode": "false",
            "loadbalancer/sslbackend": "False",
            "loadbalancer/sslredirect": "false",
            "loadbalancer/nocheck": "true",
            "loadbalancer/ip": "2001:db8::7, 192.0.2.7",
            "loadbalancer/sharing-key": "team-a/web",
            "other.io/ignored": "whatever",
        ])
        #expect(problems.isEmpty)
        #expect(a.pools.map(\.rawValue) == ["external", "v6"])
        #expect(a.ssl == .on && a.mode == .tcp && a.sslBackend == .off && !a.sslRedirect && a.noCheck)
        #expect(a.addresses.map(\.description) == ["192.0.2.7", "2001:db8::7"])
        #expect(a.sharingKey?.rawValue == "team-a/web")
        #expect(ServiceAnnotations.parse(["loadbalancer/mode": "http"]).0.mode == .http)
        #expect(ServiceAnnotations.parse(["loadbalancer/mode": "tcp"]).0.mode == .tcp)
        #expect(ServiceAnnotations.parse(["loadbalancer/ssl": ""]).0.ssl == .auto)
        #expect(ServiceAnnotations.parse(["loadbalancer/pool": ""]).0.pools == [.default])
    }

    @Test(arguments: [
        ("loadbalancer/ssl", "yes", "annotation loadbalancer/ssl: \"yes\": expected \"\", \"true\" or \"false\""),
        (
            "loadbalancer/mode", "udp",
            "annotation loadbalancer/mode: \"udp\": expected \"\", \"http\", \"false\" or \"tcp\""
        ),
        ("loadbalancer/nocheck", "1", "annotation loadbalancer/nocheck: \"1\": expected \"\", \"true\" or \"false\""),
        ("loadbalancer/pool", "a,b,c", "annotation loadbalancer/pool: \"a,b,c\": at most two pools (one per family)"),
        ("loadbalancer/pool", "a,a", "annotation loadbalancer/pool: \"a,a\": pool \"a\" is listed twice"),
        (
            "loadbalancer/pool", "../../etc/passwd",
            "annotation loadbalancer/pool: \"../../etc/passwd\": ../../etc/passwd: pool name may hold only letters, digits, '.', '_' and '-'"
        ),
        (
            "loadbalancer/ip", "192.0.2.1,192.0.2.2",
            "annotation loadbalancer/ip: \"192.0.2.1,192.0.2.2\": more than one IPv4 address"
        ),
        (
            "loadbalancer/ip", "192.0.2.300",
            "annotation loadbalancer/ip: \"192.0.2.300\": 192.0.2.300: octet 300 is larger than 255"
        ),
        (
            "loadbalancer/sharing-key", "a b",
            "annotation loadbalancer/sharing-key: \"a b\": sharing key may hold only letters, digits and ._-/"
        ),
        (
            "loadbalancer/ssl", "true\nx",
            "annotation loadbalancer/ssl: \"true\\nx\": expected \"\", \"true\" or \"false\""
        ),
    ])
    func rejectsBadValues(key: String, value: String, message: String) {
        let (a, problems) = ServiceAnnotations.parse([key: value])
        #expect(problems.map(\.description) == [message])
        #expect(problems.allSatisfy { !$0.isWarning })
        #expect(a == ServiceAnnotations(), "a bad value keeps the default")
    }

    @Test func unknownPrefixedKeyIsAWarning() {
        let (_, problems) = ServiceAnnotations.parse(["loadbalancer/sll": "true"])
        #expect(problems.count == 1 && problems[0].isWarning)
        #expect(
            problems[0].description.hasPrefix(
                "annotation loadbalancer/sll: \"true\": unknown annotation (known: loadbalancer/pool,"))
    }

    /// Hostile values, for every annotation in the table, never crash the parser and never come
    /// back as a value carrying a control character, a space or a path separator (pool names,
    /// Secret names and host names reach file names and config lines).
    @Test func hostileValuesAreRejectedOrTyped() async {
        let hostile = Gen.ascii.string(of: 0...40)
        await propertyCheck(count: 1000, input: hostile, Gen.int(in: 0...(ServiceAnnotations.table.count - 1))) {
            value, index in
            let key = ServiceAnnotations.table[index].key
            let (a, problems) = ServiceAnnotations.parse([key: value])
            let clean = { (s: String) in
                s.unicodeScalars.allSatisfy {
                    $0.value > 0x20 && $0.value < 0x7F && $0 != "/" && $0 != ";" && $0 != "#"
                }
            }
            if problems.isEmpty {
                #expect(a.pools.allSatisfy { clean($0.rawValue) })
                #expect(a.sharingKey.map { !$0.rawValue.contains("\n") && !$0.rawValue.contains(" ") } ?? true)
                #expect(a.tlsSecret.map { clean($0.rawValue) } ?? true)
                #expect(a.hostnames.allSatisfy { clean($0.rawValue) })
            } else {
                #expect(a == ServiceAnnotations())
            }
        }
    }
}
