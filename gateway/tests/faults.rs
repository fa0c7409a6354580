//! Faults between gateway processes and their Redis, with real processes: a network stall of
//! one node (testkit's `FaultProxy` between that gateway and Redis), a stale node coming back
//! after its sessions moved, and a node whose clock is an hour off (libfaketime).
//!
//! Standalone Redis, not a cluster: the proxy stands for one server's address, and a cluster
//! hands its clients the nodes' own addresses (MOVED), which would go around it. Fencing,
//! leases and notices are the same code on both.

mod common;

use std::time::Duration;

use common::{Connect, Process};
use viva_engine::plan::PlanCatalog;
use viva_protocol::{ClientMessage, ErrorCode, ServerMessage};
use viva_testkit::RedisServer;
use viva_testkit::fault_proxy::FaultProxy;

/// The epoch that wrote each event of a session's log, in log order (the APPEND script keeps
/// it in each stream entry's field `w`).
fn writers(redis: &RedisServer, session: &str) -> Vec<u64> {
    const EPOCHS: &str = "local out = {} \
        for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do \
          local fields = entry[2] \
          for i = 1, #fields, 2 do if fields[i] == 'w' then table.insert(out, fields[i + 1]) end end \
        end \
        return out";
    let log = format!("viva:{{{session}}}:log");
    redis.cli(&["EVAL", EPOCHS, "1", &log]).lines().map(|l| l.trim().parse().unwrap()).collect()
}

/// The value of a counter in a gateway's `/metrics` (0 while it has none).
async fn counter(gateway: &Process, name: &str) -> f64 {
    let text = common::http().get(gateway.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0.0)
}

/// Polls `check` every 20 ms until it holds (at most `PATIENCE`).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_store_unavailable(message: &ServerMessage) -> bool {
    matches!(message, ServerMessage::Error(e) if e.code == ErrorCode::StoreUnavailable && !e.fatal)
}

/// A stall between the gateway and Redis shorter than the session's lease: the session
/// freezes (the client is told, not closed), and when the network is back the answer given
/// meanwhile is stored, once, and acknowledged; nothing is lost and nobody else took over.
#[tokio::test]
async fn a_short_network_stall_freezes_the_session_and_loses_nothing() {
    let redis = RedisServer::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port()).into());
    let url = format!("redis://{}", proxy.addr());
    let gateway = Process::spawn(&["--store", &url, "--scripted-pace-ms", "0", "--store-timeout-ms", "300"]);
    let plan = PlanCatalog::shipped().get("senior-backend").unwrap().clone();

    let session = gateway.create("fay", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:fay")).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let question = seen.iter().find_map(|m| match m {
        ServerMessage::TurnStarted(t) if t.turn_id == 2 => t.question_id.clone(),
        _ => None,
    });

    proxy.stall();
    client.send(&common::answer_for(&plan, &question.unwrap(), "during-stall".into())).await;
    client.until(is_store_unavailable).await;
    proxy.resume();
    let after = client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    let ServerMessage::AnswerReceived(received) = after.last().unwrap() else { unreachable!() };
    assert_eq!(received.id.as_deref(), Some("during-stall"), "the answer given during the stall, kept");

    let (_, events) = gateway.get(Some("fay"), &format!("/v1/sessions/{session}/events")).await;
    let events = events["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no seq skipped or repeated");
    assert_eq!(events.iter().filter(|e| e["type"] == "answer.received").count(), 1);
    let epochs = writers(&redis, &session);
    assert!(epochs.windows(2).all(|w| w[0] == w[1]), "one writer all along: {epochs:?}");
    gateway.signal("TERM");
    assert_eq!(gateway.wait().await.0, Some(0));
}

