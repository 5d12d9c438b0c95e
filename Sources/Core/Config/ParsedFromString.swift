/// A value made from text by its validating parser that travels as that text (a JSON string):
/// decoding runs the same parser, so no document can carry what the parser refuses.
package protocol ParsedFromString: Codable {
    init(parsing text: String) throws(AddressParseError)
    var rawValue: String { get }
}

extension ParsedFromString {
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        do { self = try Self(parsing: s) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
