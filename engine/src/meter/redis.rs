//! Minutes in Redis. Every key of a user shares the hash tag `{u:<user>}` (the store's user
//! index has it too), so each call is one Lua script on one Redis Cluster slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `viva:{u:<user>}:minutes` | hash | `balance`: seconds free to reserve |
//! | `viva:{u:<user>}:holds` | hash | session id → `<seconds held>:<expires at, ms>:<seconds settled>` |
//! | `viva:{u:<user>}:ledger` | stream | one entry per credit or debit: `at`, `kind`, `s`, `session`, `key`, `reason`; a voice session's debits `ain`, `aout` (audio ms) |
//! | `viva:{u:<user>}:keys` | hash | applied idempotency key → its answer (credit: the balance after; settle: seconds debited) |

use std::time::Duration;

use async_trait::async_trait;
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Script};

use super::{
    AudioMs, Credited, EntryKind, Hold, LedgerEntry, Meter, MeterError, Reserved, Settled, Usage, check_credit,
    check_key,
};
use crate::core::{SessionId, UserId};
use crate::store::RedisConnection;
use crate::time::Timestamp;

/// Moves up to `want` seconds from the balance into the session's hold and renews its expiry.
/// KEYS: minutes, holds. ARGV: session, want, expires at (ms). Returns {granted, held, balance}.
const RESERVE: &str = r"
local balance = tonumber(redis.call('HGET', KEYS[1], 'balance') or '0')
local granted = math.min(tonumber(ARGV[2]), balance)
local held, settled = 0, '0'
local hold = redis.call('HGET', KEYS[2], ARGV[1])
if hold then
  local h, _, s = string.match(hold, '^(%d+):(%d+):(%d+)$')
  held, settled = tonumber(h), s
end
if granted > 0 then redis.call('HINCRBY', KEYS[1], 'balance', -granted) end
held = held + granted
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d:%s:%s', held, ARGV[3], settled))
return {granted, held, balance - granted}
";

/// Debits up to `used` seconds of the session's hold, once per key.
/// KEYS: holds, keys, ledger. ARGV: session, key, used, now (ms), audio in ms, audio out ms.
/// Returns {debited, duplicate}.
const SETTLE: &str = r"
local done = redis.call('HGET', KEYS[2], ARGV[2])
if done then return {tonumber(done), 1} end
local held, expires, settled = 0, '0', 0
local hold = redis.call('HGET', KEYS[1], ARGV[1])
if hold then
  local h, e, s = string.match(hold, '^(%d+):(%d+):(%d+)$')
  held, expires, settled = tonumber(h), e, tonumber(s)
end
local debit = math.min(tonumber(ARGV[3]), held)
if hold then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d:%s:%d', held - debit, expires, settled + debit))
end
redis.call('HSET', KEYS[2], ARGV[2], debit)
if debit > 0 then
  local entry = {'at', ARGV[4], 'kind', 'debit', 's', debit, 'session', ARGV[1], 'key', ARGV[2]}
  if ARGV[5] ~= '0' or ARGV[6] ~= '0' then
    for _, field in ipairs({'ain', ARGV[5], 'aout', ARGV[6]}) do table.insert(entry, field) end
  end
  redis.call('XADD', KEYS[3], '*', unpack(entry))
end
return {debit, 0}
";

/// Gives the rest of a hold back. KEYS: minutes, holds. ARGV: session. Returns the seconds.
const RELEASE: &str = r"
local hold = redis.call('HGET', KEYS[2], ARGV[1])
if not hold then return 0 end
local held = tonumber(string.match(hold, '^(%d+)'))
redis.call('HDEL', KEYS[2], ARGV[1])
if held > 0 then redis.call('HINCRBY', KEYS[1], 'balance', held) end
return held
";

/// Adds seconds once per key. KEYS: minutes, keys, ledger. ARGV: seconds, key, reason, now
/// (ms). Returns {balance after, duplicate}.
const CREDIT: &str = r"
local done = redis.call('HGET', KEYS[2], ARGV[2])
if done then return {tonumber(done), 1} end
local balance = redis.call('HINCRBY', KEYS[1], 'balance', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], balance)
local entry = {'at', ARGV[4], 'kind', 'credit', 's', ARGV[1], 'key', ARGV[2]}
if ARGV[3] ~= '' then table.insert(entry, 'reason'); table.insert(entry, ARGV[3]) end
redis.call('XADD', KEYS[3], '*', unpack(entry))
return {balance, 0}
";

