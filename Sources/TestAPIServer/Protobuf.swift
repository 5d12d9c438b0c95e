package import Foundation

/// The Kubernetes protobuf encoding of the kinds `kubectl create` sends as protobuf (Namespace,
/// ConfigMap, Secret, Service), decoded into the JSON the store keeps. kubectl's typed clients
/// send `Content-Type: application/vnd.kubernetes.protobuf` and accept JSON back, and client-go
/// does not fall back to JSON on a 415 for protobuf; so the server reads what they send.
///
/// Wire format: the magic `k8s\0`, then a `runtime.Unknown` message (1: TypeMeta {1: apiVersion,
/// 2: kind}, 2: raw object bytes). Field numbers follow k8s.io/api's generated.proto. Fields
/// holding their zero value are dropped (what JSON's omitempty gives); times, owner references
/// and managed fields are not decoded (the server sets or ignores them).
package enum KubeProtobuf {
    static let contentType = "application/vnd.kubernetes.protobuf"
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// The kinds decoded, by `apiVersion/kind`.
    static let kinds: [String: Schema] = [
        "v1/Namespace": namespace, "v1/ConfigMap": configMap, "v1/Secret": secret, "v1/Service": service,
    ]

    package static func decode(_ data: Data) throws(APIError) -> JSON {
        let bytes = [UInt8](data)
        guard bytes.starts(with: magic) else { throw .badRequest("protobuf body without the k8s envelope") }
        var apiVersion = ""
        var kind = ""
        var raw: [UInt8] = []
        do {
            var outer = Reader(bytes[magic.count...])
            while let (field, value) = try outer.next() {
                switch (field, value) {
                case (1, .bytes(let b)):
                    var meta = Reader(b)
                    while let (f, v) = try meta.next() {
                        if f == 1, case .bytes(let s) = v { apiVersion = String(decoding: s, as: UTF8.self) }
                        if f == 2, case .bytes(let s) = v { kind = String(decoding: s, as: UTF8.self) }
                    }
                case (2, .bytes(let b)): raw = Array(b)
                default: break
                }
            }
            guard let schema = kinds["\(apiVersion)/\(kind)"] else {
                throw Failure(
                    "protobuf bodies are decoded for \(kinds.keys.sorted().joined(separator: ", ")) only; send \(apiVersion)/\(kind) as JSON"
                )
            }
            guard case .object(var object) = try message(raw[...], schema) else { throw Failure("not an object") }
            object["apiVersion"] = .string(apiVersion)
            object["kind"] = .string(kind)
            return .object(object)
        } catch let e as Failure {
            throw APIError(code: 415, reason: "UnsupportedMediaType", message: e.message)
        } catch {
            throw .badRequest("the object provided is unrecognized (protobuf): \(error)")
        }
    }

    struct Failure: Error {
        let message: String
        init(_ m: String) { message = m }
    }

    // MARK: schemas

    /// A field's JSON name and how its value is read.
    struct Field: Sendable {
        let name: String
        let type: FieldType
        var repeated = false
    }

    indirect enum FieldType: Sendable {
        case string, int, bool
        /// Bytes, base64 in JSON (Secret data).
        case bytes
        case message(Schema)
        /// `map<string, string>` (repeated entries {1: key, 2: value}); `bytesValues` base64-encodes.
        case map(bytesValues: Bool)
        /// IntOrString {1: type, 2: intVal, 3: strVal}.
        case intOrString
    }

    typealias Schema = [Int: Field]

    static let objectMeta: Schema = [
        1: Field(name: "name", type: .string), 2: Field(name: "generateName", type: .string),
        3: Field(name: "namespace", type: .string),
        5: Field(name: "uid", type: .string), 6: Field(name: "resourceVersion", type: .string),
        7: Field(name: "generation", type: .int),
        11: Field(name: "labels", type: .map(bytesValues: false)),
        12: Field(name: "annotations", type: .map(bytesValues: false)),
        14: Field(name: "finalizers", type: .string, repeated: true),
    ]
    static let namespace: Schema = [
        1: Field(name: "metadata", type: .message(objectMeta)),
        2: Field(name: "spec", type: .message([1: Field(name: "finalizers", type: .string, repeated: true)])),
        3: Field(name: "status", type: .message([1: Field(name: "phase", type: .string)])),
    ]
    static let configMap: Schema = [
        1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "data", type: .map(bytesValues: false)),
        3: Field(name: "binaryData", type: .map(bytesValues: true)), 4: Field(name: "immutable", type: .bool),
    ]
    static let secret: Schema = [
        1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "data", type: .map(bytesValues: true)),
        3: Field(name: "type", type: .string), 4: Field(name: "stringData", type: .map(bytesValues: false)),
        5: Field(name: "immutable", type: .bool),
    ]
    static let servicePort: Schema = [
        1: Field(name: "name", type: .string), 2: Field(name: "protocol", type: .string),
        3: Field(name: "port", type: .int),
        4: Field(name: "targetPort", type: .intOrString), 5: Field(name: "nodePort", type: .int),
        6: Field(name: "appProtocol", type: .string),
    ]
    static let serviceSpec: Schema = [
        1: Field(name: "ports", type: .message(servicePort), repeated: true),
        2: Field(name: "selector", type: .map(bytesValues: false)),
        3: Field(name: "clusterIP", type: .string), 4: Field(name: "type", type: .string),
        5: Field(name: "externalIPs", type: .string, repeated: true), 7: Field(name: "sessionAffinity", type: .string),
        8: Field(name: "loadBalancerIP", type: .string),
        9: Field(name: "loadBalancerSourceRanges", type: .string, repeated: true),
        10: Field(name: "externalName", type: .string), 11: Field(name: "externalTrafficPolicy", type: .string),
        12: Field(name: "healthCheckNodePort", type: .int), 13: Field(name: "publishNotReadyAddresses", type: .bool),
        14: Field(
            name: "sessionAffinityConfig",
            type: .message([1: Field(name: "clientIP", type: .message([1: Field(name: "timeoutSeconds", type: .int)]))])
        ),
        17: Field(name: "ipFamilyPolicy", type: .string), 18: Field(name: "clusterIPs", type: .string, repeated: true),
        19: Field(name: "ipFamilies", type: .string, repeated: true),
        20: Field(name: "allocateLoadBalancerNodePorts", type: .bool),
        21: Field(name: "loadBalancerClass", type: .string), 22: Field(name: "internalTrafficPolicy", type: .string),
        23: Field(name: "trafficDistribution", type: .string),
    ]
    static let service: Schema = [
        1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "spec", type: .message(serviceSpec)),
    ]

    // MARK: decoding

    static func message(_ bytes: ArraySlice<UInt8>, _ schema: Schema) throws -> JSON {
        var out: [String: JSON] = [:]
        var reader = Reader(bytes)
        while let (number, value) = try reader.next() {
            guard let field = schema[number] else { continue }
            guard let v = try convert(value, field.type) else { continue }
            if case .map = field.type, case .object(let entry) = v {
                var m = out[field.name]?.objectValue ?? [:]
                for (k, x) in entry { m[k] = x }
                out[field.name] = .object(m)
            } else if field.repeated {
                out[field.name] = .array((out[field.name]?.arrayValue ?? []) + [v])
            } else {
                out[field.name] = v
            }
        }
        return .object(out)
    }

    /// nil for a zero value (dropped, as JSON's omitempty would).
    static func convert(_ value: Reader.Value, _ type: FieldType) throws -> JSON? {
        switch (type, value) {
        case (.string, .bytes(let b)): return b.isEmpty ? nil : .string(String(decoding: b, as: UTF8.self))
        case (.int, .varint(let n)): return n == 0 ? nil : .int(Int64(bitPattern: n))
        case (.bool, .varint(let n)): return n == 0 ? .bool(false) : .bool(true)
        case (.bytes, .bytes(let b)): return .string(Data(b).base64EncodedString())
        case (.message(let s), .bytes(let b)):
            let m = try message(b, s)
            return m.objectValue?.isEmpty == true ? nil : m
        case (.map(let bytesValues), .bytes(let b)):
            var key = ""
            var val: JSON = .string("")
            var r = Reader(b)
            while let (f, v) = try r.next() {
                guard case .bytes(let s) = v else { continue }
                if f == 1 { key = String(decoding: s, as: UTF8.self) }
                if f == 2 {
                    val = .string(bytesValues ? Data(s).base64EncodedString() : String(decoding: s, as: UTF8.self))
                }
            }
            return .object([key: val])
        case (.intOrString, .bytes(let b)):
            var kind: UInt64 = 0
            var int: UInt64 = 0
            var str = ""
            var r = Reader(b)
            while let (f, v) = try r.next() {
                switch (f, v) {
                case (1, .varint(let n)): kind = n
                case (2, .varint(let n)): int = n
                case (3, .bytes(let s)): str = String(decoding: s, as: UTF8.self)
                default: break
                }
            }
            if kind == 1 { return str.isEmpty ? nil : .string(str) }
            return int == 0 ? nil : .int(Int64(Int32(truncatingIfNeeded: int)))
        default:
            throw Failure("wire type does not match the field")
        }
    }

    /// Protobuf wire format: (field number, value) pairs.
    struct Reader {
        enum Value {
            case varint(UInt64)
            case bytes(ArraySlice<UInt8>)
            case fixed
        }
        struct Truncated: Error {}
        private var bytes: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

        mutating func next() throws -> (Int, Value)? {
            guard !bytes.isEmpty else { return nil }
            let tag = try varint()
            let number = Int(tag >> 3)
            switch tag & 7 {
            case 0: return (number, .varint(try varint()))
            case 1:
                try skip(8)
                return (number, .fixed)
            case 2:
                // A length beyond Int (or the body) is a broken message, not a trap (found by
                // scripts/fuzz: Tests/Fixtures/fuzz/protobuf/crash-length-overflow.pb).
                guard let n = Int(exactly: try varint()), bytes.count >= n else { throw Truncated() }
                let v = bytes.prefix(n)
                bytes = bytes.dropFirst(n)
                return (number, .bytes(v))
            case 5:
                try skip(4)
                return (number, .fixed)
            default: throw Failure("unsupported protobuf wire type \(tag & 7)")
            }
        }

        private mutating func skip(_ n: Int) throws {
            guard bytes.count >= n else { throw Truncated() }
            bytes = bytes.dropFirst(n)
        }

        private mutating func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while let b = bytes.first {
                bytes = bytes.dropFirst()
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
                guard shift < 64 else { throw Truncated() }
            }
            throw Truncated()
        }
    }
}
