import Foundation
import Testing

@testable import Core

enum DocumentFixtures {
    /// A document of `count` Services, one VIP each except every tenth VIP shared by two.
    static func document(services count: Int) -> AssignmentDocument {
        var vips: [AssignmentDocument.VIP] = []
        var i = 0
        while i < count {
            let address = IPAddress(ipv4: 0xC633_0000 + UInt32(vips.count))  // 198.51.x.x-ish, test data only
            var services: [AssignmentDocument.ServiceEntry] = []
            for j in 0..<((vips.count % 10 == 0) ? 2 : 1) where i < count {
                var entry = AssignmentDocument.ServiceEntry(
                    key: ServiceKey(namespace: "team-\(i % 50)", name: "service-\(i)"),
                    ports: [
                        .init(name: "http", port: UInt16(80 + j * 1000), targetPort: .number(8080)),
                        .init(name: "https", port: UInt16(443 + j * 1000), targetPort: .name("web-tls")),
                    ])
                if i % 7 == 0 {
                    entry.ssl = .on
                    entry.sslRedirect = false
                }
                if i % 11 == 0 { entry.sourceRanges = [try! IPNetwork(parsing: "203.0.113.0/24")] }
                services.append(entry)
                i += 1
            }
            vips.append(.init(address: address, pool: .default, services: services))
        }
        return AssignmentDocument(vips: vips)
    }
}

@Suite struct AssignmentDocumentTests {
    static func encode(_ d: AssignmentDocument) throws -> String {
        String(decoding: try AssignmentShards.encoder.encode(d), as: UTF8.self)
    }

    @Test func compactDeterministicEncoding() throws {
        let web = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "default", name: "web"),
            ports: [
                .init(name: "https", port: 443, targetPort: .number(8443)),
                .init(name: "http", port: 80, targetPort: .name("http"), nodePort: 30080),
            ])
        var dns = AssignmentDocument.ServiceEntry(
            key: ServiceKey(namespace: "default", name: "dns"),
            ports: [.init(proto: .udp, port: 53, targetPort: .number(53))])
        dns.noCheck = true
        let doc = AssignmentDocument(vips: [
            .init(address: try IPAddress(parsing: "2001:db8::10"), pool: try PoolName(parsing: "v6"), services: [web]),
            .init(address: try IPAddress(parsing: "192.0.2.10"), pool: .default, services: [web, dns]),
        ])
        let json = try Self.encode(doc)
        #expect(
            json
                == #"{"v":1,"vips":[{"ip":"192.0.2.10","pool":"default","svc":[{"n":"dns","nc":true,"ns":"default","p":[{"p":53,"pr":"UDP","t":53}]},{"n":"web","ns":"default","p":[{"n":"http","np":30080,"p":80,"t":"http"},{"n":"https","p":443,"t":8443}]}]},{"ip":"2001:db8::10","pool":"v6","svc":[{"n":"web","ns":"default","p":[{"n":"http","np":30080,"p":80,"t":"http"},{"n":"https","p":443,"t":8443}]}]}]}"#
        )
        // Input order does not matter: the same content gives the same bytes.
        let shuffled = AssignmentDocument(
            vips: doc.vips.reversed().map {
                var v = $0
                v.services.reverse()
                return v
            })
        #expect(try Self.encode(shuffled) == json)
        // Round trip.
        let back = try JSONDecoder().decode(AssignmentDocument.self, from: Data(json.utf8))
        #expect(back == doc)
        #expect(back.vips.map(\.family) == [.ipv4, .ipv6])
    }

    @Test func roundTripOfTenThousandServices() throws {
        let doc = DocumentFixtures.document(services: 10_000)
        let json = try AssignmentShards.encoder.encode(doc)
        #expect(try JSONDecoder().decode(AssignmentDocument.self, from: json) == doc)
    }

    @Test func rejectsNewerFormatAndBadValues() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(AssignmentDocument.self, from: Data(#"{"v":2,"vips":[]}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(
                AssignmentDocument.self,
                from: Data(#"{"v":1,"vips":[{"ip":"192.0.2.300","pool":"default","svc":[]}]}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(
                AssignmentDocument.self, from: Data(#"{"v":1,"vips":[{"ip":"192.0.2.3","pool":"../x","svc":[]}]}"#.utf8)
            )
        }
    }

    @Test func shardsStayUnderTheLimitAndReassemble() throws {
        let doc = DocumentFixtures.document(services: 10_000)
        let shards = try AssignmentShards.encode(doc)
        #expect(shards.shards.count > 1)
        #expect(shards.shards.allSatisfy { $0.count <= AssignmentShards.defaultMaxShardBytes })
        #expect(shards.shards.count & (shards.shards.count - 1) == 0, "power of two")
        let back = try AssignmentShards.decode(index: shards.indexBytes, shards: shards.shards)
        #expect(back == doc)
        // Same input, same bytes.
        #expect(try AssignmentShards.encode(doc) == shards)
    }

    @Test func oneChangeRewritesOneShard() throws {
        var doc = DocumentFixtures.document(services: 10_000)
        let before = try AssignmentShards.encode(doc)
        doc.vips[1234].services[0].ports[0].port = 8081
        let after = try AssignmentShards.encode(doc)
        #expect(after.shards.count == before.shards.count)
        #expect(zip(before.shards, after.shards).filter { $0 != $1 }.count == 1)
    }

    @Test func smallDocumentIsOneShard() throws {
        let shards = try AssignmentShards.encode(DocumentFixtures.document(services: 100))
        #expect(shards.shards.count == 1)
    }

    @Test func readerRefusesInconsistentShards() throws {
        let doc = DocumentFixtures.document(services: 10_000)
        let shards = try AssignmentShards.encode(doc)
        var tampered = shards.shards
        tampered[0] = Array(try AssignmentShards.encoder.encode(AssignmentDocument(vips: [])))
        #expect(throws: AssignmentShards.ShardError.digestMismatch(shard: 0)) {
            try AssignmentShards.decode(index: shards.indexBytes, shards: tampered)
        }
        #expect(throws: AssignmentShards.ShardError.shardCount(expected: shards.shards.count, found: 1)) {
            try AssignmentShards.decode(index: shards.indexBytes, shards: [shards.shards[0]])
        }
    }
}
