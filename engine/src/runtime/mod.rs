//! The engine: a registry of live sessions, each driven by its own task (see `actor`), and
//! the library API that drivers (the gateway, embedders) call.

mod actor;
mod answer_audio;
mod command;
mod connection;
mod context;
mod history;
mod leases;
mod live;
mod minutes;
mod outbox;
mod progress;
mod queue;
mod registry;
mod resumes;
mod voice;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use viva_protocol::rest::{PlanSummary, Report, SessionView, VoiceUsage};
use viva_protocol::state::TranscriptEntry;
use viva_protocol::{ClientMessage, ServerMessage};

pub use answer_audio::AudioRecordings;
pub use connection::{Connection, Next};
pub use history::{ExportSessions, Page};
pub use minutes::Metering;
pub use resumes::ResumeUpload;
pub use voice::Speech;

use self::actor::Actor;
use self::command::{Attach, Command};
use self::context::Context;
use self::registry::Registry;
use crate::EngineError;
use crate::core::{Candidate, CoreConfig, Session, SessionId, UserId, recording};
use crate::interviewer::{Interviewer, ScriptedInterviewer};
use crate::plan::{Plan, PlanCatalog};
use crate::scorer::{HeuristicScorer, Scorer};
use crate::store::{MemoryStore, Notice, Notices, SessionMeta, Store};
use crate::time::Timestamp;
use crate::webhook::Dispatch;

/// Longest candidate `role` or `level` (a job title, a seniority), in characters.
const MAX_PROFILE_FIELD_CHARS: usize = 100;

/// When a node at capacity tells its callers to try again.
const AT_CAPACITY_RETRY: Duration = Duration::from_secs(5);

/// The window of `max_sessions_per_user_per_hour`.
const HOUR: Duration = Duration::from_secs(3_600);

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Tunables of every session's core.
    pub core: CoreConfig,
    /// Events queued for one connection before it counts as a slow consumer.
    pub outbound_queue: usize,
    /// Client messages queued for one session.
    pub command_queue: usize,
    /// A session not started, with no client, is unloaded after this long.
    pub idle_unload_ms: u64,
    /// An ended session's task lingers this long for late connects before it stops.
    pub linger_after_end_ms: u64,
    /// How long a finished session is kept (`None`: until its user deletes it).
    pub retention: Option<Duration>,
    /// A snapshot is written after this many durable events.
    pub snapshot_every: u64,
    /// ... or when the last one is older than this, whichever comes first.
    pub snapshot_interval_ms: u64,
    /// A score that takes longer than this fails (and is retried).
    pub score_timeout_ms: u64,
    /// Largest résumé accepted at session creation, in bytes.
    pub max_resume_bytes: usize,
    /// Sessions one user may create in any hour (`None`: no limit). Counted in the store, so
    /// across every engine on it.
    pub max_sessions_per_user_per_hour: Option<u32>,
    /// A live session with no client attached for this long ends `abandoned` (`None`: it runs
    /// until its time is up).
    pub abandon_after_ms: Option<u64>,
    /// Sessions this engine runs at once, at most (`None`: no limit). Past it, creating a
    /// session and loading one that does not run here are refused (`AtCapacity`); running
    /// sessions are never evicted to make room.
    pub max_loaded_sessions: Option<usize>,
    /// Sessions one user may have live (started, not ended) at once, counted in the store
    /// across every engine on it (`None`: no limit). A further `session.start` is refused
    /// (`too_many_live_sessions`).
    pub max_live_per_user: Option<u32>,
    /// The term of a running session's lease in the store, renewed every third of it: a
    /// session whose engine died (or lost the store) for this long is taken over by another
    /// engine's sweep, which runs as often (`runtime/leases.rs`).
    pub lease_term_ms: u64,
    /// A finished session's log is compacted in the store once all of it is durable
    /// ([`Store::compact`](crate::store::Store::compact)); off, it stays as it was written.
    pub compact_finished: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            core: CoreConfig::default(),
            outbound_queue: 1024,
            command_queue: 64,
            idle_unload_ms: 120_000,
            linger_after_end_ms: 5_000,
            snapshot_every: 50,
            snapshot_interval_ms: 30_000,
            retention: None,
            score_timeout_ms: 60_000,
            max_resume_bytes: 32 * 1024,
            max_sessions_per_user_per_hour: Some(60),
            abandon_after_ms: Some(300_000),
            max_loaded_sessions: None,
            max_live_per_user: None,
            lease_term_ms: 15_000,
            compact_finished: true,
        }
    }
}

