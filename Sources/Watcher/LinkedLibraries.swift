import Core
import KubeClient

/// What `--version` prints: the release and the C libraries linked (through their wrappers).
enum LinkedLibraries {
    static var versionText: String { "k8slb-watcher \(K8slbVersion.current) (\(KubeClient.transportVersion))" }
}
