//! Where sessions live beyond memory: metadata, a snapshot, an append-only event log, and a
//! per-user index (so export and deletion can find everything a user owns); and what a user
//! keeps beside their sessions (their résumé).
//!
//! A user's progress record (a summary of each finished session's report) sits beside their
//! index, written once each report is durable.
//!
//! Ownership of a session is fenced: every load takes a new epoch from [`Store::acquire`], and
//! appends or snapshots carrying an older epoch are refused. Two drivers (in one process or
//! on two nodes sharing a store) can therefore never both write one session.

mod leases;
mod memory;
mod nodes;
mod notices;
pub(crate) mod persisted;
mod redis;
mod webhooks;

use std::time::Duration;

use crate::core::Candidate;
use async_trait::async_trait;

use crate::core::{LogEntry, SessionId, State, UserId};
use crate::progress::SessionProgress;
use crate::resume::Resume;
use crate::time::{Clock, Timestamp};

pub use leases::Leases;
pub use memory::MemoryStore;
pub use nodes::NodeInfo;
pub use notices::Notice;
pub use redis::{CLUSTER_SCHEME, RedisConnection, RedisStore};
pub use webhooks::{Claimed, DeadWebhook, DeliveryId, DisabledEndpoint, PendingWebhook, WebhookMessage, Webhooks};

/// A fencing epoch: grows on every load of a session.
pub type Epoch = u64;

/// What a session is, fixed at creation.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionMeta {
    /// The session id.
    pub session_id: SessionId,
    /// Its owner.
    pub user_id: UserId,
    /// The plan it follows.
    pub plan_id: String,
    /// Who the candidate is.
    pub candidate: Candidate,
    /// When it was created.
    pub created_at: Timestamp,
    /// Time budget from `session.start`, in milliseconds.
    pub time_limit_ms: u64,
}

/// Everything needed to rebuild a session.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What the session is.
    pub meta: SessionMeta,
    /// The latest snapshot, if any.
    pub snapshot: Option<State>,
    /// Log entries after the snapshot.
    pub tail: Vec<LogEntry>,
}

/// A user's sessions as the store lists them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSessions {
    /// Newest first (creation time, then id).
    pub metas: Vec<SessionMeta>,
    /// Indexed sessions whose metadata cannot be read (corrupt), by id.
    pub unreadable: Vec<SessionId>,
}

impl UserSessions {
    /// Orders `metas` newest first, as every store lists them.
    pub fn newest_first(mut metas: Vec<SessionMeta>, unreadable: Vec<SessionId>) -> Self {
        metas.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.session_id.cmp(&a.session_id)));
        Self { metas, unreadable }
    }

    /// The ids of every session listed, readable or not.
    pub fn ids(&self) -> impl Iterator<Item = &SessionId> {
        self.metas.iter().map(|m| &m.session_id).chain(&self.unreadable)
    }
}

/// Why the store refused or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A newer load owns the session.
    #[error("stale epoch {epoch}: the session is owned by epoch {current}")]
    Fenced {
        /// The epoch of the refused write.
        epoch: Epoch,
        /// The epoch that owns the session.
        current: Epoch,
    },
    /// An append that does not continue the log.
    #[error("append of seq {got} does not follow the head {head}")]
    OutOfOrder {
        /// The log's head.
        head: u64,
        /// The first seq appended.
        got: u64,
    },
    /// No such session.
    #[error("no session `{0}`")]
    NotFound(String),
    /// Stored data that cannot be read back.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Session storage, and the webhook outbox written with it ([`Webhooks`]).