/// Minutes in Redis (see the module's key layout).
#[derive(Clone)]
pub struct RedisMeter {
    connection: RedisConnection,
    reserve: Script,
    settle: Script,
    release: Script,
    credit: Script,
}

struct Keys {
    minutes: String,
    holds: String,
    ledger: String,
    keys: String,
}

impl Keys {
    fn of(user_id: &UserId) -> Self {
        Self {
            minutes: format!("viva:{{u:{user_id}}}:minutes"),
            holds: format!("viva:{{u:{user_id}}}:holds"),
            ledger: format!("viva:{{u:{user_id}}}:ledger"),
            keys: format!("viva:{{u:{user_id}}}:keys"),
        }
    }
}

impl RedisMeter {
    /// A meter on this connection (the store's: `RedisStore::connection`).
    pub fn new(connection: RedisConnection) -> Self {
        Self {
            connection,
            reserve: Script::new(RESERVE),
            settle: Script::new(SETTLE),
            release: Script::new(RELEASE),
            credit: Script::new(CREDIT),
        }
    }

    fn conn(&self) -> RedisConnection {
        self.connection.clone()
    }
}

fn unavailable(error: redis::RedisError) -> MeterError {
    match error.code() {
        Some("WRONGTYPE") => MeterError::Corrupt(error.to_string()),
        _ => MeterError::Unavailable(error.to_string()),
    }
}

/// `<seconds held>:<expires ms>:<seconds settled>`.
fn parse_hold(session_id: String, value: &str) -> Result<Hold, MeterError> {
    let corrupt = || MeterError::Corrupt(format!("hold `{value}` of {session_id}"));
    let mut fields = value.split(':').map(|n| n.parse::<u64>().map_err(|_| corrupt()));
    let mut next = || fields.next().unwrap_or_else(|| Err(corrupt()));
    let (held_s, expires_at, settled_s) = (next()?, Timestamp(next()?), next()?);
    Ok(Hold { session_id: SessionId::from(session_id), held_s, expires_at, settled_s })
}

/// The entries of a ledger page, each with its stream id.
fn ledger_entries(reply: StreamRangeReply) -> Result<Vec<(String, LedgerEntry)>, MeterError> {
    reply
        .ids
        .into_iter()
        .map(|id| {
            let text = |field: &str| id.get::<String>(field);
            let corrupt = || MeterError::Corrupt(format!("ledger entry {}", id.id));
            let entry = LedgerEntry {
                at: Timestamp(text("at").and_then(|t| t.parse().ok()).ok_or_else(corrupt)?),
                kind: text("kind").as_deref().and_then(EntryKind::parse).ok_or_else(corrupt)?,
                seconds: text("s").and_then(|s| s.parse().ok()).ok_or_else(corrupt)?,
                session_id: text("session").map(SessionId::from),
                key: text("key").ok_or_else(corrupt)?,
                reason: text("reason"),
                audio: AudioMs {
                    input_ms: text("ain").and_then(|n| n.parse().ok()).unwrap_or(0),
                    output_ms: text("aout").and_then(|n| n.parse().ok()).unwrap_or(0),
                },
            };
            Ok((id.id.clone(), entry))
        })
        .collect()
}

