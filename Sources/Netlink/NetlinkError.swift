/// A failed netlink operation, keeping libnl's error code.
package struct NetlinkError: Error, Sendable, CustomStringConvertible {
    /// The operation ("add 192.0.2.10/32 on eth0").
    package let operation: String
    /// libnl's (negative) error code, or -1 for our own checks.
    package let code: Int32
    package let message: String

    package var description: String { "\(operation): \(message) (\(code))" }
}