/// Builds an [`Engine`]; every provider defaults to its embedded implementation.
pub struct EngineBuilder {
    config: EngineConfig,
    plans: PlanCatalog,
    store: Arc<dyn Store>,
    interviewer: Arc<dyn Interviewer>,
    scorer: Arc<dyn Scorer>,
    speech: Speech,
    metering: Option<Metering>,
    webhooks: Option<Dispatch>,
}

impl EngineBuilder {
    /// Tunables.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// The plans offered.
    pub fn plans(mut self, plans: PlanCatalog) -> Self {
        self.plans = plans;
        self
    }

    /// Where sessions are stored.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = store;
        self
    }

    /// Who speaks the interviewer's turns.
    pub fn interviewer(mut self, interviewer: Arc<dyn Interviewer>) -> Self {
        self.interviewer = interviewer;
        self
    }

    /// Who scores answers.
    pub fn scorer(mut self, scorer: Arc<dyn Scorer>) -> Self {
        self.scorer = scorer;
        self
    }

    /// Webhooks of the sessions' events (none by default), delivered from the store's outbox
    /// by this engine (and by every other engine on the same store).
    pub fn webhooks(mut self, webhooks: Dispatch) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// The speech providers, for voice sessions (none by default: text only).
    pub fn speech(mut self, speech: Speech) -> Self {
        self.speech = speech;
        self
    }

    /// Meter the candidates' minutes (off by default: a session has its plan's time).
    pub fn metering(mut self, metering: Metering) -> Self {
        self.metering = Some(metering);
        self
    }

    /// The engine. Must be called inside a tokio runtime.
    pub fn build(self) -> Engine {
        let registry = Arc::new(Registry::new(self.config.command_queue, self.config.max_loaded_sessions));
        let clock = self.store.clock();
        let mut ctx = Context {
            config: self.config,
            plans: self.plans,
            store: self.store,
            interviewer: self.interviewer,
            scorer: self.scorer,
            speech: self.speech,
            metering: self.metering,
            webhooks: self.webhooks,
            clock,
            stop_notices: None,
        };
        if let Some(webhooks) = &ctx.webhooks {
            webhooks.start(Arc::clone(&ctx.store), ctx.clock);
        }
        // Other nodes' takeovers and deletions stop this node's copy at once (outside a
        // runtime there is nothing running to stop).
        if tokio::runtime::Handle::try_current().is_ok() {
            let (stop, stopped) = oneshot::channel();
            tokio::spawn(follow_notices(ctx.store.notices(), Arc::downgrade(&registry), stopped));
            ctx.stop_notices = Some(stop);
        }
        let engine = Engine { ctx: Arc::new(ctx), registry };
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(leases::keep_leases(Arc::downgrade(&engine.ctx), Arc::downgrade(&engine.registry)));
        }
        if engine.ctx.metering.is_some() {
            tokio::spawn(sweep_holds_periodically(Arc::downgrade(&engine.ctx), Arc::downgrade(&engine.registry)));
        }
        engine
    }
}

