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
//! | `viva:{<session>}:log` | stream | one entry per durable event, id `<seq>-0`, field `e`: [`EntryBytes`], field `w`: the epoch that wrote it (an audit of fencing: along a log it never goes down) |
//! | `viva:{<session>}:snap` | string | [`SnapshotBytes`]: the state after some `head` seq |
//! | `viva:{<session>}:archive` | hash | a finished session's whole log, in place of `log` and `snap` (`compact`): `v` the format ([`persisted::ARCHIVE_VERSION`]), `data` the entries deflated ([`persisted::encode_archive`]), `w` each entry's writer epoch, comma-separated (for audits) |
//! | `viva:{<session>}:audio` | hash | spoken answers' audio (`--audio-recordings on`): utterance id → FLAC |
//! | `viva:{<session>}:tickets` | sorted set | socket tickets used (single use across nodes), until they expire |
//! | `viva:{nodes}` | hash | the registry of gateway nodes: id → JSON (address, live sessions, heartbeat, expiry, draining) |
//! | `viva:{secrets}:<name>` | string | secrets every node shares (`tickets`: the tickets' signing key) |
//! | `viva:{<session>}:webhooks` | hash | the session's webhook deliveries, pending or dead: `<seq>.<endpoint>` → [`WebhookBytes`] |
//! | `viva:{webhooks:<0-15>}:due` | sorted set | deliveries due (score: when, ms), sharded by session (`webhooks.rs`) |
//! | `viva:{leases:<0-15>}` | sorted set | running sessions' leases (score: the term's end, ms of the server's clock), sharded by session (`leases.rs`) |
//! | `viva:{webhooks}:dead` | sorted set | dead letters, scored by when they died |
//! | `viva:{webhooks}:disabled` | hash | endpoints switched off (410): id → `<ms> <reason>` |
//! | `viva:{u:<user>}:live` | sorted set | the user's live sessions, scored by when their lease ends |
//! | `viva:{u:<user>}:sessions` | sorted set | the user's session ids, scored by creation time |
//! | `viva:{u:<user>}:progress` | hash | the user's progress record: session id → [`ProgressBytes`] (a summary of its report) |
//!
//! The progress record is under the user's hash tag, not the session's: it is written by its own
//! script (`PUT_PROGRESS`, one slot) after the report is durable, idempotently (a field per
//! session), only while the session is in the user's index, and expires with the index.
//! | `viva:{u:<user>}:created` | sorted set | the user's recent session creations (`admit_creation`) |
//! | `viva:{u:<user>}:resume` | string | [`ResumeBytes`]: the user's résumé (text, file name, type, size, upload time) |
//!
//! One batch of durable events is one script call (one round trip): the script checks the
//! caller's epoch and that the batch continues the log, then appends it, with the webhook
//! messages the batch makes. Nothing is written per token.

mod connection;
mod leases;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Script};

use super::persisted::{self, EntryBytes, MetaBytes, ProgressBytes, ResumeBytes, SnapshotBytes, WebhookBytes};
use connection::each;
pub use connection::{CLUSTER_SCHEME, RedisConnection};

use super::{
    DeliveryId, Epoch, Loaded, Notice, Notices, PendingWebhook, SessionMeta, Store, StoreError, UserSessions,
    WebhookMessage,
};
use crate::core::{LogEntry, SessionId, State, UserId};
use crate::progress::SessionProgress;
use crate::resume::Resume;
use crate::time::{self, Clock, Timestamp};

