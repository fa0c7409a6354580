//! The webhook outbox in memory: the messages live in their sessions (so deleting a session
//! deletes them), the due and dead indexes beside; one lock makes every step atomic.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;

use super::{Inner, MemoryStore};
use crate::store::{Claimed, DeadWebhook, DeliveryId, DisabledEndpoint, StoreError, Webhooks};
use crate::time::Timestamp;

/// Which deliveries are due when, which are dead, which endpoints are off.
#[derive(Debug, Default)]
pub(super) struct Indexes {
    /// (due at ms, delivery), and each delivery's due time.
    due: BTreeSet<(u64, DeliveryId)>,
    due_at: HashMap<DeliveryId, u64>,
    /// (dead at ms, delivery).
    dead: BTreeSet<(u64, DeliveryId)>,
    disabled: HashMap<String, (Timestamp, String)>,
}

impl Indexes {
    /// Makes `id` due at `at` (replacing when it was due).
    pub(super) fn schedule(&mut self, id: DeliveryId, at: u64) {
        if let Some(old) = self.due_at.insert(id.clone(), at) {
            self.due.remove(&(old, id.clone()));
        }
        self.due.insert((at, id));
    }

    /// Forgets `id` if it is still held under `token`: whether it was.
    fn unschedule(&mut self, id: &DeliveryId, token: u64) -> bool {
        if self.due_at.get(id) != Some(&token) {
            return false;
        }
        self.due_at.remove(id);
        self.due.remove(&(token, id.clone()));
        true
    }
}

impl Inner {
    fn webhook(&mut self, id: &DeliveryId) -> Option<&mut (crate::store::PendingWebhook, Option<(Timestamp, String)>)> {
        self.session(&id.session_id)?.webhooks.get_mut(&id.field())
    }
}

#[async_trait]
impl Webhooks for MemoryStore {
    async fn claim_webhooks(&self, now: Timestamp, lease: Duration, limit: usize) -> Result<Vec<Claimed>, StoreError> {
        let token = now.plus_ms(lease.as_millis() as u64).0;
        Ok(self.with(|inner| {
            let due: Vec<DeliveryId> = inner
                .webhooks
                .due
                .iter()
                .take_while(|(at, _)| *at <= now.0)
                .take(limit)
                .map(|(_, id)| id.clone())
                .collect();
            due.into_iter()
                .map(|id| {
                    inner.webhooks.schedule(id.clone(), token);
                    let pending = inner.webhook(&id).filter(|(_, dead)| dead.is_none()).map(|(p, _)| p.clone());
                    Claimed { id, token, pending }
                })
                .collect()
        }))
    }

    async fn webhook_delivered(&self, claimed: &Claimed) -> Result<(), StoreError> {
        self.with(|inner| {
            // Delivered is delivered, even by a worker whose claim lapsed meanwhile.
            if let Some(session) = inner.session(&claimed.id.session_id) {
                session.webhooks.remove(&claimed.id.field());
            }
            inner.webhooks.unschedule(&claimed.id, claimed.token);
        });
        Ok(())
    }

    async fn webhook_dropped(&self, claimed: &Claimed) -> Result<(), StoreError> {
        self.with(|inner| inner.webhooks.unschedule(&claimed.id, claimed.token));
        Ok(())
    }

    async fn webhook_retry(
        &self,
        claimed: &Claimed,
        at: Timestamp,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            if inner.webhooks.due_at.get(&claimed.id) != Some(&claimed.token) {
                return;
            }
            let Some((pending, _)) = inner.webhook(&claimed.id) else {
                inner.webhooks.unschedule(&claimed.id, claimed.token);
                return;
            };
            pending.attempts = attempts;
            pending.last_error = Some(error.to_owned());
            inner.webhooks.schedule(claimed.id.clone(), at.0);
        });
        Ok(())
    }

    async fn webhook_dead(
        &self,
        claimed: &Claimed,
        now: Timestamp,
        attempts: u32,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            if !inner.webhooks.unschedule(&claimed.id, claimed.token) {
                return;
            }
            if let Some((pending, dead)) = inner.webhook(&claimed.id) {
                pending.attempts = attempts;
                *dead = Some((now, reason.to_owned()));
                inner.webhooks.dead.insert((now.0, claimed.id.clone()));
            }
        });
        Ok(())
    }

    async fn dead_webhooks(&self, limit: usize) -> Result<(Vec<DeadWebhook>, u64), StoreError> {
        Ok(self.with(|inner| {
            // Dead letters of deleted or expired sessions went with them.
            let listed: Vec<(u64, DeliveryId)> = inner.webhooks.dead.iter().cloned().collect();
            for (at, id) in listed {
                if inner.webhook(&id).is_none_or(|(_, dead)| dead.is_none()) {
                    inner.webhooks.dead.remove(&(at, id));
                }
            }
            let total = inner.webhooks.dead.len() as u64;
            let newest: Vec<DeliveryId> =
                inner.webhooks.dead.iter().rev().take(limit).map(|(_, id)| id.clone()).collect();
            let letters = newest
                .into_iter()
                .filter_map(|id| {
                    let (pending, dead) = inner.webhook(&id)?.clone();
                    let (dead_at, reason) = dead?;
                    Some(DeadWebhook { id, pending, dead_at, reason })
                })
                .collect();
            (letters, total)
        }))
    }

    async fn redrive_webhook(&self, id: &DeliveryId, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            let Some((pending, dead)) = inner.webhook(id) else { return false };
            let Some((dead_at, _)) = dead.take() else { return false };
            pending.attempts = 0;
            pending.last_error = None;
            inner.webhooks.dead.remove(&(dead_at.0, id.clone()));
            inner.webhooks.schedule(id.clone(), now.0);
            true
        }))
    }

    async fn pending_webhooks(&self) -> Result<u64, StoreError> {
        Ok(self.with(|inner| inner.webhooks.due.len() as u64))
    }

    async fn disable_endpoint(&self, endpoint: &str, at: Timestamp, reason: &str) -> Result<(), StoreError> {
        self.with(|inner| inner.webhooks.disabled.insert(endpoint.to_owned(), (at, reason.to_owned())));
        Ok(())
    }

    async fn enable_endpoint(&self, endpoint: &str) -> Result<bool, StoreError> {
        Ok(self.with(|inner| inner.webhooks.disabled.remove(endpoint).is_some()))
    }

    async fn disabled_endpoints(&self) -> Result<Vec<DisabledEndpoint>, StoreError> {
        Ok(self.with(|inner| {
            let mut off: Vec<DisabledEndpoint> = inner
                .webhooks
                .disabled
                .iter()
                .map(|(endpoint, (at, reason))| DisabledEndpoint {
                    endpoint: endpoint.clone(),
                    at: *at,
                    reason: reason.clone(),
                })
                .collect();
            off.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
            off
        }))
    }
}