/// A node cut off from Redis for longer than its lease: another node takes its session over
/// (the lease ran out); when the network comes back, what the stale node sent meanwhile
/// reaches Redis late and is refused (fenced), it writes nothing more and closes its socket
/// 4011 (moved); the client resumes on the other node and its answer is stored once.
#[tokio::test]
async fn a_stale_node_back_after_its_session_moved_writes_nothing_and_closes_its_socket() {
    let redis = RedisServer::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port()).into());
    let through_proxy = format!("redis://{}", proxy.addr());
    let args = |url: &str| -> Vec<String> {
        ["--store", url, "--scripted-pace-ms", "0", "--store-timeout-ms", "300", "--session-lease-ms", "1000"]
            .map(str::to_owned)
            .to_vec()
    };
    let stale_args = args(&through_proxy);
    let other_args = args(&redis.url());
    let stale = Process::spawn(&stale_args.iter().map(String::as_str).collect::<Vec<_>>());
    let other = Process::spawn(&other_args.iter().map(String::as_str).collect::<Vec<_>>());
    let plan = PlanCatalog::shipped().get("senior-backend").unwrap().clone();

    let session = stale.create("gus", "senior-backend").await;
    let mut client = stale.connect(&session, Connect::user("dev:gus")).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let before = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    let question = seen
        .iter()
        .find_map(|m| match m {
            ServerMessage::TurnStarted(t) if t.turn_id == 2 => t.question_id.clone(),
            _ => None,
        })
        .unwrap();

    proxy.stall();
    let answer = common::answer_for(&plan, &question, "cut-off".into());
    client.send(&answer).await;
    client.until(is_store_unavailable).await;
    eventually("the other node takes the session over", || async {
        counter(&other, "viva_sessions_taken_over_total").await >= 1.0
    })
    .await;
    proxy.resume();
    assert_eq!(client.closed().await, Some(4011), "moved: reconnect");

    let mut client = other.connect(&session, Connect::user("dev:gus").last_seq(before)).await.unwrap();
    let ServerMessage::SessionReady(ready) = client.message().await else { panic!("session.ready first") };
    assert!(ready.resumed);
    assert_eq!(ready.state.awaiting_answer.map(|a| a.question_id), Some(question), "the answer was never stored");
    client.send(&answer).await;
    let after = client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    let ServerMessage::AnswerReceived(received) = after.last().unwrap() else { unreachable!() };
    assert_eq!(received.id.as_deref(), Some("cut-off"));

    let (_, events) = other.get(Some("gus"), &format!("/v1/sessions/{session}/events")).await;
    let events = events["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no seq skipped or repeated");
    assert_eq!(events.iter().filter(|e| e["type"] == "answer.received").count(), 1, "stored once");
    // Who wrote what: the stale node's epoch exactly for the events before the cut, the
    // other node's after (an epoch never goes down along the log).
    let epochs = writers(&redis, &session);
    assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "{epochs:?}");
    let first = epochs[0];
    assert_eq!(epochs.iter().filter(|&&e| e == first).count() as u64, before, "{epochs:?}");
    assert!(epochs[before as usize..].iter().all(|&e| e > first), "{epochs:?}");

    for gateway in [stale, other] {
        gateway.signal("TERM");
        assert_eq!(gateway.wait().await.0, Some(0));
    }
}

/// libfaketime's library, when the Debian package `faketime` is installed.
fn libfaketime() -> Option<std::path::PathBuf> {
    let arches = std::fs::read_dir("/usr/lib").ok()?;
    arches.flatten().map(|arch| arch.path().join("faketime/libfaketime.so.1")).find(|lib| lib.exists())
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A node whose clock is an hour ahead (libfaketime) goes by Redis's time, as every node on
/// the store does: a ticket another node issued works on it, and when it takes over a session
/// whose node died, it neither ends it at once (an hour late by its own clock) nor stamps its
/// events an hour ahead: the session runs its time, its turns are stamped by Redis's clock.
/// (Leases never read a node's clock: their scripts read Redis's `TIME`.)
#[tokio::test]
async fn a_node_whose_clock_is_an_hour_ahead_goes_by_redis_time() {
    let Some(faketime) = libfaketime() else {
        viva_testkit::missing_program("libfaketime (Debian package faketime)");
        return;
    };
    let redis = RedisServer::start();
    let plans = common::QuickPlan::new(8);
    let url = redis.url();
    let args = ["--store", &url, "--scripted-pace-ms", "0", "--session-lease-ms", "1000", "--plans", plans.dir()];
    let on_time = Process::spawn(&args);
    let skew = [("LD_PRELOAD", faketime.to_str().unwrap()), ("FAKETIME", "+1h"), ("FAKETIME_DONT_FAKE_MONOTONIC", "1")];
    let ahead = Process::spawn_with(&args, &skew);

    // A ticket issued by the node on time, redeemed on the one ahead (expired by its clock).
    let other = on_time.create("hal", "quick-frontend").await;
    let response = common::http()
        .post(on_time.url(&format!("/v1/sessions/{other}/ticket")))
        .bearer_auth("dev:hal")
        .send()
        .await
        .unwrap();
    let ticket: serde_json::Value = response.json().await.unwrap();
    let ticket = ticket["ticket"].as_str().unwrap();
    assert!(ahead.connect(&other, Connect::ticket(ticket)).await.is_ok(), "the ticket works on the node ahead");

    let session = on_time.create("hal", "quick-frontend").await;
    let mut client = on_time.connect(&session, Connect::user("dev:hal")).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    drop(client);
    on_time.signal("KILL");
    on_time.wait().await;

    let path = format!("/v1/sessions/{session}");
    eventually("the node ahead ends the session", || async {
        !ahead.get(Some("hal"), &path).await.1["ended_reason"].is_null()
    })
    .await;
    let view = ahead.get(Some("hal"), &path).await.1;
    assert_eq!(view["ended_reason"], "time_up", "{view}");
    let (status, report) = ahead.get(Some("hal"), &format!("{path}/report")).await;
    assert_eq!(status, 200);
    let started = view["transcript"][0]["started_at"].as_u64().unwrap();
    let ended = report["generated_at"].as_u64().unwrap();
    let (now, half_hour) = (wall_ms(), 1_800_000);
    assert!(ended.abs_diff(now) < half_hour, "stamped by Redis's clock, not an hour ahead: {ended} at {now}");
    let ran = ended - started;
    assert!((8_000..half_hour).contains(&ran), "ended when its 8 s were up, not at once: {ran} ms");

    ahead.signal("TERM");
    let (code, log) = ahead.wait().await;
    assert_eq!(code, Some(0));
    assert!(log.contains("clock is off Redis's"), "libfaketime moved its clock: {log}");
}
