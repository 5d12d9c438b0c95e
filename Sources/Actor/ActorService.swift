import Core
import Logging
import Observability
import ServiceLifecycle

/// Runs the controller until graceful shutdown, then shuts the node down in order: the sync loop
/// stops (a sync in progress completes), keepalived stops first (priority 0: a backup takes the
/// VIPs over at once), VIPs bound here are removed, then the proxy drains its connections.
struct ActorService: ServiceLifecycle.Service {
    /// The controllers whose VIPs this node holds (one; on a fleet machine, one per cluster).
    let controllers: [ActorController]
    let dataPlane: any NodeDataPlane
    let readiness: Readiness
    let logger: Logger
    /// Runs the loop (the controller's, or the fleet's) until `stop`.
    let loop: @Sendable () async -> Void
    let stop: @Sendable () -> Void

    init(controller: ActorController, dataPlane: any NodeDataPlane, readiness: Readiness, logger: Logger) {
        self.controllers = [controller]
        self.dataPlane = dataPlane
        self.readiness = readiness
        self.logger = logger
        loop = { await controller.run() }
        stop = { controller.stop() }
    }

    init(fleet: FleetController, dataPlane: any NodeDataPlane, readiness: Readiness, logger: Logger) {
        self.controllers = fleet.members.map(\.controller)
        self.dataPlane = dataPlane
        self.readiness = readiness
        self.logger = logger
        loop = { await fleet.run() }
        stop = { fleet.stop() }
    }

    func run() async throws {
        let stop = self.stop
        let controllers = self.controllers
        await withGracefulShutdownHandler {
            await loop()
        } onGracefulShutdown: {
            stop()
        }
        logger.info("terminating: releasing VIPs, then draining the proxy")
        readiness.isReady = false
        // Planned move: the other nodes learn which VIPs this node hands over (they forward the
        // established connections' packets here during the drain) before keepalived lets go.
        await withDiscardingTaskGroup { group in
            for c in controllers { group.addTask { await c.drainForShutdown() } }
        }
        // The node's record stops listing VIPs (the watcher's Serving condition, the other nodes'
        // split-brain view), written while keepalived hands them over.
        let cleared = Task {
            await withDiscardingTaskGroup { group in
                for c in controllers { group.addTask { await c.clearLiveRecord() } }
            }
        }
        await dataPlane.shutdown()
        await cleared.value
        await withDiscardingTaskGroup { group in
            for c in controllers { group.addTask { _ = await c.editRecord { $0[Handover.drainingAnnotation] = nil } } }
        }
        logger.info("stopped")
    }
}
