//! The Redis store: every session survives a process, a node or a Redis restart (with Redis
//! persistence configured as `docs/durability.md` says).
//!
//! Key layout (all keys of a session share the hash tag `{<session>}`, so they sit in one
//! Redis Cluster slot and one script may touch them all):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `viva:{<session>}:meta` | string | [`MetaBytes`]: owner, plan, candidate, time budget |
//! | `viva:{<session>}:epoch` | string (int) | the fencing epoch of the current owner |
//! | `viva:{<session>}:log` | stream | one entry per durable event, id `<seq>-0`, field `e`: [`EntryBytes`] |
//! | `viva:{<session>}:snap` | string | [`SnapshotBytes`]: the state after some `head` seq |
//! | `viva:{<session>}:audio` | hash | spoken answers' audio (`--audio-recordings on`): utterance id → FLAC |
//! | `viva:{u:<user>}:live` | sorted set | the user's live sessions, scored by when their lease ends |
//! | `viva:{u:<user>}:sessions` | sorted set | the user's session ids, scored by creation time |
//! | `viva:{u:<user>}:created` | sorted set | the user's recent session creations (`admit_creation`) |
//! | `viva:{u:<user>}:resume` | string | [`ResumeBytes`]: the user's résumé (text, file name, type, size, upload time) |
//!
//! One batch of durable events is one script call (one round trip): the script checks the
//! caller's epoch and that the batch continues the log, then appends it. Nothing is written
//! per token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Script};

use super::persisted::{self, EntryBytes, MetaBytes, ResumeBytes, SnapshotBytes};
use super::{Epoch, Loaded, SessionMeta, Store, StoreError, UserSessions};
use crate::core::{LogEntry, SessionId, State, UserId};
use crate::resume::Resume;
use crate::time::Timestamp;

/// Appends a batch if the caller's epoch is current and the batch continues the log. A
/// session under retention (its metadata has a TTL) gives the log the same TTL, so that a log
/// made after the expiry was set expires with the rest.
/// KEYS: epoch, log, meta. ARGV: epoch, first seq, encoded entries...
const APPEND: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('FENCED ' .. current)
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local head = 0
if #last > 0 then head = tonumber(string.match(last[1][1], '^(%d+)')) end
if head + 1 ~= tonumber(ARGV[2]) then
  return redis.error_reply('OUT_OF_ORDER ' .. head)
end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[2], (head + i - 2) .. '-0', 'e', ARGV[i])
end
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return head + #ARGV - 2
";

/// A new epoch, only for a session that exists: INCR alone would leave an `epoch` key behind
/// for a deleted or expired session, against complete deletion. Under retention the epoch
/// expires with the metadata. KEYS: meta, epoch.
const ACQUIRE: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  -- A code with a detail: redis-rs reads a bare word as no code at all.
  return redis.error_reply('NOT_FOUND ' .. KEYS[1])
end
local epoch = redis.call('INCR', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return epoch
";

/// Counts a session creation in its user's sliding window (a sorted set of session ids by
/// creation time, under the user's hash tag): -1 when admitted (and counted), else the
/// milliseconds until the oldest creation leaves the window.
/// KEYS: created. ARGV: now ms, window ms, limit, session id.
const ADMIT: &str = r"
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
";

/// Replaces the snapshot if the caller's epoch is current; a session under retention keeps
/// its expiry. KEYS: epoch, snap, meta. ARGV: epoch, bytes.
const SNAPSHOT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('FENCED ' .. current)
end
redis.call('SET', KEYS[2], ARGV[2])
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
";

/// Adds a session to its user's index. Live sessions score +inf; a session under retention
/// scores its expiry (ms), and the index itself expires with its last session.
/// KEYS: index. ARGV: session id, score.
const INDEX: &str = r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] == 'inf' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 1
";

/// Keeps a spoken answer's audio if the session exists and its audio stays within the cap
/// (summed over the hash: a session holds a few dozen answers at most); it expires with the
/// metadata. Returns 1 when kept, 0 when over the cap. KEYS: meta, audio. ARGV: utterance id,
/// bytes, cap in bytes.
const PUT_AUDIO: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return redis.error_reply('NOT_FOUND ' .. KEYS[1])
end
local total = string.len(ARGV[2])
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  if field ~= ARGV[1] then total = total + redis.call('HSTRLEN', KEYS[2], field) end
end
if total > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
";

