import Dispatch
import Foundation

/// Waits for SIGTERM or SIGINT.
package enum SignalWaiter {
    package static func waitForTermination() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let once = NSLock()
            nonisolated(unsafe) var resumed = false
            var sources: [any DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    once.lock()
                    defer { once.unlock() }
                    if !resumed { resumed = true; cont.resume() }
                }
                source.resume()
                sources.append(source)
            }
            Holder.sources = sources
        }
    }

    private enum Holder { nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = [] }
}
