//! The products' privacy promises, against a real `redis-server`: export everything in a
//! machine-readable form, delete everything (live sessions included), keep finished sessions
//! only as long as configured, and review a session's event log.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Connect, Gateway, play};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::store::RedisStore;
use viva_engine::{Engine, EngineConfig};
use viva_protocol::rest::{Events, Export};
use viva_protocol::{ClientMessage, ServerMessage};
use viva_testkit::RedisServer;

async fn gateway(redis: &RedisServer, config: EngineConfig) -> Gateway {
    let store = RedisStore::connect(&redis.url(), Duration::from_secs(2)).await.unwrap();
    let engine = Engine::builder()
        .config(config)
        .store(Arc::new(store))
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .build();
    Gateway::start_on(engine, |_| {}).await
}

/// Runs a whole interview for `user`; every message the client saw.
async fn finished_session(gateway: &Gateway, user: &str, plan_id: &str) -> (String, Vec<ServerMessage>) {
    let plan = gateway.engine.plans().get(plan_id).unwrap().clone();
    let session = gateway.create(user, plan_id).await;
    let mut client = gateway.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let (seen, close) = play(&mut client, &plan).await;
    assert_eq!(close, Some(1000));
    (session, seen)
}

fn keys(redis: &RedisServer) -> Vec<String> {
    redis.cli(&["--scan"]).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn delete_removes_every_key_of_the_user_live_sessions_included() {
    let redis = RedisServer::start();
    let gateway = gateway(&redis, EngineConfig::default()).await;
    let (done, _) = finished_session(&gateway, "ivy", "coding-python").await;
    let live = gateway.create("ivy", "senior-backend").await;
    let mut client = gateway.connect(&live, Connect::user("dev:ivy")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    let (other, _) = finished_session(&gateway, "jack", "frontend").await;
    let before = keys(&redis);
    assert!(before.iter().any(|k| k.contains(&done)) && before.iter().any(|k| k.contains(&live)));
    assert!(before.iter().any(|k| k == "viva:{u:ivy}:progress"), "the finished session is in the progress record");

    let response = common::http().delete(gateway.url("/v1/me")).bearer_auth("dev:ivy").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(client.closed().await, Some(4010), "the live session's socket is closed");
    let after = keys(&redis);
    let left: Vec<_> = after.iter().filter(|k| k.contains("ivy") || k.contains(&done) || k.contains(&live)).collect();
    assert!(left.is_empty(), "SCAN finds no key of the user: {left:?}");
    assert!(after.iter().any(|k| k.contains(&other)), "another user's data stays");
    for session in [&done, &live] {
        assert_eq!(gateway.get(Some("ivy"), &format!("/v1/sessions/{session}")).await.0, 404);
        assert_eq!(gateway.connect(session, Connect::user("dev:ivy")).await.err(), Some(404));
    }
    let (_, mine) = gateway.get(Some("ivy"), "/v1/me/sessions").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn export_holds_every_session_with_answers_code_scores_and_reports() {
    let redis = RedisServer::start();
    let gateway = gateway(&redis, EngineConfig::default()).await;
    let (first, seen) = finished_session(&gateway, "kim", "coding-python").await;
    let second = gateway.create("kim", "frontend").await;
    let (status, body) = gateway.get(Some("kim"), "/v1/me/export").await;
    assert_eq!(status, 200);
    let export: Export = serde_json::from_value(body).unwrap();
    assert_eq!(export.user_id, "kim");
    let ids: Vec<&str> = export.sessions.iter().map(|s| s.session.session_id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    let finished = &export.sessions[1];
    assert!(finished.report.is_some());
    assert_eq!(finished.candidate.role.as_deref(), Some("backend"));
    let acked = seen.iter().filter(|m| matches!(m, ServerMessage::AnswerReceived(_))).count();
    let answers: Vec<_> = finished
        .session
        .transcript
        .iter()
        .filter_map(|e| match e {
            viva_protocol::state::TranscriptEntry::Answer { answer, score, .. } => Some((answer, score)),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), acked);
    assert!(answers.iter().any(|(a, _)| matches!(a, viva_protocol::AnswerContent::Code { .. })), "code is exported");
    assert!(answers.iter().all(|(_, score)| score.is_some()), "scores are exported");
    assert_eq!(gateway.get(None, "/v1/me/export").await.0, 401);
}

#[tokio::test]
async fn every_session_expires_whatever_its_state() {
    // Issue 12, item 7: only sessions that ended got a TTL; created-but-never-started and
    // started-then-abandoned ones were kept for ever, and so was the user's index.
    let redis = RedisServer::start();
    let retention = Duration::from_secs(3_600);
    let gateway = gateway(&redis, EngineConfig { retention: Some(retention), ..EngineConfig::default() }).await;
    let (done, _) = finished_session(&gateway, "lee", "frontend").await;
    let never_started = gateway.create("lee", "senior-backend").await;
    let abandoned = gateway.create("lee", "senior-backend").await;
    let mut client = gateway.connect(&abandoned, Connect::user("dev:lee")).await.unwrap();
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    client.until(|m| matches!(m, ServerMessage::TurnStarted(_))).await;
    drop(client);

    let ms = |key: &str| -> i64 { redis.cli(&["pttl", key]).trim().parse().unwrap() };
    let retention_ms = retention.as_millis() as i64;
    let played_out = retention_ms + 60 * 60_000 + 3_600_000; // a plan's limit (≤ 60 min) and the grace
    for (session, longest) in [(&done, retention_ms), (&never_started, retention_ms), (&abandoned, played_out)] {
        let keys: Vec<String> = keys(&redis).into_iter().filter(|k| k.contains(session.as_str())).collect();
        assert!(keys.iter().any(|k| k.ends_with(":meta")), "{keys:?}");
        for key in keys {
            let ttl = ms(&key);
            assert!(ttl > 0 && ttl <= longest, "{key} expires ({ttl} ms, at most {longest})");
        }
    }
    assert!(
        keys(&redis).iter().any(|k| k.contains(&abandoned) && k.ends_with(":log")),
        "the abandoned one was started"
    );
    let index = "viva:{u:lee}:sessions";
    let ttl = ms(index);
    assert!(ttl > 0 && ttl <= played_out, "the index expires with its last session ({ttl} ms)");
    for session in [&done, &never_started, &abandoned] {
        let score: f64 = redis.cli(&["zscore", index, session]).trim().parse().unwrap();
        assert!(score.is_finite(), "{session}'s index entry carries its expiry");
    }
}

#[tokio::test]
async fn the_event_log_is_what_the_client_received() {
    let redis = RedisServer::start();
    let gateway = gateway(&redis, EngineConfig::default()).await;
    let (session, seen) = finished_session(&gateway, "max", "senior-backend").await;
    let (status, body) = gateway.get(Some("max"), &format!("/v1/sessions/{session}/events")).await;
    assert_eq!(status, 200);
    let events: Events = serde_json::from_value(body).unwrap();
    let durable: Vec<&ServerMessage> = seen.iter().filter(|m| m.seq().is_some()).collect();
    assert_eq!(events.events.iter().collect::<Vec<_>>(), durable);
    assert_eq!(gateway.get(Some("nora"), &format!("/v1/sessions/{session}/events")).await.0, 404);
}

#[tokio::test]
async fn the_memory_store_keeps_the_same_promises() {
    let gateway = Gateway::start().await;
    let (session, _) = finished_session(&gateway, "olga", "coding-python").await;
    let (_, export) = gateway.get(Some("olga"), "/v1/me/export").await;
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    let response = common::http().delete(gateway.url("/v1/me")).bearer_auth("dev:olga").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(gateway.get(Some("olga"), &format!("/v1/sessions/{session}")).await.0, 404);
    let (_, export) = gateway.get(Some("olga"), "/v1/me/export").await;
    assert_eq!(export["sessions"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_session_list_comes_in_pages() {
    let gateway = Gateway::start().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(gateway.create("lea", "senior-backend").await);
    }
    let (mut seen, mut path) = (Vec::new(), "/v1/me/sessions?limit=2".to_owned());
    for _ in 0..5 {
        let (status, page) = gateway.get(Some("lea"), &path).await;
        assert_eq!(status, 200, "{page}");
        let sessions = page["items"].as_array().unwrap();
        assert!(sessions.len() <= 2);
        seen.extend(sessions.iter().map(|s| s["session_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/me/sessions?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // Pages follow the order of the whole list (newest first), each session once.
    let (_, all) = gateway.get(Some("lea"), "/v1/me/sessions").await;
    let whole: Vec<String> =
        all["items"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, whole);
    assert_eq!(all["next_cursor"], serde_json::Value::Null);
    let (mut seen, mut created) = (seen, created);
    seen.sort();
    created.sort();
    assert_eq!(seen, created);
    for bad in ["limit=0", "limit=201", "limit=two", "cursor=nonsense"] {
        let (status, body) = gateway.get(Some("lea"), &format!("/v1/me/sessions?{bad}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}");
    }
}