/// Counts a session as live until its lease ends, if it is counted already or its user has
/// fewer than the limit (expired leases first dropped). KEYS: live. ARGV: now ms, lease end ms,
/// limit, session id. Returns 1 when counted, 0 when refused.
const ADMIT_LIVE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
";

/// Most metadata reads sent in one pipeline when listing a user's sessions.
const META_READS_PER_ROUND_TRIP: usize = 1000;

/// Takes a user's index and creation window away at once and returns the session ids it held:
/// a creation racing the deletion either indexed its session before (then it is in the list
/// and deleted) or finds its entry gone afterwards and removes what it wrote (see `create`).
/// The user's minutes (docs/metering.md: `meter/redis.rs` writes them) go too, whether or not
/// minutes are metered now; so does their résumé. KEYS: index, created, live, the minutes'
/// keys, then the résumé.
const TAKE_INDEX: &str = r"
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', unpack(KEYS))
return ids
";

/// Sessions in Redis.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    append: Script,
    acquire: Script,
    snapshot: Script,
    index: Script,
    admit: Script,
    take_index: Script,
    put_audio: Script,
    admit_live: Script,
}

/// The keys of one session.
struct Keys {
    meta: String,
    epoch: String,
    log: String,
    snap: String,
    audio: String,
}

impl Keys {
    fn of(session_id: &SessionId) -> Self {
        Self {
            meta: format!("viva:{{{session_id}}}:meta"),
            epoch: format!("viva:{{{session_id}}}:epoch"),
            log: format!("viva:{{{session_id}}}:log"),
            snap: format!("viva:{{{session_id}}}:snap"),
            audio: format!("viva:{{{session_id}}}:audio"),
        }
    }
}

fn user_index(user_id: &UserId) -> String {
    format!("viva:{{u:{user_id}}}:sessions")
}

/// The user's recent session creations (same hash tag as the index).
fn user_created(user_id: &UserId) -> String {
    format!("viva:{{u:{user_id}}}:created")
}

/// The user's live sessions (same hash tag as the index).
fn user_live(user_id: &UserId) -> String {
    format!("viva:{{u:{user_id}}}:live")
}

