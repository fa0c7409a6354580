//! The embedded store: everything in process memory, nothing installed. Sessions are lost when
//! the process exits; use Redis for durability.

mod leases;
mod webhooks;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Epoch, Loaded, Notice, Notices, PendingWebhook, SessionMeta, Store, StoreError, UserSessions, WebhookMessage,
};
use crate::core::{LogEntry, SessionId, State, UserId};
use crate::progress::SessionProgress;
use crate::resume::Resume;
use crate::time::Timestamp;

/// Sessions in a map behind a mutex.
///
/// A `std` mutex is right here: no `.await` happens while it is held, and every critical
/// section is a few map operations.
///
/// Retention: an expired session is removed when it is next touched, and by a sweep every
/// [`MemoryStore::SWEEP_EVERY`] (started by the first expiry set), so that it is gone on time even if
/// nobody asks for it again.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    sweeping: OnceLock<()>,
    /// Notices to every engine on this store.
    notices: tokio::sync::broadcast::Sender<Notice>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self { inner: Arc::default(), sweeping: OnceLock::new(), notices: tokio::sync::broadcast::channel(1024).0 }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Boxed: a map's table is larger than what it holds (up to twice, free slots included),
    /// and a slot is as large as its value; a box keeps the slack to a pointer a session.
    sessions: HashMap<SessionId, Box<Stored>>,
    /// User id → session ids, in creation order.
    by_user: HashMap<UserId, Vec<SessionId>>,
    /// User id → times of their recent session creations, oldest first (`admit_creation`).
    created: HashMap<UserId, VecDeque<Timestamp>>,
    /// User id → their live sessions and when each one's lease ends (`admit_live`).
    live: HashMap<UserId, HashMap<SessionId, Timestamp>>,
    /// Running sessions' leases: session id → when the term ends, ms (`renew_leases`).
    leases: HashMap<SessionId, u64>,
    /// The webhook outbox's indexes (the messages are in their sessions).
    webhooks: webhooks::Indexes,
    /// The registry of nodes, by id (`heartbeat`).
    nodes: std::collections::BTreeMap<String, super::NodeInfo>,
    /// Secrets shared by name (`shared_secret`).
    secrets: HashMap<String, Vec<u8>>,
    /// Single-use tokens used (`use_once`), and their expiries in the order used.
    used: HashSet<(SessionId, String)>,
    used_order: VecDeque<(Timestamp, (SessionId, String))>,
    /// User id → their progress record, by session (`put_progress`).
    progress: HashMap<UserId, HashMap<SessionId, SessionProgress>>,
    /// User id → their résumé (`put_resume`).
    resumes: HashMap<UserId, Resume>,
}

#[derive(Debug)]
struct Stored {
    meta: SessionMeta,
    epoch: Epoch,
    /// Boxed: most sessions have none yet, or no longer need it.
    snapshot: Option<Box<State>>,
    log: Vec<LogEntry>,
    /// Spoken answers' audio by utterance id (`put_audio`).
    audio: HashMap<String, Vec<u8>>,
    /// Webhook deliveries by `<seq>.<endpoint>`, pending or dead (when and why).
    webhooks: HashMap<String, (PendingWebhook, Option<(Timestamp, String)>)>,
    /// When retention removes it (tokio's clock, so paused-time tests see it).
    expires_at: Option<tokio::time::Instant>,
}

impl Inner {
    /// The session, unless it does not exist or its retention ran out (then it is removed).
    fn session(&mut self, id: &SessionId) -> Option<&mut Stored> {
        let now = tokio::time::Instant::now();
        if self.sessions.get(id)?.expires_at.is_some_and(|at| at <= now) {
            if let Some(stored) = self.sessions.remove(id) {
                if let Some(ids) = self.by_user.get_mut(&stored.meta.user_id) {
                    ids.retain(|s| s != id);
                }
            }
            return None;
        }
        self.sessions.get_mut(id).map(Box::as_mut)
    }