/// Hands each notice of another node to the task running its session here, if any, until
/// the engine is gone (`stopped`).
async fn follow_notices(mut notices: Notices, registry: std::sync::Weak<Registry>, mut stopped: oneshot::Receiver<()>) {
    use futures::StreamExt;
    loop {
        let notice = tokio::select! {
            notice = notices.next() => notice,
            _ = &mut stopped => return,
        };
        let (Some(notice), Some(registry)) = (notice, registry.upgrade()) else { return };
        let (session_id, command) = match notice {
            Notice::TakenOver { session_id, epoch, by_client } => (session_id, Command::TakenOver { epoch, by_client }),
            Notice::Deleted { session_id } => (session_id, Command::Delete { done: oneshot::channel().0 }),
            // For the node's driver (the gateway), not for sessions.
            Notice::Drain { .. } => continue,
        };
        if let Some(handle) = registry.get(&session_id) {
            // A full queue: the session's next write is fenced anyway.
            let _ = handle.commands.try_send(command);
        }
    }
}

/// Sweeps expired holds every `minutes::SWEEP_EVERY`, a step at a time, for as long as the
/// engine exists (on one node after a restart too: a hold its dead predecessor left is found).
async fn sweep_holds_periodically(ctx: std::sync::Weak<Context>, registry: std::sync::Weak<Registry>) {
    let mut cursor = 0;
    loop {
        tokio::time::sleep(minutes::SWEEP_EVERY).await;
        let (Some(ctx), Some(registry)) = (ctx.upgrade(), registry.upgrade()) else { return };
        let engine = Engine { ctx, registry };
        loop {
            match engine.sweep_holds(cursor).await {
                Ok(next) => cursor = next,
                Err(error) => {
                    tracing::warn!(%error, "sweep of expired holds failed; next time");
                    break;
                }
            }
            if cursor == 0 {
                break;
            }
        }
    }
}

/// The session engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    /// Configuration and providers, shared with every session's task.
    ctx: Arc<Context>,
    /// The sessions whose task runs in this process.
    registry: Arc<Registry>,
}

/// Proof that a user may use a session: made only by [`Engine::authorize`], which checks
/// ownership once; [`Engine::attach`] takes it without checking again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAccess {
    user_id: UserId,
    session_id: SessionId,
}

impl SessionAccess {
    /// The session.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Its owner, who asked.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }
}