/// Appends a batch if the caller's epoch is current and the batch continues the log, and the
/// webhook messages it makes into the session's outbox. A session under retention (its
/// metadata has a TTL) gives the log and the outbox the same TTL, so that keys made after the
/// expiry was set expire with the rest.
/// KEYS: epoch, log, meta, webhooks. ARGV: epoch, first seq, n, n encoded entries, then
/// (field, encoded delivery) pairs.
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
local n = tonumber(ARGV[3])
for i = 1, n do
  redis.call('XADD', KEYS[2], (head + i) .. '-0', 'e', ARGV[3 + i], 'w', ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
if #ARGV > 3 + n then
  for i = 4 + n, #ARGV, 2 do
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  if ttl > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end
end
return head + n
";

/// Replaces a finished session's log and snapshot by its archive, if the caller's epoch is
/// current and the log is still the one read (as long as it was): else a later append would
/// be lost. The archive keeps the metadata's expiry (retention).
/// KEYS: epoch, log, snap, archive, meta. ARGV: epoch, entries read, version, data, writers.
const COMPACT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('FENCED ' .. current)
end
local length = redis.call('XLEN', KEYS[2])
if length ~= tonumber(ARGV[2]) then
  return redis.error_reply('LOG_MOVED the log has ' .. length .. ' entries, ' .. ARGV[2] .. ' were read')
end
redis.call('HSET', KEYS[4], 'v', ARGV[3], 'data', ARGV[4], 'w', ARGV[5])
local ttl = redis.call('PTTL', KEYS[5])
if ttl > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end
redis.call('DEL', KEYS[2], KEYS[3])
return 1
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
/// its expiry. A compacted session gets none (its archive is the whole log; the state is its
/// fold), so that a driver unloading it does not write 20 KB back. KEYS: epoch, snap, meta,
/// archive. ARGV: epoch, bytes.
const SNAPSHOT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('FENCED ' .. current)
end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
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

/// Marks a single-use token used until it expires, in its session's set of used tokens
/// (expired ones dropped first): 1 when it was unused, 0 when used before, -1 when the session
/// has too many; the set expires with its last token (relative to the caller's clock).
/// KEYS: tickets. ARGV: nonce, now ms, expires ms, cap.
const USE_ONCE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - tonumber(ARGV[2])))
return 1
";

/// The registry of nodes: node id → its JSON [`NodeInfo`](super::NodeInfo).
const NODES: &str = "viva:{nodes}";

/// Most single-use tokens of one session remembered at once (a socket each, within a minute).
const USED_TOKENS_PER_SESSION: usize = 10_000;

/// Keeps a session's summary in its user's progress record if the session is in the user's
/// index and not expired there; the record expires with the index (the latest expiry of the
/// user's sessions) or not at all. KEYS: index, progress. ARGV: session id, bytes, now ms.
/// Returns 1 when kept, 0 when the session is not indexed.
const PUT_PROGRESS: &str = r"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
if score ~= 'inf' and tonumber(score) <= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) else redis.call('PERSIST', KEYS[2]) end
return 1
";

/// Takes a user's index and creation window away at once and returns the session ids it held:
/// a creation racing the deletion either indexed its session before (then it is in the list
/// and deleted) or finds its entry gone afterwards and removes what it wrote (see `create`).
/// The user's minutes (docs/metering.md: `meter/redis.rs` writes them) go too, whether or not
/// minutes are metered now, and so does their progress record. KEYS: index, created, live,
/// then the minutes' keys and the progress record.
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
    connection: RedisConnection,
    /// Where to subscribe to notices (any one of them).
    pubsub_urls: Vec<String>,
    append: Script,
    acquire: Script,
    snapshot: Script,
    compact: Script,
    index: Script,
    admit: Script,
    take_index: Script,
    put_audio: Script,
    admit_live: Script,
    use_once: Script,
    webhook_scripts: webhooks::Scripts,
    lease_scripts: leases::Scripts,
    put_progress: Script,
    /// Redis's time, read when connecting: every node on this Redis goes by it.
    clock: Clock,
    /// Replicas that must have a batch of events before `append` says it is stored, and how
    /// long to wait for them (`WAIT`); none: the master's word.
    wait_replicas: Option<(u32, Duration)>,
    command_timeout: Duration,
}

/// The keys of one session.
struct Keys {
    meta: String,
    epoch: String,
    log: String,
    snap: String,
    archive: String,
    audio: String,
    webhooks: String,
    tickets: String,
}

