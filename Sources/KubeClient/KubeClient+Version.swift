import CCurl

extension KubeClient {
    /// The linked libcurl and what it was built with ("libcurl/7.88.1 OpenSSL/3.0.x …"), for
    /// `--version` (executables do not import the C modules themselves).
    package static var transportVersion: String { String(cString: ccurl_version()) }
}
