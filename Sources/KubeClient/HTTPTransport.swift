import Foundation
import Synchronization

/// Runs libcurl transfers on dedicated threads (never the cooperative pool) behind an async API.
/// Ordinary requests use a few lanes, each a serial queue with its own easy handle and so its own
/// reused connection; every stream (watch) gets a thread and handle of its own.
package final class HTTPTransport: Sendable {
    private final class Lane: @unchecked Sendable {
        // The handle is only touched on `queue`.
        let queue: DispatchQueue
        let handle = CurlHandle()
        init(_ i: Int) { queue = DispatchQueue(label: "k8slb.curl.lane\(i)") }
    }

    private let lanes: [Lane]
    private let next = Mutex(0)
    let tls: Mutex<TLSSettings>

    package init(tls: TLSSettings, lanes: Int = 4) {
        self.lanes = (0..<max(1, lanes)).map(Lane.init)
        self.tls = Mutex(tls)
    }

    /// Performs one request and returns the whole response.
    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let lane = lanes[
            next.withLock { n in
                defer { n = (n + 1) % lanes.count }
                return n
            }]
        let tls = self.tls.withLock { $0 }
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPResponse, any Error>) in
            lane.queue.async {
                let sink = CurlHandle.Sink()
                do {
                    let status = try lane.handle.perform(request, tls: tls, sink: sink)
                    cont.resume(returning: HTTPResponse(status: status, headers: sink.headers, body: sink.body))
                } catch {
                    cont.resume(throwing: error)
                }
            }
        }
    }

    /// Streams the body of `request` chunk by chunk. The first element is the status and headers;
    /// the stream ends when the server ends the response, and cancelling the consumer aborts the
    /// transfer within about a second (libcurl's progress callback).
    package func stream(_ request: HTTPRequest) -> AsyncThrowingStream<StreamPart, any Error> {
        let tls = self.tls.withLock { $0 }
        return AsyncThrowingStream { continuation in
            let cancelled = Mutex(false)
            continuation.onTermination = { _ in cancelled.withLock { $0 = true } }
            let thread = Thread {
                let handle = CurlHandle()
                let sink = CurlHandle.Sink()
                var sentHead = false
                sink.isCancelled = { cancelled.withLock { $0 } }
                sink.onChunk = { bytes in
                    if !sentHead {
                        sentHead = true
                        continuation.yield(.head(status: sink.status, headers: sink.headers))
                    }
                    continuation.yield(.body(Array(bytes)))
                    return !cancelled.withLock { $0 }
                }
                do {
                    let status = try handle.perform(request, tls: tls, sink: sink)
                    if !sentHead { continuation.yield(.head(status: status, headers: sink.headers)) }
                    continuation.yield(.end(status: status))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.name = "k8slb.curl.stream"
            thread.start()
        }
    }

    /// A piece of a streamed response.
    package enum StreamPart: Sendable {
        /// Status and headers, before the first body bytes.
        case head(status: Int, headers: [String: String])
        case body([UInt8])
        case end(status: Int)
    }
}
