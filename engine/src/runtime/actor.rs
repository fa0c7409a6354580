//! The driver of one session: a tokio task that owns its [`Session`] and moves inputs in
//! (client commands, interviewer chunks, scores, timeouts) and outputs out (store appends,
//! deliveries to the attached connection, interviewer and scorer requests).
//!
//! Nothing else touches the session, so no lock guards it; every queue is bounded.

use std::sync::Arc;
use std::time::Duration;

use super::queue;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;
use viva_protocol::server::{ErrorEvent, Pong, SessionReady};
use viva_protocol::{ClientMessage, CloseCode, ErrorCode, ServerMessage};

use super::answer_audio::AudioKeeper;
use super::command::Command;
use super::connection::Connection;
use super::context::Context;
use super::live::LiveCount;
use super::minutes::{Resumed, SessionMinutes};
use super::outbox::{Outbox, PushError, outbox};
use super::registry::{Registration, Spawn};
use super::voice::{VoiceEvent, VoicePath};
use crate::EngineError;
use crate::core::{
    AnswerId, InterviewerEvent, LogEntry, Output, Record, ScoreError, Scoring, Session, SessionId, Status, TurnId,
};
use crate::progress::SessionProgress;
use crate::store::{Epoch, Notice, SessionMeta, Store, StoreError};
use crate::webhook;

/// The attached connection's end of the queues.
struct Subscriber {
    id: u64,
    outbox: Outbox,
}

type ScoreFuture = BoxFuture<'static, (AnswerId, Result<Scoring, ScoreError>)>;

/// The interviewer's turn in flight; dropping the stream cancels the turn.
struct TurnInFlight {
    turn_id: TurnId,
    stream: BoxStream<'static, InterviewerEvent>,
}

/// When to try the store again, and the current backoff.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    at: Instant,
    delay: Duration,
    /// When the store went away (the session froze).
    since: Instant,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);
}

/// One session's task.
pub(crate) struct Actor {
    ctx: Arc<Context>,
    /// This task's entry in the registry, removed when the task ends.
    registration: Registration,
    /// What the session is (known once loaded).
    meta: Option<SessionMeta>,
    commands: queue::Receiver<Command>,
    /// Kept to hand to connections.
    commands_tx: queue::Sender<Command>,
    subscriber: Option<Subscriber>,
    next_connection: u64,
    turn: Option<TurnInFlight>,
    scores: FuturesUnordered<ScoreFuture>,
    /// Events persisted since the last snapshot.
    since_snapshot: u64,
    /// When the last snapshot was written (or the session loaded).
    snapshot_at: Instant,
    /// Durable events the store has not taken yet because it was unavailable. While there are
    /// any, the session takes no input (it is "frozen"), so this holds at most one batch.
    unstored: Vec<LogEntry>,
    /// Deliveries waiting for `unstored` to be stored, in order.
    undelivered: Vec<ServerMessage>,
    /// Set while `unstored` waits for the store: no append is tried before its time.
    retry: Option<Backoff>,
    /// The audio path of a voice session (none for text sessions: they pay nothing for it).
    voice: Option<Box<VoicePath>>,
    /// The session's minutes, when the engine meters them.
    minutes: Option<Box<SessionMinutes>>,
    /// Its place among its user's live sessions, when they are limited.
    live: Option<Box<LiveCount>>,
    /// Since when no client is attached (meaningful while none is).
    detached_since: Instant,
    /// Started by a sweep (of expired holds or leases), not for a client.
    woken: bool,
    /// Whether this task holds the session's lease in the store (`runtime/leases.rs`); `None`
    /// until first decided: a woken task may find the stale lease of a session that needs
    /// none, and releases it.
    lease: Option<bool>,
}

/// The deadlines a session's task waits for besides its inputs.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// The core's next timeout (time limit, a turn's or a score's deadline).
    Session,
    /// The next slice of metered minutes to settle.
    Settle,
    /// The user's live count to renew.
    Renew,
    /// No client came back in time: the interview is abandoned.
    Abandon,
    /// The store to try again.
    Retry,
    /// Idle with nobody attached: the task stops.
    Unload,
}

/// How long a session handed over at shutdown waits for its client to take it on elsewhere
/// before a sweep may take it over.
const HANDOVER_GRACE: Duration = Duration::from_secs(3);

/// Most ready inputs [`Actor::settle`] takes in one pass.
const SETTLE_STEPS: usize = 64;

/// Why the task stops.
enum Stop {
    /// Nothing left to do (ended, or idle with no client).
    Done,
    /// The session could not be kept running.
    Failed(CloseCode),
}

