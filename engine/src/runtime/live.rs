//! How many sessions one user may have live at once (`EngineConfig::max_live_per_user`),
//! counted in the store so that every node sees the same count: a session is counted from its
//! start to its end under a lease its task renews; a session whose node died stops counting
//! when its lease runs out, so a crash never locks a user out for longer than a lease.

use std::time::Duration;

use crate::core::{SessionId, UserId};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// How long a count lasts unless renewed.
const LEASE: Duration = Duration::from_secs(60);
/// How often a live session renews it.
const RENEW_EVERY_MS: u64 = 20_000;

/// One session's place among its user's live sessions.
pub(super) struct LiveCount {
    limit: u32,
    user_id: UserId,
    session_id: SessionId,
    /// When to renew the lease (while counted).
    renew_at: Option<Timestamp>,
}

impl LiveCount {
    pub(super) fn new(limit: u32, user_id: UserId, session_id: SessionId) -> Self {
        Self { limit, user_id, session_id, renew_at: None }
    }

    /// When the task must call [`LiveCount::renew`].
    pub(super) fn renew_at(&self) -> Option<Timestamp> {
        self.renew_at
    }

    /// The session is starting: counted if its user has room. `false`: refused.
    pub(super) async fn admit(&mut self, store: &dyn Store, now: Timestamp) -> Result<bool, StoreError> {
        self.count(store, self.limit, now).await
    }

    /// The session is live (after a start, or loaded live): its lease goes on, whatever the
    /// count (a live session is never refused its own place).
    pub(super) async fn renew(&mut self, store: &dyn Store, now: Timestamp) -> Result<(), StoreError> {
        match self.count(store, u32::MAX, now).await {
            Ok(_) => Ok(()),
            Err(error) => {
                // Tried again soon; the lease outlives a few failed renewals.
                self.renew_at = Some(now.plus_ms(RENEW_EVERY_MS / 4));
                Err(error)
            }
        }
    }

    /// The session ended (or its start was refused after all): it no longer counts.
    pub(super) async fn end(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        self.renew_at = None;
        store.end_live(&self.user_id, &self.session_id).await
    }

    async fn count(&mut self, store: &dyn Store, limit: u32, now: Timestamp) -> Result<bool, StoreError> {
        let counted = store.admit_live(&self.user_id, &self.session_id, limit, now, LEASE).await?;
        self.renew_at = counted.then(|| now.plus_ms(RENEW_EVERY_MS));
        Ok(counted)
    }
}
