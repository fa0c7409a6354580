//! The webhook outbox on Redis (keys in the table of `redis/mod.rs`).
//!
//! A session's messages live in its own hash (`viva:{<session>}:webhooks`), written by the
//! append script with the events that make them, so they are in the session's slot, expire
//! and are deleted with it. What is due when is a sorted set per shard
//! (`viva:{webhooks:<k>}:due`, the session's shard): never one global key in the write path,
//! and on Redis Cluster the shards spread over the masters.
//!
//! The due-index is in another slot than the message, so the two cannot change in one step.
//! The order of the steps makes every interruption safe:
//! - append: the delivery is made due 60 s ahead first (`expect_webhooks`), then the script
//!   stores the message, then it is made due now. Dying after the script: it is delivered
//!   60 s later. A script that failed leaves a due entry with no message: dropped when claimed
//!   (an append is over in far less than 60 s: every command times out sooner).
//! - claim: due entries are re-scored to the lease's end (the token) in one script per shard.
//! - delivered: the message is deleted, then the due entry, if it still holds the token.
//!   Dying in between leaves an entry with no message: dropped when claimed.
//! - retry / dead: the message is updated (only if it still exists), then the due entry is
//!   re-scored or removed, if it still holds the token.

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::connection::each;
use super::{Keys, RedisStore, SHARDS, shard, store_error};
use crate::core::SessionId;
use crate::store::persisted::{self, WebhookBytes};
use crate::store::{
    Claimed, DeadWebhook, DeliveryId, DisabledEndpoint, PendingWebhook, StoreError, WebhookMessage, Webhooks,
};
use crate::time::Timestamp;

/// How long a message whose append is in flight waits before it is due anyway.
const APPEND_GRACE_MS: u64 = 60_000;

/// Claims due entries of one shard: re-scores them to the lease's end and returns them.
/// KEYS: due. ARGV: now ms, lease end ms, limit.
const CLAIM: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
";

/// Re-scores (ARGV[3] given) or removes a due entry if it still holds the token.
/// KEYS: due. ARGV: member, token, new score (optional).
const IF_CLAIMED: &str = r"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) else redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
";

/// Replaces a message if it exists (and, with ARGV[3], only if it is still exactly that).
/// KEYS: webhooks. ARGV: field, bytes, expected bytes (optional).
const REPLACE: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
if ARGV[3] and current ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

/// The scripts of the outbox.
#[derive(Clone)]
pub(super) struct Scripts {
    claim: Script,
    if_claimed: Script,
    replace: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self { claim: Script::new(CLAIM), if_claimed: Script::new(IF_CLAIMED), replace: Script::new(REPLACE) }
    }
}

/// The due-index shard of a session.
fn due_key(session_id: &SessionId) -> String {
    format!("viva:{{webhooks:{}}}:due", shard(session_id))
}

const DEAD: &str = "viva:{webhooks}:dead";
const DISABLED: &str = "viva:{webhooks}:disabled";

fn decode(bytes: &[u8]) -> Result<(PendingWebhook, Option<(Timestamp, String)>), StoreError> {
    Ok(persisted::decode::<WebhookBytes>(bytes)?.into_pending())
}

