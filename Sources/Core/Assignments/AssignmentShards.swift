import Foundation

/// The assignment document split over several ConfigMaps, each under the 1 MiB object limit.
///
/// Layout: an index (ConfigMap `assignments`, key `index`) names the shard count and each shard's
/// FNV-1a digest; shard `i` (ConfigMap `assignments-<i>`, key `vips`) is an `AssignmentDocument`
/// with the VIPs whose address hashes to `i`. A VIP's shard depends only on its address and the
/// shard count, so one Service change rewrites one shard plus the index. The count is the
/// smallest power of two that keeps every shard within `maxShardBytes`; it only changes when the
/// data outgrows (or shrinks far below) it. Readers accept a set of shards only when every digest
/// matches the index, so a half-written update is never applied.
package struct AssignmentShards: Sendable, Equatable {
    /// The index document.
    package struct Index: Sendable, Hashable, Codable {
        package var version: Int = AssignmentDocument.formatVersion
        /// Digest of each shard's bytes, hex; position = shard number.
        package var shards: [String]

        enum CodingKeys: String, CodingKey {
            case version = "v"
            case shards
        }
    }

    /// Default bound per shard: half the ConfigMap limit, leaving room for metadata and growth.
    package static let defaultMaxShardBytes = 512 * 1024
    /// Largest shard count we will use.
    package static let maxShardCount = 256

    package let index: Index
    /// The encoded shards, UTF-8 JSON.
    package let shards: [[UInt8]]

    /// The encoded index, UTF-8 JSON.
    package var indexBytes: [UInt8] { Array(try! Self.encoder.encode(index)) }

    /// Splits `document` into the fewest power-of-two shards that each fit `maxShardBytes`.
    package static func encode(_ document: AssignmentDocument, maxShardBytes: Int = defaultMaxShardBytes) throws
        -> AssignmentShards
    {
        // Start from the count the whole document's size suggests (with 10% slack for uneven
        // buckets), instead of encoding at 1, 2, 4, … shards in turn.
        let whole = try encoder.encode(document).count
        var count = 1
        while count < maxShardCount && whole > count * maxShardBytes * 9 / 10 { count *= 2 }
        while true {
            var buckets = Array(repeating: [AssignmentDocument.VIP](), count: count)
            for vip in document.vips { buckets[shard(of: vip.address, count: count)].append(vip) }
            let encoded = try buckets.map {
                Array(try encoder.encode(AssignmentDocument(vips: $0, nodes: document.nodes, groups: document.groups)))
            }
            if encoded.allSatisfy({ $0.count <= maxShardBytes }) || count >= maxShardCount {
                guard encoded.allSatisfy({ $0.count <= maxShardBytes }) else {
                    throw ShardError.tooLarge(bytes: encoded.map(\.count).max() ?? 0, limit: maxShardBytes)
                }
                return AssignmentShards(index: Index(shards: encoded.map { digest($0) }), shards: encoded)
            }
            count *= 2
        }
    }

    /// How many shards `indexBytes` lists (throws on an index this build cannot read).
    package static func shardCount(index indexBytes: [UInt8]) throws -> Int {
        let index = try JSONDecoder().decode(Index.self, from: Data(indexBytes))
        guard index.version <= AssignmentDocument.formatVersion else { throw ShardError.newerFormat(index.version) }
        return index.shards.count
    }

    /// Reassembles the document; throws unless every shard is present and matches the index.
    package static func decode(index indexBytes: [UInt8], shards: [[UInt8]]) throws -> AssignmentDocument {
        let index = try JSONDecoder().decode(Index.self, from: Data(indexBytes))
        guard index.version <= AssignmentDocument.formatVersion else { throw ShardError.newerFormat(index.version) }
        guard shards.count == index.shards.count else {
            throw ShardError.shardCount(expected: index.shards.count, found: shards.count)
        }
        var vips: [AssignmentDocument.VIP] = []
        var nodes: [String] = []
        var groups: [VRRPPlan.Group] = []
        for (i, bytes) in shards.enumerated() {
            guard digest(bytes) == index.shards[i] else { throw ShardError.digestMismatch(shard: i) }
            let part = try JSONDecoder().decode(AssignmentDocument.self, from: Data(bytes))
            for vip in part.vips where shard(of: vip.address, count: shards.count) != i {
                throw ShardError.misplaced(vip.address, shard: i)
            }
            vips += part.vips
            nodes = part.nodes
            groups = part.groups
        }
        return AssignmentDocument(vips: vips, nodes: nodes, groups: groups)
    }

    /// Why shards could not be written or read.
    package enum ShardError: Error, Equatable, CustomStringConvertible {
        case tooLarge(bytes: Int, limit: Int)
        case newerFormat(Int)
        case shardCount(expected: Int, found: Int)
        case digestMismatch(shard: Int)
        case misplaced(IPAddress, shard: Int)

        package var description: String {
            switch self {
            case .tooLarge(let b, let l):
                "a shard needs \(b) bytes even at \(AssignmentShards.maxShardCount) shards (limit \(l))"
            case .newerFormat(let v): "assignment format \(v) is newer than this build understands"
            case .shardCount(let e, let f): "index lists \(e) shards, found \(f)"
            case .digestMismatch(let s): "shard \(s) does not match the index (update in progress?)"
            case .misplaced(let a, let s): "VIP \(a) does not belong in shard \(s)"
            }
        }
    }

    /// The shard of an address: FNV-1a 64 of its canonical text, modulo the count. Stable across
    /// builds and platforms (unlike `Hasher`).
    package static func shard(of address: IPAddress, count: Int) -> Int {
        Int(fnv1a(Array(address.description.utf8)) % UInt64(count))
    }

    static func digest(_ bytes: [UInt8]) -> String {
        let hex = String(fnv1a(bytes), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Sorted keys, no whitespace, no escaped slashes: equal input, equal bytes.
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