    /// Removes every session whose retention ran out.
    fn sweep(&mut self) {
        let now = tokio::time::Instant::now();
        let expired: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expires_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            // `session` removes what it finds expired.
            let _ = self.session(&id);
        }
    }

    fn existing(&mut self, id: &SessionId) -> Result<&mut Stored, StoreError> {
        self.session(id).ok_or_else(|| StoreError::NotFound(id.to_string()))
    }
}

impl MemoryStore {
    /// How often expired sessions are removed.
    pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.with(|inner| inner.sessions.len())
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the periodic sweep, once, from within a runtime (retention is set from one).
    fn sweep_periodically(&self) {
        if self.sweeping.set(()).is_err() {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Self::SWEEP_EVERY);
            loop {
                ticks.tick().await;
                // The store is gone: so is the sweep.
                let Some(inner) = inner.upgrade() else { return };
                inner.lock().unwrap_or_else(|e| e.into_inner()).sweep();
            }
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave the maps half-updated in a way later
        // calls would misread, so a poisoned lock is taken over.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

fn check_epoch(stored: &Stored, epoch: Epoch) -> Result<(), StoreError> {
    if epoch == stored.epoch { Ok(()) } else { Err(StoreError::Fenced { epoch, current: stored.epoch }) }
}

#[async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create(&self, meta: &SessionMeta, ttl: Option<Duration>) -> Result<(), StoreError> {
        let expires_at = ttl.map(|ttl| tokio::time::Instant::now() + ttl);
        if expires_at.is_some() {
            self.sweep_periodically();
        }
        self.with(|inner| {
            inner.by_user.entry(meta.user_id.clone()).or_default().push(meta.session_id.clone());
            let stored = Stored {
                meta: meta.clone(),
                epoch: 0,
                snapshot: None,
                log: Vec::new(),
                audio: HashMap::new(),
                webhooks: HashMap::new(),
                expires_at,
            };
            inner.sessions.insert(meta.session_id.clone(), Box::new(stored));
        });
        Ok(())
    }

    async fn meta(&self, session_id: &SessionId) -> Result<Option<SessionMeta>, StoreError> {
        Ok(self.with(|inner| inner.session(session_id).map(|s| s.meta.clone())))
    }

    async fn load(&self, session_id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        Ok(self.with(|inner| {
            inner.session(session_id).map(|s| {
                let after = s.snapshot.as_ref().map_or(0, |snap| snap.head);
                Loaded {
                    meta: s.meta.clone(),
                    snapshot: s.snapshot.as_deref().cloned(),
                    tail: s.log.iter().filter(|e| e.seq > after).cloned().collect(),
                }
            })
        }))
    }

    async fn acquire(&self, session_id: &SessionId) -> Result<Epoch, StoreError> {
        self.with(|inner| {
            let stored = inner.existing(session_id)?;
            stored.epoch += 1;
            Ok(stored.epoch)
        })
    }

    async fn append(
        &self,
        session_id: &SessionId,
        epoch: Epoch,
        entries: &[LogEntry],
        webhooks: &[WebhookMessage],
    ) -> Result<(), StoreError> {
        self.with(|inner| {
            // A deleted session refuses its old owner, as a stale epoch would.
            let stored = inner.session(session_id).ok_or(StoreError::Fenced { epoch, current: 0 })?;
            check_epoch(stored, epoch)?;
            let head = stored.log.last().map_or(0, |e| e.seq);
            if let Some(first) = entries.first() {
                if first.seq != head + 1 {
                    return Err(StoreError::OutOfOrder { head, got: first.seq });
                }
            }
            stored.log.extend_from_slice(entries);
            for message in webhooks {
                let pending = PendingWebhook { message: message.clone(), attempts: 0, last_error: None };
                stored.webhooks.insert(super::DeliveryId::of(session_id, message).field(), (pending, None));
            }
            for message in webhooks {
                inner.webhooks.schedule(super::DeliveryId::of(session_id, message), message.created_at.0);
            }
            Ok(())
        })
    }

