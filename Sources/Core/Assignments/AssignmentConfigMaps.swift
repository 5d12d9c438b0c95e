/// Where the published assignment document lives: ConfigMap `<base>` holds the index (key
/// `index`), `<base>-N` holds shard N (key `vips`). The one reader and writer of that layout — the
/// watcher publishes with it, the actor and the test harness read (and the harness writes) with it.
/// Pure: the caller supplies the ConfigMap reads and performs the writes.
package struct AssignmentConfigMaps: Sendable, Hashable {
    package let base: String
    package static let indexKey = "index"
    package static let shardKey = "vips"

    package init(base: String) { self.base = base }

    package func shardName(_ i: Int) -> String { "\(base)-\(i)" }

    /// The document from the ConfigMaps `data(name)` returns (nil: no such ConfigMap). nil when
    /// nothing is published yet; throws `ShardError.digestMismatch` while a publish is half done
    /// (the reader keeps what it had and reads again on the next change).
    package func read(_ data: (String) async throws -> [String: String]?) async throws -> AssignmentDocument? {
        try await readPublished(data)?.document
    }

    /// A consistent published set: the document and what the store holds (for the next plan).
    package struct Published: Sendable, Equatable {
        package let document: AssignmentDocument
        /// Digest of each stored shard, by shard number.
        package let shardDigests: [Int: String]
        package let indexBytes: [UInt8]
    }

    /// As `read`, with the stored digests and index (what a writer compares the next publish to).
    package func readPublished(_ data: (String) async throws -> [String: String]?) async throws -> Published? {
        guard let indexText = try await data(base)?[Self.indexKey] else { return nil }
        let index = Array(indexText.utf8)
        let count = try AssignmentShards.shardCount(index: index)
        var shards: [[UInt8]] = []
        shards.reserveCapacity(count)
        for i in 0..<count {
            guard let text = try await data(shardName(i))?[Self.shardKey] else {
                throw AssignmentShards.ShardError.digestMismatch(shard: i)
            }
            shards.append(Array(text.utf8))
        }
        let document = try AssignmentShards.decode(index: index, shards: shards)
        let digests = Dictionary(
            uniqueKeysWithValues: shards.enumerated().map { ($0.offset, AssignmentShards.digest($0.element)) })
        return Published(document: document, shardDigests: digests, indexBytes: index)
    }

    /// One ConfigMap write: `name` gets `data = [key: text]`.
    package struct Write: Sendable, Hashable {
        package let name: String
        package let key: String
        package let text: String

        package init(name: String, key: String, text: String) {
            self.name = name
            self.key = key
            self.text = text
        }
    }

    /// What publishing `encoded` takes when the store holds shards with digests `previous` and
    /// index `previousIndex`: changed shards first, then the index (readers accept a set only once
    /// it matches the index), then the deletion of shards no longer listed.
    package func plan(_ encoded: AssignmentShards, previous: [Int: String], previousIndex: [UInt8]?) -> (
        writes: [Write], deletes: [String]
    ) {
        var writes: [Write] = []
        for (i, bytes) in encoded.shards.enumerated() where previous[i] != encoded.index.shards[i] {
            writes.append(Write(name: shardName(i), key: Self.shardKey, text: String(decoding: bytes, as: UTF8.self)))
        }
        if encoded.indexBytes != previousIndex {
            writes.append(
                Write(name: base, key: Self.indexKey, text: String(decoding: encoded.indexBytes, as: UTF8.self)))
        }
        let deletes = previous.keys.sorted().filter { $0 >= encoded.shards.count }.map(shardName)
        return (writes, deletes)
    }
}