impl Engine {
    /// A builder with the embedded defaults: shipped plans, in-memory store, scripted
    /// interviewer at 25 ms a word, heuristic scorer.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            config: EngineConfig::default(),
            plans: PlanCatalog::shipped(),
            store: Arc::new(MemoryStore::new()),
            interviewer: Arc::new(ScriptedInterviewer::new(Duration::from_millis(25))),
            scorer: Arc::new(HeuristicScorer),
            speech: Speech::new(),
            metering: None,
            webhooks: None,
        }
    }

    /// The plans offered.
    pub fn plans(&self) -> &PlanCatalog {
        &self.ctx.plans
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.ctx.store
    }

    /// The time by the engine's clock, which is its store's ([`Store::clock`]): what tickets,
    /// the registry of nodes and everything else that several nodes compare must use.
    pub fn now(&self) -> Timestamp {
        self.ctx.clock.now()
    }

    /// Number of sessions with a running task.
    pub fn live_sessions(&self) -> usize {
        self.registry.len()
    }

    /// Creates a session for `user_id` on plan `plan_id`. A candidate without `resume_text`
    /// gets the user's kept résumé ([`Engine::put_resume`]), if any; `Some("")` is no résumé.
    pub async fn create_session(
        &self,
        user_id: &UserId,
        plan_id: &str,
        mut candidate: Candidate,
    ) -> Result<SessionMeta, EngineError> {
        let plan = self.ctx.plans.get(plan_id).ok_or_else(|| EngineError::UnknownPlan(plan_id.to_owned()))?;
        if self.registry.full() {
            // A session made here would be run here: send its user elsewhere now.
            return Err(EngineError::AtCapacity { retry_after: AT_CAPACITY_RETRY });
        }
        for (field, value) in [("role", &candidate.role), ("level", &candidate.level)] {
            let chars = value.as_deref().map_or(0, |v| v.chars().count());
            if chars > MAX_PROFILE_FIELD_CHARS {
                let limit = MAX_PROFILE_FIELD_CHARS;
                return Err(EngineError::BadRequest(format!("{field} of {chars} characters is over {limit}")));
            }
        }
        if candidate.resume_text.is_none() {
            candidate.resume_text = self.default_resume_text(user_id).await?;
        }
        let resume = candidate.resume_text.as_deref().map_or(0, str::len);
        if resume > self.ctx.config.max_resume_bytes {
            let limit = self.ctx.config.max_resume_bytes;
            return Err(EngineError::BadRequest(format!("resume_text of {resume} bytes is over {limit} bytes")));
        }
        let meta = SessionMeta {
            session_id: SessionId::new(format!("ses_{}", uuid::Uuid::new_v4().simple())),
            user_id: user_id.clone(),
            plan_id: plan.id.clone(),
            candidate,
            created_at: self.ctx.clock.now(),
            time_limit_ms: plan.duration_s * 1000,
        };
        if let Some(limit) = self.ctx.config.max_sessions_per_user_per_hour {
            let store = &self.ctx.store;
            if let Some(wait) = store.admit_creation(user_id, &meta.session_id, meta.created_at, HOUR, limit).await? {
                return Err(EngineError::RateLimited {
                    message: format!("at most {limit} new sessions an hour; try again later"),
                    retry_after: wait,
                });
            }
        }
        // Under retention a session that is never started is kept as long as a finished one.
        self.ctx.store.create(&meta, self.ctx.config.retention).await?;
        Ok(meta)
    }

    /// Whether `user_id` may use the session: the one ownership check. `NotFound` when it
    /// does not exist or is not theirs (never a hint that it exists).
    pub async fn authorize(&self, user_id: &UserId, session_id: &SessionId) -> Result<SessionAccess, EngineError> {
        let meta = self.owned_meta(user_id, session_id).await?;
        Ok(SessionAccess { user_id: meta.user_id, session_id: meta.session_id })
    }

    /// Attaches a client to a session it may use, loading the session if needed. With
    /// `last_seq`, the connection replays every durable event after it.
    pub async fn attach(&self, access: &SessionAccess, last_seq: Option<u64>) -> Result<Connection, EngineError> {
        let session_id = access.session_id();
        // A task that is stopping refuses the command; the next try starts a fresh one.
        for _ in 0..3 {
            let handle = self
                .registry
                .get_or_spawn(session_id, |spawn| {
                    tokio::spawn(Actor::new(Arc::clone(&self.ctx), spawn).run());
                })
                .ok_or(EngineError::AtCapacity { retry_after: AT_CAPACITY_RETRY })?;
            let (reply, answer) = oneshot::channel();
            if handle.commands.send(Command::Attach(Box::new(Attach { last_seq, reply }))).await.is_err() {
                self.registry.forget(session_id, &handle);
                continue;
            }
            if let Ok(result) = answer.await {
                return result;
            }
        }
        Err(EngineError::Unavailable("the session could not be loaded".into()))
    }

    /// [`authorize`](Self::authorize), then [`attach`](Self::attach).
    pub async fn connect(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        last_seq: Option<u64>,
    ) -> Result<Connection, EngineError> {
        let access = self.authorize(user_id, session_id).await?;
        self.attach(&access, last_seq).await
    }

    /// The session as its owner sees it: transcript with every answer, scores, status.
    pub async fn view(&self, user_id: &UserId, session_id: &SessionId) -> Result<SessionView, EngineError> {
        let (session, meta) = self.restore(user_id, session_id).await?;
        Ok(self.view_of(&session, &meta))
    }

    /// The report, once `report.ready` was sent.
    pub async fn report(&self, user_id: &UserId, session_id: &SessionId) -> Result<Report, EngineError> {
        let (session, _) = self.restore(user_id, session_id).await?;
        session.state().report.as_ref().map(|r| r.to_rest()).ok_or(EngineError::NotReady)
    }

    /// The session's durable event log, as its clients received it.
    pub async fn events(&self, user_id: &UserId, session_id: &SessionId) -> Result<Vec<ServerMessage>, EngineError> {
        self.owned_meta(user_id, session_id).await?;
        let log = self.ctx.store.read_log(session_id, 0).await?.unwrap_or_default();
        Ok(log.iter().map(|entry| entry.to_message(session_id)).collect())
    }

    /// What the candidate's client sent, rebuilt from the session's durable log, with each
    /// message's time in milliseconds after the session started (see
    /// [`recording::client_messages`] for what a log can tell).
    pub async fn recording(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<Vec<(u64, ClientMessage)>, EngineError> {
        let meta = self.owned_meta(user_id, session_id).await?;
        let log = self.ctx.store.read_log(session_id, 0).await?.unwrap_or_default();
        Ok(recording::client_messages(&log, meta.time_limit_ms))
    }

    /// Asks every live session to persist, tell its client to reconnect, and stop; waits at
    /// most `grace` for them. Its sweeps of expired leases and holds take over nothing after
    /// this: the other nodes take those.
    pub async fn shutdown(&self, grace: Duration) {
        self.registry.close();
        let stops = self.registry.handles().into_iter().map(|handle| async move {
            let (done, finished) = oneshot::channel();
            if handle.commands.send(Command::Shutdown { done }).await.is_ok() {
                let _ = finished.await;
            }
        });
        if tokio::time::timeout(grace, futures::future::join_all(stops)).await.is_err() {
            tracing::warn!("some sessions did not stop within the grace period");
        }
    }

    async fn owned_meta(&self, user_id: &UserId, session_id: &SessionId) -> Result<SessionMeta, EngineError> {
        let meta = self.ctx.store.meta(session_id).await?;
        meta.filter(|m| m.user_id == *user_id).ok_or(EngineError::NotFound)
    }

    /// The session rebuilt from the store (every durable event is there before it is sent,
    /// so this is what its clients have seen), with its metadata.
    pub(crate) async fn restore(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<(Session, SessionMeta), EngineError> {
        let loaded = self.ctx.store.load(session_id).await?.ok_or(EngineError::NotFound)?;
        if loaded.meta.user_id != *user_id {
            return Err(EngineError::NotFound);
        }
        let params = self.ctx.session_params(&loaded.meta)?;
        Ok((Session::restore(params, loaded.snapshot.unwrap_or_default(), loaded.tail), loaded.meta))
    }

    pub(crate) fn view_of(&self, session: &Session, meta: &SessionMeta) -> SessionView {
        let state = session.wire_state(self.ctx.clock.now());
        let voice = state.voice.map(|voice| {
            let answers_audio_ms = state
                .transcript
                .iter()
                .filter_map(|e| match e {
                    TranscriptEntry::Answer { spoken: Some(spoken), .. } => Some(spoken.audio_ms),
                    _ => None,
                })
                .sum();
            VoiceUsage { input: voice.input, output: voice.output, answers_audio_ms }
        });
        SessionView {
            session_id: meta.session_id.to_string(),
            plan_id: meta.plan_id.clone(),
            status: state.status,
            created_at: meta.created_at.0,
            last_seq: session.head(),
            transcript: state.transcript,
            scores: state.scores,
            ended_reason: state.ended_reason,
            report_ready: state.report_ready,
            voice,
        }
    }
}

/// A plan as `GET /v1/plans` lists it.
pub fn plan_summary(plan: &Plan) -> PlanSummary {
    PlanSummary {
        id: plan.id.clone(),
        version: plan.version,
        title: plan.title.clone(),
        role: plan.role.clone(),
        level: plan.level.clone(),
        duration_s: plan.duration_s,
        questions: plan.questions.len(),
        dimensions: plan.dimensions.iter().map(|d| d.name.clone()).collect(),
    }
}