impl Actor {
    pub(crate) fn new(ctx: Arc<Context>, spawn: Spawn) -> Self {
        let Spawn { registration, commands, commands_tx } = spawn;
        Self {
            ctx,
            registration,
            meta: None,
            commands,
            commands_tx,
            subscriber: None,
            next_connection: 0,
            turn: None,
            scores: FuturesUnordered::new(),
            since_snapshot: 0,
            snapshot_at: Instant::now(),
            unstored: Vec::new(),
            undelivered: Vec::new(),
            retry: None,
            voice: None,
            minutes: None,
            live: None,
            detached_since: Instant::now(),
            woken: false,
            lease: Some(false),
        }
    }

    /// A task a sweep starts, for a session nobody runs (see `SessionMinutes::resume` and
    /// `runtime/leases.rs`).
    pub(crate) fn woken(mut self) -> Self {
        self.woken = true;
        self.lease = None;
        self
    }

    fn session_id(&self) -> &SessionId {
        self.registration.session_id()
    }

    /// Loads the session, then drives it until it ends, idles out, or the engine stops.
    /// The task's registration goes with it. Not an `async fn`: its argument would take its room
    /// twice in the future (once as the argument, once as the body's local), which is what every
    /// session costs; the block uses the captured actor in place.
    #[expect(clippy::manual_async_fn, reason = "an async fn keeps its arguments twice")]
    pub(crate) fn run(mut self) -> impl Future<Output = ()> + Send {
        async move {
            match self.drive().await {
                Ok(Stop::Done) => {}
                Ok(Stop::Failed(code)) => self.close(code, true),
                Err(error) => {
                    tracing::error!(session = %self.session_id(), %error, "cannot load session");
                    // Fail whoever is waiting to attach; later attaches start a fresh task.
                    self.commands.close();
                    while let Some(command) = self.commands.try_recv() {
                        if let Command::Attach(attach) = command {
                            let _ = attach.reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        }
    }

    async fn load(&mut self) -> Result<(Session, Epoch), EngineError> {
        let store = &self.ctx.store;
        let session_id = self.registration.session_id();
        let loaded = store.load(session_id).await?.ok_or(EngineError::NotFound)?;
        let epoch = store.acquire(session_id).await?;
        // Any other node running it stops at once (else at its next write, which is fenced).
        let notice = Notice::TakenOver { session_id: session_id.clone(), epoch, by_client: !self.woken };
        if let Err(error) = store.announce(&notice).await {
            tracing::warn!(session = %session_id, %error, "cannot announce the takeover; an older owner stops at its next write");
        }
        let params = self.ctx.session_params(&loaded.meta)?;
        self.meta = Some(loaded.meta);
        let mut session = Session::restore(params, loaded.snapshot.unwrap_or_default(), loaded.tail);
        session.recover(self.ctx.clock.now());
        Ok((session, epoch))
    }

    /// Loads the session and drives it. The session lives in this future and is only lent
    /// from here: a value moved into a callee's future still takes its room in the caller's
    /// state, and this state is what every idle session costs (docs/performance.md).
    async fn drive(&mut self) -> Result<Stop, EngineError> {
        // Boxed: once per session, and its room would be every idle session's.
        let (mut session, epoch) = Box::pin(self.load()).await?;
        if let Some(metering) = self.ctx.metering.clone() {
            let params = session.params();
            // Boxed from the start: a value held across an await keeps its room in this future
            // for the session's whole life.
            let mut minutes =
                Box::new(SessionMinutes::new(metering, params.user_id.clone(), params.session_id.clone()));
            let now = self.ctx.clock.now();
            match minutes.resume(&mut session, now, self.woken, self.ctx.config.abandon_after_ms).await {
                Ok(Resumed::Running) => {}
                Ok(Resumed::AloneSince(since)) => {
                    // Its abandonment counts from when its dead owner last ran it.
                    let alone = Duration::from_millis(now.ms_since(since));
                    self.detached_since = Instant::now().checked_sub(alone).unwrap_or_else(Instant::now);
                }
                Ok(Resumed::AbandonNow) => {
                    tracing::info!(session = %self.session_id(), "its owner died and nobody came back: abandoned");
                    session.handle_abandoned(now);
                }
                Err(error) => {
                    tracing::warn!(session = %self.session_id(), %error, "cannot read the session's minutes; retrying");
                    minutes.retry_at(now);
                }
            }
            self.minutes = Some(minutes);
        }
        if let Some(limit) = self.ctx.config.max_live_per_user {
            let params = session.params();
            let mut live = Box::new(LiveCount::new(limit, params.user_id.clone(), params.session_id.clone()));
            let now = self.ctx.clock.now();
            match session.state().status {
                // Loaded live (a takeover, a restart): it keeps its place.
                Status::Live | Status::Ending { .. } => {
                    if let Err(error) = live.renew(self.ctx.store.as_ref(), now).await {
                        tracing::warn!(session = %self.session_id(), %error, "cannot renew the live count");
                    }
                }
                // Ended while its owner died: no longer counted.
                Status::Ended(_) => {
                    let _ = live.end(self.ctx.store.as_ref()).await;
                }
                Status::Created => {}
            }
            self.live = Some(live);
        }
        Ok(self.drive_loaded(&mut session, epoch).await)
    }

    async fn drive_loaded(&mut self, session: &mut Session, epoch: Epoch) -> Stop {
        let config = &self.ctx.config;
        let (unload_after, linger_after) = (config.idle_unload_ms, config.linger_after_end_ms);
        let abandon_after = config.abandon_after_ms;
        let mut idle_since = Instant::now();
        loop {
            self.settle(session);
            if self.needs_lease(session, false) {
                // Leased before anyone hears the interview runs: were this node to die right
                // after, a sweep elsewhere must find it. Released only after the flush: an end
                // not yet stored still needs it.
                self.keep_lease(true).await;
            }
            if let Err(stop) = self.flush(session, epoch).await {
                return stop;
            }
            if self.turn.is_none() {
                // Between turns the session is quiet: waiting for the candidate, mostly.
                session.shrink_to_fit();
                if self.unstored.is_empty() {
                    self.unstored.shrink_to_fit();
                }
            }
            // A running interview keeps its task: its clock must run out even with nobody
            // connected. Otherwise the task stops once idle; an ended session lingers briefly
            // so that a connect racing with its end is served here, not by a new task.
            let frozen = !self.unstored.is_empty();
            self.keep_lease(self.needs_lease(session, frozen)).await;
            let transcribing = self.voice.as_ref().is_some_and(|v| v.busy());
            let busy =
                self.subscriber.is_some() || self.turn.is_some() || !self.scores.is_empty() || frozen || transcribing;
            let idle = match session.state().status {
                Status::Live | Status::Ending { .. } => None,
                Status::Created => Some(unload_after),
                Status::Ended(_) => Some(linger_after),
            };
            let unload_at = idle.filter(|_| !busy).map(|ms| idle_since + Duration::from_millis(ms));
            if busy {
                idle_since = Instant::now();
            }
            let clock = self.ctx.clock;
            let live = session.state().status == Status::Live;
            // One timer for the soonest of the session's deadlines (a sleep per deadline would
            // cost every session its room in this future and the timer wheel one entry each
            // per pass of this loop). Equal ones go in this order; the rest fire next pass.
            let timer = [
                (Timer::Session, session.poll_timeout().map(|at| clock.instant_at(at)).filter(|_| !frozen)),
                (
                    Timer::Settle,
                    self.minutes
                        .as_ref()
                        .and_then(|m| m.next_at())
                        .filter(|_| live && !frozen)
                        .map(|at| clock.instant_at(at)),
                ),
                (
                    Timer::Renew,
                    self.live.as_ref().and_then(|l| l.renew_at()).filter(|_| !frozen).map(|at| clock.instant_at(at)),
                ),
                (
                    Timer::Abandon,
                    abandon_after
                        .filter(|_| live && self.subscriber.is_none() && !frozen)
                        .map(|ms| self.detached_since + Duration::from_millis(ms)),
                ),
                (Timer::Retry, self.retry.map(|backoff| backoff.at)),
                (Timer::Unload, unload_at),
            ]
            .into_iter()
            .filter_map(|(timer, at)| Some((at?, timer)))
            .min_by_key(|&(at, _)| at);
            tokio::select! {
                // Clients first: an attach or an answer is never kept waiting behind a stream.
                biased;
                command = self.commands.recv() => {
                    let Some(command) = command else { return Stop::Done };
                    match command {
                        Command::Attach(attach) => {
                            let result = self.attach(session, epoch, attach.last_seq).await;
                            let _ = attach.reply.send(result);
                        }
                        Command::Client { connection, message } => {
                            if self.subscriber.as_ref().is_none_or(|s| s.id != connection) {
                                // A message from a connection that was replaced: its socket closes.
                            } else if frozen {
                                self.refuse_while_frozen(*message);
                            } else if matches!(*message, ClientMessage::SessionStart { .. })
                                && session.state().status == Status::Created
                                && (self.minutes.is_some() || self.live.is_some())
                            {
                                // Boxed: once per session, and its room would be every idle session's.
                                Box::pin(self.start_gated(session, *message)).await;
                            } else if let Some(voice) = self.voice.as_mut().filter(|_| message.is_voice()) {
                                for message in voice.handle(*message, session, clock.now()) {
                                    self.deliver(message);
                                }
                            } else {
                                session.handle_client(*message, clock.now());
                            }
                        }
                        Command::Detach { connection } => {
                            if self.subscriber.as_ref().is_some_and(|s| s.id == connection) {
                                self.subscriber = None;
                                self.detached_since = Instant::now();
                                if let Some(voice) = self.voice.as_mut() {
                                    voice.disconnected();
                                }
                            }
                        }
                        Command::Delete { done } => {
                            self.close(CloseCode::Deleted, true);
                            let _ = done.send(());
                            return Stop::Done;
                        }
                        Command::TakenOver { epoch: newer, by_client } if newer > epoch => {
                            // Its writes would be refused now: nothing more is written or sent.
                            tracing::info!(session = %self.session_id(), epoch, newer, by_client, "taken over by another node");
                            self.close(if by_client { CloseCode::Replaced } else { CloseCode::Moved }, true);
                            return Stop::Done;
                        }
                        // Its own load's notice, or an older one.
                        Command::TakenOver { .. } => {}
                        Command::Shutdown { done } => {
                            // The turn in flight ends here, durably, with what was said of it.
                            session.suspend(clock.now());
                            if self.flush(session, epoch).await.is_ok() {
                                let saved = self.ctx.store.save_snapshot(self.session_id(), epoch, session.state()).await;
                                if let Err(error) = saved {
                                    tracing::warn!(session = %self.session_id(), %error, "snapshot at shutdown failed");
                                }
                            }
                            self.close(CloseCode::GoingAway, false);
                            self.hand_lease_over().await;
                            let _ = done.send(());
                            return Stop::Done;
                        }
                    }
                }
                (turn_id, event) = next_turn_event(&mut self.turn), if !frozen => {
                    self.handle_turn_event(session, turn_id, event);
                }
                Some((answer_id, result)) = self.scores.next(), if !self.scores.is_empty() && !frozen => {
                    session.handle_score(answer_id, result, clock.now());
                }
                event = VoicePath::next(&mut self.voice, self.subscriber.is_some()), if !frozen => match event {
                    VoiceEvent::Transcribed(done) => {
                        if let Some(voice) = self.voice.as_mut() {
                            for message in voice.answer(done, session, clock.now()) {
                                self.deliver(message);
                            }
                        }
                    }
                    VoiceEvent::Send(message) => self.deliver(message),
                },
                () = sleep_until(timer.map(|(at, _)| at)) => match timer.map(|(_, timer)| timer) {
                    Some(Timer::Session) => session.handle_timeout(clock.now()),
                    Some(Timer::Settle) => {
                        if let Some(minutes) = self.minutes.as_mut() {
                            let now = clock.now();
                            if let Some(voice) = self.voice.as_mut() {
                                minutes.add_audio(voice.take_audio());
                            }
                            if let Err(error) = minutes.tick(session, now).await {
                                tracing::warn!(session = %self.registration.session_id(), %error, "cannot settle minutes; retrying");
                                minutes.retry_at(now);
                            }
                        }
                    }
                    Some(Timer::Renew) => {
                        if let Some(count) = self.live.as_mut() {
                            if let Err(error) = count.renew(self.ctx.store.as_ref(), clock.now()).await {
                                tracing::warn!(session = %self.registration.session_id(), %error, "cannot renew the live count");
                            }
                        }
                    }
                    Some(Timer::Abandon) => {
                        tracing::info!(session = %self.session_id(), "no client for too long: the session is abandoned");
                        session.handle_abandoned(clock.now());
                    }
                    // Try the store again (at the top of the loop).
                    Some(Timer::Retry) | None => {}
                    Some(Timer::Unload) => {
                        // Nobody is here and nothing is in flight: free the memory; the next
                        // connect restores the session from the store.
                        let saved = self.ctx.store.save_snapshot(self.session_id(), epoch, session.state()).await;
                        if saved.is_ok() {
                            return Stop::Done;
                        }
                        idle_since = Instant::now();
                    }
                },
            }
        }
    }

    /// Takes or gives up the session's lease when whether it needs one changed: it does while
    /// its clock runs (live or ending) and while events wait for the store.
    /// A running interview, or one whose events could not be stored yet (frozen), is leased so
    /// that another node's sweep takes it over should this one die. A metered session's hold of
    /// minutes is its lease instead: renewed every slice, and the sweep of expired holds takes
    /// it over (`runtime/minutes.rs`).
    fn needs_lease(&self, session: &Session, frozen: bool) -> bool {
        let running = matches!(session.state().status, Status::Live | Status::Ending { .. });
        self.minutes.is_none() && (running || frozen)
    }

    async fn keep_lease(&mut self, needed: bool) {
        if self.lease == Some(needed) {
            return;
        }
        self.lease = Some(needed);
        self.registration.set_leased(needed);
        let (store, session_id) = (&self.ctx.store, self.registration.session_id());
        let written = if needed {
            let term = Duration::from_millis(self.ctx.config.lease_term_ms);
            store.renew_leases(std::slice::from_ref(session_id), term, self.ctx.clock.now()).await
        } else {
            store.release_lease(session_id).await
        };
        if let Err(error) = written {
            // Taken with the next renewal; a lease not released is claimed by a sweep one day,
            // whose task finds nothing to run and releases it.
            tracing::warn!(session = %session_id, needed, %error, "cannot write the session's lease");
        }
    }

    /// This engine stops running the session (shutdown, drain): its lease is left to run out
    /// soon, so that a client coming back through another node takes it on, and a session
    /// nobody comes back to is taken over by a sweep a few seconds later.
    async fn hand_lease_over(&mut self) {
        if self.lease == Some(true) {
            self.registration.set_leased(false);
            let (store, session_id) = (&self.ctx.store, self.registration.session_id());
            let renewed =
                store.renew_leases(std::slice::from_ref(session_id), HANDOVER_GRACE, self.ctx.clock.now()).await;
            if let Err(error) = renewed {
                tracing::warn!(session = %session_id, %error, "cannot shorten the session's lease; it runs out in its term");
            }
        }
    }

    /// Feeds the session what is ready without waiting (a score computed on the spot, a turn's
    /// next words), with the outputs each step starts, so that what one input sets off is
    /// stored in one append and reaches the socket as one batch: an answer's `answer.received`,
    /// its heuristic score, the next `turn.started` and its first delta are one write, not
    /// four passes of this task and four of the socket's. Bounded: a stream always ready
    /// yields after `SETTLE_STEPS`, and the select's pass lets commands in.
    fn settle(&mut self, session: &mut Session) {
        for _ in 0..SETTLE_STEPS {
            self.start_outputs(session);
            if self.retry.is_some() {
                // Frozen: nothing new happens until the store takes what waits.
                return;
            }
            if let Some((turn_id, event)) = next_turn_event(&mut self.turn).now_or_never() {
                self.handle_turn_event(session, turn_id, event);
            } else if let Some(Some((answer_id, result))) = self.scores.next().now_or_never() {
                session.handle_score(answer_id, result, self.ctx.clock.now());
            } else {
                return;
            }
        }
    }

    fn handle_turn_event(&mut self, session: &mut Session, turn_id: TurnId, event: InterviewerEvent) {
        if matches!(event, InterviewerEvent::Done | InterviewerEvent::Failed(_)) {
            self.turn = None;
        }
        session.handle_interviewer(turn_id, event, self.ctx.clock.now());
    }

    /// Takes the session's outputs: durable events and deliveries wait for the next
    /// [`flush`](Self::flush), interviewer and scorer requests start.
    fn start_outputs(&mut self, session: &mut Session) {
        if self.voice.is_none() {
            // A session spoken from its start (or restored spoken) gets its audio path.
            let voice = session.state().voice;
            if voice.input || voice.output {
                let keeper = self.ctx.speech.recordings.map(|recordings| AudioKeeper {
                    store: Arc::clone(&self.ctx.store),
                    session_id: session.params().session_id.clone(),
                    recordings,
                });
                self.voice = VoicePath::new(&self.ctx.speech, &session.params().user_id, voice, keeper).map(Box::new);
            }
        }
        while let Some(output) = session.poll_output() {
            if let Some(voice) = self.voice.as_mut() {
                voice.observe(&output);
            }
            match output {
                Output::Persist(entry) => {
                    self.undelivered.push(entry.to_message(self.registration.session_id()));
                    self.unstored.push(entry);
                }
                Output::Send(message) => self.undelivered.push(message),
                Output::StartTurn(request) => {
                    let turn_id = request.turn_id;
                    self.turn = Some(TurnInFlight { turn_id, stream: self.ctx.interviewer.stream_turn(*request) });
                }
                Output::CancelTurn { turn_id } => {
                    if self.turn.as_ref().is_some_and(|turn| turn.turn_id == turn_id) {
                        self.turn = None;
                    }
                }
                Output::Score(request) => {
                    let scorer = Arc::clone(&self.ctx.scorer);
                    let timeout = Duration::from_millis(self.ctx.config.score_timeout_ms);
                    let answer_id = request.answer_id;
                    self.scores.push(
                        async move {
                            let result = tokio::time::timeout(timeout, scorer.score(*request)).await;
                            let result = result.unwrap_or_else(|_| Err(ScoreError::Provider("timed out".into())));
                            (answer_id, result)
                        }
                        .boxed(),
                    );
                }
            }
        }
    }

    /// Carries out the session's outputs: durable events are stored (one append per batch)
    /// before anything of the batch, or after it, is delivered. When the store is unavailable
    /// the batch waits, the session freezes, and the store is tried again with backoff: not
    /// before the backoff's time, however often a command wakes the task meanwhile.
    async fn flush(&mut self, session: &mut Session, epoch: Epoch) -> Result<(), Stop> {
        self.start_outputs(session);
        if self.retry.is_some_and(|backoff| Instant::now() < backoff.at) {
            // Frozen, and not yet time to try the store again.
            return Ok(());
        }
        let mut log_whole = false;
        if !self.unstored.is_empty() {
            let store = &self.ctx.store;
            let session_id = self.registration.session_id();
            let last = self.unstored.last().map_or(0, |e| e.seq);
            let appending = Instant::now();
            let webhooks = match (&self.ctx.webhooks, &self.meta) {
                (Some(dispatch), Some(meta)) => webhook::messages(meta, &self.unstored, dispatch.endpoints()),
                _ => Vec::new(),
            };
            let appended = store.append(session_id, epoch, &self.unstored, &webhooks).await;
            metrics::histogram!("viva_store_append_seconds").record(appending.elapsed());
            match appended {
                Ok(()) => {
                    if let (false, Some(dispatch)) = (webhooks.is_empty(), &self.ctx.webhooks) {
                        dispatch.wake();
                    }
                }
                // A retry of a batch whose first try landed but whose answer was lost.
                Err(StoreError::OutOfOrder { head, .. }) if head == last => {}
                Err(StoreError::Unavailable(error)) => {
                    self.freeze(&error);
                    return Ok(());
                }
                Err(error) => {
                    tracing::error!(session = %session_id, %error, "append refused; stopping the session");
                    let code = match error {
                        StoreError::Fenced { .. } => CloseCode::Moved,
                        _ => CloseCode::InternalError,
                    };
                    return Err(Stop::Failed(code));
                }
            }
            if let Some(backoff) = self.retry.take() {
                tracing::info!(session = %session_id, "store back; the session goes on");
                if let Some(minutes) = self.minutes.as_mut() {
                    let frozen = backoff.since.elapsed().as_millis() as u64;
                    minutes.exclude(frozen, session, self.ctx.clock.now());
                }
            }
            self.since_snapshot += self.unstored.len() as u64;
            let reported = self.unstored.iter().any(|e| matches!(e.record, Record::ReportReady { .. }));
            if let (Some(retention), Some(meta)) = (self.ctx.config.retention, &self.meta) {
                if let Some(ttl) = retention_after(&self.unstored, retention, meta) {
                    if let Err(error) = store.expire_session(meta, ttl).await {
                        tracing::warn!(session = %session_id, %error, "cannot set the session's retention");
                    }
                }
            }
            if reported {
                // Boxed: once per session, and its room would be every idle session's.
                Box::pin(record_progress(store.as_ref(), session)).await;
            }
            self.unstored.clear();
            let config = &self.ctx.config;
            let stale = self.snapshot_at.elapsed() >= Duration::from_millis(config.snapshot_interval_ms);
            if self.since_snapshot >= config.snapshot_every || stale {
                match store.save_snapshot(session_id, epoch, session.state()).await {
                    Ok(()) => {
                        self.since_snapshot = 0;
                        self.snapshot_at = Instant::now();
                    }
                    Err(error) => tracing::warn!(session = %session_id, %error, "snapshot failed"),
                }
            }
            // The batch holding the end is stored (and its progress record): the log is whole
            // and no more comes.
            log_whole = session.is_ended();
        }
        for message in std::mem::take(&mut self.undelivered) {
            self.deliver(message);
        }
        if session.is_ended() {
            if let Some(minutes) = self.minutes.as_mut() {
                let now = self.ctx.clock.now();
                if let Some(voice) = self.voice.as_mut() {
                    minutes.add_audio(voice.take_audio());
                }
                if let Err(error) = minutes.close(session, now).await {
                    // Its hold expires; whoever loads the session next settles it.
                    tracing::warn!(session = %self.registration.session_id(), %error, "cannot settle the end's minutes");
                }
            }
            if self.live.as_ref().is_some_and(|l| l.renew_at().is_some()) {
                self.end_live_count().await;
            }
            self.close(CloseCode::Normal, false);
        }
        // Last, after the close: the client hears of the end, and its socket closes, without
        // waiting for this (a node dying in between would leave it without its close frame).
        if log_whole && self.ctx.config.compact_finished {
            let session_id = self.registration.session_id();
            if let Err(error) = self.ctx.store.compact(session_id, epoch).await {
                tracing::warn!(session = %session_id, %error, "cannot compact the finished session (it stays readable)");
            }
        }
        Ok(())
    }

    /// `session.start` of a session whose start is gated: its user must have room for one
    /// more live session, then a first slice of minutes; either refused, the session stays
    /// `created` and whatever was taken is given back.
    async fn start_gated(&mut self, session: &mut Session, start: ClientMessage) {
        let now = self.ctx.clock.now();
        let id = start.id().map(str::to_owned);
        if let Some(live) = self.live.as_mut() {
            match live.admit(self.ctx.store.as_ref(), now).await {
                Ok(true) => {}
                Ok(false) => {
                    let message = "you have as many interviews running as allowed: end one, then start again";
                    return self.refuse_start(ErrorCode::TooManyLiveSessions, message, id);
                }
                Err(error) => {
                    tracing::warn!(session = %self.registration.session_id(), %error, "cannot count live sessions");
                    return self.refuse_start(ErrorCode::Unavailable, "cannot start right now; try again shortly", id);
                }
            }
        }
        if let Some(minutes) = self.minutes.as_mut() {
            let refusal = match minutes.open(session, now).await {
                Ok(true) => None,
                Ok(false) => {
                    Some((ErrorCode::InsufficientMinutes, "no interview minutes left: add minutes, then start again"))
                }
                Err(error) => {
                    tracing::warn!(session = %self.registration.session_id(), %error, "cannot reserve minutes");
                    Some((ErrorCode::Unavailable, "minutes cannot be checked right now; start again shortly"))
                }
            };
            if let Some((code, message)) = refusal {
                self.end_live_count().await;
                return self.refuse_start(code, message, id);
            }
        }
        session.handle_client(start, now);
        if session.state().status == Status::Created {
            // Refused by the core (e.g. voice not offered): what was taken goes back.
            if let Some(minutes) = self.minutes.as_mut() {
                if let Err(error) = minutes.unopen().await {
                    tracing::warn!(session = %self.registration.session_id(), %error, "cannot give a slice back");
                }
            }
            self.end_live_count().await;
        }
    }

    fn refuse_start(&mut self, code: ErrorCode, message: &str, reference: Option<String>) {
        let message = message.to_owned();
        self.deliver(ServerMessage::Error(ErrorEvent { code, message, fatal: false, reference }));
    }

    /// The session no longer counts among its user's live sessions (ended, or not started).
    async fn end_live_count(&mut self) {
        if let Some(live) = self.live.as_mut() {
            if let Err(error) = live.end(self.ctx.store.as_ref()).await {
                // Its lease runs out by itself.
                tracing::warn!(session = %self.registration.session_id(), %error, "cannot uncount a live session");
            }
        }
    }

    /// The store did not take the batch: tell the client (once per outage) and try again later.
    fn freeze(&mut self, error: &str) {
        let (delay, since) = match self.retry {
            None => {
                tracing::warn!(session = %self.session_id(), %error, "store unavailable; the session waits for it");
                self.deliver(store_unavailable(None));
                (Backoff::FIRST, Instant::now())
            }
            Some(backoff) => ((backoff.delay * 2).min(Backoff::MAX), backoff.since),
        };
        self.retry = Some(Backoff { at: Instant::now() + delay, delay, since });
    }

    /// While frozen nothing new may happen to the session: answers and other changes are
    /// refused, so the client re-sends them (with their ids) once the store is back.
    fn refuse_while_frozen(&mut self, message: ClientMessage) {
        match message {
            ClientMessage::Ping { id } => self.deliver(ServerMessage::Pong(Pong { id })),
            ClientMessage::Ack { .. } => {}
            other => self.deliver(store_unavailable(other.id().map(str::to_owned))),
        }
    }

    /// Attaches a client, replacing any other. Its ownership was checked by the engine
    /// (`Engine::authorize`), once.
    async fn attach(
        &mut self,
        session: &Session,
        epoch: Epoch,
        last_seq: Option<u64>,
    ) -> Result<Connection, EngineError> {
        let session_id = self.registration.session_id();
        let head = session.head();
        let replay = match last_seq {
            Some(after) if after <= head => self.ctx.store.read_log(session_id, after).await?,
            _ => None,
        };
        let ready = SessionReady {
            session_id: session_id.to_string(),
            epoch,
            resumed: replay.is_some(),
            seq: head,
            last_seq: head,
            state: session.wire_state(self.ctx.clock.now()),
        };
        let replay = replay.unwrap_or_default().into_iter().map(|e| e.to_message(session_id));
        // The greeting goes through the outbox like everything else, so nothing of it is kept
        // once sent.
        let (outbox, inbox) = outbox(self.ctx.config.outbound_queue);
        outbox.greet(std::iter::once(ServerMessage::SessionReady(Box::new(ready))).chain(replay));
        self.close(CloseCode::Replaced, true);
        if let Some(voice) = self.voice.as_mut() {
            voice.disconnected();
        }
        self.next_connection += 1;
        let id = self.next_connection;
        self.subscriber = Some(Subscriber { id, outbox });
        if session.is_ended() {
            self.close(CloseCode::Normal, false);
        }
        Ok(Connection { id, inbox, commands: self.commands_tx.clone() })
    }

    /// Sends to the attached connection; one that cannot keep up is disconnected.
    fn deliver(&mut self, message: ServerMessage) {
        let Some(subscriber) = &self.subscriber else { return };
        match subscriber.outbox.push(message) {
            Ok(()) => metrics::counter!("viva_events_sent_total").increment(1),
            Err(PushError::Full) => {
                tracing::info!(session = %self.session_id(), "slow consumer disconnected");
                self.close(CloseCode::SlowConsumer, true);
            }
            Err(PushError::Gone) => self.subscriber = None,
        }
    }

    /// Detaches the connection, telling it to close with `code`: at once when `abrupt`,
    /// otherwise after what is already queued.
    fn close(&mut self, code: CloseCode, abrupt: bool) {
        let Some(subscriber) = self.subscriber.take() else {
            return;
        };
        if abrupt {
            subscriber.outbox.abort(code);
        } else {
            subscriber.outbox.close(code);
        }
    }
}

/// The next event of the turn in flight; pending forever when there is none. A stream that
/// ends without saying `Done` or `Failed` failed.
async fn next_turn_event(turn: &mut Option<TurnInFlight>) -> (TurnId, InterviewerEvent) {
    match turn {
        Some(turn) => {
            let event =
                turn.stream.next().await.unwrap_or_else(|| InterviewerEvent::Failed("stream ended early".into()));
            (turn.turn_id, event)
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The error a client gets while the store cannot take writes.
fn store_unavailable(reference: Option<String>) -> ServerMessage {
    let message = "storage is unavailable: nothing new is stored until it is back; re-send \
                   unacknowledged answers with the same id"
        .to_owned();
    ServerMessage::Error(ErrorEvent { code: ErrorCode::StoreUnavailable, message, fatal: false, reference })
}

/// Time a started session may take beyond its plan's time limit to end (the closing turn,
/// scores, the report; the clock stopped while the store was away), for retention.
const END_GRACE: Duration = Duration::from_secs(3_600);

/// The expiry a stored batch calls for under `retention`: `retention` after the end once the
/// session ended; when it starts (its first entry), long enough to be played to its end and
/// kept `retention` after. Created, the session was given `retention` (`create_session`), so
/// every session expires whatever its state: ended, abandoned, or never started.
fn retention_after(batch: &[LogEntry], retention: Duration, meta: &SessionMeta) -> Option<Duration> {
    if batch.iter().any(|e| matches!(e.record, Record::SessionEnded { .. })) {
        Some(retention)
    } else if batch.first().is_some_and(|e| e.seq == 1) {
        Some(retention + Duration::from_millis(meta.time_limit_ms) + END_GRACE)
    } else {
        None
    }
}

/// Adds a session whose report is now durable to its user's progress record. The record is
/// under the user's hash tag, apart from the session's keys, so this is a write of its own,
/// after the report's; it is idempotent, and should it fail, the next read of the user's
/// progress repairs it (`runtime/progress.rs`).
async fn record_progress(store: &dyn Store, session: &Session) {
    let params = session.params();
    let Some(summary) = SessionProgress::of(&params.session_id, session.state()) else { return };
    if let Err(error) = store.put_progress(&params.user_id, &summary).await {
        tracing::warn!(session = %params.session_id, %error, "progress not recorded; the next read repairs it");
    }
}
