//! Metered minutes through the engine's library API on tokio's paused clock: a session gets
//! exactly its user's balance and ends `out_of_minutes` with its report, two sessions share
//! one balance, a start without minutes is refused, an abandoned session ends and gives its
//! hold back, and a session taken over by another engine settles what was used once. The
//! ledger always adds up to exactly the time billed.

use std::sync::Arc;
use std::time::Duration;

use viva_engine::core::{SessionId, UserId};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::meter::{EntryKind, MemoryMeter, Meter};
use viva_engine::store::{MemoryStore, Store};
use viva_engine::time::Timestamp;
use viva_engine::{Connection, Engine, EngineConfig, Metering, Next};
use viva_protocol::{ClientMessage, CloseCode, EndReason, ErrorCode, ServerMessage};

/// An engine on `store` metering through `meter` in 30 s slices.
fn engine(store: Arc<dyn Store>, meter: Arc<dyn Meter>, config: EngineConfig) -> Engine {
    Engine::builder()
        .config(config)
        .store(store)
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .metering(Metering::new(meter))
        .build()
}

fn start() -> ClientMessage {
    ClientMessage::SessionStart { id: Some("start".into()), voice: None }
}

/// Everything until the connection closes, with the virtual time of each message.
async fn to_the_end(connection: &mut Connection, t0: tokio::time::Instant) -> (Vec<(u64, ServerMessage)>, CloseCode) {
    let mut seen = Vec::new();
    loop {
        match connection.next().await {
            // To the nearest second: two engines' clocks may differ by the real time between
            // their making.
            Next::Message(message) => seen.push(((t0.elapsed().as_millis() as u64 + 500) / 1000, message)),
            Next::Close(code) => return (seen, code),
        }
    }
}

fn ended(seen: &[(u64, ServerMessage)]) -> Option<(u64, EndReason)> {
    seen.iter().find_map(|(t, m)| match m {
        ServerMessage::SessionEnded(e) => Some((*t, e.reason)),
        _ => None,
    })
}

/// (balance, held, credits, debits) of a user, the ledger summed.
async fn totals(meter: &dyn Meter, user: &UserId) -> (u64, u64, u64, u64) {
    let usage = meter.usage(user, None, 200).await.unwrap();
    let sum = |kind| usage.entries.iter().filter(|e| e.kind == kind).map(|e| e.seconds).sum::<u64>();
    (usage.balance_s, usage.held_s, sum(EntryKind::Credit), sum(EntryKind::Debit))
}

