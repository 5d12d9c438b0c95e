import CCurl
import Core
import COpenSSL

/// Versions of the C libraries this binary links (shown by `--version`).
enum LinkedLibraries {
    static var versionText: String {
        "k8slb-watcher \(K8slbVersion.current) (\(String(cString: ccurl_version())); \(String(cString: copenssl_version())))"
    }
}
