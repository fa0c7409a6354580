//! Running sessions' leases on Redis: one sorted set per shard (`viva:{leases:<k>}`, the
//! session's shard), scored by the end of each lease's term in ms of the server's clock. Every
//! renewal and claim is one script on one shard that reads `TIME` itself, so the nodes' clocks
//! never meet (a shard lives on one master: its renewals and claims see one clock).

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::connection::each;
use super::{RedisStore, SHARDS, shard, store_error};
use crate::core::SessionId;
use crate::store::{Leases, StoreError};
use crate::time::Timestamp;

/// Renews leases to the server's now + term.
/// KEYS: shard. ARGV: term ms, session ids.
const RENEW: &str = r"
local t = redis.call('TIME')
local ends = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], ends, ARGV[i]) end
return 0
";

/// Claims leases whose term ended: renews them to now + term and returns them.
/// KEYS: shard. ARGV: term ms, limit.
const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local over = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(over) do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id) end
return over
";

/// Sessions renewed by one script call at most (a script blocks its server while it runs).
const RENEW_BATCH: usize = 500;

/// The scripts of the leases.
#[derive(Clone)]
pub(super) struct Scripts {
    renew: Script,
    claim: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self { renew: Script::new(RENEW), claim: Script::new(CLAIM) }
    }
}

fn shard_key(shard: u32) -> String {
    format!("viva:{{leases:{shard}}}")
}

#[async_trait]
impl Leases for RedisStore {
    async fn renew_leases(&self, sessions: &[SessionId], term: Duration, _now: Timestamp) -> Result<(), StoreError> {
        let mut by_shard: Vec<Vec<&str>> = vec![Vec::new(); SHARDS as usize];
        for id in sessions {
            by_shard[shard(id) as usize].push(id.as_str());
        }
        let term_ms = term.as_millis() as u64;
        let batches: Vec<(String, Vec<String>)> = by_shard
            .iter()
            .enumerate()
            .flat_map(|(shard, ids)| {
                ids.chunks(RENEW_BATCH)
                    .map(move |chunk| (shard_key(shard as u32), chunk.iter().map(|id| (*id).to_owned()).collect()))
            })
            .collect();
        each(batches, |(key, ids)| {
            let (script, mut connection) = (self.lease_scripts.renew.clone(), self.conn());
            async move { script.key(key).arg(term_ms).arg(ids).invoke_async::<i64>(&mut connection).await }
        })
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn release_lease(&self, session_id: &SessionId) -> Result<(), StoreError> {
        self.conn().zrem(shard_key(shard(session_id)), session_id.as_str()).await.map_err(store_error)
    }

    async fn claim_expired_leases(
        &self,
        term: Duration,
        limit: usize,
        _now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        // From a random shard on, so that sweeps on several nodes do not all start together.
        let first = (uuid::Uuid::new_v4().as_u128() % u128::from(SHARDS)) as u32;
        let mut claimed = Vec::new();
        for shard in (0..SHARDS).map(|i| (first + i) % SHARDS) {
            if claimed.len() >= limit {
                break;
            }
            let ids: Vec<String> = self
                .lease_scripts
                .claim
                .key(shard_key(shard))
                .arg(term.as_millis() as u64)
                .arg(limit - claimed.len())
                .invoke_async(&mut self.conn())
                .await
                .map_err(store_error)?;
            claimed.extend(ids.into_iter().map(SessionId::from));
        }
        Ok(claimed)
    }
}
