import Foundation

/// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
/// acquire when the lease is free or expired (judged by the injected clock since the lease last
/// changed, never by comparing clocks), renew every `retryPeriod`, give up leadership when renewal
/// has failed for `renewDeadline`, and on shutdown release the lease — only after the leading
/// work has stopped, so a standby never writes while the old leader still does.
package actor LeaderElector<C: Clock> where C.Duration == Duration {
    package typealias Settings = LeaderElection.Settings

    private let client: KubeClient
    private let settings: Settings
    private let clock: C
    private var observed: (spec: Lease.Spec?, at: C.Instant)?
    package private(set) var isLeader = false

    package init(client: KubeClient, settings: Settings, clock: C) {
        self.client = client
        self.settings = settings
        self.clock = clock
    }

    /// Campaigns until cancelled. `lead` runs while this instance leads and is cancelled when
    /// leadership is lost or the campaign is cancelled; the lease is released (when
    /// `releaseOnCancel`) after `lead` has returned.
    package func run(lead: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled {
            // Acquire.
            while !Task.isCancelled {
                if await tryAcquireOrRenew() { break }
                try? await clock.sleep(for: settings.retryPeriod)
            }
            if Task.isCancelled { break }
            isLeader = true
            let leading = Task { await lead() }
            // Renew.
            var lastRenew = clock.now
            while !Task.isCancelled {
                try? await clock.sleep(for: settings.retryPeriod)
                if Task.isCancelled { break }
                if await tryAcquireOrRenew() {
                    lastRenew = clock.now
                } else if lastRenew.duration(to: clock.now) > settings.renewDeadline {
                    break
                }
            }
            leading.cancel()
            // The leading work finishes what it is doing (a write in flight) before anyone else
            // may lead: release only after it has returned.
            await leading.value
            isLeader = false
            if Task.isCancelled {
                if settings.releaseOnCancel { await release() }
                break
            }
        }
    }

    /// One round: true when this instance holds the lease afterwards.
    package func tryAcquireOrRenew() async -> Bool {
        let now = Timestamp.micro(Date())
        do {
            guard var lease = try? await client.get(Lease.self, namespace: settings.namespace, name: settings.name)
            else {
                let spec = Lease.Spec(
                    holderIdentity: settings.identity,
                    leaseDurationSeconds: Int(settings.leaseDuration.components.seconds),
                    acquireTime: now, renewTime: now, leaseTransitions: 0)
                _ = try await client.create(
                    Lease(metadata: ObjectMeta(name: settings.name, namespace: settings.namespace), spec: spec))
                observed = (spec, clock.now)
                return true
            }
            let spec = lease.spec ?? Lease.Spec()
            if observed?.spec != spec { observed = (spec, clock.now) }
            let holder = spec.holderIdentity ?? ""
            let duration = Duration.seconds(spec.leaseDurationSeconds ?? Int(settings.leaseDuration.components.seconds))
            let expired = observed!.at.duration(to: clock.now) > duration
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
            observed = (updated.spec, clock.now)
            return true
        } catch {
            return false
        }
    }

    /// Hands the lease back (empty holder) so a standby takes over at once.
    private func release() async {
        guard var lease = try? await client.get(Lease.self, namespace: settings.namespace, name: settings.name),
            lease.spec?.holderIdentity == settings.identity
        else { return }
        lease.spec?.holderIdentity = ""
        lease.spec?.leaseDurationSeconds = 1
        lease.spec?.renewTime = Timestamp.micro(Date())
        _ = try? await client.update(lease)
    }
}

extension LeaderElector where C == ContinuousClock {
    package init(client: KubeClient, settings: Settings) {
        self.init(client: client, settings: settings, clock: ContinuousClock())
    }
}

/// Leader election settings (not generic, so they can be built before a clock is chosen).
package enum LeaderElection {
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
}