#[async_trait]
impl Meter for RedisMeter {
    async fn reserve(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        want_s: u64,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Reserved, MeterError> {
        let keys = Keys::of(user_id);
        let expires = now.plus_ms(ttl.as_millis() as u64).0;
        let (granted_s, held_s, balance_s): (u64, u64, u64) = self
            .reserve
            .key(&keys.minutes)
            .key(&keys.holds)
            .arg(session_id.as_str())
            .arg(want_s)
            .arg(expires)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(Reserved { granted_s, held_s, balance_s })
    }

    async fn settle(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        key: &str,
        used_s: u64,
        audio: AudioMs,
        now: Timestamp,
    ) -> Result<Settled, MeterError> {
        check_key(key)?;
        let keys = Keys::of(user_id);
        let (debited_s, duplicate): (u64, u8) = self
            .settle
            .key(&keys.holds)
            .key(&keys.keys)
            .key(&keys.ledger)
            .arg(session_id.as_str())
            .arg(key)
            .arg(used_s)
            .arg(now.0)
            .arg(audio.input_ms)
            .arg(audio.output_ms)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(Settled { debited_s, duplicate: duplicate == 1 })
    }

    async fn release(&self, user_id: &UserId, session_id: &SessionId) -> Result<u64, MeterError> {
        let keys = Keys::of(user_id);
        self.release
            .key(&keys.minutes)
            .key(&keys.holds)
            .arg(session_id.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn credit(
        &self,
        user_id: &UserId,
        seconds: u64,
        key: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Credited, MeterError> {
        check_credit(seconds)?;
        check_key(key)?;
        let keys = Keys::of(user_id);
        let (balance_s, duplicate): (u64, u8) = self
            .credit
            .key(&keys.minutes)
            .key(&keys.keys)
            .key(&keys.ledger)
            .arg(seconds)
            .arg(key)
            .arg(reason.unwrap_or_default())
            .arg(now.0)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(Credited { balance_s, duplicate: duplicate == 1 })
    }

    async fn usage(&self, user_id: &UserId, cursor: Option<&str>, limit: usize) -> Result<Usage, MeterError> {
        let limit = limit.clamp(1, super::MAX_PAGE);
        let keys = Keys::of(user_id);
        if let Some(cursor) = cursor {
            let valid =
                cursor.split_once('-').is_some_and(|(ms, n)| ms.parse::<u64>().is_ok() && n.parse::<u64>().is_ok());
            if !valid {
                return Err(MeterError::Invalid(format!("bad cursor `{cursor}`")));
            }
        }
        let end = cursor.map_or_else(|| "+".to_owned(), |cursor| format!("({cursor}"));
        // One more than asked: whether there is a next page.
        let (balance, holds, page): (Option<u64>, Vec<String>, StreamRangeReply) = redis::pipe()
            .hget(&keys.minutes, "balance")
            .hvals(&keys.holds)
            .xrevrange_count(&keys.ledger, end, "-", limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut held_s = 0u64;
        for hold in holds {
            held_s = held_s.saturating_add(parse_hold(String::new(), &hold)?.held_s);
        }
        let mut page = ledger_entries(page)?;
        // More than asked: the next page starts after the last one shown.
        let next_cursor = (page.len() > limit).then(|| page[limit - 1].0.clone());
        page.truncate(limit);
        let entries = page.into_iter().map(|(_, entry)| entry).collect();
        Ok(Usage { balance_s: balance.unwrap_or(0), held_s, entries, next_cursor })
    }

    async fn holds(&self, user_id: &UserId) -> Result<Vec<Hold>, MeterError> {
        let all: Vec<(String, String)> = self.conn().hgetall(Keys::of(user_id).holds).await.map_err(unavailable)?;
        let mut holds =
            all.into_iter().map(|(session, value)| parse_hold(session, &value)).collect::<Result<Vec<_>, _>>()?;
        holds.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        Ok(holds)
    }

    async fn expired_holds(
        &self,
        cursor: u64,
        count: usize,
        now: Timestamp,
    ) -> Result<(Vec<(UserId, Hold)>, u64), MeterError> {
        // SCAN, not an index: no key shared by every user in the write path. A step reads
        // about `count` keys' worth of the keyspace, then each holds hash it found.
        let (next, keys) = self.conn().scan(cursor, "viva:{u:*}:holds", count).await.map_err(unavailable)?;
        let mut expired = Vec::new();
        for key in keys {
            let Some(user) = key.strip_prefix("viva:{u:").and_then(|k| k.strip_suffix("}:holds")) else { continue };
            let all: Vec<(String, String)> = self.conn().hgetall(&key).await.map_err(unavailable)?;
            for (session, value) in all {
                let hold = parse_hold(session, &value)?;
                if hold.expires_at <= now {
                    expired.push((UserId::from(user), hold));
                }
            }
        }
        Ok((expired, next))
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<(), MeterError> {
        let keys = Keys::of(user_id);
        let _: () = self.conn().del(&[keys.minutes, keys.holds, keys.ledger, keys.keys]).await.map_err(unavailable)?;
        Ok(())
    }
}
