import Foundation

/// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
/// acquire when the lease is free or expired (judged by the local clock since the lease last
/// changed, never by comparing clocks), renew every `retryPeriod`, give up leadership when renewal
/// has failed for `renewDeadline`, release the lease on shutdown.
package actor LeaderElector {
    package struct Settings: Sendable {
        package var namespace: String
        package var name: String
        package var identity: String
        package var leaseDuration: Duration = .seconds(15)
        package var renewDeadline: Duration = .seconds(10)
        package var retryPeriod: Duration = .seconds(2)
        /// Hand the lease back when cancelled (a crash cannot; standbys then wait out `leaseDuration`).
        package var releaseOnCancel = true

        package init(namespace: String, name: String, identity: String) {
            self.namespace = namespace
            self.name = name
            self.identity = identity
        }
    }

    private let client: KubeClient
    private let settings: Settings
    private var observed: (spec: Lease.Spec?, at: ContinuousClock.Instant)?
    package private(set) var isLeader = false

    package init(client: KubeClient, settings: Settings) {
        self.client = client
        self.settings = settings
    }

    /// Campaigns until cancelled. `lead` runs while this instance leads and is cancelled when
    /// leadership is lost; the lease is released when the task is cancelled while leading.
    package func run(lead: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled {
            // Acquire.
            while !Task.isCancelled {
                if await tryAcquireOrRenew() { break }
                try? await Task.sleep(for: settings.retryPeriod)
            }
            if Task.isCancelled { break }
            isLeader = true
            let leading = Task { await lead() }
            // Renew.
            var lastRenew = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.retryPeriod)
                if Task.isCancelled { break }
                if await tryAcquireOrRenew() {
                    lastRenew = .now
                } else if ContinuousClock.now - lastRenew > settings.renewDeadline {
                    break
                }
            }
            leading.cancel()
            isLeader = false
            if Task.isCancelled {
                if settings.releaseOnCancel { await release() }
                break
            }
        }
    }

    /// One round: true when this instance holds the lease afterwards.
    func tryAcquireOrRenew() async -> Bool {
        let now = Self.microTime(Date())
        do {
            guard var lease = try? await client.get(Lease.self, namespace: settings.namespace, name: settings.name) else {
                let spec = Lease.Spec(holderIdentity: settings.identity, leaseDurationSeconds: Int(settings.leaseDuration.components.seconds),
                                      acquireTime: now, renewTime: now, leaseTransitions: 0)
                _ = try await client.create(Lease(metadata: ObjectMeta(name: settings.name, namespace: settings.namespace), spec: spec))
                observed = (spec, .now)
                return true
            }
            let spec = lease.spec ?? Lease.Spec()
            if observed?.spec != spec { observed = (spec, .now) }
            let holder = spec.holderIdentity ?? ""
            let duration = Duration.seconds(spec.leaseDurationSeconds ?? Int(settings.leaseDuration.components.seconds))
            let expired = ContinuousClock.now - observed!.at > duration
            if !holder.isEmpty && holder != settings.identity && !expired { return false }
            var next = spec
            if holder != settings.identity {
                next.acquireTime = now
                next.leaseTransitions = (spec.leaseTransitions ?? 0) + 1
            }
            next.holderIdentity = settings.identity
            next.leaseDurationSeconds = Int(settings.leaseDuration.components.seconds)
            next.renewTime = now
            lease.spec = next
            let updated = try await client.update(lease)  // resourceVersion precondition: 409 if someone else won
            observed = (updated.spec, .now)
            return true
        } catch {
            return false
        }
    }

    /// Hands the lease back (empty holder) so a standby takes over at once.
    private func release() async {
        guard var lease = try? await client.get(Lease.self, namespace: settings.namespace, name: settings.name),
              lease.spec?.holderIdentity == settings.identity else { return }
        lease.spec?.holderIdentity = ""
        lease.spec?.leaseDurationSeconds = 1
        lease.spec?.renewTime = Self.microTime(Date())
        _ = try? await client.update(lease)
    }

    static func microTime(_ date: Date) -> String { Timestamp.micro(date) }
}
