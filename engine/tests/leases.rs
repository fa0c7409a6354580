//! Leases of running sessions across engines sharing one store: an engine that dies leaves
//! its running sessions to another engine's sweep, which runs their clocks out to their
//! reports with nobody connected; a session that needs no clock holds no lease. Tokio's paused
//! clock throughout (the dead engine's own runtime too), so the waits cost nothing.

use std::sync::Arc;
use std::time::Duration;

use viva_engine::core::SessionId;
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::store::{Leases, MemoryStore, SessionMeta};
use viva_engine::time::Clock;
use viva_engine::{Engine, EngineConfig, Next};
use viva_protocol::{ClientMessage, EndReason, ServerMessage};

fn engine(store: Arc<MemoryStore>) -> Engine {
    // Never abandoned, so that a session alone runs until its time is up.
    let config = EngineConfig { abandon_after_ms: None, ..EngineConfig::default() };
    Engine::builder()
        .config(config)
        .store(store)
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .build()
}

/// Creates and starts a session on `engine`, then waits for its first question to be done.
async fn started(engine: &Engine, user: &str) -> SessionMeta {
    let session = engine.create_session(&user.into(), "frontend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&user.into(), &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    loop {
        match connection.next().await {
            Next::Message(ServerMessage::TurnDone(_)) => break,
            Next::Message(_) => {}
            Next::Close(code) => panic!("closed with {code:?}"),
        }
    }
    session
}

/// The leases claimable an hour from now (the memory store goes by the caller's clock),
/// claimed: each test calls it last, or once before its session ends.
async fn claimable_later(store: &MemoryStore) -> Vec<SessionId> {
    let later = Clock::new().now().plus_ms(3_600_000);
    store.claim_expired_leases(Duration::from_secs(15), 100, later).await.unwrap()
}

/// A session started on an engine that then dies: the engine runs in a runtime of its own,
/// dropped with every task of it (no shutdown, no handover), its lease left to run out.
fn started_on_an_engine_that_dies(store: &Arc<MemoryStore>, user: &'static str) -> SessionMeta {
    let store = Arc::clone(store);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        runtime.block_on(async move { started(&engine(store), user).await })
    })
    .join()
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_running_session_whose_engine_died_ends_on_time_on_another_engine() {
    let store = Arc::new(MemoryStore::new());
    let session = started_on_an_engine_that_dies(&store, "ana");

    let survivor = engine(Arc::clone(&store));
    // The frontend plan's 45 minutes, and then some: the survivor's sweep found the lease
    // run out and ran the session to its end.
    tokio::time::sleep(Duration::from_secs(46 * 60)).await; // paused clock: at once
    let view = survivor.view(&"ana".into(), &session.session_id).await.unwrap();
    assert_eq!(view.ended_reason, Some(EndReason::TimeUp), "ended on time, with nobody connected");
    let report = survivor.report(&"ana".into(), &session.session_id).await.unwrap();
    assert_eq!(report.ended_reason, EndReason::TimeUp);
    assert!(claimable_later(&store).await.is_empty(), "an ended session holds no lease");
}

#[tokio::test(start_paused = true)]
async fn an_engine_shutting_down_takes_over_no_session() {
    let store = Arc::new(MemoryStore::new());
    let session = started_on_an_engine_that_dies(&store, "ben");

    let stopping = engine(Arc::clone(&store));
    stopping.shutdown(Duration::from_secs(1)).await;
    // Many sweeps' worth: the dead engine's lease ran out long ago.
    tokio::time::sleep(Duration::from_secs(120)).await; // paused clock: at once
    assert_eq!(stopping.live_sessions(), 0, "a node shutting down takes no session over");
    // Left to the others: a running node's sweep takes it.
    let survivor = engine(Arc::clone(&store));
    tokio::time::sleep(Duration::from_secs(60)).await; // paused clock: a few sweeps, at once
    assert_eq!(survivor.live_sessions(), 1);
    let view = survivor.view(&"ben".into(), &session.session_id).await.unwrap();
    assert_eq!(view.ended_reason, None, "running there, its clock not out yet");
}

#[tokio::test(start_paused = true)]
async fn only_a_running_session_holds_a_lease_and_its_engine_keeps_it() {
    let store = Arc::new(MemoryStore::new());
    // The engine's clock, as near as can be (both are the wall time at their start plus the
    // paused clock's time since).
    let clock = Clock::new();
    let engine = engine(Arc::clone(&store));
    let waiting = engine.create_session(&"bo".into(), "frontend", Default::default()).await.unwrap();
    drop(engine.connect(&"bo".into(), &waiting.session_id, None).await.unwrap());
    let running = started(&engine, "bo").await;
    // Renewed by its engine all along: never claimable now, even after many terms.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(15)).await; // paused clock: a lease term, at once
        let now = clock.now();
        assert!(store.claim_expired_leases(Duration::from_secs(15), 100, now).await.unwrap().is_empty());
    }
    assert_eq!(
        claimable_later(&store).await,
        std::slice::from_ref(&running.session_id),
        "only the started one needs a clock"
    );

    let mut connection = engine.connect(&"bo".into(), &running.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionEnd { id: None }).await.unwrap();
    while !matches!(connection.next().await, Next::Message(ServerMessage::SessionEnded(_))) {}
    tokio::time::sleep(Duration::from_secs(1)).await; // paused clock: lets the task write the end
    assert!(claimable_later(&store).await.is_empty(), "its lease is given up when it ends");
}