async fn credit(meter: &dyn Meter, user: &str, seconds: u64) {
    meter.credit(&user.into(), seconds, &format!("grant-{user}-{seconds}"), None, Timestamp(0)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ninety_seconds_of_minutes_are_a_ninety_second_interview_with_its_report() {
    let meter: Arc<dyn Meter> = Arc::new(MemoryMeter::new());
    let engine = engine(Arc::new(MemoryStore::new()), meter.clone(), EngineConfig::default());
    credit(meter.as_ref(), "ann", 90).await;
    let user: UserId = "ann".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&user, &session.session_id, None).await.unwrap();
    let t0 = tokio::time::Instant::now();
    connection.send(start()).await.unwrap();
    let (seen, close) = to_the_end(&mut connection, t0).await;

    assert_eq!(close, CloseCode::Normal);
    assert_eq!(ended(&seen), Some((90, EndReason::OutOfMinutes)), "ended when the minutes ran out");
    let low: Vec<(u64, u64)> = seen
        .iter()
        .filter_map(|(t, m)| match m {
            ServerMessage::UsageLow(low) => Some((*t, low.remaining_s)),
            _ => None,
        })
        .collect();
    assert_eq!(low, [(30, 60)], "usage.low once, a minute before the end");
    assert!(seen.iter().any(|(_, m)| matches!(m, ServerMessage::ReportReady(_))));
    let first_clock = seen.iter().find_map(|(_, m)| match m {
        ServerMessage::Clock(c) => Some(c.remaining_s),
        _ => None,
    });
    assert_eq!(first_clock, Some(90), "the clock says the lesser of the plan's time and the minutes");
    assert_eq!(totals(meter.as_ref(), &user).await, (0, 0, 90, 90), "all of it billed, the closing turn free");
    assert!(engine.report(&user, &session.session_id).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn two_tabs_share_the_minutes_and_together_get_exactly_them() {
    let meter: Arc<dyn Meter> = Arc::new(MemoryMeter::new());
    let engine = engine(Arc::new(MemoryStore::new()), meter.clone(), EngineConfig::default());
    credit(meter.as_ref(), "bea", 90).await;
    let user: UserId = "bea".into();
    let t0 = tokio::time::Instant::now();
    let mut tabs = Vec::new();
    for _ in 0..2 {
        let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
        let mut connection = engine.connect(&user, &session.session_id, None).await.unwrap();
        connection.send(start()).await.unwrap();
        tabs.push(tokio::spawn(async move { to_the_end(&mut connection, t0).await.0 }));
    }
    let mut ends = Vec::new();
    for tab in tabs {
        ends.push(ended(&tab.await.unwrap()).unwrap());
    }
    ends.sort_unstable_by_key(|(t, _)| *t);
    // 30 s each at once; at 30 s one takes the last 30 and the other has none left.
    assert_eq!(ends, [(30, EndReason::OutOfMinutes), (60, EndReason::OutOfMinutes)]);
    assert_eq!(totals(meter.as_ref(), &user).await, (0, 0, 90, 90));
}

#[tokio::test(start_paused = true)]
async fn a_start_without_minutes_is_refused_and_the_session_waits_for_them() {
    let meter: Arc<dyn Meter> = Arc::new(MemoryMeter::new());
    let engine = engine(Arc::new(MemoryStore::new()), meter.clone(), EngineConfig::default());
    let user: UserId = "cid".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    let mut connection = engine.connect(&user, &session.session_id, None).await.unwrap();
    assert!(matches!(connection.next().await, Next::Message(ServerMessage::SessionReady(_))));
    connection.send(start()).await.unwrap();
    let Next::Message(ServerMessage::Error(error)) = connection.next().await else { panic!("an error") };
    assert_eq!(
        (error.code, error.reference.as_deref(), error.fatal),
        (ErrorCode::InsufficientMinutes, Some("start"), false)
    );
    let view = engine.view(&user, &session.session_id).await.unwrap();
    assert_eq!(view.status, viva_protocol::state::SessionStatus::Created, "not started");
    assert_eq!(totals(meter.as_ref(), &user).await, (0, 0, 0, 0), "nothing held");

    credit(meter.as_ref(), "cid", 40).await;
    connection.send(start()).await.unwrap();
    let t0 = tokio::time::Instant::now();
    let (seen, _) = to_the_end(&mut connection, t0).await;
    assert_eq!(ended(&seen), Some((40, EndReason::OutOfMinutes)));
    assert_eq!(totals(meter.as_ref(), &user).await, (0, 0, 40, 40));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_session_ends_and_gives_its_hold_back() {
    let meter: Arc<dyn Meter> = Arc::new(MemoryMeter::new());
    let config = EngineConfig { abandon_after_ms: Some(100_000), ..EngineConfig::default() };
    let engine = engine(Arc::new(MemoryStore::new()), meter.clone(), config);
    credit(meter.as_ref(), "dee", 1_000).await;
    let user: UserId = "dee".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    let connection = engine.connect(&user, &session.session_id, None).await.unwrap();
    connection.send(start()).await.unwrap();
    // Virtual time (the clock is paused): 5 s with the client, then 200 s without.
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(connection);
    tokio::time::sleep(Duration::from_secs(200)).await;

    let view = engine.view(&user, &session.session_id).await.unwrap();
    assert_eq!(view.ended_reason, Some(EndReason::Abandoned));
    assert!(view.report_ready, "its report was built");
    // Billed from the start to the end: 5 s with the client, 100 s without.
    assert_eq!(totals(meter.as_ref(), &user).await, (1_000 - 105, 0, 1_000, 105));
}

/// Two nodes: two engines on one store and one meter. The first runs a session of `user`
/// (credited `credit_s`) for `run_for`, then stops (a node gone: nobody renews the hold).
struct TwoNodes {
    second: Engine,
    meter: Arc<dyn Meter>,
    user: UserId,
    session: SessionId,
    /// When the session started.
    t0: tokio::time::Instant,
}

async fn first_node_runs_then_stops(
    user: &str,
    credit_s: u64,
    run_for: Duration,
    (first, second): (EngineConfig, EngineConfig),
) -> TwoNodes {
    let (store, meter): (Arc<dyn Store>, Arc<dyn Meter>) = (Arc::new(MemoryStore::new()), Arc::new(MemoryMeter::new()));
    credit(meter.as_ref(), user, credit_s).await;
    let user: UserId = user.into();
    // Both made now: an engine's clock maps tokio's (paused) time to the wall clock when it is
    // made, so two made at different virtual times would disagree.
    let first = engine(store.clone(), meter.clone(), first);
    let second = engine(store, meter.clone(), second);
    let session = first.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    let connection = first.connect(&user, &session.session_id, None).await.unwrap();
    let t0 = tokio::time::Instant::now();
    connection.send(start()).await.unwrap();
    // Virtual time (the clock is paused): the session runs this long on the first node.
    tokio::time::sleep(run_for).await;
    first.shutdown(Duration::from_secs(1)).await;
    drop((connection, first));
    TwoNodes { second, meter, user, session: session.session_id, t0 }
}

#[tokio::test(start_paused = true)]
async fn a_session_taken_over_by_another_engine_is_charged_once() {
    // The first node runs the session for 45 s and stops (its hold covers to 60 s); the second
    // takes it over at 50 s, settles what was used since the last settlement and goes on; at
    // the end the ledger is the live time.
    let configs = (EngineConfig::default(), EngineConfig::default());
    let TwoNodes { second, meter, user, session, t0 } =
        first_node_runs_then_stops("eve", 100, Duration::from_secs(45), configs).await;
    let hold = meter.holds(&user).await.unwrap();
    assert_eq!((hold[0].settled_s, hold[0].held_s), (30, 30), "one slice settled, one held");
    tokio::time::sleep_until(t0 + Duration::from_secs(50)).await;

    let mut connection = second.connect(&user, &session, Some(0)).await.unwrap();
    let (seen, _) = to_the_end(&mut connection, t0).await;
    assert_eq!(ended(&seen), Some((100, EndReason::OutOfMinutes)), "the whole balance, not a second more");
    let usage = meter.usage(&user, None, 200).await.unwrap();
    let keys: Vec<&str> = usage.entries.iter().filter(|e| e.kind == EntryKind::Debit).map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&format!("{session}:30").as_str()), "the taken-over stretch from 30 s: {keys:?}");
    assert_eq!(totals(meter.as_ref(), &user).await, (0, 0, 100, 100));
}

#[tokio::test(start_paused = true)]
async fn the_sweep_settles_a_dead_nodes_hold_and_ends_its_session() {
    // The first node runs the session 40 s and stops (nobody reconnects). The second node's
    // sweep finds the hold expired at 90 s: it settles it from where settlements ended (capped
    // by the hold: the 30 s after 60 s are not billed) and runs the session alone, which ends
    // `abandoned` 100 s after its owner last ran it.
    let configs = (EngineConfig::default(), EngineConfig { abandon_after_ms: Some(100_000), ..Default::default() });
    let TwoNodes { second, meter, user, session, .. } =
        first_node_runs_then_stops("fay", 300, Duration::from_secs(40), configs).await;
    let hold = meter.holds(&user).await.unwrap().remove(0);
    assert_eq!((hold.settled_s, hold.held_s), (30, 30), "renewed at 30 s, to expire at 90 s");

    tokio::time::sleep(Duration::from_secs(160)).await;
    let view = second.view(&user, &session).await.unwrap();
    assert_eq!(view.ended_reason, Some(EndReason::Abandoned), "swept and ended");
    assert!(view.report_ready);
    // Billed: to 60 s (the hold), then from 90 s to the abandonment at 130 s; nothing held.
    assert_eq!(totals(meter.as_ref(), &user).await, (300 - 100, 0, 300, 100));
}

#[tokio::test(start_paused = true)]
async fn a_session_taken_over_after_its_hold_ran_out_is_charged_the_hold_and_goes_on() {
    // The first node stops at 45 s (its hold covers to 60 s); the candidate comes back on the
    // second at 80 s. The 20 s the hold did not cover are not billed, and the session gets the
    // rest of the balance: it ends when the 100 s of minutes are spent, at 120 s. No
    // abandonment in the 35 s alone; the hold has not expired when the candidate is back (so no
    // sweep takes the session over first).
    let config = EngineConfig { abandon_after_ms: None, ..EngineConfig::default() };
    let TwoNodes { second, meter, user, session, t0 } =
        first_node_runs_then_stops("gus", 100, Duration::from_secs(45), (config.clone(), config)).await;
    tokio::time::sleep_until(t0 + Duration::from_secs(80)).await;

    let mut connection = second.connect(&user, &session, Some(0)).await.unwrap();
    let (seen, _) = to_the_end(&mut connection, t0).await;
    assert_eq!(ended(&seen), Some((120, EndReason::OutOfMinutes)));
    assert_eq!(totals(meter.as_ref(), &user).await, (0, 0, 100, 100), "every second of the balance, none twice");
}

#[tokio::test(start_paused = true)]
async fn the_sweep_ends_at_once_a_session_alone_for_longer_than_allowed() {
    // As above, but a session may be alone 30 s only: found at 90 s, alone since 30 s, it is
    // ended at once, billed its hold (to 60 s) and nothing more.
    let configs = (EngineConfig::default(), EngineConfig { abandon_after_ms: Some(30_000), ..Default::default() });
    let TwoNodes { second, meter, user, session, .. } =
        first_node_runs_then_stops("hal", 300, Duration::from_secs(40), configs).await;

    tokio::time::sleep(Duration::from_secs(70)).await;
    let view = second.view(&user, &session).await.unwrap();
    assert_eq!(view.ended_reason, Some(EndReason::Abandoned));
    assert_eq!(totals(meter.as_ref(), &user).await, (300 - 60, 0, 300, 60));
}
