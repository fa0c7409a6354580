//! The engine's runtime driven through its library API on tokio's paused clock (every
//! `sleep` here moves virtual time at once; nothing waits on the wall clock): slow
//! consumers, unloading idle sessions and loading them back, the time limit, the store's
//! backoff while it is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use viva_engine::core::{CoreConfig, FollowUps, LogEntry, SessionId, State, UserId};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::progress::SessionProgress;
use viva_engine::store::{
    Claimed, DeadWebhook, DeliveryId, DisabledEndpoint, Epoch, Leases, Loaded, MemoryStore, Notice, Notices,
    SessionMeta, Store, StoreError, UserSessions, WebhookMessage, Webhooks,
};
use viva_engine::time::Timestamp;
use viva_engine::{Connection, Engine, EngineConfig, Next};
use viva_protocol::server::SessionReady;
use viva_protocol::{ClientMessage, CloseCode, EndReason, ErrorCode, ServerMessage};

fn engine(config: EngineConfig) -> Engine {
    Engine::builder().config(config).interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).build()
}

/// What a connection made with `last_seq: after` gets first: `session.ready`, then the
/// replayed durable events up to its `seq`.
async fn greeting(connection: &mut Connection, after: Option<u64>) -> (Box<SessionReady>, Vec<ServerMessage>) {
    let Next::Message(ServerMessage::SessionReady(ready)) = connection.next().await else {
        panic!("session.ready first")
    };
    let mut replay = Vec::new();
    let mut last = after.unwrap_or(ready.seq);
    while ready.resumed && last < ready.seq {
        let Next::Message(message) = connection.next().await else { panic!("the replay ends at {}", ready.seq) };
        last = message.seq().expect("only durable events are replayed");
        replay.push(message);
    }
    (ready, replay)
}

