import KubeClient
import Logging
import Observability
import ServiceLifecycle

/// Campaigns for the Lease and runs the controller while leading. On graceful shutdown the
/// campaign is cancelled: the controller stops (its last write finishes), then the elector
/// releases the lease, so the standby takes over at once and never writes beside us.
struct LeaderService: ServiceLifecycle.Service {
    let client: KubeClient
    let election: LeaderElection.Settings
    let settings: WatcherSettings
    let logger: Logger
    let metrics: WatcherMetrics
    let readiness: Readiness

    func run() async throws {
        let elector = LeaderElector(client: client, settings: election)
        let client = self.client
        let settings = self.settings
        let logger = self.logger
        let metrics = self.metrics
        let readiness = self.readiness
        metrics.isLeader(false)
        readiness.isReady = true  // a standby is ready
        await cancelWhenGracefulShutdown {
            await elector.run {
                metrics.isLeader(true)
                readiness.isReady = false
                logger.info("leading")
                let controller = WatcherController(
                    client: client, settings: settings, logger: logger, metrics: metrics, readiness: readiness)
                await controller.run()
                metrics.isLeader(false)
                readiness.isReady = true
                logger.info("stopped leading")
            }
        }
        logger.info("lease released")
    }
}
