//! Minutes (`--metering minutes`): every user has a balance of seconds, shared by all their
//! sessions. A live session draws on it a slice at a time: [`Meter::reserve`] moves up to a
//! slice from the balance into the session's *hold*, atomically; [`Meter::settle`] debits what
//! was used from the hold, once per idempotency key (`<session>:<slice>`, so a retry or a
//! second node settling the same slice charges nothing more); [`Meter::release`] gives what is
//! left of a hold back. [`Meter::credit`] adds seconds, once per key. Every credit and debit is
//! an entry of the user's ledger ([`Meter::usage`], newest first, page by page).
//!
//! A hold carries an expiry: the session's owner renews it with every reservation. One whose
//! owner died is found expired by whoever loads the session next (or a sweep), which settles
//! it from the session's durable record and releases the rest — so at most one slice is at
//! risk and nothing is charged twice (the settle keys).
//!
//! The trait is the seam for embedders that bill through their own system (Stripe, Lago,
//! OpenMeter): ledger keys are usable as those systems' event ids. Two implementations:
//! [`MemoryMeter`] and [`RedisMeter`] (Lua scripts on keys under the user's hash tag, so each
//! call is one step on one Redis Cluster slot).

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

use crate::core::{SessionId, UserId};
use crate::time::Timestamp;

pub use memory::MemoryMeter;
pub use redis::RedisMeter;

/// The most seconds one credit may add (a century): anything above is a mistake, and sums
/// stay far from overflowing.
pub const MAX_CREDIT_S: u64 = 100 * 365 * 24 * 3_600;

/// The longest idempotency key (bytes).
pub const MAX_KEY_BYTES: usize = 200;

/// The most ledger entries one page holds (and the fewest: 1).
pub const MAX_PAGE: usize = 200;

/// Why a meter call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeterError {
    /// The meter's store cannot be reached; retry later.
    #[error("meter unavailable: {0}")]
    Unavailable(String),
    /// A request the meter refuses as it is (zero or absurd seconds, a bad key).
    #[error("{0}")]
    Invalid(String),
    /// Stored data that cannot be read back.
    #[error("corrupt meter data: {0}")]
    Corrupt(String),
}

/// What a reservation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// Seconds moved from the balance into the hold now (0: the balance is empty).
    pub granted_s: u64,
    /// The session's hold after it.
    pub held_s: u64,
    /// The user's balance after it (what other reservations may still take).
    pub balance_s: u64,
}

/// What a settlement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Seconds debited by this key (the first time it was settled).
    pub debited_s: u64,
    /// Whether the key had been settled before (nothing was debited now).
    pub duplicate: bool,
}

/// What a credit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credited {
    /// The balance right after the credit (the same answer for a repeated key).
    pub balance_s: u64,
    /// Whether the key had been credited before (nothing was added now).
    pub duplicate: bool,
}

/// Audio moved by a voice session over a settled stretch (recorded in its debit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioMs {
    /// The candidate's speech received.
    pub input_ms: u64,
    /// The interviewer's speech sent.
    pub output_ms: u64,
}

/// A session's hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The session.
    pub session_id: SessionId,
    /// Seconds held.
    pub held_s: u64,
    /// When it expires unless renewed.
    pub expires_at: Timestamp,
    /// Seconds settled for the session so far (debited from its hold).
    pub settled_s: u64,
}

/// Credit or debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Seconds added (bought, granted).
    Credit,
    /// Seconds used by a session.
    Debit,
}

impl EntryKind {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "credit" => Some(Self::Credit),
            "debit" => Some(Self::Debit),
            _ => None,
        }
    }
}

/// One line of a user's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// When it was applied.
    pub at: Timestamp,
    /// Credit or debit.
    pub kind: EntryKind,
    /// Seconds.
    pub seconds: u64,
    /// The session a debit is for.
    pub session_id: Option<SessionId>,
    /// Its idempotency key (`<session>:<slice>` for debits; the caller's for credits).
    pub key: String,
    /// Why (credits: the caller's reason).
    pub reason: Option<String>,
    /// A voice session's audio over the debited stretch (zero for text).
    pub audio: AudioMs,
}

/// A user's minutes: balance, holds, and one page of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Seconds free to reserve.
    pub balance_s: u64,
    /// Seconds held by live sessions.
    pub held_s: u64,
    /// Ledger entries, newest first.
    pub entries: Vec<LedgerEntry>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

/// Metered minutes.
#[async_trait]
pub trait Meter: Send + Sync + 'static {
    /// Moves up to `want_s` seconds from the user's balance into the session's hold and sets
    /// the hold to expire `ttl` after `now` (a renewal, even when nothing is left to grant).
    async fn reserve(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        want_s: u64,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Reserved, MeterError>;

    /// Debits `used_s` seconds of the session's hold (at most what it holds), once per `key`;
    /// the entry records the `audio` a voice session moved over that stretch.
    async fn settle(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        key: &str,
        used_s: u64,
        audio: AudioMs,
        now: Timestamp,
    ) -> Result<Settled, MeterError>;

    /// Gives what is left of the session's hold back to the balance and forgets the hold:
    /// the seconds returned.
    async fn release(&self, user_id: &UserId, session_id: &SessionId) -> Result<u64, MeterError>;

    /// Adds `seconds` (1 to [`MAX_CREDIT_S`]) to the balance, once per `key`; the user's
    /// balance is made if it does not exist.
    async fn credit(
        &self,
        user_id: &UserId,
        seconds: u64,
        key: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Credited, MeterError>;

    /// Balance, holds and a page of the ledger (newest first; `cursor` from the page before;
    /// `limit` brought within 1 to [`MAX_PAGE`]).
    async fn usage(&self, user_id: &UserId, cursor: Option<&str>, limit: usize) -> Result<Usage, MeterError>;

    /// The user's holds (live sessions, and any a dead node left behind).
    async fn holds(&self, user_id: &UserId) -> Result<Vec<Hold>, MeterError>;

    /// One step of a sweep over every user's holds: the holds expired at `now` (their owner
    /// stopped renewing them: it died) among about `count` users' from `cursor` (0 to begin),
    /// and the cursor of the next step (0 when the sweep is over).
    async fn expired_holds(
        &self,
        cursor: u64,
        count: usize,
        now: Timestamp,
    ) -> Result<(Vec<(UserId, Hold)>, u64), MeterError>;

    /// Forgets everything of the user: balance, holds, ledger, keys.
    async fn delete_user(&self, user_id: &UserId) -> Result<(), MeterError>;
}

/// Checks a credit's or a settlement's key.
fn check_key(key: &str) -> Result<(), MeterError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(MeterError::Invalid(format!(
            "an idempotency key is 1 to {MAX_KEY_BYTES} bytes with no control characters"
        )));
    }
    Ok(())
}

/// Checks a credit's seconds.
fn check_credit(seconds: u64) -> Result<(), MeterError> {
    if seconds == 0 || seconds > MAX_CREDIT_S {
        return Err(MeterError::Invalid(format!("a credit is 1 to {MAX_CREDIT_S} seconds, not {seconds}")));
    }
    Ok(())
}
