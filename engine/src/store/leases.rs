//! Leases of running sessions: who runs the clock of a session nobody may be connected to.
//!
//! A live session's clock must run out, its closing turn be said and its report written even
//! when no client is there. The engine running it holds a lease on it in the store, renewed
//! every few seconds; a lease not renewed for its whole term belongs to a node that died (or
//! lost the store for that long), and any engine's sweep may *claim* it: the claim renews it in
//! the claimant's name, so that one sweeper takes it, which then loads the session (a new
//! fencing epoch: a stale owner coming back writes nothing).
//!
//! A lease's times are the store's: on Redis the server's clock (`TIME`, in the same script as
//! the renewal or the claim of each shard), so the nodes' own clocks do not matter and a node
//! whose clock is skewed neither steals leases nor loses its own. The memory store, which one
//! process holds, uses the caller's `now`.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::core::SessionId;
use crate::time::Timestamp;

/// The leases of running sessions.
#[async_trait]
pub trait Leases {
    /// Renews the leases of `sessions` (taking them if not held) until `term` from now. A
    /// term of zero makes them claimable at once (a node handing its sessions over).
    async fn renew_leases(&self, sessions: &[SessionId], term: Duration, now: Timestamp) -> Result<(), StoreError>;

    /// Gives a session's lease up: it needs nobody to run it (it ended, or is gone).
    async fn release_lease(&self, session_id: &SessionId) -> Result<(), StoreError>;

    /// Claims at most `limit` leases whose term is over, renewing each for `term` so that no
    /// other sweep claims it meanwhile; the claimant runs them (or releases them).
    async fn claim_expired_leases(
        &self,
        term: Duration,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError>;
}
