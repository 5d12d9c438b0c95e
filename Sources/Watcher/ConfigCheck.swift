import Core
import Yams

/// The logic of `check-config`, apart from file and terminal handling.
enum ConfigCheck {
    struct Report: Equatable {
        var ok: Bool
        /// Errors (when not ok) or pool summaries (when ok).
        var lines: [String]
        var warnings: [String]
    }

    static func run(_ text: String) -> Report {
        let json: String
        do {
            json = try ConfigSource.extractConfig(text)
        } catch {
            return Report(ok: false, lines: ["error: \(error.description)"], warnings: [])
        }
        do {
            let validated = try UserConfig.parse(json)
            return Report(
                ok: true, lines: validated.config.pools.map(summary),
                warnings: validated.warnings.map(\.description))
        } catch {
            return Report(
                ok: false, lines: error.errors.map { "error: \($0)" },
                warnings: error.warnings.map(\.description))
        }
    }

    /// `pool default: IPv4, network 192.0.2.0/24, range 192.0.2.10-192.0.2.99 (90 dynamic), interface auto`
    static func summary(_ pool: Pool) -> String {
        let ha = pool.highAvailability ? "" : ", ha off"
        return "pool \(pool.name): \(pool.family.rawValue), network \(pool.network), range \(pool.range) "
            + "(\(pool.dynamicSize) dynamic), interface \(pool.interface?.rawValue ?? "auto")\(ha)"
    }
}

/// Finds the config JSON in what an operator hands to `check-config`.
enum ConfigSource {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The config JSON itself, or `data.config` of the ConfigMap named `global` (or the only
    /// ConfigMap with a `config` key) in a YAML/JSON manifest of one or more documents.
    static func extractConfig(_ text: String) throws(Failure) -> String {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        if trimmed.first == "{" {
            // Meant as JSON: the config itself unless it is a ConfigMap object.
            guard case .object(let members)? = try? JSONReader.parse(text) else { return text }
            if !members.contains(where: { $0.key == "kind" || $0.key == "data" }) { return text }
        }
        let documents: [Any]
        do {
            documents = try Array(Yams.load_all(yaml: text)).compactMap { $0 }
        } catch {
            throw Failure(description: "not JSON and not a YAML manifest: \(error)")
        }
        var candidates: [(name: String, config: String)] = []
        for document in documents {
            guard let object = document as? [String: Any], object["kind"] as? String == "ConfigMap" else { continue }
            let name = (object["metadata"] as? [String: Any])?["name"] as? String ?? ""
            if let config = (object["data"] as? [String: Any])?["config"] as? String {
                candidates.append((name, config))
            }
        }
        if let global = candidates.first(where: { $0.name == "global" }) { return global.config }
        if candidates.count == 1 { return candidates[0].config }
        if candidates.isEmpty {
            throw Failure(description: "no ConfigMap with data.config found (expected ConfigMap \"global\")")
        }
        throw Failure(
            description:
                "several ConfigMaps hold data.config and none is named \"global\": \(candidates.map(\.name).joined(separator: ", "))"
        )
    }
}
