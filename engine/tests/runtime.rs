//! The engine's runtime driven through its library API on tokio's paused clock (every
//! `sleep` here moves virtual time at once; nothing waits on the wall clock): slow
//! consumers, unloading idle sessions and loading them back, the time limit.

use std::sync::Arc;
use std::time::Duration;

use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::{Connection, Engine, EngineConfig, Next};
use viva_protocol::server::SessionReady;
use viva_protocol::{ClientMessage, CloseCode, EndReason, ServerMessage};

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
    let session = engine.create_session("alice", "senior-backend", Default::default()).await.unwrap();
    let mut slow = engine.connect("alice", &session.session_id, None).await.unwrap();
    slow.send(ClientMessage::SessionStart { id: None }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(slow.next().await, Next::Close(CloseCode::SlowConsumer));

    let mut again = engine.connect("alice", &session.session_id, Some(0)).await.unwrap();
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
    let session = engine.create_session("bob", "senior-backend", Default::default()).await.unwrap();
    drop(engine.connect("bob", &session.session_id, None).await.unwrap());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(engine.live_sessions(), 0, "unloaded");

    let mut connection = engine.connect("bob", &session.session_id, Some(0)).await.unwrap();
    assert!(greeting(&mut connection, Some(0)).await.0.resumed);
    connection.send(ClientMessage::SessionStart { id: None }).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::TurnStarted(_))).await;
    assert_eq!(seen.last().unwrap().seq(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_running_interview_keeps_its_clock_with_nobody_connected() {
    let engine = engine(EngineConfig { idle_unload_ms: 1_000, ..EngineConfig::default() });
    let session = engine.create_session("bob", "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect("bob", &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None }).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let head = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    drop(connection);
    tokio::time::sleep(Duration::from_secs(2_700 + 1)).await;

    let view = engine.view("bob", &session.session_id).await.unwrap();
    assert_eq!(view.ended_reason, Some(EndReason::TimeUp), "time ran out with nobody connected");
    assert!(engine.report("bob", &session.session_id).await.is_ok());
    // Long after the end, a reconnect still gets everything it missed, then the close.
    let mut connection = engine.connect("bob", &session.session_id, Some(head)).await.unwrap();
    let (ready, replay) = greeting(&mut connection, Some(head)).await;
    assert!(ready.resumed);
    let replayed: Vec<&str> = replay.iter().map(ServerMessage::type_name).collect();
    assert_eq!(replayed, ["report.ready", "session.ended"]);
    assert_eq!(connection.next().await, Next::Close(CloseCode::Normal));
}

#[tokio::test(start_paused = true)]
async fn a_connect_racing_the_end_is_served() {
    let engine = engine(EngineConfig::default());
    let session = engine.create_session("dan", "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect("dan", &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None }).await.unwrap();
    connection.send(ClientMessage::SessionEnd { id: None }).await.unwrap();
    until(&mut connection, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    for wait_ms in [0, 10_000] {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        let mut late = engine.connect("dan", &session.session_id, Some(0)).await.unwrap();
        let (ready, replay) = greeting(&mut late, Some(0)).await;
        assert!(ready.resumed);
        assert_eq!(replay.last().map(ServerMessage::type_name), Some("session.ended"));
        assert_eq!(late.next().await, Next::Close(CloseCode::Normal));
    }
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_ends_the_session_with_a_report() {
    let engine = engine(EngineConfig::default());
    let session = engine.create_session("carol", "frontend", Default::default()).await.unwrap();
    let mut connection = engine.connect("carol", &session.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None }).await.unwrap();
    let seen = until(&mut connection, |m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let ended = seen.last().unwrap();
    assert!(matches!(ended, ServerMessage::SessionEnded(e) if e.reason == EndReason::TimeUp));
    assert!(matches!(seen[seen.len() - 2], ServerMessage::ReportReady(_)));
    assert_eq!(connection.next().await, Next::Close(CloseCode::Normal));
    let report = engine.report("carol", &session.session_id).await.unwrap();
    assert_eq!(report.ended_reason, EndReason::TimeUp);
    assert!(report.practise.iter().any(|p| p.contains("not answered")));
    assert!(engine.report("mallory", &session.session_id).await.is_err());
}
