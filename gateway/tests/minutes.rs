//! Minutes over real sockets: the admin rule of `/v1/admin/*`, credits applied once per key,
//! the ledger page by page, bad input refused with nothing applied; and, with real gateway
//! processes on a real `redis-server` with 1 s slices, a gateway killed mid-interview whose
//! session resumes on the next one: what is debited is the live time within a slice, and no
//! stretch is settled twice; and Redis killed and restarted mid-session: the frozen time is
//! not billed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Connect, Gateway, Process};
use serde_json::{Value, json};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::meter::MemoryMeter;
use viva_engine::{Engine, Metering};
use viva_protocol::{ClientMessage, ServerMessage};
use viva_testkit::RedisServer;

const ADMIN: &str = "admin-token-for-the-tests-0123";

async fn metered(admin: Option<&str>) -> Gateway {
    let engine = Engine::builder()
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .metering(Metering::new(Arc::new(MemoryMeter::new())))
        .build();
    let admin = admin.map(Arc::from);
    Gateway::start_on(engine, move |state| state.admin_token = admin).await
}

/// A request with an optional bearer token; the status and the JSON body.
async fn call(
    remote: &common::Remote,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = common::http().request(method, remote.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn credit(remote: &common::Remote, user: &str, body: Value) -> (u16, Value) {
    call(remote, reqwest::Method::POST, &format!("/v1/admin/users/{user}/credits"), Some(ADMIN), Some(body)).await
}

#[tokio::test]
async fn admin_routes_need_the_flag_and_the_token() {
    let without = metered(None).await;
    let (status, body) = call(&without, reqwest::Method::GET, "/v1/admin/users/ann/usage", Some(ADMIN), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "no --admin-token: no admin routes");

    let gateway = metered(Some(ADMIN)).await;
    let (_, bad_user_token) = call(&gateway, reqwest::Method::GET, "/v1/me/sessions", Some("dev:"), None).await;
    for token in [None, Some("wrong"), Some("dev:ann"), Some(&ADMIN[1..])] {
        let (status, body) = call(&gateway, reqwest::Method::GET, "/v1/admin/users/ann/usage", token, None).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(body, bad_user_token, "the same body as any bad token");
    }
    let (status, usage) = call(&gateway, reqwest::Method::GET, "/v1/admin/users/ann/usage", Some(ADMIN), None).await;
    assert_eq!((status, &usage["balance_s"]), (200, &json!(0)));
}

#[tokio::test]
async fn credits_apply_once_and_bad_ones_apply_nothing() {
    let gateway = metered(Some(ADMIN)).await;
    let (status, body) = credit(&gateway, "bob", json!({"seconds": 600, "idempotency_key": "order-1"})).await;
    assert_eq!((status, body), (201, json!({"balance_s": 600, "duplicate": false})), "an unknown user gets a balance");
    let (status, body) = credit(&gateway, "bob", json!({"seconds": 600, "idempotency_key": "order-1"})).await;
    assert_eq!((status, body), (200, json!({"balance_s": 600, "duplicate": true})), "the same key: the same answer");

    for bad in [
        json!({"seconds": 0, "idempotency_key": "k0"}),
        json!({"seconds": -5, "idempotency_key": "k1"}),
        json!({"seconds": 1e20, "idempotency_key": "k2"}),
        json!({"seconds": 18446744073709551615u64, "idempotency_key": "k3"}),
        json!({"seconds": "ten", "idempotency_key": "k4"}),
        json!({"seconds": 10}),
        json!({"seconds": 10, "idempotency_key": ""}),
        json!({"seconds": 10, "idempotency_key": "k5", "reason": "x".repeat(501)}),
    ] {
        let (status, body) = credit(&gateway, "bob", bad.clone()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}");
    }
    let (status, _) = credit(&gateway, "bad%7Buser", json!({"seconds": 1, "idempotency_key": "k"})).await;
    assert_eq!(status, 400, "not a user id");
    // Over the 64 KiB body limit: too large, as on every other route (it was a 400 here).
    let huge = json!({"seconds": 10, "idempotency_key": "k6", "reason": "x".repeat(70 * 1024)});
    let (status, body) = credit(&gateway, "bob", huge).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("bad_request")), "{body}");
    let (_, usage) = call(&gateway, reqwest::Method::GET, "/v1/me/usage", Some("dev:bob"), None).await;
    assert_eq!(
        (&usage["balance_s"], usage["items"].as_array().unwrap().len()),
        (&json!(600), 1),
        "nothing else applied"
    );
}