/// Messages until one matches `stop` (included), skipping clocks.
async fn until(connection: &mut Connection, stop: impl Fn(&ServerMessage) -> bool) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    loop {
        match connection.next().await {
            Next::Message(ServerMessage::Clock(_)) => {}
            Next::Message(message) => {
                let done = stop(&message);
                seen.push(message);
                if done {
                    return seen;
                }
            }
            Next::Close(code) => panic!("closed with {code:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_does_not_read_is_disconnected_and_can_resume() {
    let engine = engine(EngineConfig { outbound_queue: 4, ..EngineConfig::default() });
    let session = engine.create_session(&"alice".into(), "senior-backend", Default::default()).await.unwrap();
    let mut slow = engine.connect(&"alice".into(), &session.session_id, None).await.unwrap();
    slow.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(slow.next().await, Next::Close(CloseCode::SlowConsumer));

    let mut again = engine.connect(&"alice".into(), &session.session_id, Some(0)).await.unwrap();
    let (ready, replay) = greeting(&mut again, Some(0)).await;
    assert!(ready.resumed);
    assert!(ready.state.awaiting_answer.is_some(), "the interview went on without the client");
    let replayed: Vec<u64> = replay.iter().filter_map(ServerMessage::seq).collect();
    assert_eq!(replayed, (1..=ready.seq).collect::<Vec<_>>());
    again.send(ClientMessage::Ping { id: None }).await.unwrap();
    assert!(matches!(again.next().await, Next::Message(ServerMessage::Pong(_))));
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_is_unloaded_and_loaded_back_where_it_was() {
    let engine = engine(EngineConfig { idle_unload_ms: 1_000, ..EngineConfig::default() });
    let session = engine.create_session(&"bob".into(), "senior-backend", Default::default()).await.unwrap();
    drop(engine.connect(&"bob".into(), &session.session_id, None).await.unwrap());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(engine.live_sessions(), 0, "unloaded");

    let mut connection = engine.connect(&"bob".into(), &session.session_id, Some(0)).await.unwrap();
    assert!(greeting(&mut connection, Some(0)).await.0.resumed);
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::TurnStarted(_))).await;
    assert_eq!(seen.last().unwrap().seq(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_running_interview_keeps_its_clock_with_nobody_connected() {
    // Never abandoned, so that its time runs out (by default it would end `abandoned` after
    // five minutes alone: `tests/minutes.rs`).
    let config = EngineConfig { idle_unload_ms: 1_000, abandon_after_ms: None, ..EngineConfig::default() };
    let engine = engine(config);
    let session = engine.create_session(&"bob".into(), "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&"bob".into(), &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let head = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    drop(connection);
    tokio::time::sleep(Duration::from_secs(2_700 + 1)).await;

    let view = engine.view(&"bob".into(), &session.session_id).await.unwrap();
    assert_eq!(view.ended_reason, Some(EndReason::TimeUp), "time ran out with nobody connected");
    assert!(engine.report(&"bob".into(), &session.session_id).await.is_ok());
    // Long after the end, a reconnect still gets everything it missed, then the close.
    let mut connection = engine.connect(&"bob".into(), &session.session_id, Some(head)).await.unwrap();
    let (ready, replay) = greeting(&mut connection, Some(head)).await;
    assert!(ready.resumed);
    let replayed: Vec<&str> = replay.iter().map(ServerMessage::type_name).collect();
    assert_eq!(replayed, ["report.ready", "session.ended"]);
    assert_eq!(connection.next().await, Next::Close(CloseCode::Normal));
}

#[tokio::test(start_paused = true)]
async fn a_connect_racing_the_end_is_served() {
    let engine = engine(EngineConfig::default());
    let session = engine.create_session(&"dan".into(), "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&"dan".into(), &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    connection.send(ClientMessage::SessionEnd { id: None }).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    for wait_ms in [0, 10_000] {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        let mut late = engine.connect(&"dan".into(), &session.session_id, Some(0)).await.unwrap();
        let (ready, replay) = greeting(&mut late, Some(0)).await;
        assert!(ready.resumed);
        assert_eq!(replay.last().map(ServerMessage::type_name), Some("session.ended"));
        assert_eq!(late.next().await, Next::Close(CloseCode::Normal));
    }
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_ends_the_session_with_a_report() {
    let engine = engine(EngineConfig::default());
    let session = engine.create_session(&"carol".into(), "frontend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&"carol".into(), &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let ended = seen.last().unwrap();
    assert!(matches!(ended, ServerMessage::SessionEnded(e) if e.reason == EndReason::TimeUp));
    assert!(matches!(seen[seen.len() - 2], ServerMessage::ReportReady(_)));
    assert_eq!(connection.next().await, Next::Close(CloseCode::Normal));
    let report = engine.report(&"carol".into(), &session.session_id).await.unwrap();
    assert_eq!(report.ended_reason, EndReason::TimeUp);
    assert!(report.practise.iter().any(|p| p.contains("not answered")));
    assert!(engine.report(&"mallory".into(), &session.session_id).await.is_err());
}

/// A memory store whose appends fail while `down` is set, counting every append tried.
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
    appends: AtomicU32,
}

#[async_trait::async_trait]
impl Store for FlakyStore {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn create(&self, meta: &SessionMeta, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.inner.create(meta, ttl).await
    }
    async fn meta(&self, session_id: &SessionId) -> Result<Option<SessionMeta>, StoreError> {
        self.inner.meta(session_id).await
    }
    async fn load(&self, session_id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        self.inner.load(session_id).await
    }
    async fn acquire(&self, session_id: &SessionId) -> Result<Epoch, StoreError> {
        self.inner.acquire(session_id).await
    }
    async fn append(
        &self,
        session_id: &SessionId,
        epoch: Epoch,
        entries: &[LogEntry],
        webhooks: &[WebhookMessage],
    ) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down for the test".into()));
        }
        self.inner.append(session_id, epoch, entries, webhooks).await
    }
    async fn save_snapshot(&self, session_id: &SessionId, epoch: Epoch, state: &State) -> Result<(), StoreError> {
        self.inner.save_snapshot(session_id, epoch, state).await
    }
    async fn read_log(&self, session_id: &SessionId, after: u64) -> Result<Option<Vec<LogEntry>>, StoreError> {
        self.inner.read_log(session_id, after).await
    }
    async fn compact(&self, session_id: &SessionId, epoch: Epoch) -> Result<(), StoreError> {
        self.inner.compact(session_id, epoch).await
    }
    async fn user_sessions(&self, user_id: &UserId) -> Result<UserSessions, StoreError> {
        self.inner.user_sessions(user_id).await
    }
    async fn delete_user(&self, user_id: &UserId) -> Result<Vec<SessionId>, StoreError> {
        self.inner.delete_user(user_id).await
    }
    async fn expire_session(&self, meta: &SessionMeta, ttl: Duration) -> Result<(), StoreError> {
        self.inner.expire_session(meta, ttl).await
    }
    async fn put_audio(&self, id: &SessionId, utterance: &str, audio: &[u8], max: u64) -> Result<bool, StoreError> {
        self.inner.put_audio(id, utterance, audio, max).await
    }
    async fn audio(&self, session_id: &SessionId, utterance_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.audio(session_id, utterance_id).await
    }
    async fn audio_ids(&self, session_id: &SessionId) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.audio_ids(session_id).await
    }
    async fn admit_live(
        &self,
        user: &UserId,
        session: &SessionId,
        limit: u32,
        now: Timestamp,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.admit_live(user, session, limit, now, lease).await
    }
    async fn end_live(&self, user_id: &UserId, session_id: &SessionId) -> Result<(), StoreError> {
        self.inner.end_live(user_id, session_id).await
    }
    async fn admit_creation(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: Timestamp,
        window: Duration,
        limit: u32,
    ) -> Result<Option<Duration>, StoreError> {
        self.inner.admit_creation(user_id, session_id, now, window, limit).await
    }
    async fn put_resume(&self, user_id: &UserId, resume: &viva_engine::resume::Resume) -> Result<(), StoreError> {
        self.inner.put_resume(user_id, resume).await
    }
    async fn resume(&self, user_id: &UserId) -> Result<Option<viva_engine::resume::Resume>, StoreError> {
        self.inner.resume(user_id).await
    }
    async fn delete_resume(&self, user_id: &UserId) -> Result<bool, StoreError> {
        self.inner.delete_resume(user_id).await
    }

    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.shared_secret(name).await
    }
    async fn use_once(
        &self,
        id: &SessionId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.use_once(id, nonce, expires, now).await
    }
    async fn announce(&self, notice: &Notice) -> Result<(), StoreError> {
        self.inner.announce(notice).await
    }
    fn notices(&self) -> Notices {
        self.inner.notices()
    }
    async fn heartbeat(&self, node: &viva_engine::store::NodeInfo) -> Result<(), StoreError> {
        self.inner.heartbeat(node).await
    }
    async fn nodes(&self, now: Timestamp) -> Result<Vec<viva_engine::store::NodeInfo>, StoreError> {
        self.inner.nodes(now).await
    }
    async fn forget_node(&self, id: &str) -> Result<(), StoreError> {
        self.inner.forget_node(id).await
    }
    async fn put_progress(&self, user_id: &UserId, summary: &SessionProgress) -> Result<bool, StoreError> {
        self.inner.put_progress(user_id, summary).await
    }
    async fn progress(&self, user_id: &UserId) -> Result<Vec<SessionProgress>, StoreError> {
        self.inner.progress(user_id).await
    }
    async fn forget_progress(&self, user_id: &UserId, session_ids: &[SessionId]) -> Result<(), StoreError> {
        self.inner.forget_progress(user_id, session_ids).await
    }
}

/// Leases are the inner store's.
#[async_trait::async_trait]
impl Leases for FlakyStore {
    async fn renew_leases(&self, sessions: &[SessionId], term: Duration, now: Timestamp) -> Result<(), StoreError> {
        self.inner.renew_leases(sessions, term, now).await
    }
    async fn release_lease(&self, session_id: &SessionId) -> Result<(), StoreError> {
        self.inner.release_lease(session_id).await
    }
    async fn claim_expired_leases(
        &self,
        term: Duration,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.inner.claim_expired_leases(term, limit, now).await
    }
}

/// No webhooks are configured in these tests: the outbox is the inner store's.
#[async_trait::async_trait]
impl Webhooks for FlakyStore {
    async fn claim_webhooks(&self, now: Timestamp, lease: Duration, limit: usize) -> Result<Vec<Claimed>, StoreError> {
        self.inner.claim_webhooks(now, lease, limit).await
    }
    async fn webhook_delivered(&self, claimed: &Claimed) -> Result<(), StoreError> {
        self.inner.webhook_delivered(claimed).await
    }
    async fn webhook_dropped(&self, claimed: &Claimed) -> Result<(), StoreError> {
        self.inner.webhook_dropped(claimed).await
    }
    async fn webhook_retry(
        &self,
        claimed: &Claimed,
        at: Timestamp,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.webhook_retry(claimed, at, attempts, error).await
    }
    async fn webhook_dead(&self, claimed: &Claimed, at: Timestamp, attempts: u32, why: &str) -> Result<(), StoreError> {
        self.inner.webhook_dead(claimed, at, attempts, why).await
    }
    async fn dead_webhooks(&self, limit: usize) -> Result<(Vec<DeadWebhook>, u64), StoreError> {
        self.inner.dead_webhooks(limit).await
    }
    async fn redrive_webhook(&self, id: &DeliveryId, now: Timestamp) -> Result<bool, StoreError> {
        self.inner.redrive_webhook(id, now).await
    }
    async fn pending_webhooks(&self) -> Result<u64, StoreError> {
        self.inner.pending_webhooks().await
    }
    async fn disable_endpoint(&self, endpoint: &str, at: Timestamp, reason: &str) -> Result<(), StoreError> {
        self.inner.disable_endpoint(endpoint, at, reason).await
    }
    async fn enable_endpoint(&self, endpoint: &str) -> Result<bool, StoreError> {
        self.inner.enable_endpoint(endpoint).await
    }
    async fn disabled_endpoints(&self) -> Result<Vec<DisabledEndpoint>, StoreError> {
        self.inner.disabled_endpoints().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_frozen_session_tries_the_store_again_on_its_backoff_not_on_every_message() {
    let store =
        Arc::new(FlakyStore { inner: MemoryStore::new(), down: AtomicBool::new(false), appends: AtomicU32::new(0) });
    let engine =
        Engine::builder().store(store.clone()).interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).build();
    let session = engine.create_session(&"alice".into(), "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&"alice".into(), &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;

    store.down.store(true, Ordering::SeqCst);
    let before = store.appends.load(Ordering::SeqCst);
    let answer =
        ClientMessage::AnswerSubmit { id: Some("a1".into()), text: "Stateless servers behind a balancer.".into() };
    connection.send(answer.clone()).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::Error(e) if e.code == ErrorCode::StoreUnavailable)).await;
    // A second of pings, one every 10 ms: each wakes the session's task, none may make it
    // try the store before its backoff (100, 200, 400, 800 ms) says so.
    for _ in 0..100 {
        connection.send(ClientMessage::Ping { id: None }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tried = store.appends.load(Ordering::SeqCst) - before;
    assert_eq!(tried, 4, "the first append, then retries after 100, 300 and 700 ms");

    // Back: the next retry (at 1.5 s) stores the answer, and the session goes on.
    store.down.store(false, Ordering::SeqCst);
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    assert!(
        matches!(seen.last(), Some(ServerMessage::AnswerReceived(a)) if a.answer_id == 1 && a.id.as_deref() == Some("a1"))
    );
}

/// What an answer sets off at once (its `answer.received`, its heuristic score, the next turn's
/// start, its words and its end, with an interviewer that needs no time) is stored in one
/// append and delivered as one batch: one round trip to the store per answer, not one per pass
/// of the session's task.
#[tokio::test(start_paused = true)]
async fn what_an_answer_sets_off_at_once_is_stored_in_one_append() {
    let store =
        Arc::new(FlakyStore { inner: MemoryStore::new(), down: AtomicBool::new(false), appends: AtomicU32::new(0) });
    // As the gateway binary runs its scripted interviewer with the heuristic scorer.
    let core = CoreConfig { follow_ups: FollowUps::Scorer { wait_ms: 3_000 }, ..CoreConfig::default() };
    let engine = Engine::builder()
        .store(store.clone())
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .config(EngineConfig { core, ..EngineConfig::default() })
        .build();
    let session = engine.create_session(&"alice".into(), "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&"alice".into(), &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;

    let before = store.appends.load(Ordering::SeqCst);
    let answer = ClientMessage::AnswerSubmit { id: Some("a1".into()), text: "I would look it up.".into() };
    connection.send(answer).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 3)).await;
    assert!(seen.iter().any(|m| matches!(m, ServerMessage::ScoreUpdated(s) if s.answer_id == 1)), "{seen:?}");
    assert_eq!(store.appends.load(Ordering::SeqCst) - before, 1, "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn the_memory_store_forgets_expired_sessions_nobody_asks_for() {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        .config(EngineConfig { retention: Some(Duration::from_secs(60)), ..EngineConfig::default() })
        .build();
    let user = UserId::new("pia");
    engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    assert_eq!(store.len(), 1);
    // No call reaches the store after this: only the sweep can remove the session.
    tokio::time::sleep(Duration::from_secs(60) + 2 * MemoryStore::SWEEP_EVERY).await;
    assert_eq!(store.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_user_past_their_live_sessions_is_refused_until_one_ends() {
    let engine = engine(EngineConfig { max_live_per_user: Some(2), ..EngineConfig::default() });
    let user: UserId = "lia".into();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
        let mut connection = engine.connect(&user, &session.session_id, None).await.unwrap();
        greeting(&mut connection, None).await;
        connection.send(ClientMessage::SessionStart { id: Some("go".into()), voice: None }).await.unwrap();
        sessions.push((session.session_id, connection));
    }
    for (_, connection) in &mut sessions[..2] {
        until(connection, |m| matches!(m, ServerMessage::TurnStarted(_))).await;
    }
    let (third, connection) = &mut sessions[2];
    let Next::Message(ServerMessage::Error(error)) = connection.next().await else { panic!("a refusal") };
    assert_eq!(
        (error.code, error.reference.as_deref(), error.fatal),
        (ErrorCode::TooManyLiveSessions, Some("go"), false)
    );
    assert_eq!(engine.view(&user, third).await.unwrap().status, viva_protocol::state::SessionStatus::Created);

    // One ends: the third may start.
    let (_, first) = &mut sessions[0];
    first.send(ClientMessage::SessionEnd { id: None }).await.unwrap();
    until(first, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let (_, connection) = &mut sessions[2];
    connection.send(ClientMessage::SessionStart { id: Some("again".into()), voice: None }).await.unwrap();
    until(connection, |m| matches!(m, ServerMessage::TurnStarted(_))).await;
}

#[tokio::test(start_paused = true)]
async fn time_frozen_waiting_for_the_store_is_not_billed() {
    use viva_engine::Metering;
    use viva_engine::meter::{EntryKind, MemoryMeter, Meter};

    let store =
        Arc::new(FlakyStore { inner: MemoryStore::new(), down: AtomicBool::new(false), appends: AtomicU32::new(0) });
    let meter = Arc::new(MemoryMeter::new());
    meter.credit(&"max".into(), 600, "grant", None, Timestamp(0)).await.unwrap();
    let engine = Engine::builder()
        .store(store.clone())
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .metering(Metering::new(meter.clone()))
        .build();
    let user: UserId = "max".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&user, &session.session_id, None).await.unwrap();
    let t0 = tokio::time::Instant::now();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;

    // At 10 s the store goes away; an answer freezes the session until it is back at 40 s.
    tokio::time::sleep_until(t0 + Duration::from_secs(10)).await;
    store.down.store(true, Ordering::SeqCst);
    let answer = ClientMessage::AnswerSubmit { id: Some("a1".into()), text: "Shard it and cache it.".into() };
    connection.send(answer).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::Error(e) if e.code == ErrorCode::StoreUnavailable)).await;
    tokio::time::sleep_until(t0 + Duration::from_secs(40)).await;
    store.down.store(false, Ordering::SeqCst);
    until(&mut connection, |m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    let back = t0.elapsed().as_secs_f64();

    tokio::time::sleep_until(t0 + Duration::from_secs(60)).await;
    connection.send(ClientMessage::SessionEnd { id: None }).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let usage = meter.usage(&user, None, 200).await.unwrap();
    let debited: u64 = usage.entries.iter().filter(|e| e.kind == EntryKind::Debit).map(|e| e.seconds).sum();
    // 60 s live, frozen from 10 s until the store took the answer (the backoff's next try
    // after 40 s): billed the rest, to the second.
    let billed = 60.0 - (back - 10.0);
    assert!((billed - 1.0..=billed + 1.0).contains(&(debited as f64)), "{debited} s debited, {billed:.1} s expected");
    assert_eq!((usage.balance_s, usage.held_s), (600 - debited, 0));
}
