/// A failure answered as a `Status` object, exactly as the real API server formats them.
package struct APIError: Error {
    let code: Int
    let reason: String
    let message: String
    var details: JSON?

    var status: JSON {
        var s: JSON = .object([
            "kind": .string("Status"), "apiVersion": .string("v1"), "metadata": .object([:]),
            "status": .string("Failure"), "message": .string(message), "reason": .string(reason),
            "code": .int(Int64(code)),
        ])
        if let details { s["details"] = details }
        return s
    }

    static func notFound(_ r: ResourceType, _ name: String) -> APIError {
        let resource = r.group.isEmpty ? r.plural : "\(r.plural).\(r.group)"
        return APIError(
            code: 404, reason: "NotFound", message: "\(resource) \"\(name)\" not found",
            details: .object(
                ["name": .string(name), "kind": .string(r.plural)].merging(
                    r.group.isEmpty ? [:] : ["group": .string(r.group)]
                ) { a, _ in a }))
    }

    static func alreadyExists(_ r: ResourceType, _ name: String) -> APIError {
        let resource = r.group.isEmpty ? r.plural : "\(r.plural).\(r.group)"
        return APIError(
            code: 409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists",
            details: .object(["name": .string(name), "kind": .string(r.plural)]))
    }

    static func conflict(_ r: ResourceType, _ name: String) -> APIError {
        let resource = r.group.isEmpty ? r.plural : "\(r.plural).\(r.group)"
        return APIError(
            code: 409, reason: "Conflict",
            message:
                "Operation cannot be fulfilled on \(resource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: .object(["name": .string(name), "kind": .string(r.plural)]))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    /// 422 with one cause per field error, message `Kind "name" is invalid: [a, b]`.
    static func invalid(_ r: ResourceType, _ name: String, _ causes: [FieldError]) -> APIError {
        let joined = causes.map(\.text)
        let list = joined.count == 1 ? joined[0] : "[" + joined.joined(separator: ", ") + "]"
        return APIError(
            code: 422, reason: "Invalid", message: "\(r.kind) \"\(name)\" is invalid: \(list)",
            details: .object([
                "name": .string(name), "kind": .string(r.kind),
                "causes": .array(
                    causes.map {
                        .object([
                            "reason": .string($0.reason), "message": .string($0.detail), "field": .string($0.field),
                        ])
                    }),
            ]))
    }

    static func expired(_ message: String) -> APIError { APIError(code: 410, reason: "Expired", message: message) }
}

/// One validation failure of a field.
struct FieldError {
    let field: String
    let reason: String
    let detail: String

    var text: String { "\(field): \(detail)" }

    static func required(_ field: String, _ extra: String = "") -> FieldError {
        FieldError(
            field: field, reason: "FieldValueRequired", detail: "Required value" + (extra.isEmpty ? "" : ": \(extra)"))
    }

    static func invalid(_ field: String, _ value: JSON?, _ why: String) -> FieldError {
        let shown: String =
            switch value {
            case .string(let s)?: "\"\(s)\""
            case let v?: v.scalarText ?? "\(v)"
            case nil: "null"
            }
        return FieldError(field: field, reason: "FieldValueInvalid", detail: "Invalid value: \(shown): \(why)")
    }

    static func duplicate(_ field: String, _ value: String) -> FieldError {
        FieldError(field: field, reason: "FieldValueDuplicate", detail: "Duplicate value: \(value)")
    }

    static func notSupported(_ field: String, _ value: String, _ allowed: [String]) -> FieldError {
        FieldError(
            field: field, reason: "FieldValueNotSupported",
            detail:
                "Unsupported value: \"\(value)\": supported values: \(allowed.map { "\"\($0)\"" }.joined(separator: ", "))"
        )
    }
}