impl Keys {
    fn of(session_id: &SessionId) -> Self {
        Self {
            meta: format!("viva:{{{session_id}}}:meta"),
            epoch: format!("viva:{{{session_id}}}:epoch"),
            log: format!("viva:{{{session_id}}}:log"),
            snap: format!("viva:{{{session_id}}}:snap"),
            archive: format!("viva:{{{session_id}}}:archive"),
            audio: format!("viva:{{{session_id}}}:audio"),
            webhooks: format!("viva:{{{session_id}}}:webhooks"),
            tickets: format!("viva:{{{session_id}}}:tickets"),
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

/// The user's progress record (same hash tag as the index).
fn user_progress(user_id: &UserId) -> String {
    format!("viva:{{u:{user_id}}}:progress")
}

/// The user's résumé (same hash tag as the index).
fn user_resume(user_id: &UserId) -> String {
    format!("viva:{{u:{user_id}}}:resume")
}

/// Shards of the indexes across sessions (webhooks due, leases): never one global key in a
/// session's write path, and on Redis Cluster the shards spread over the masters.
const SHARDS: u32 = 16;

/// A session's shard (FNV-1a of its id).
fn shard(session_id: &SessionId) -> u32 {
    let hash = session_id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % SHARDS
}

impl RedisStore {
    /// Connects to `url`: `redis://host:port/db`, or a cluster, `redis+cluster://h1:p1,h2:p2`
    /// (any of its nodes; the rest are found). The connection reconnects by itself; every
    /// command gives up after `timeout`, so a Redis that hangs is an error, not a stall.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let connection = RedisConnection::open(url, timeout).await.map_err(|e| match e.kind() {
            redis::ErrorKind::InvalidClientConfig => StoreError::Unavailable(format!("bad Redis URL: {e}")),
            _ => unavailable(e),
        })?;
        let clock = redis_clock(&connection).await?;
        Ok(Self {
            clock,
            wait_replicas: None,
            command_timeout: timeout,
            connection,
            pubsub_urls: connection::pubsub_urls(url),
            append: Script::new(APPEND),
            acquire: Script::new(ACQUIRE),
            snapshot: Script::new(SNAPSHOT),
            compact: Script::new(COMPACT),
            index: Script::new(INDEX),
            admit: Script::new(ADMIT),
            take_index: Script::new(TAKE_INDEX),
            put_audio: Script::new(PUT_AUDIO),
            admit_live: Script::new(ADMIT_LIVE),
            use_once: Script::new(USE_ONCE),
            webhook_scripts: webhooks::Scripts::new(),
            lease_scripts: leases::Scripts::new(),
            put_progress: Script::new(PUT_PROGRESS),
        })
    }

    /// Appends are acknowledged only once `replicas` replicas have them too (0: once the
    /// master has them). A batch the replicas do not confirm within half the command timeout
    /// is reported unavailable, and confirmed when tried again (the session freezes meanwhile).
    pub fn wait_for_replicas(mut self, replicas: u32) -> Self {
        self.wait_replicas = (replicas > 0).then_some((replicas, self.command_timeout / 2));
        self
    }

