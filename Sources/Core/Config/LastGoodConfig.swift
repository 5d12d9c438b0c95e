/// The watcher's copy of the last config that validated: ConfigMap `<config>-last-good` in the
/// same namespace, same key. A watcher or actor that starts while the user's ConfigMap holds an
/// invalid edit has no "last good" config of its own; it serves from this copy instead of serving
/// nothing (the invalid edit is still reported, and applied once it is fixed).
package enum LastGoodConfig {
    package static func name(of configMap: String) -> String { "\(configMap)-last-good" }
}