#[tokio::test]
async fn the_ledger_pages_and_is_exported_and_deleted() {
    let gateway = metered(Some(ADMIN)).await;
    for n in 1..=5 {
        credit(&gateway, "cal", json!({"seconds": n, "idempotency_key": format!("k{n}"), "reason": "promo"})).await;
    }
    let mut seconds = Vec::new();
    let mut path = "/v1/me/usage?limit=2".to_owned();
    loop {
        let (status, page) = call(&gateway, reqwest::Method::GET, &path, Some("dev:cal"), None).await;
        assert_eq!(status, 200);
        seconds.extend(page["items"].as_array().unwrap().iter().map(|i| i["seconds"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/me/usage?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seconds, [5, 4, 3, 2, 1], "newest first, each once");
    for bad in ["/v1/me/usage?limit=0", "/v1/me/usage?limit=201", "/v1/me/usage?limit=x", "/v1/me/usage?cursor=zz"] {
        let (status, _) = call(&gateway, reqwest::Method::GET, bad, Some("dev:cal"), None).await;
        assert_eq!(status, 400, "{bad}");
    }

    let (status, export) = gateway.get(Some("cal"), "/v1/me/export").await;
    assert_eq!(status, 200);
    assert_eq!(export["minutes"]["balance_s"], 15);
    assert_eq!(export["minutes"]["ledger"].as_array().unwrap().len(), 5);
    assert_eq!(export["minutes"]["ledger"][0]["reason"], "promo");
    let response = common::http().delete(gateway.url("/v1/me")).bearer_auth("dev:cal").send().await.unwrap();
    assert_eq!(response.status(), 204);
    let (_, usage) = call(&gateway, reqwest::Method::GET, "/v1/me/usage", Some("dev:cal"), None).await;
    assert_eq!((&usage["balance_s"], usage["items"].as_array().unwrap().len()), (&json!(0), 0), "deleted");
}

#[tokio::test]
async fn without_metering_there_is_no_usage_and_starts_are_free() {
    let gateway = Gateway::start().await;
    let (status, _) = call(&gateway, reqwest::Method::GET, "/v1/me/usage", Some("dev:dan"), None).await;
    assert_eq!(status, 404);
    let session = gateway.create("dan", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:dan")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    assert!(matches!(client.message().await, ServerMessage::TurnStarted(_)));
}

/// Debits of `user` (key, seconds), through `gateway`'s admin route.
async fn debits(gateway: &common::Remote, user: &str) -> (Value, Vec<(String, u64)>) {
    let path = format!("/v1/admin/users/{user}/usage?limit=200");
    let (status, usage) = call(gateway, reqwest::Method::GET, &path, Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let debits = usage["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "debit")
        .map(|i| (i["key"].as_str().unwrap().to_owned(), i["seconds"].as_u64().unwrap()))
        .collect();
    (usage, debits)
}

#[tokio::test]
async fn a_gateway_killed_mid_interview_loses_at_most_a_slice_and_never_charges_twice() {
    let redis = RedisServer::start();
    let args = |pace: &'static str| {
        let url = redis.url();
        let mut args: Vec<String> = ["--store", &url, "--metering", "minutes", "--metering-slice-s", "1"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        args.extend(["--admin-token", ADMIN, "--scripted-pace-ms", pace].map(str::to_owned));
        args
    };
    let first_args = args("0");
    let first = Process::spawn(&first_args.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, _) = credit(&first, "eva", json!({"seconds": 60, "idempotency_key": "pack-1"})).await;
    assert_eq!(status, 201);
    let session = first.create("eva", "senior-backend").await;
    let mut client = first.connect(&session, Connect::user("dev:eva")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let started = Instant::now();
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    first.signal("KILL");
    let _ = first.wait().await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let second_args = args("0");
    let second = Process::spawn(&second_args.iter().map(String::as_str).collect::<Vec<_>>());
    let last = seen.iter().filter_map(ServerMessage::seq).max().unwrap();
    let mut client = second.connect(&session, Connect::user("dev:eva").last_seq(last)).await.unwrap();
    client.message().await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    client.send(&ClientMessage::SessionEnd { id: Some("end".into()) }).await;
    client.until(|m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let live = started.elapsed().as_secs_f64();

    let (usage, debits) = debits(&second, "eva").await;
    let debited: u64 = debits.iter().map(|(_, s)| s).sum();
    // The figure of docs/metering.md (shown with --nocapture).
    eprintln!("after a SIGKILL: {debited} s debited for {live:.2} s of live time: {debits:?}");
    assert!(
        (live - 1.0..=live + 1.0).contains(&(debited as f64)),
        "{debited} s debited for {live:.2} s live: {debits:?}"
    );
    let mut keys: Vec<&String> = debits.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), debits.len(), "no stretch settled twice: {debits:?}");
    assert_eq!((usage["held_s"].as_u64(), usage["balance_s"].as_u64()), (Some(0), Some(60 - debited)));
    second.signal("TERM");
    assert_eq!(second.wait().await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_session_bills_nothing_for_the_frozen_time() {
    use viva_engine::meter::RedisMeter;
    use viva_engine::store::RedisStore;

    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), Duration::from_secs(1)).await.unwrap();
    let meter = RedisMeter::new(store.connection());
    let engine = Engine::builder()
        .store(Arc::new(store))
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .metering(Metering { slice_s: 1, ..Metering::new(Arc::new(meter)) })
        .build();
    let gateway = Gateway::start_on(engine, |state| state.admin_token = Some(Arc::from(ADMIN))).await;
    let (status, _) = credit(&gateway, "ida", json!({"seconds": 120, "idempotency_key": "pack"})).await;
    assert_eq!(status, 201);
    let plan = gateway.engine.plans().get("senior-backend").unwrap().clone();
    let session = gateway.create("ida", "senior-backend").await;
    let mut client = gateway.connect(&session, Connect::user("dev:ida")).await.unwrap();
    client.message().await;
    client.send(&ClientMessage::SessionStart { id: None, voice: None }).await;
    let started = Instant::now();
    client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 2)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Redis goes away; the answer freezes the session until it is back, 4 s later.
    redis.kill();
    client.send(&common::answer_for(&plan, &plan.questions[0].id, "a1".into())).await;
    client
        .until(|m| matches!(m, ServerMessage::Error(e) if e.code == viva_protocol::ErrorCode::StoreUnavailable))
        .await;
    let frozen_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.restart();
    client.until(|m| matches!(m, ServerMessage::AnswerReceived(_))).await;
    let frozen = frozen_at.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    client.send(&ClientMessage::SessionEnd { id: Some("end".into()) }).await;
    client.until(|m| matches!(m, ServerMessage::SessionEnded(_))).await;
    let live = started.elapsed().as_secs_f64();

    let (usage, debits) = debits(&gateway, "ida").await;
    let debited: u64 = debits.iter().map(|(_, s)| s).sum();
    eprintln!("Redis restarted: {debited} s debited for {live:.2} s live, {frozen:.2} s of it frozen: {debits:?}");
    let billed = live - frozen;
    assert!(
        (billed - 1.5..=billed + 1.5).contains(&(debited as f64)),
        "{debited} s debited, about {billed:.1} s expected"
    );
    assert_eq!(usage["held_s"].as_u64(), Some(0));
}
