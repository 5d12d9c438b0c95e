/// Why a piece of address text was rejected. `description` quotes the input.
package struct AddressParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text as given (control characters escaped when printed).
    package let input: String
    /// What is wrong with it.
    package let problem: String

    package init(_ input: some StringProtocol, _ problem: String) {
        self.input = String(input)
        self.problem = problem
    }

    package var description: String { "\(input.quotedForMessage): \(problem)" }
}

extension String {
    /// The string made safe to print inside a one-line message: control characters escaped, long
    /// text shortened. Used whenever user text is quoted back.
    package var quotedForMessage: String {
        var out = ""
        for scalar in unicodeScalars.prefix(200) {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        if unicodeScalars.count > 200 { out += "…" }
        return out
    }
}
