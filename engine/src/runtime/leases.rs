//! This engine's side of the leases of running sessions (`store/leases.rs`). Every third of
//! the term it renews the leases of the sessions it runs (one call for all of them), then
//! sweeps: it claims leases whose term ran out (their engine died, or lost the store that long)
//! and runs those sessions here, with no client, so that their clocks run out, their closing
//! turns are said, and their reports and webhooks happen. A sweep takes [`SWEEP_LIMIT`]
//! sessions at most, so a dead node's sessions spread over the survivors' sweeps.
//!
//! A task sets whether its session needs a lease (`Registration::set_leased`: live or ending,
//! or events not stored yet) and writes the change at once; the periodic renewal carries it on.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Engine;
use super::actor::Actor;
use super::context::Context;
use super::registry::Registry;
use crate::EngineError;

/// Sessions one sweep takes over at most.
const SWEEP_LIMIT: usize = 100;

/// Renews this engine's leases and sweeps for expired ones, every third of the term (give or
/// take a tenth, so that nodes started together do not sweep together), while the engine exists.
pub(super) async fn keep_leases(ctx: Weak<Context>, registry: Weak<Registry>) {
    loop {
        let Some(term) = ctx.upgrade().map(|ctx| ctx.config.lease_term_ms) else { return };
        let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(term / 15 + 1)) as u64;
        tokio::time::sleep(Duration::from_millis(term / 3 - term / 30 + jitter)).await;
        let (Some(ctx), Some(registry)) = (ctx.upgrade(), registry.upgrade()) else { return };
        let engine = Engine { ctx, registry };
        engine.renew_leases().await;
        if let Err(error) = engine.sweep_leases().await {
            tracing::warn!(%error, "sweep of expired leases failed; next time");
        }
    }
}

impl Engine {
    fn lease_term(&self) -> Duration {
        Duration::from_millis(self.ctx.config.lease_term_ms)
    }

    /// Renews the leases of every session running here that needs one.
    async fn renew_leases(&self) {
        let leased = self.registry.leased();
        if leased.is_empty() {
            return;
        }
        if let Err(error) = self.ctx.store.renew_leases(&leased, self.lease_term(), self.ctx.clock.now()).await {
            // Renewed next time; a lease that runs out meanwhile is taken over by a sweep
            // (the new owner's epoch fences this engine's next write).
            tracing::warn!(%error, sessions = leased.len(), "cannot renew leases");
        }
    }

    /// Takes over the sessions whose leases ran out (their owner stopped renewing them): each
    /// is started here, with no client. Returns how many were.
    async fn sweep_leases(&self) -> Result<usize, EngineError> {
        if self.registry.is_closed() {
            return Ok(0); // Shutting down: what it claimed would wait out the claim's term.
        }
        let store = &self.ctx.store;
        let claimed = store.claim_expired_leases(self.lease_term(), SWEEP_LIMIT, self.ctx.clock.now()).await?;
        let mut taken = 0;
        for session_id in claimed {
            if self.registry.get(&session_id).is_some() {
                continue; // It runs here: its task holds or releases the lease itself.
            }
            if store.meta(&session_id).await?.is_none() {
                store.release_lease(&session_id).await?; // Deleted, or expired under retention.
                continue;
            }
            let ctx = Arc::clone(&self.ctx);
            let woken = self.registry.get_or_spawn(&session_id, |spawn| {
                tokio::spawn(Actor::new(ctx, spawn).woken().run());
            });
            match woken {
                Some(_) => {
                    taken += 1;
                    tracing::info!(session = %session_id, "its lease ran out (its node died?): taken over here");
                    metrics::counter!("viva_sessions_taken_over_total").increment(1);
                }
                // At capacity: claimable again once the claim's term runs out.
                None => tracing::info!(session = %session_id, "expired lease left for a later sweep: at capacity"),
            }
        }
        Ok(taken)
    }
}
