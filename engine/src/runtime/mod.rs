//! The engine: a registry of live sessions, each driven by its own task (see `actor`), and
//! the library API that drivers (the gateway, embedders) call.

mod actor;
mod connection;
mod outbox;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot};
use viva_protocol::ServerMessage;
use viva_protocol::rest::{
    Candidate, Export, ExportedSession, MySessions, PlanSummary, Report, SessionSummary, SessionView,
};

pub use connection::{Connection, Next};

use self::actor::{Actor, Command};
use crate::EngineError;
use crate::core::{CoreConfig, Session, SessionParams};
use crate::interviewer::{Interviewer, ScriptedInterviewer};
use crate::plan::{Plan, PlanCatalog};
use crate::scorer::{HeuristicScorer, Scorer};
use crate::store::{MemoryStore, SessionMeta, Store};
use crate::time::Clock;

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

    /// The engine. Must be called inside a tokio runtime.
    pub fn build(self) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                config: self.config,
                plans: self.plans,
                store: self.store,
                interviewer: self.interviewer,
                scorer: self.scorer,
                clock: Clock::new(),
                sessions: DashMap::new(),
                generations: AtomicU64::new(0),
            }),
        }
    }
}

/// The session engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: EngineConfig,
    plans: PlanCatalog,
    store: Arc<dyn Store>,
    interviewer: Arc<dyn Interviewer>,
    scorer: Arc<dyn Scorer>,
    clock: Clock,
    /// Live sessions: each handle reaches one session's task.
    sessions: DashMap<String, SessionHandle>,
    /// Source of task generations.
    generations: AtomicU64,
}

