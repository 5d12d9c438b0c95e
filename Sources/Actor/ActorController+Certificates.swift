import Core
import Foundation
import Logging

extension ActorController {
    /// Pools with a TLS port whose certificate is usable; a bad one turns TLS off for that pool
    /// only (Event on its Services, metric), and every other pool keeps updating.
    func checkCertificates(_ config: UserConfig, _ document: AssignmentDocument) async -> Set<PoolName> {
        guard settings.backend != .kubeproxy else { return [] }
        var needs: [PoolName: [ServiceKey]] = [:]
        for vip in document.vips {
            for entry in vip.services
            where entry.gateway == nil && entry.ports.contains(where: { PortPolicy.resolve(entry, $0).terminateTLS }) {
                needs[vip.pool, default: []].append(entry.key)
            }
        }
        var ok = Set<PoolName>()
        for (pool, services) in needs.sorted(by: { $0.key < $1.key }) {
            // A fleet machine's files (and metrics) are named by the cluster too (`FleetPlan.pool`).
            let file = settings.fleetCluster.map { FleetPlan.pool($0, pool) } ?? pool
            switch await dataPlane.checkCertificate(pool: file) {
            case .failure(let problem):
                metrics.certificateProblem(pool: file, true)
                let message = "certificate for pool \(pool) unusable, TLS termination off for this pool: \(problem)"
                if certificateProblems[pool] != message {
                    certificateProblems[pool] = message
                    logger.error("certificate problem", metadata: ["lb.pool": "\(pool)", "problem": "\(problem)"])
                    for key in Set(services).sorted() { event(key, .certificateInvalid, message) }
                }
            case .success(let notAfter):
                ok.insert(pool)
                metrics.certificateProblem(pool: file, false)
                metrics.certificateExpiry("pool/\(file.rawValue)", notAfter)
                if certificateProblems.removeValue(forKey: pool) != nil {
                    logger.info("certificate usable again; TLS back on", metadata: ["lb.pool": "\(pool)"])
                }
            }
        }
        return ok
    }
}
