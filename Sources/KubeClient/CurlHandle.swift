import CCurl
import Foundation

/// The one owner of a libcurl easy handle. Not thread-safe: one thread uses it at a time.
/// `curl_easy_reset` between requests keeps the live connection, so requests on one handle reuse it.
final class CurlHandle {
    private let handle: UnsafeMutableRawPointer

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    init() {
        _ = Self.globalInit
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed (out of memory)") }
        handle = h
    }

    deinit { curl_easy_cleanup(handle) }

    /// Receives the bytes of one transfer.
    final class Sink {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
        /// Status code from the last status line seen.
        var status = 0
        /// When set, body bytes go here instead of `body`; returning false aborts the transfer.
        var onChunk: ((UnsafeRawBufferPointer) -> Bool)?
        /// Polled during the transfer; true aborts it.
        var isCancelled: () -> Bool = { false }
    }

    /// Performs `request`, blocking the calling thread.
    func perform(_ request: HTTPRequest, tls: TLSSettings, sink: Sink) throws(TransportError) -> Int {
        curl_easy_reset(handle)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (k, v) in request.headers { headerList = curl_slist_append(headerList, "\(k): \(v)") }
        // Let curl send a body without "Expect: 100-continue" round trips.
        headerList = curl_slist_append(headerList, "Expect:")

        try check(ccurl_easy_setopt_string(handle, CURLOPT_URL, request.url))
        try check(ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(ccurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 10_000))
        try check(ccurl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds))
        try check(ccurl_easy_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
        try check(ccurl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        if let body = request.body {
            try check(ccurl_easy_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
            // COPYPOSTFIELDS copies: the buffer need not outlive this call.
            let code = body.withUnsafeBytes { p in
                ccurl_easy_setopt_pointer(
                    handle, CURLOPT_COPYPOSTFIELDS,
                    UnsafeMutableRawPointer(mutating: p.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
            try check(code)
        } else if request.method == "GET" {
            try check(ccurl_easy_setopt_long(handle, CURLOPT_HTTPGET, 1))
        }
        try check(ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        try applyTLS(tls)

        let box = Unmanaged.passUnretained(sink).toOpaque()
        try check(
            ccurl_easy_setopt_write_callback(
                handle, CURLOPT_WRITEFUNCTION,
                { ptr, size, count, user in
                    let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    let buffer = UnsafeRawBufferPointer(start: ptr, count: n)
                    if let onChunk = sink.onChunk { return onChunk(buffer) ? n : 0 }
                    sink.body.append(contentsOf: buffer)
                    return n
                }))
        try check(ccurl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, box))
        try check(
            ccurl_easy_setopt_header_callback(
                handle,
                { ptr, size, count, user in
                    let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
                    if line.hasPrefix("HTTP/") {  // a new response (after 100/redirect)
                        sink.headers = [:]
                        let fields = line.split(separator: " ")
                        if fields.count >= 2, let code = Int(fields[1]) { sink.status = code }
                    }
                    if let colon = line.firstIndex(of: ":") {
                        let name = line[..<colon].lowercased()
                        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                        sink.headers[name] = value
                    }
                    return n
                }))
        try check(ccurl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, box))
        try check(ccurl_easy_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        try check(
            ccurl_easy_setopt_xferinfo_callback(
                handle,
                { user, _, _, _, _ in
                    let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                    return sink.isCancelled() ? 1 : 0
                }))
        try check(ccurl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, box))

        let result = curl_easy_perform(handle)
        if result != CURLE_OK {
            throw TransportError(code: Int(result.rawValue), message: String(cString: curl_easy_strerror(result)))
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return status
    }

    private func applyTLS(_ tls: TLSSettings) throws(TransportError) {
        if tls.insecureSkipVerify {
            try check(ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0))
            try check(ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0))
        } else {
            try check(ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
            try check(ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, tls.verifyHostName ? 2 : 0))
        }
        if let ca = tls.caPEM { try setBlob(CURLOPT_CAINFO_BLOB, ca) }
        if let cert = tls.clientCertificatePEM {
            try setBlob(CURLOPT_SSLCERT_BLOB, cert)
            try check(ccurl_easy_setopt_string(handle, CURLOPT_SSLCERTTYPE, "PEM"))
        }
        if let key = tls.clientKeyPEM {
            try setBlob(CURLOPT_SSLKEY_BLOB, key)
            try check(ccurl_easy_setopt_string(handle, CURLOPT_SSLKEYTYPE, "PEM"))
        }
    }

    private func setBlob(_ option: CURLoption, _ bytes: [UInt8]) throws(TransportError) {
        let code = bytes.withUnsafeBytes { p in ccurl_easy_setopt_blob(handle, option, p.baseAddress, p.count) }
        try check(code)
    }

    private func check(_ code: CURLcode) throws(TransportError) {
        guard code == CURLE_OK else {
            throw TransportError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
    }
}