#[async_trait]
pub trait Store: Webhooks + Leases + Send + Sync + 'static {
    /// A short name for logs and `/readyz` (`memory`, `redis`).
    fn name(&self) -> &str;

    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The time every node on this store goes by (events' timestamps, time limits, tickets,
    /// retention): a shared store's own clock, so that a node whose clock is off neither ends
    /// interviews early nor refuses other nodes' tickets. This machine's clock by default.
    fn clock(&self) -> Clock {
        Clock::new()
    }

    /// Records a new session and indexes it under its user; with `ttl` (retention), it is
    /// gone that long after, unless [`Store::expire_session`] says otherwise meanwhile.
    async fn create(&self, meta: &SessionMeta, ttl: Option<Duration>) -> Result<(), StoreError>;

    /// The metadata of a session.
    async fn meta(&self, session_id: &SessionId) -> Result<Option<SessionMeta>, StoreError>;

    /// Metadata, latest snapshot and log tail of a session.
    async fn load(&self, session_id: &SessionId) -> Result<Option<Loaded>, StoreError>;

    /// Takes ownership for one load: returns an epoch greater than every earlier one; from
    /// now on writes with an older epoch are refused.
    async fn acquire(&self, session_id: &SessionId) -> Result<Epoch, StoreError>;

    /// Appends durable events, in order, continuing the log's head, and the webhook messages
    /// they make (`crate::webhook::messages`), in one step: a message is never stored without
    /// its event, nor an event without its messages. The messages are then due for delivery
    /// (a message whose event is stored is never forgotten, even if the caller dies now).
    async fn append(
        &self,
        session_id: &SessionId,
        epoch: Epoch,
        entries: &[LogEntry],
        webhooks: &[WebhookMessage],
    ) -> Result<(), StoreError>;

    /// Stores a snapshot of the state (its `head` says which entries it covers).
    async fn save_snapshot(&self, session_id: &SessionId, epoch: Epoch, state: &State) -> Result<(), StoreError>;

    /// Log entries with `seq > after`, or `None` when some of them are no longer kept.
    async fn read_log(&self, session_id: &SessionId, after: u64) -> Result<Option<Vec<LogEntry>>, StoreError>;

    /// Stores a finished session's log compactly, once every event of it is durable (issue 17:
    /// a finished interview's stream costs ~45 KB of Redis, its archive a few). Reads go on as
    /// before. Refused like an append with an older epoch (`Fenced`); an error leaves the log
    /// as it was, still whole and readable. Stores that keep the log in-process (memory) do
    /// nothing.
    async fn compact(&self, _session_id: &SessionId, _epoch: Epoch) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every session of a user, newest first, read at once (one round trip on Redis); those
    /// whose metadata cannot be read are listed apart instead of failing the whole list.
    async fn user_sessions(&self, user_id: &UserId) -> Result<UserSessions, StoreError>;

    /// Removes everything stored for the user: every key of every session and the index.
    /// Returns the ids of the sessions removed. Writes of a session's owner after this are
    /// refused (its epoch is gone), so nothing comes back.
    async fn delete_user(&self, user_id: &UserId) -> Result<Vec<SessionId>, StoreError>;

    /// Counts the creation of `session_id` by `user_id` at `now` against a sliding `window`
    /// of at most `limit` creations: `None` when it is admitted (and counted), else how long
    /// until the oldest creation leaves the window. Atomic, so concurrent creations (on any
    /// node) never exceed the limit; deleting the user forgets the count.
    async fn admit_creation(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: Timestamp,
        window: Duration,
        limit: u32,
    ) -> Result<Option<Duration>, StoreError>;

    /// Keeps the audio of a spoken answer (`audio`: a FLAC stream) with the session, under the
    /// utterance's id (the answer's client message id; a re-send replaces it), if the session
    /// exists (else `NotFound`: a deleted session gets nothing back) and all its audio stays
    /// within `max_bytes`: whether it was kept. It is deleted and expires with the session.
    async fn put_audio(
        &self,
        session_id: &SessionId,
        utterance_id: &str,
        audio: &[u8],
        max_bytes: u64,
    ) -> Result<bool, StoreError>;

    /// The audio kept under an utterance id (see [`Store::put_audio`]).
    async fn audio(&self, session_id: &SessionId, utterance_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The utterance ids of a session's kept audio, with its size in bytes.
    async fn audio_ids(&self, session_id: &SessionId) -> Result<Vec<(String, u64)>, StoreError>;

    /// Counts `session_id` as one of its user's live sessions until `now + lease` (renewed by
    /// calling again), if it is counted already or the user has fewer than `limit` (sessions
    /// whose lease ran out do not count: their owner died or forgot them): whether it is
    /// counted. Atomic, so concurrent starts on any node never exceed `limit`.
    async fn admit_live(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        limit: u32,
        now: Timestamp,
        lease: Duration,
    ) -> Result<bool, StoreError>;

    /// Stops counting `session_id` as live (it ended).
    async fn end_live(&self, user_id: &UserId, session_id: &SessionId) -> Result<(), StoreError>;

    /// Keeps a session only `ttl` longer (from now, replacing an earlier expiry): then every
    /// key of it, including keys made after this call (the log, the epoch), and its entry in
    /// the user's index, are gone.
    async fn expire_session(&self, meta: &SessionMeta, ttl: Duration) -> Result<(), StoreError>;

    /// Keeps the user's résumé, replacing the one kept before. It is the user's, not a
    /// session's: no retention expires it; [`Store::delete_resume`] and
    /// [`Store::delete_user`] remove it.
    async fn put_resume(&self, user_id: &UserId, resume: &Resume) -> Result<(), StoreError>;

    /// The user's résumé, if one is kept.
    async fn resume(&self, user_id: &UserId) -> Result<Option<Resume>, StoreError>;

    /// Removes the user's résumé: whether there was one.
    async fn delete_resume(&self, user_id: &UserId) -> Result<bool, StoreError>;

    /// A secret shared by every node on this store (32 random bytes, made by the first node to
    /// ask for `name`, then the same for all): the key of socket tickets, so that a ticket one
    /// node issues is good on any other.
    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, StoreError>;

    /// Marks the single-use token `nonce` of `session_id` used until `expires` (then it is
    /// forgotten: it is worthless by then): whether it was unused. Atomic across nodes, so a
    /// token is used once in the whole deployment. Bounded: past [`MAX_USED_TOKENS`] at once
    /// (in memory; on Redis 10,000 per session) it refuses.
    async fn use_once(
        &self,
        session_id: &SessionId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Tells every node on this store (this one included) at once.
    async fn announce(&self, notice: &Notice) -> Result<(), StoreError>;

    /// The notices every node announces from now on, while the stream is held (call it from
    /// within a runtime: on Redis it starts a subscriber, which reconnects by itself; notices
    /// sent while it is away are lost: see [`Notice`]).
    fn notices(&self) -> Notices;

    /// Writes a node's entry in the registry of nodes (replacing its last one).
    async fn heartbeat(&self, node: &NodeInfo) -> Result<(), StoreError>;

    /// The nodes whose entry has not expired at `now` (expired ones are removed), by id.
    async fn nodes(&self, now: Timestamp) -> Result<Vec<NodeInfo>, StoreError>;

    /// Removes a node's entry (it stopped).
    async fn forget_node(&self, id: &str) -> Result<(), StoreError>;

    // Progress (issue 15): one record per user, a summary per finished session.

    /// Keeps a finished session's summary in its user's progress record, one entry per
    /// session (writing it again replaces it: idempotent), if the session is in the user's
    /// index (a deleted or expired session gets nothing back): whether it was kept. On Redis
    /// the record is under the user's hash tag, apart from the session's keys, so it is
    /// written after the report is durable, not in the same step.
    async fn put_progress(&self, user_id: &UserId, summary: &SessionProgress) -> Result<bool, StoreError>;

    /// Every summary in the user's progress record, in no particular order (an entry that
    /// cannot be read is left out and logged).
    async fn progress(&self, user_id: &UserId) -> Result<Vec<SessionProgress>, StoreError>;

    /// Drops these sessions' entries from the user's progress record (sessions gone from the
    /// index: expired under retention).
    async fn forget_progress(&self, user_id: &UserId, session_ids: &[SessionId]) -> Result<(), StoreError>;
}

/// Notices from every node on a store ([`Store::notices`]).
pub type Notices = futures::stream::BoxStream<'static, Notice>;

/// Most single-use tokens remembered at once ([`Store::use_once`]): about 100 bytes each.
pub const MAX_USED_TOKENS: usize = 1_000_000;

/// 32 random bytes (from the OS, through `uuid`'s v4 generator).
fn random_secret() -> Vec<u8> {
    [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| *u.as_bytes()).collect()
}