/// The user's résumé (same hash tag as the index).
fn user_resume(user_id: &UserId) -> String {
    format!("viva:{{u:{user_id}}}:resume")
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`). The connection reconnects by itself; every
    /// command gives up after `timeout`, so a Redis that hangs is an error, not a stall.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Unavailable(format!("bad Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_with_config(client, config).await.map_err(unavailable)?;
        Ok(Self {
            connection,
            append: Script::new(APPEND),
            acquire: Script::new(ACQUIRE),
            snapshot: Script::new(SNAPSHOT),
            index: Script::new(INDEX),
            admit: Script::new(ADMIT),
            take_index: Script::new(TAKE_INDEX),
            put_audio: Script::new(PUT_AUDIO),
            admit_live: Script::new(ADMIT_LIVE),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Its connection (which reconnects by itself), for others on the same Redis: the meter.
    pub fn connection(&self) -> ConnectionManager {
        self.conn()
    }

    /// Deletes every key of these sessions, in one round trip.
    async fn delete_sessions(&self, ids: &[SessionId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            let keys = Keys::of(id);
            pipe.del(&[keys.meta, keys.epoch, keys.log, keys.snap, keys.audio]).ignore();
        }
        pipe.query_async(&mut self.conn()).await.map_err(store_error)
    }

    async fn index(&self, user_id: &UserId, session_id: &SessionId, score: &str) -> Result<(), StoreError> {
        let result: Result<u64, _> = self
            .index
            .key(user_index(user_id))
            .arg(session_id.as_str())
            .arg(score)
            .invoke_async(&mut self.conn())
            .await;
        result.map(drop).map_err(store_error)
    }
}

/// Wall time in milliseconds (retention is wall time, like Redis's own expiry).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A Redis failure as a store error: script refusals are typed, everything else means Redis
/// cannot serve right now.
fn store_error(error: redis::RedisError) -> StoreError {
    let detail = error.detail().unwrap_or_default().to_owned();
    let code = error.code().unwrap_or_default();
    let number = |text: &str| text.trim().parse::<u64>().unwrap_or(0);
    match code {
        "FENCED" => StoreError::Fenced { epoch: 0, current: number(&detail) },
        "OUT_OF_ORDER" => StoreError::OutOfOrder { head: number(&detail), got: 0 },
        "WRONGTYPE" => StoreError::Corrupt(error.to_string()),
        "NOT_FOUND" => StoreError::NotFound(String::new()),
        _ => unavailable(error),
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn seq_of(id: &str) -> Result<u64, StoreError> {
    id.split('-').next().and_then(|s| s.parse().ok()).ok_or_else(|| StoreError::Corrupt(format!("stream id `{id}`")))
}

fn entries(reply: StreamRangeReply) -> Result<Vec<LogEntry>, StoreError> {
    reply
        .ids
        .into_iter()
        .map(|id| {
            let seq = seq_of(&id.id)?;
            let bytes: Vec<u8> =
                id.get("e").ok_or_else(|| StoreError::Corrupt(format!("log entry {seq} has no `e`")))?;
            let entry: LogEntry = persisted::decode::<EntryBytes>(&bytes)?.into();
            if entry.seq != seq {
                return Err(StoreError::Corrupt(format!("log entry {} stored under id {seq}", entry.seq)));
            }
            Ok(entry)
        })
        .collect()
}

#[async_trait]
impl Store for RedisStore {
    fn name(&self) -> &str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let pong: String = redis::cmd("PING").query_async(&mut self.conn()).await.map_err(store_error)?;
        if pong == "PONG" { Ok(()) } else { Err(StoreError::Unavailable(format!("PING answered {pong}"))) }
    }

    async fn create(&self, meta: &SessionMeta, ttl: Option<Duration>) -> Result<(), StoreError> {
        let keys = Keys::of(&meta.session_id);
        let bytes = persisted::encode(&MetaBytes::from_meta(meta))?;
        // The index first: a session that exists is always found by its user's export/delete.
        match ttl {
            None => {
                self.index(&meta.user_id, &meta.session_id, "+inf").await?;
                let _: () = self.conn().set(&keys.meta, bytes).await.map_err(store_error)?;
            }
            Some(ttl) => {
                let ms = ttl.as_millis() as u64;
                self.index(&meta.user_id, &meta.session_id, &now_ms().saturating_add(ms).to_string()).await?;
                let _: () = self.conn().pset_ex(&keys.meta, bytes, ms).await.map_err(store_error)?;
            }
        }
        // The user was deleted in between (`TAKE_INDEX` took the entry away): what was written
        // is removed, or it would be a session nobody can find, export or delete.
        let indexed: Option<f64> =
            self.conn().zscore(user_index(&meta.user_id), meta.session_id.as_str()).await.map_err(store_error)?;
        if indexed.is_none() {
            let _: () = self.conn().del(&keys.meta).await.map_err(store_error)?;
            return Err(StoreError::NotFound(format!("{}: its user was deleted meanwhile", meta.session_id)));
        }
        Ok(())
    }

    async fn meta(&self, session_id: &SessionId) -> Result<Option<SessionMeta>, StoreError> {
        let bytes: Option<Vec<u8>> = self.conn().get(Keys::of(session_id).meta).await.map_err(store_error)?;
        bytes.map(|b| Ok(persisted::decode::<MetaBytes>(&b)?.into_meta(session_id))).transpose()
    }

    async fn load(&self, session_id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        let keys = Keys::of(session_id);
        let (meta, snap): (Option<Vec<u8>>, Option<Vec<u8>>) =
            redis::pipe().get(&keys.meta).get(&keys.snap).query_async(&mut self.conn()).await.map_err(store_error)?;
        let Some(meta) = meta else { return Ok(None) };
        let meta = persisted::decode::<MetaBytes>(&meta)?.into_meta(session_id);
        let snapshot: Option<State> = snap.map(|b| persisted::decode::<SnapshotBytes>(&b)).transpose()?.map(Into::into);
        let after = snapshot.as_ref().map_or(0, |s| s.head);
        let reply: StreamRangeReply =
            self.conn().xrange(&keys.log, format!("{}-0", after + 1), "+").await.map_err(store_error)?;
        Ok(Some(Loaded { meta, snapshot, tail: entries(reply)? }))
    }

    async fn acquire(&self, session_id: &SessionId) -> Result<Epoch, StoreError> {
        let keys = Keys::of(session_id);
        let result: Result<Epoch, _> =
            self.acquire.key(&keys.meta).key(&keys.epoch).invoke_async(&mut self.conn()).await;
        result.map_err(|e| match store_error(e) {
            StoreError::NotFound(_) => StoreError::NotFound(session_id.to_string()),
            other => other,
        })
    }

    async fn append(&self, session_id: &SessionId, epoch: Epoch, batch: &[LogEntry]) -> Result<(), StoreError> {
        let Some(first) = batch.first() else { return Ok(()) };
        let keys = Keys::of(session_id);
        let mut invocation = self.append.prepare_invoke();
        invocation.key(&keys.epoch).key(&keys.log).key(&keys.meta).arg(epoch).arg(first.seq);
        for entry in batch {
            invocation.arg(persisted::encode(&EntryBytes::from(entry))?);
        }
        let result: Result<u64, _> = invocation.invoke_async(&mut self.conn()).await;
        result.map(drop).map_err(|e| match store_error(e) {
            StoreError::Fenced { current, .. } => StoreError::Fenced { epoch, current },
            StoreError::OutOfOrder { head, .. } => StoreError::OutOfOrder { head, got: first.seq },
            other => other,
        })
    }

    async fn save_snapshot(&self, session_id: &SessionId, epoch: Epoch, state: &State) -> Result<(), StoreError> {
        let keys = Keys::of(session_id);
        let bytes = persisted::encode(&SnapshotBytes::from(state))?;
        let mut result = self.snapshot.prepare_invoke();
        result.key(&keys.epoch).key(&keys.snap).key(&keys.meta).arg(epoch).arg(bytes);
        let result: Result<u64, _> = result.invoke_async(&mut self.conn()).await;
        result.map(drop).map_err(|e| match store_error(e) {
            StoreError::Fenced { current, .. } => StoreError::Fenced { epoch, current },
            other => other,
        })
    }

    async fn read_log(&self, session_id: &SessionId, after: u64) -> Result<Option<Vec<LogEntry>>, StoreError> {
        let keys = Keys::of(session_id);
        let reply: StreamRangeReply =
            self.conn().xrange(&keys.log, format!("{}-0", after + 1), "+").await.map_err(store_error)?;
        let entries = entries(reply)?;
        // History after `after` is whole only if it starts right after it.
        match entries.first() {
            Some(first) if first.seq != after + 1 => Ok(None),
            _ => Ok(Some(entries)),
        }
    }

    async fn user_sessions(&self, user_id: &UserId) -> Result<UserSessions, StoreError> {
        let index = user_index(user_id);
        // Entries whose retention ran out go first; their keys expired with them.
        let _: () = self.conn().zrembyscore(&index, "-inf", now_ms()).await.map_err(store_error)?;
        let ids: Vec<String> = self.conn().zrange(&index, 0, -1).await.map_err(store_error)?;
        let ids: Vec<SessionId> = ids.into_iter().map(SessionId::from).collect();
        // Every metadata in one round trip (metadata is small: ~200 bytes a session), in
        // pipelines of a bounded size.
        let (mut metas, mut unreadable) = (Vec::with_capacity(ids.len()), Vec::new());
        for chunk in ids.chunks(META_READS_PER_ROUND_TRIP) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.get(Keys::of(id).meta);
            }
            let found: Vec<Option<Vec<u8>>> = pipe.query_async(&mut self.conn()).await.map_err(store_error)?;
            for (id, bytes) in chunk.iter().zip(found) {
                // Gone since it was indexed (expired with its retention): not listed.
                let Some(bytes) = bytes else { continue };
                match persisted::decode::<MetaBytes>(&bytes) {
                    Ok(meta) => metas.push(meta.into_meta(id)),
                    Err(error) => {
                        tracing::warn!(session = %id, %error, "unreadable session metadata");
                        unreadable.push(id.clone());
                    }
                }
            }
        }
        Ok(UserSessions::newest_first(metas, unreadable))
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<Vec<SessionId>, StoreError> {
        // The sessions first, the index last: if Redis goes away in between, the index still
        // lists what is left, and deleting again finishes the job.
        let listed: Vec<String> = self.conn().zrange(user_index(user_id), 0, -1).await.map_err(store_error)?;
        let mut ids: Vec<SessionId> = listed.into_iter().map(SessionId::from).collect();
        self.delete_sessions(&ids).await?;
        let taken: Vec<String> = self
            .take_index
            .key(user_index(user_id))
            .key(user_created(user_id))
            .key(user_live(user_id))
            .key(format!("viva:{{u:{user_id}}}:minutes"))
            .key(format!("viva:{{u:{user_id}}}:holds"))
            .key(format!("viva:{{u:{user_id}}}:ledger"))
            .key(format!("viva:{{u:{user_id}}}:keys"))
            .key(user_resume(user_id))
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        // Everything taken is deleted (again): a session being created may have written its
        // metadata after the first pass; one that writes it after this pass finds its index
        // entry taken and removes it itself (`create`).
        let taken: Vec<SessionId> = taken.into_iter().map(SessionId::from).collect();
        self.delete_sessions(&taken).await?;
        ids.extend(taken.into_iter().filter(|id| !ids.contains(id)).collect::<Vec<_>>());
        Ok(ids)
    }

    async fn admit_creation(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: Timestamp,
        window: Duration,
        limit: u32,
    ) -> Result<Option<Duration>, StoreError> {
        let wait_ms: i64 = self
            .admit
            .key(user_created(user_id))
            .arg(now.0)
            .arg(window.as_millis() as u64)
            .arg(limit)
            .arg(session_id.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(u64::try_from(wait_ms).ok().map(Duration::from_millis))
    }

    async fn put_audio(
        &self,
        session_id: &SessionId,
        utterance_id: &str,
        audio: &[u8],
        max_bytes: u64,
    ) -> Result<bool, StoreError> {
        let keys = Keys::of(session_id);
        let result: Result<u8, _> = self
            .put_audio
            .key(&keys.meta)
            .key(&keys.audio)
            .arg(utterance_id)
            .arg(audio)
            .arg(max_bytes)
            .invoke_async(&mut self.conn())
            .await;
        result.map(|kept| kept == 1).map_err(|e| match store_error(e) {
            StoreError::NotFound(_) => StoreError::NotFound(session_id.to_string()),
            other => other,
        })
    }

    async fn audio(&self, session_id: &SessionId, utterance_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn().hget(Keys::of(session_id).audio, utterance_id).await.map_err(store_error)
    }

    async fn audio_ids(&self, session_id: &SessionId) -> Result<Vec<(String, u64)>, StoreError> {
        let key = Keys::of(session_id).audio;
        let ids: Vec<String> = self.conn().hkeys(&key).await.map_err(store_error)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HSTRLEN").arg(&key).arg(id);
        }
        let sizes: Vec<u64> = pipe.query_async(&mut self.conn()).await.map_err(store_error)?;
        let mut listed: Vec<(String, u64)> = ids.into_iter().zip(sizes).collect();
        listed.sort();
        Ok(listed)
    }

    async fn admit_live(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        limit: u32,
        now: Timestamp,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let counted: u8 = self
            .admit_live
            .key(user_live(user_id))
            .arg(now.0)
            .arg(now.plus_ms(lease.as_millis() as u64).0)
            .arg(limit)
            .arg(session_id.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(counted == 1)
    }

    async fn end_live(&self, user_id: &UserId, session_id: &SessionId) -> Result<(), StoreError> {
        self.conn().zrem(user_live(user_id), session_id.as_str()).await.map_err(store_error)
    }

    async fn expire_session(&self, meta: &SessionMeta, ttl: Duration) -> Result<(), StoreError> {
        let keys = Keys::of(&meta.session_id);
        let ms = ttl.as_millis() as i64;
        let _: () = redis::pipe()
            .pexpire(&keys.meta, ms)
            .ignore()
            .pexpire(&keys.epoch, ms)
            .ignore()
            .pexpire(&keys.log, ms)
            .ignore()
            .pexpire(&keys.snap, ms)
            .ignore()
            .pexpire(&keys.audio, ms)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        let expires_at = now_ms().saturating_add(ms as u64);
        self.index(&meta.user_id, &meta.session_id, &expires_at.to_string()).await
    }

    async fn put_resume(&self, user_id: &UserId, resume: &Resume) -> Result<(), StoreError> {
        let bytes = persisted::encode(&ResumeBytes::from(resume))?;
        self.conn().set(user_resume(user_id), bytes).await.map_err(store_error)
    }

    async fn resume(&self, user_id: &UserId) -> Result<Option<Resume>, StoreError> {
        let bytes: Option<Vec<u8>> = self.conn().get(user_resume(user_id)).await.map_err(store_error)?;
        bytes.map(|b| Ok(persisted::decode::<ResumeBytes>(&b)?.into())).transpose()
    }

    async fn delete_resume(&self, user_id: &UserId) -> Result<bool, StoreError> {
        let deleted: u64 = self.conn().del(user_resume(user_id)).await.map_err(store_error)?;
        Ok(deleted > 0)
    }
}