    async fn save_snapshot(&self, session_id: &SessionId, epoch: Epoch, state: &State) -> Result<(), StoreError> {
        self.with(|inner| {
            let stored = inner.session(session_id).ok_or(StoreError::Fenced { epoch, current: 0 })?;
            check_epoch(stored, epoch)?;
            stored.snapshot = Some(Box::new(state.clone()));
            Ok(())
        })
    }

    async fn read_log(&self, session_id: &SessionId, after: u64) -> Result<Option<Vec<LogEntry>>, StoreError> {
        self.with(|inner| {
            let stored = inner.existing(session_id)?;
            Ok(Some(stored.log.iter().filter(|e| e.seq > after).cloned().collect()))
        })
    }

    async fn user_sessions(&self, user_id: &UserId) -> Result<UserSessions, StoreError> {
        Ok(self.with(|inner| {
            let ids = inner.by_user.get(user_id).cloned().unwrap_or_default();
            let metas = ids.iter().filter_map(|id| inner.session(id).map(|s| s.meta.clone())).collect();
            // Metadata in memory is never unreadable.
            UserSessions::newest_first(metas, Vec::new())
        }))
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<Vec<SessionId>, StoreError> {
        Ok(self.with(|inner| {
            inner.created.remove(user_id);
            inner.live.remove(user_id);
            inner.progress.remove(user_id);
            inner.resumes.remove(user_id);
            let ids = inner.by_user.remove(user_id).unwrap_or_default();
            for id in &ids {
                inner.leases.remove(id);
            }
            ids.into_iter().filter(|id| inner.sessions.remove(id).is_some()).collect()
        }))
    }

    async fn admit_creation(
        &self,
        user_id: &UserId,
        _session_id: &SessionId,
        now: Timestamp,
        window: Duration,
        limit: u32,
    ) -> Result<Option<Duration>, StoreError> {
        let window_ms = window.as_millis() as u64;
        Ok(self.with(|inner| {
            let times = inner.created.entry(user_id.clone()).or_default();
            while times.front().is_some_and(|at| now.ms_since(*at) >= window_ms) {
                times.pop_front();
            }
            if times.len() >= limit as usize {
                let oldest = times.front().copied().unwrap_or(now);
                return Some(Duration::from_millis(oldest.plus_ms(window_ms).ms_since(now).max(1)));
            }
            times.push_back(now);
            None
        }))
    }

    async fn put_audio(
        &self,
        session_id: &SessionId,
        utterance_id: &str,
        audio: &[u8],
        max_bytes: u64,
    ) -> Result<bool, StoreError> {
        self.with(|inner| {
            let stored = inner.existing(session_id)?;
            let others: usize = stored.audio.iter().filter(|(id, _)| *id != utterance_id).map(|(_, a)| a.len()).sum();
            if (others + audio.len()) as u64 > max_bytes {
                return Ok(false);
            }
            stored.audio.insert(utterance_id.to_owned(), audio.to_vec());
            Ok(true)
        })
    }

    async fn audio(&self, session_id: &SessionId, utterance_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|inner| inner.session(session_id).and_then(|s| s.audio.get(utterance_id).cloned())))
    }

    async fn audio_ids(&self, session_id: &SessionId) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self.with(|inner| {
            let mut ids: Vec<(String, u64)> = inner
                .session(session_id)
                .map(|s| s.audio.iter().map(|(id, a)| (id.clone(), a.len() as u64)).collect())
                .unwrap_or_default();
            ids.sort();
            ids
        }))
    }

    async fn admit_live(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        limit: u32,
        now: Timestamp,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            let live = inner.live.entry(user_id.clone()).or_default();
            live.retain(|_, until| *until > now);
            if !live.contains_key(session_id) && live.len() >= limit as usize {
                return false;
            }
            live.insert(session_id.clone(), now.plus_ms(lease.as_millis() as u64));
            true
        }))
    }

    async fn end_live(&self, user_id: &UserId, session_id: &SessionId) -> Result<(), StoreError> {
        self.with(|inner| {
            if let Some(live) = inner.live.get_mut(user_id) {
                live.remove(session_id);
                if live.is_empty() {
                    inner.live.remove(user_id);
                }
            }
        });
        Ok(())
    }

    async fn expire_session(&self, meta: &SessionMeta, ttl: Duration) -> Result<(), StoreError> {
        self.sweep_periodically();
        self.with(|inner| {
            inner.existing(&meta.session_id)?.expires_at = Some(tokio::time::Instant::now() + ttl);
            Ok(())
        })
    }

    async fn put_resume(&self, user_id: &UserId, resume: &Resume) -> Result<(), StoreError> {
        self.with(|inner| inner.resumes.insert(user_id.clone(), resume.clone()));
        Ok(())
    }

    async fn resume(&self, user_id: &UserId) -> Result<Option<Resume>, StoreError> {
        Ok(self.with(|inner| inner.resumes.get(user_id).cloned()))
    }

    async fn delete_resume(&self, user_id: &UserId) -> Result<bool, StoreError> {
        Ok(self.with(|inner| inner.resumes.remove(user_id).is_some()))
    }

    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.with(|inner| inner.secrets.entry(name.to_owned()).or_insert_with(super::random_secret).clone()))
    }

    async fn use_once(
        &self,
        session_id: &SessionId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            // Expiries grow with the order of use but for clock steps, which only delay this.
            while inner.used_order.front().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, token)) = inner.used_order.pop_front() {
                    inner.used.remove(&token);
                }
            }
            let token = (session_id.clone(), nonce.to_owned());
            if inner.used.contains(&token) {
                return false;
            }
            if inner.used.len() >= super::MAX_USED_TOKENS {
                tracing::warn!(
                    max = super::MAX_USED_TOKENS,
                    "too many single-use tokens used within their lifetime; refusing"
                );
                return false;
            }
            inner.used.insert(token.clone());
            inner.used_order.push_back((expires, token));
            true
        }))
    }

    async fn announce(&self, notice: &Notice) -> Result<(), StoreError> {
        // Nobody listening is not an error.
        let _ = self.notices.send(notice.clone());
        Ok(())
    }

    async fn heartbeat(&self, node: &super::NodeInfo) -> Result<(), StoreError> {
        self.with(|inner| inner.nodes.insert(node.id.clone(), node.clone()));
        Ok(())
    }

    async fn nodes(&self, now: Timestamp) -> Result<Vec<super::NodeInfo>, StoreError> {
        Ok(self.with(|inner| {
            inner.nodes.retain(|_, node| node.expires_at > now.0);
            inner.nodes.values().cloned().collect()
        }))
    }

    async fn forget_node(&self, id: &str) -> Result<(), StoreError> {
        self.with(|inner| inner.nodes.remove(id));
        Ok(())
    }

    fn notices(&self) -> Notices {
        let receiver = self.notices.subscribe();
        Box::pin(futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(notice) => return Some((notice, receiver)),
                    // A listener that fell behind loses some: notices are a fast path only.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    async fn put_progress(&self, user_id: &UserId, summary: &SessionProgress) -> Result<bool, StoreError> {
        Ok(self.with(|inner| {
            let session_id = &summary.session_id;
            let indexed = inner.session(session_id).is_some()
                && inner.by_user.get(user_id).is_some_and(|ids| ids.contains(session_id));
            if indexed {
                inner.progress.entry(user_id.clone()).or_default().insert(session_id.clone(), summary.clone());
            }
            indexed
        }))
    }

    async fn progress(&self, user_id: &UserId) -> Result<Vec<SessionProgress>, StoreError> {
        Ok(self.with(|inner| inner.progress.get(user_id).map(|p| p.values().cloned().collect()).unwrap_or_default()))
    }

    async fn forget_progress(&self, user_id: &UserId, session_ids: &[SessionId]) -> Result<(), StoreError> {
        self.with(|inner| {
            if let Some(record) = inner.progress.get_mut(user_id) {
                for id in session_ids {
                    record.remove(id);
                }
                if record.is_empty() {
                    inner.progress.remove(user_id);
                }
            }
        });
        Ok(())
    }
}
