/// The k8slb release this build belongs to.
package enum K8slbVersion {
    package static let current = "0.7.0"
}