    fn conn(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// Its connection (which reconnects by itself), for others on the same Redis: the meter.
    pub fn connection(&self) -> RedisConnection {
        self.conn()
    }

    /// Deletes every key of these sessions (each session's keys in one command: one slot).
    async fn delete_sessions(&self, ids: &[SessionId]) -> Result<(), StoreError> {
        // Collected first: a lazy iterator over borrowed ids would be held across the awaits.
        let sessions: Vec<[String; 8]> = ids
            .iter()
            .map(|id| {
                let keys = Keys::of(id);
                [keys.meta, keys.epoch, keys.log, keys.snap, keys.archive, keys.audio, keys.webhooks, keys.tickets]
            })
            .collect();
        each(sessions, |keys| {
            let mut connection = self.conn();
            async move { connection.del::<_, ()>(&keys).await }
        })
        .await
        .map(drop)
        .map_err(store_error)
    }

    /// The log's entries with `seq > after`: from its stream, or from its archive once the
    /// session was compacted (then there is no stream). One round trip: the archive's fields
    /// are nil while the stream exists.
    async fn log_after(&self, keys: &Keys, after: u64) -> Result<Vec<LogEntry>, StoreError> {
        let (reply, (version, data)): (StreamRangeReply, (Option<String>, Option<Vec<u8>>)) = redis::pipe()
            .xrange(&keys.log, format!("{}-0", after + 1), "+")
            .hmget(&keys.archive, &["v", "data"])
            .query_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        match (version, data) {
            (Some(version), Some(data)) if reply.ids.is_empty() => {
                let mut entries = persisted::decode_archive(&version, &data)?;
                entries.retain(|entry| entry.seq > after);
                Ok(entries)
            }
            _ => entries(reply),
        }
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

/// Redis's clock (`TIME`, half the round trip added), and a warning when this machine's is
/// more than a second off it: the node goes by Redis's time, but its operator should know.
async fn redis_clock(connection: &RedisConnection) -> Result<Clock, StoreError> {
    let asked = std::time::Instant::now();
    let (secs, micros): (u64, u64) =
        redis::cmd("TIME").query_async(&mut connection.clone()).await.map_err(store_error)?;
    let half_trip = asked.elapsed().as_millis() as u64 / 2;
    let redis = Timestamp(secs * 1000 + micros / 1000 + half_trip);
    let local = time::system_now();
    let off_ms = local.0 as i64 - redis.0 as i64;
    if off_ms.abs() > 1000 {
        tracing::warn!(off_ms, "this machine's clock is off Redis's; Viva goes by Redis's time (fix the clock: NTP)");
    }
    Ok(Clock::starting_at(redis))
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

    fn clock(&self) -> Clock {
        self.clock
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
                self.index(&meta.user_id, &meta.session_id, &self.clock.now().0.saturating_add(ms).to_string()).await?;
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
        Ok(Some(Loaded { meta, snapshot, tail: self.log_after(&keys, after).await? }))
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

    async fn append(
        &self,
        session_id: &SessionId,
        epoch: Epoch,
        batch: &[LogEntry],
        webhooks: &[WebhookMessage],
    ) -> Result<(), StoreError> {
        let Some(first) = batch.first() else { return Ok(()) };
        let keys = Keys::of(session_id);
        // Due a while from now, before the script: if this process dies after the script, the
        // messages are delivered anyway (see `webhooks.rs`).
        self.expect_webhooks(session_id, webhooks).await?;
        let mut invocation = self.append.prepare_invoke();
        invocation.key(&keys.epoch).key(&keys.log).key(&keys.meta).key(&keys.webhooks);
        invocation.arg(epoch).arg(first.seq).arg(batch.len());
        for entry in batch {
            invocation.arg(persisted::encode(&EntryBytes::from(entry))?);
        }
        for message in webhooks {
            let pending = PendingWebhook { message: message.clone(), attempts: 0, last_error: None };
            invocation.arg(DeliveryId::of(session_id, message).field());
            invocation.arg(persisted::encode(&WebhookBytes::new(&pending, None))?);
        }
        let result: Result<u64, _> = invocation.invoke_async(&mut self.conn()).await;
        if result.is_ok() {
            self.webhooks_due(session_id, webhooks).await;
        }
        let result = result.map(drop).map_err(|e| match store_error(e) {
            StoreError::Fenced { current, .. } => StoreError::Fenced { epoch, current },
            StoreError::OutOfOrder { head, .. } => StoreError::OutOfOrder { head, got: first.seq },
            other => other,
        });
        // The batch is on the master now (or was already: a retry); with replicas to wait
        // for, it counts as stored once they have it.
        let last = first.seq + batch.len() as u64 - 1;
        let landed = match &result {
            Ok(()) => true,
            Err(StoreError::OutOfOrder { head, .. }) => *head == last,
            Err(_) => false,
        };
        if let (true, Some((replicas, timeout))) = (landed, self.wait_replicas) {
            let confirmed = self.conn().wait_for_replicas(&keys.log, replicas, timeout).await.map_err(store_error)?;
            if confirmed < replicas {
                metrics::counter!("viva_store_replica_wait_short_total").increment(1);
                let detail = format!("the batch is on the master but on {confirmed} of {replicas} replicas");
                return Err(StoreError::Unavailable(detail));
            }
        }
        result
    }

    async fn save_snapshot(&self, session_id: &SessionId, epoch: Epoch, state: &State) -> Result<(), StoreError> {
        let keys = Keys::of(session_id);
        let bytes = persisted::encode(&SnapshotBytes::from(state))?;
        let mut result = self.snapshot.prepare_invoke();
        result.key(&keys.epoch).key(&keys.snap).key(&keys.meta).key(&keys.archive).arg(epoch).arg(bytes);
        let result: Result<u64, _> = result.invoke_async(&mut self.conn()).await;
        result.map(drop).map_err(|e| match store_error(e) {
            StoreError::Fenced { current, .. } => StoreError::Fenced { epoch, current },
            other => other,
        })
    }

    async fn read_log(&self, session_id: &SessionId, after: u64) -> Result<Option<Vec<LogEntry>>, StoreError> {
        let entries = self.log_after(&Keys::of(session_id), after).await?;
        // History after `after` is whole only if it starts right after it.
        match entries.first() {
            Some(first) if first.seq != after + 1 => Ok(None),
            _ => Ok(Some(entries)),
        }
    }

    async fn compact(&self, session_id: &SessionId, epoch: Epoch) -> Result<(), StoreError> {
        let keys = Keys::of(session_id);
        let reply: StreamRangeReply = self.conn().xrange_all(&keys.log).await.map_err(store_error)?;
        if reply.ids.is_empty() {
            // Compacted already, or deleted.
            return Ok(());
        }
        let writers: Vec<String> = reply.ids.iter().map(|id| id.get::<u64>("w").unwrap_or(0).to_string()).collect();
        let read = reply.ids.len();
        let data = persisted::encode_archive(&entries(reply)?)?;
        let result: Result<u8, _> = self
            .compact
            .key(&keys.epoch)
            .key(&keys.log)
            .key(&keys.snap)
            .key(&keys.archive)
            .key(&keys.meta)
            .arg(epoch)
            .arg(read)
            .arg(persisted::ARCHIVE_VERSION)
            .arg(data)
            .arg(writers.join(","))
            .invoke_async(&mut self.conn())
            .await;
        result.map(drop).map_err(|e| match store_error(e) {
            StoreError::Fenced { current, .. } => StoreError::Fenced { epoch, current },
            other => other,
        })
    }

    async fn user_sessions(&self, user_id: &UserId) -> Result<UserSessions, StoreError> {
        let index = user_index(user_id);
        // Entries whose retention ran out go first; their keys expired with them.
        let _: () = self.conn().zrembyscore(&index, "-inf", self.clock.now().0).await.map_err(store_error)?;
        let ids: Vec<String> = self.conn().zrange(&index, 0, -1).await.map_err(store_error)?;
        let ids: Vec<SessionId> = ids.into_iter().map(SessionId::from).collect();
        // Every metadata at once (metadata is small: ~200 bytes a session; each in its
        // session's slot).
        let keys: Vec<String> = ids.iter().map(|id| Keys::of(id).meta).collect();
        let found: Vec<Option<Vec<u8>>> = each(keys, |key| {
            let mut connection = self.conn();
            async move { connection.get(key).await }
        })
        .await
        .map_err(store_error)?;
        let (mut metas, mut unreadable) = (Vec::with_capacity(ids.len()), Vec::new());
        for (id, bytes) in ids.iter().zip(found) {
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
            .key(user_progress(user_id))
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
            .pexpire(&keys.archive, ms)
            .ignore()
            .pexpire(&keys.audio, ms)
            .ignore()
            .pexpire(&keys.webhooks, ms)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        let expires_at = self.clock.now().0.saturating_add(ms as u64);
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

    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let key = format!("viva:{{secrets}}:{name}");
        // The first node's secret stays; every later one reads it.
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(super::random_secret())
            .arg("NX")
            .query_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        let secret: Option<Vec<u8>> = self.conn().get(&key).await.map_err(store_error)?;
        secret.filter(|s| s.len() == 32).ok_or_else(|| StoreError::Corrupt(format!("`{key}` is not a 32-byte secret")))
    }

    async fn use_once(
        &self,
        session_id: &SessionId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let used: i64 = self
            .use_once
            .key(Keys::of(session_id).tickets)
            .arg(nonce)
            .arg(now.0)
            .arg(expires.0)
            .arg(USED_TOKENS_PER_SESSION)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        if used < 0 {
            tracing::warn!(session = %session_id, "too many single-use tokens used within their lifetime; refusing");
        }
        Ok(used == 1)
    }

    async fn announce(&self, notice: &Notice) -> Result<(), StoreError> {
        let _: i64 = self.conn().publish(super::notices::CHANNEL, notice.to_string()).await.map_err(store_error)?;
        Ok(())
    }

    async fn heartbeat(&self, node: &super::NodeInfo) -> Result<(), StoreError> {
        let json = serde_json::to_string(node).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().hset(NODES, &node.id, json).await.map_err(store_error)
    }

    async fn nodes(&self, now: Timestamp) -> Result<Vec<super::NodeInfo>, StoreError> {
        let all: Vec<(String, String)> = self.conn().hgetall(NODES).await.map_err(store_error)?;
        let mut nodes = Vec::with_capacity(all.len());
        for (id, json) in all {
            match serde_json::from_str::<super::NodeInfo>(&json) {
                Ok(node) if node.expires_at > now.0 => nodes.push(node),
                // Expired (the node stopped without saying so), or unreadable: removed.
                _ => {
                    let _: () = self.conn().hdel(NODES, &id).await.map_err(store_error)?;
                }
            }
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    async fn forget_node(&self, id: &str) -> Result<(), StoreError> {
        self.conn().hdel(NODES, id).await.map_err(store_error)
    }

    fn notices(&self) -> Notices {
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(subscribe(self.pubsub_urls.clone(), sender));
        Box::pin(futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|notice| (notice, receiver))
        }))
    }

    async fn put_progress(&self, user_id: &UserId, summary: &SessionProgress) -> Result<bool, StoreError> {
        let bytes = persisted::encode(&ProgressBytes::from(summary))?;
        let kept: u8 = self
            .put_progress
            .key(user_index(user_id))
            .key(user_progress(user_id))
            .arg(summary.session_id.as_str())
            .arg(bytes)
            .arg(self.clock.now().0)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(kept == 1)
    }

    async fn progress(&self, user_id: &UserId) -> Result<Vec<SessionProgress>, StoreError> {
        let fields: Vec<(String, Vec<u8>)> = self.conn().hgetall(user_progress(user_id)).await.map_err(store_error)?;
        Ok(fields
            .into_iter()
            .filter_map(|(id, bytes)| match persisted::decode::<ProgressBytes>(&bytes) {
                Ok(summary) => Some(summary.into()),
                Err(error) => {
                    tracing::warn!(session = %id, %error, "unreadable progress entry left out");
                    None
                }
            })
            .collect())
    }

    async fn forget_progress(&self, user_id: &UserId, session_ids: &[SessionId]) -> Result<(), StoreError> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = session_ids.iter().map(SessionId::as_str).collect();
        self.conn().hdel(user_progress(user_id), ids).await.map_err(store_error)
    }
}

/// Forwards the notices of the channel to `sender` until it is dropped, subscribing again
/// (after a second, to the next of `urls`) whenever the subscription breaks.
async fn subscribe(urls: Vec<String>, sender: tokio::sync::mpsc::Sender<Notice>) {
    use futures::StreamExt;
    for url in urls.iter().cycle() {
        if sender.is_closed() {
            return;
        }
        let subscribed = async {
            let mut pubsub = redis::Client::open(url.as_str())?.get_async_pubsub().await?;
            pubsub.subscribe(super::notices::CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        };
        match subscribed.await {
            Ok(mut messages) => loop {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { break };
                        let Ok(text) = message.get_payload::<String>() else { continue };
                        match text.parse::<Notice>() {
                            // A full queue drops the notice: notices are a fast path only.
                            Ok(notice) => { let _ = sender.try_send(notice); }
                            Err(error) => tracing::warn!(%error, "unreadable notice"),
                        }
                    }
                    () = sender.closed() => return,
                }
            },
            Err(error) => tracing::warn!(%error, %url, "cannot subscribe to notices; the next node in a second"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
