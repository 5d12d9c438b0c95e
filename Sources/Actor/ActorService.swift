import Core
import Logging
import Observability
import ServiceLifecycle

/// Runs the controller until graceful shutdown, then shuts the node down in order: the sync loop
/// stops (a sync in progress completes), keepalived stops first (priority 0: a backup takes the
/// VIPs over at once), VIPs bound here are removed, then the proxy drains its connections.
struct ActorService: ServiceLifecycle.Service {
    let controller: ActorController
    let dataPlane: any NodeDataPlane
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        let controller = self.controller
        await withGracefulShutdownHandler {
            await controller.run()
        } onGracefulShutdown: {
            controller.stop()
        }
        logger.info("terminating: releasing VIPs, then draining the proxy")
        readiness.isReady = false
        // Planned move: the other nodes learn which VIPs this node hands over (they forward the
        // established connections' packets here during the drain) before keepalived lets go.
        await controller.drainForShutdown()
        // The node's record stops listing VIPs (the watcher's Serving condition, the other nodes'
        // split-brain view), written while keepalived hands them over.
        let cleared = Task { await controller.clearLiveRecord() }
        await dataPlane.shutdown()
        await cleared.value
        _ = await controller.editRecord { $0[Handover.drainingAnnotation] = nil }
        logger.info("stopped")
    }
}