#[derive(Clone)]
struct SessionHandle {
    commands: mpsc::Sender<Command>,
    /// Tells this task's entry from a successor's.
    generation: u64,
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
        }
    }

    /// The plans offered.
    pub fn plans(&self) -> &PlanCatalog {
        &self.inner.plans
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Number of sessions with a running task.
    pub fn live_sessions(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Creates a session for `user_id` on plan `plan_id`.
    pub async fn create_session(
        &self,
        user_id: &str,
        plan_id: &str,
        candidate: Candidate,
    ) -> Result<SessionMeta, EngineError> {
        let plan = self.inner.plans.get(plan_id).ok_or_else(|| EngineError::UnknownPlan(plan_id.to_owned()))?;
        let resume = candidate.resume_text.as_deref().map_or(0, str::len);
        if resume > self.inner.config.max_resume_bytes {
            let limit = self.inner.config.max_resume_bytes;
            return Err(EngineError::BadRequest(format!("resume_text of {resume} bytes is over {limit} bytes")));
        }
        let meta = SessionMeta {
            session_id: format!("ses_{}", uuid::Uuid::new_v4().simple()),
            user_id: user_id.to_owned(),
            plan_id: plan.id.clone(),
            candidate,
            created_at: self.inner.clock.now(),
            time_limit_ms: plan.duration_s * 1000,
        };
        self.inner.store.create(&meta).await?;
        Ok(meta)
    }

    /// Attaches a client of `user_id` to a session, loading it if needed. With `last_seq`, the
    /// connection replays every durable event after it. Another user's session is `NotFound`.
    pub async fn connect(
        &self,
        user_id: &str,
        session_id: &str,
        last_seq: Option<u64>,
    ) -> Result<Connection, EngineError> {
        self.owned_meta(user_id, session_id).await?;
        // A task that is stopping refuses the command; the next try spawns a fresh one.
        for _ in 0..3 {
            let handle = self.handle(session_id);
            let (reply, answer) = oneshot::channel();
            let command = Command::Attach(Box::new(actor::Attach { user_id: user_id.to_owned(), last_seq, reply }));
            if handle.commands.send(command).await.is_err() {
                self.inner.sessions.remove_if(session_id, |_, h| h.generation == handle.generation);
                continue;
            }
            if let Ok(result) = answer.await {
                return result;
            }
        }
        Err(EngineError::Unavailable("the session could not be loaded".into()))
    }

    /// The session as its owner sees it: transcript with every answer, scores, status.
    pub async fn view(&self, user_id: &str, session_id: &str) -> Result<SessionView, EngineError> {
        let (session, meta) = self.restore(user_id, session_id).await?;
        Ok(self.view_of(&session, &meta))
    }

    /// The report, once `report.ready` was sent.
    pub async fn report(&self, user_id: &str, session_id: &str) -> Result<Report, EngineError> {
        let (session, _) = self.restore(user_id, session_id).await?;
        session.state().report.clone().ok_or(EngineError::NotReady)
    }

    /// The session's durable event log, as its clients received it.
    pub async fn events(&self, user_id: &str, session_id: &str) -> Result<Vec<ServerMessage>, EngineError> {
        self.owned_meta(user_id, session_id).await?;
        let log = self.inner.store.read_log(session_id, 0).await?.unwrap_or_default();
        Ok(log.iter().map(|entry| entry.to_message(session_id)).collect())
    }

    /// What the candidate's client sent, rebuilt from the session's durable log, with each
    /// message's time in milliseconds after the session started (the first `turn.started`).
    ///
    /// Only messages that changed the session leave a record, so only they are here:
    /// `session.start` at 0; an `answer.submit` / `code.submit` (with its client id) per
    /// accepted answer; a `turn.interrupt` per turn that ended `interrupted` by a barge-in; and
    /// `session.end` when the candidate ended the interview. The end closes the turn in flight
    /// as `interrupted` too: that turn is the log's last one, and the end's own time is when it
    /// closed. Pings, acks, refused messages and the ids of control messages are not stored.
    pub async fn recording(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<Vec<(u64, viva_protocol::ClientMessage)>, EngineError> {
        use viva_protocol::{AnswerContent, ClientMessage, EndReason, TurnStatus};

        use crate::core::Record;

        let meta = self.owned_meta(user_id, session_id).await?;
        let log = self.inner.store.read_log(session_id, 0).await?.unwrap_or_default();
        // `session.start` opens the intro at once; a session ended before it has no turn at all.
        let started = log.iter().find(|e| matches!(e.record, Record::TurnStarted { .. })).map(|e| e.at);
        let Some(zero) = started.or_else(|| log.first().map(|e| e.at)) else {
            return Ok(Vec::new());
        };
        let ended = log.iter().find_map(|e| match e.record {
            Record::SessionEnded { reason } => Some(reason),
            _ => None,
        });
        // The turn the end interrupted, if it did: no turn starts after the end begins, so it
        // is the last one to finish. A time limit ends turns at the limit or after; the
        // interview's own end (`completed`, `interviewer_failed`) never interrupts a turn, but
        // a candidate who barges in on the closing turn does.
        let last_done = log.iter().rposition(|e| matches!(e.record, Record::TurnDone { .. }));
        let interrupted =
            |i: &usize| matches!(log[*i].record, Record::TurnDone { status: TurnStatus::Interrupted, .. });
        let closed_by_end = match ended {
            Some(EndReason::EndedByCandidate) => last_done.filter(interrupted),
            Some(EndReason::TimeUp) => last_done
                .filter(interrupted)
                .filter(|i| started.is_some_and(|s| log[*i].at >= s.plus_ms(meta.time_limit_ms))),
            // Out of minutes: a closing turn follows the cut, so the interrupted turn is not last.
            Some(EndReason::Completed | EndReason::InterviewerFailed | EndReason::OutOfMinutes) | None => None,
        };
        let mut messages = Vec::new();
        if started.is_some() {
            messages.push((0, ClientMessage::SessionStart { id: None }));
        }
        for (i, entry) in log.iter().enumerate() {
            let t_ms = entry.at.ms_since(zero);
            match &entry.record {
                Record::AnswerReceived { client_id, answer, .. } => {
                    let id = client_id.clone();
                    messages.push((
                        t_ms,
                        match answer.clone() {
                            AnswerContent::Text { text } => ClientMessage::AnswerSubmit { id, text },
                            AnswerContent::Code { language, source } => {
                                ClientMessage::CodeSubmit { id, language, source }
                            }
                        },
                    ));
                }
                Record::TurnDone { status: TurnStatus::Interrupted, .. } if Some(i) != closed_by_end => {
                    messages.push((t_ms, ClientMessage::TurnInterrupt { id: None }));
                }
                Record::SessionEnded { reason: EndReason::EndedByCandidate } => {
                    // The end began when it closed the turn in flight, if there was one; the
                    // report may have waited for scores since.
                    let at = closed_by_end.map_or(entry.at, |i| log[i].at);
                    messages.push((at.ms_since(zero), ClientMessage::SessionEnd { id: None }));
                }
                _ => {}
            }
        }
        Ok(messages)
    }

    /// Everything stored about a user, machine-readable: every session with its candidate
    /// profile, transcript (answers and code), scores and report.
    pub async fn export(&self, user_id: &str) -> Result<Export, EngineError> {
        let metas = self.inner.store.user_sessions(user_id).await?;
        let mut sessions = Vec::with_capacity(metas.len());
        for meta in metas {
            let (session, meta) = match self.restore(user_id, &meta.session_id).await {
                Ok(found) => found,
                // Gone in between (retention): nothing to export.
                Err(EngineError::NotFound) => continue,
                Err(error) => return Err(error),
            };
            sessions.push(ExportedSession {
                session: self.view_of(&session, &meta),
                candidate: meta.candidate,
                report: session.state().report.clone(),
            });
        }
        Ok(Export { user_id: user_id.to_owned(), exported_at: self.inner.clock.now().0, sessions })
    }

    /// Deletes everything stored about a user. Their live sessions stop first (their clients
    /// are closed with 4010), so nothing is written after the deletion. Returns how many
    /// sessions were deleted.
    pub async fn delete_user(&self, user_id: &str) -> Result<usize, EngineError> {
        let metas = self.inner.store.user_sessions(user_id).await?;
        for meta in &metas {
            let Some(handle) = self.inner.sessions.get(&meta.session_id).map(|h| h.value().clone()) else {
                continue;
            };
            let (done, finished) = oneshot::channel();
            if handle.commands.send(Command::Delete { done }).await.is_ok() {
                let _ = finished.await;
            }
        }
        Ok(self.inner.store.delete_user(user_id).await?.len())
    }

    /// Every session of a user, newest first.
    pub async fn sessions_of(&self, user_id: &str) -> Result<MySessions, EngineError> {
        let metas = self.inner.store.user_sessions(user_id).await?;
        let mut sessions = Vec::with_capacity(metas.len());
        for meta in metas {
            let (session, meta) = self.restore(user_id, &meta.session_id).await?;
            let state = session.wire_state(self.inner.clock.now());
            let answers = session.state().answers as usize;
            sessions.push(SessionSummary {
                session_id: meta.session_id,
                plan_id: meta.plan_id,
                status: state.status,
                created_at: meta.created_at.0,
                overall: state.scores.overall,
                answers,
            });
        }
        Ok(MySessions { sessions })
    }

    /// Asks every live session to persist, tell its client to reconnect, and stop; waits at
    /// most `grace` for them.
    pub async fn shutdown(&self, grace: Duration) {
        let handles: Vec<SessionHandle> = self.inner.sessions.iter().map(|e| e.value().clone()).collect();
        let stops = handles.into_iter().map(|handle| async move {
            let (done, finished) = oneshot::channel();
            if handle.commands.send(Command::Shutdown { done }).await.is_ok() {
                let _ = finished.await;
            }
        });
        if tokio::time::timeout(grace, futures::future::join_all(stops)).await.is_err() {
            tracing::warn!("some sessions did not stop within the grace period");
        }
    }

    /// Whether `user_id` may use the session: `NotFound` when it does not exist or is not theirs.
    pub async fn authorize(&self, user_id: &str, session_id: &str) -> Result<(), EngineError> {
        self.owned_meta(user_id, session_id).await.map(drop)
    }

    async fn owned_meta(&self, user_id: &str, session_id: &str) -> Result<SessionMeta, EngineError> {
        let meta = self.inner.store.meta(session_id).await?;
        meta.filter(|m| m.user_id == user_id).ok_or(EngineError::NotFound)
    }

    /// The session rebuilt from the store (every durable event is there before it is sent,
    /// so this is what its clients have seen), with its metadata.
    async fn restore(&self, user_id: &str, session_id: &str) -> Result<(Session, SessionMeta), EngineError> {
        let loaded = self.inner.store.load(session_id).await?.ok_or(EngineError::NotFound)?;
        if loaded.meta.user_id != user_id {
            return Err(EngineError::NotFound);
        }
        let params = self.params(&loaded.meta)?;
        Ok((Session::restore(params, loaded.snapshot.unwrap_or_default(), loaded.tail), loaded.meta))
    }

    /// What a session's core needs, from its metadata.
    fn params(&self, meta: &SessionMeta) -> Result<SessionParams, EngineError> {
        Ok(SessionParams {
            session_id: meta.session_id.clone(),
            plan: self.plan_of(meta)?,
            candidate: meta.candidate.clone(),
            time_limit_ms: meta.time_limit_ms,
            scorer: self.inner.scorer.name().to_owned(),
            config: self.inner.config.core.clone(),
        })
    }

    fn view_of(&self, session: &Session, meta: &SessionMeta) -> SessionView {
        let state = session.wire_state(self.inner.clock.now());
        SessionView {
            session_id: meta.session_id.clone(),
            plan_id: meta.plan_id.clone(),
            status: state.status,
            created_at: meta.created_at.0,
            last_seq: session.head(),
            transcript: state.transcript,
            scores: state.scores,
            ended_reason: state.ended_reason,
            report_ready: state.report_ready,
        }
    }

    fn plan_of(&self, meta: &SessionMeta) -> Result<Arc<Plan>, EngineError> {
        self.inner.plans.get(&meta.plan_id).cloned().ok_or_else(|| EngineError::UnknownPlan(meta.plan_id.clone()))
    }

    /// The handle of a session's task, spawning the task if there is none.
    fn handle(&self, session_id: &str) -> SessionHandle {
        self.inner
            .sessions
            .entry(session_id.to_owned())
            .or_insert_with(|| {
                let generation = self.inner.generations.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = mpsc::channel(self.inner.config.command_queue);
                let actor = Actor::new(Arc::clone(&self.inner), session_id.to_owned(), generation, rx, tx.clone());
                tokio::spawn(actor.run());
                SessionHandle { commands: tx, generation }
            })
            .clone()
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