impl RedisStore {
    /// Makes a batch's messages due a grace period ahead, before the batch is stored.
    pub(super) async fn expect_webhooks(
        &self,
        session_id: &SessionId,
        messages: &[WebhookMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for message in messages {
            let member = DeliveryId::of(session_id, message).to_string();
            pipe.cmd("ZADD").arg(due_key(session_id)).arg("NX").arg(message.created_at.0 + APPEND_GRACE_MS).arg(member);
            pipe.ignore();
        }
        pipe.query_async(&mut self.conn()).await.map_err(store_error)
    }

    /// Makes a stored batch's messages due now. A failure only delays them by the grace.
    pub(super) async fn webhooks_due(&self, session_id: &SessionId, messages: &[WebhookMessage]) {
        if messages.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for message in messages {
            pipe.zadd(due_key(session_id), DeliveryId::of(session_id, message).to_string(), message.created_at.0);
            pipe.ignore();
        }
        let done: Result<(), _> = pipe.query_async(&mut self.conn()).await;
        if let Err(error) = done {
            tracing::warn!(session = %session_id, %error, "webhooks stored but not marked due; due in a minute");
        }
    }

    /// The stored messages of these deliveries (each in its session's slot).
    async fn messages(&self, ids: &[DeliveryId]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let fields: Vec<(String, String)> =
            ids.iter().map(|id| (Keys::of(&id.session_id).webhooks, id.field())).collect();
        each(fields, |(key, field)| {
            let mut connection = self.conn();
            async move { connection.hget(key, field).await }
        })
        .await
        .map_err(store_error)
    }

    /// Re-scores or removes a claimed due entry, if the claim still holds.
    async fn if_claimed(&self, claimed: &Claimed, rescore: Option<u64>) -> Result<(), StoreError> {
        let mut invocation = self.webhook_scripts.if_claimed.prepare_invoke();
        invocation.key(due_key(&claimed.id.session_id)).arg(claimed.id.to_string()).arg(claimed.token);
        if let Some(score) = rescore {
            invocation.arg(score);
        }
        let _: u8 = invocation.invoke_async(&mut self.conn()).await.map_err(store_error)?;
        Ok(())
    }

    /// Replaces a message if it exists (and is still `expected`, when given): whether it did.
    async fn replace(&self, id: &DeliveryId, bytes: Vec<u8>, expected: Option<&[u8]>) -> Result<bool, StoreError> {
        let mut invocation = self.webhook_scripts.replace.prepare_invoke();
        invocation.key(Keys::of(&id.session_id).webhooks).arg(id.field()).arg(bytes);
        if let Some(expected) = expected {
            invocation.arg(expected);
        }
        let replaced: u8 = invocation.invoke_async(&mut self.conn()).await.map_err(store_error)?;
        Ok(replaced == 1)
    }
}

#[async_trait]
impl Webhooks for RedisStore {
    async fn claim_webhooks(&self, now: Timestamp, lease: Duration, limit: usize) -> Result<Vec<Claimed>, StoreError> {
        let token = now.plus_ms(lease.as_millis() as u64).0;
        let mut ids = Vec::new();
        // One script call per shard (on Redis Cluster the shards are on different masters),
        // from a random one, until `limit` are claimed: no shard waits behind the others.
        let first = (uuid::Uuid::new_v4().as_u128() % u128::from(SHARDS)) as u32;
        for shard in (0..SHARDS).map(|i| (first + i) % SHARDS) {
            let room = limit.saturating_sub(ids.len());
            if room == 0 {
                break;
            }
            let key = format!("viva:{{webhooks:{shard}}}:due");
            let members: Vec<String> = self
                .webhook_scripts
                .claim
                .key(&key)
                .arg(now.0)
                .arg(token)
                .arg(room)
                .invoke_async(&mut self.conn())
                .await
                .map_err(store_error)?;
            for member in members {
                match member.parse::<DeliveryId>() {
                    Ok(id) => ids.push(id),
                    Err(_) => {
                        tracing::warn!(%member, "unreadable webhook due entry; removed");
                        let _: () = self.conn().zrem(&key, &member).await.map_err(store_error)?;
                    }
                }
            }
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.messages(&ids).await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for (id, bytes) in ids.into_iter().zip(found) {
            let pending = match bytes.as_deref().map(decode).transpose() {
                Ok(Some((pending, None))) => Some(pending),
                // Gone, or dead already (its due entry outlived it).
                Ok(_) => None,
                Err(error) => {
                    tracing::error!(delivery = %id, %error, "unreadable webhook message; dropped");
                    None
                }
            };
            claimed.push(Claimed { id, token, pending });
        }
        Ok(claimed)
    }

    async fn webhook_delivered(&self, claimed: &Claimed) -> Result<(), StoreError> {
        let _: () = self
            .conn()
            .hdel(Keys::of(&claimed.id.session_id).webhooks, claimed.id.field())
            .await
            .map_err(store_error)?;
        self.if_claimed(claimed, None).await
    }

    async fn webhook_dropped(&self, claimed: &Claimed) -> Result<(), StoreError> {
        self.if_claimed(claimed, None).await
    }

    async fn webhook_retry(
        &self,
        claimed: &Claimed,
        at: Timestamp,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError> {
        let Some(pending) = &claimed.pending else { return self.webhook_dropped(claimed).await };
        let mut pending = pending.clone();
        pending.attempts = attempts;
        pending.last_error = Some(error.to_owned());
        if self.replace(&claimed.id, persisted::encode(&WebhookBytes::new(&pending, None))?, None).await? {
            self.if_claimed(claimed, Some(at.0)).await
        } else {
            self.if_claimed(claimed, None).await
        }
    }

    async fn webhook_dead(
        &self,
        claimed: &Claimed,
        now: Timestamp,
        attempts: u32,
        reason: &str,
    ) -> Result<(), StoreError> {
        let Some(pending) = &claimed.pending else { return self.webhook_dropped(claimed).await };
        let mut pending = pending.clone();
        pending.attempts = attempts;
        let bytes = persisted::encode(&WebhookBytes::new(&pending, Some((now, reason))))?;
        if self.replace(&claimed.id, bytes, None).await? {
            let _: () = self.conn().zadd(DEAD, claimed.id.to_string(), now.0).await.map_err(store_error)?;
        }
        self.if_claimed(claimed, None).await
    }

    async fn dead_webhooks(&self, limit: usize) -> Result<(Vec<DeadWebhook>, u64), StoreError> {
        let members: Vec<String> = match limit {
            0 => Vec::new(),
            _ => self.conn().zrevrange(DEAD, 0, limit as isize - 1).await.map_err(store_error)?,
        };
        let ids: Vec<DeliveryId> = members.iter().filter_map(|m| m.parse().ok()).collect();
        let mut letters = Vec::with_capacity(ids.len());
        if !ids.is_empty() {
            let found = self.messages(&ids).await?;
            for (id, bytes) in ids.into_iter().zip(found) {
                match bytes.as_deref().map(decode).transpose()? {
                    Some((pending, Some((dead_at, reason)))) => {
                        letters.push(DeadWebhook { id, pending, dead_at, reason })
                    }
                    // Its session was deleted or expired, or it was re-driven: not dead any more.
                    _ => {
                        let _: () = self.conn().zrem(DEAD, id.to_string()).await.map_err(store_error)?;
                    }
                }
            }
        }
        let total: u64 = self.conn().zcard(DEAD).await.map_err(store_error)?;
        Ok((letters, total))
    }

    async fn redrive_webhook(&self, id: &DeliveryId, now: Timestamp) -> Result<bool, StoreError> {
        let bytes: Option<Vec<u8>> =
            self.conn().hget(Keys::of(&id.session_id).webhooks, id.field()).await.map_err(store_error)?;
        let Some(bytes) = bytes else { return Ok(false) };
        let (mut pending, dead) = decode(&bytes)?;
        if dead.is_none() {
            return Ok(false);
        }
        pending.attempts = 0;
        pending.last_error = None;
        let fresh = persisted::encode(&WebhookBytes::new(&pending, None))?;
        if !self.replace(id, fresh, Some(&bytes)).await? {
            return Ok(false);
        }
        let _: () = self.conn().zadd(due_key(&id.session_id), id.to_string(), now.0).await.map_err(store_error)?;
        let _: () = self.conn().zrem(DEAD, id.to_string()).await.map_err(store_error)?;
        Ok(true)
    }

    async fn pending_webhooks(&self) -> Result<u64, StoreError> {
        let counts: Vec<u64> = each(0..SHARDS, |shard| {
            let mut connection = self.conn();
            async move { connection.zcard(format!("viva:{{webhooks:{shard}}}:due")).await }
        })
        .await
        .map_err(store_error)?;
        Ok(counts.iter().sum())
    }

    async fn disable_endpoint(&self, endpoint: &str, at: Timestamp, reason: &str) -> Result<(), StoreError> {
        self.conn().hset(DISABLED, endpoint, format!("{} {reason}", at.0)).await.map_err(store_error)
    }

    async fn enable_endpoint(&self, endpoint: &str) -> Result<bool, StoreError> {
        let removed: u64 = self.conn().hdel(DISABLED, endpoint).await.map_err(store_error)?;
        Ok(removed == 1)
    }

    async fn disabled_endpoints(&self) -> Result<Vec<DisabledEndpoint>, StoreError> {
        let all: Vec<(String, String)> = self.conn().hgetall(DISABLED).await.map_err(store_error)?;
        let mut off: Vec<DisabledEndpoint> = all
            .into_iter()
            .map(|(endpoint, value)| {
                let (at, reason) = value.split_once(' ').unwrap_or((&value, ""));
                DisabledEndpoint { endpoint, at: Timestamp(at.parse().unwrap_or(0)), reason: reason.to_owned() }
            })
            .collect();
        off.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        Ok(off)
    }
}
