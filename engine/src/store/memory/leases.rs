//! Running sessions' leases in memory: a map to each term's end, scanned by a claim (one
//! process holds this store: its sessions are few enough, and a claim is rare).

use std::time::Duration;

use async_trait::async_trait;

use super::MemoryStore;
use crate::core::SessionId;
use crate::store::{Leases, StoreError};
use crate::time::Timestamp;

#[async_trait]
impl Leases for MemoryStore {
    async fn renew_leases(&self, sessions: &[SessionId], term: Duration, now: Timestamp) -> Result<(), StoreError> {
        let until = now.plus_ms(term.as_millis() as u64).0;
        self.with(|inner| {
            for id in sessions {
                inner.leases.insert(id.clone(), until);
            }
        });
        Ok(())
    }

    async fn release_lease(&self, session_id: &SessionId) -> Result<(), StoreError> {
        self.with(|inner| inner.leases.remove(session_id));
        Ok(())
    }

    async fn claim_expired_leases(
        &self,
        term: Duration,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let until = now.plus_ms(term.as_millis() as u64).0;
        Ok(self.with(|inner| {
            let mut claimed = Vec::new();
            for (id, ends) in inner.leases.iter_mut().filter(|(_, ends)| **ends <= now.0).take(limit) {
                *ends = until;
                claimed.push(id.clone());
            }
            claimed
        }))
    }
}
