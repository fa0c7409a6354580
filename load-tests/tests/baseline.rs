//! The baseline server (`viva-load baseline-server`) as `replay` sees it: the shipped
//! recordings replay against it cleanly in both encodings, and for each of them it sends the
//! real gateway's own messages: the same `session.ready`, the same durable events (`seq`s
//! aside: Viva's scores race the next answer) and the same turn texts, in both encodings.
//! Real sockets on 127.0.0.1; nothing here asserts a timing.
//!
//! When the plans or the scripted interviewer change, the canned logs in
//! `load-tests/baseline/` go stale and the comparison fails; regenerate them from the
//! in-process gateway with `VIVA_LOAD_BLESS=1 cargo test -p viva-load --test baseline`, then
//! run the tests again (the logs are compiled in).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use viva_engine::EngineConfig;
use viva_load::baseline::{self, Baseline, Deltas};
use viva_load::client::{Api, Incoming, Socket};
use viva_load::session::SessionOutcome;
use viva_load::{ReplayConfig, Script, Summary, Target, Timeouts};
use viva_protocol::checker::Checker;
use viva_protocol::{ClientMessage, Encoding, ServerMessage};

mod common;

use common::shipped;

/// No clock but the one at the start, on either server, however slow the machine.
const NO_CLOCKS: Duration = Duration::from_secs(3600);

async fn baseline_server() -> Target {
    let mut server = Baseline::shipped(Deltas::PerTurn).unwrap();
    server.clock_every = NO_CLOCKS;
    let listener = baseline::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(baseline::serve(listener, Arc::new(server), std::future::pending()));
    Target::parse(&format!("ws://{addr}")).unwrap()
}

async fn gateway() -> Target {
    let mut config = EngineConfig::default();
    config.core.clock_interval_ms = NO_CLOCKS.as_millis() as u64;
    Target::parse(&format!("ws://{}", common::gateway(config))).unwrap()
}

/// A plain HTTP client (the workspace's reqwest needs a crypto provider installed first).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn replay(
    target: Target,
    scripts: Vec<Script>,
    sessions: usize,
    encoding: Encoding,
    ramp_per_s: Option<f64>,
) -> (Summary, Vec<SessionOutcome>) {
    let config = ReplayConfig {
        targets: vec![target],
        max_reconnects: 0,
        scripts,
        sessions,
        concurrency: 4,
        speed: 1e6,
        encoding,
        token_prefix: "dev:baseline-".to_owned(),
        timeouts: Timeouts::default(),
        ramp_per_s,
        voice: None,
    };
    common::replay(config).await
}

fn assert_clean(summary: &Summary, sessions: u64) {
    common::assert_clean(summary, sessions);
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recordings_replay_cleanly_against_the_baseline_in_json() {
    let (summary, _) = replay(baseline_server().await, shipped(), 8, Encoding::Json, None).await;
    assert_clean(&summary, 8);
    assert_eq!(summary.extra_answers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recordings_replay_cleanly_against_the_baseline_in_msgpack() {
    let (summary, _) = replay(baseline_server().await, shipped(), 8, Encoding::MsgPack, None).await;
    assert_clean(&summary, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramped_replay_runs_every_session() {
    let (summary, _) = replay(baseline_server().await, shipped(), 12, Encoding::Json, Some(2000.0)).await;
    assert_clean(&summary, 12);
}

/// Plays `script` as a client that answers the moment it is asked (and ends when the
/// recording does); every message received but the clocks, with the session's id and the
/// `seq`s blanked, durable events sorted (Viva's scores race the next answer, so their order
/// and numbering differ between runs).
async fn conversation(target: &Target, script: &Script, encoding: Encoding) -> (Vec<String>, Vec<String>) {
    let token = "dev:conversation";
    let api = Api::new(target.clone(), Duration::from_secs(10));
    let created = api.create_session(token, &script.plan).await.unwrap();
    let id = created.session_id.clone();
    let mut socket = Socket::connect(target, token, &id, encoding, Duration::from_secs(10)).await.unwrap();
    let mut steps: VecDeque<ClientMessage> = script.lines.iter().map(|l| l.message.clone()).collect();
    let (mut checker, mut acked, mut received) = (Checker::new(), true, Vec::new());
    loop {
        let message = match tokio::time::timeout(Duration::from_secs(30), socket.next()).await.unwrap() {
            Incoming::Message(message) => message,
            Incoming::BadFrame(detail) => panic!("{detail}"),
            Incoming::Closed(code) => {
                checker.closed(code);
                break;
            }
        };
        checker.observe(&message);
        acked |= matches!(message, ServerMessage::AnswerReceived(_));
        let ready = matches!(message, ServerMessage::SessionReady(_));
        // Like the clock's ticks, whether the end waits for a score (and says so with
        // `session.ending`) depends on timing: a score slower than the closing turn.
        if !matches!(message, ServerMessage::Clock(_) | ServerMessage::SessionEnding(_)) {
            received.push(message);
        }
        if ready || (acked && checker.awaiting_answer()) {
            if let Some(next) = steps.pop_front() {
                acked = !matches!(next, ClientMessage::AnswerSubmit { .. } | ClientMessage::CodeSubmit { .. });
                checker.sent(&next);
                socket.send(&next).await.unwrap();
            }
        }
    }
    assert!(checker.completed(), "{}: {:?}", script.name, checker.violations());
    let (violations, errors) = checker.finish();
    assert!(violations.is_empty() && errors.is_empty(), "{}: {violations:?} {errors:?}", script.name);
    let text = |message: &ServerMessage| serde_json::to_string(message).unwrap().replace(&id, "ses_");
    let blank = |json: String| {
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        if value.get("seq").is_some() {
            value["seq"] = 0.into();
        }
        value.to_string()
    };
    let (durable, mut rest): (Vec<&ServerMessage>, Vec<&ServerMessage>) =
        received.iter().partition(|m| m.seq().is_some());
    let mut durable: Vec<String> = durable.into_iter().map(|m| blank(text(m))).collect();
    durable.sort();
    // Besides the durable events: session.ready, then the deltas (their texts are checked
    // against each turn.done by the checker; how many a turn takes is Viva's outbox's choice).
    rest.retain(|m| !matches!(m, ServerMessage::TurnDelta(_)));
    (durable, rest.into_iter().map(text).collect())
}

/// Writes the canned logs from the gateway's own event logs (`VIVA_LOAD_BLESS=1`).
async fn bless(target: &Target) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("baseline");
    let http = http();
    let plans = http.get(target.http("/v1/plans")).send().await.unwrap().text().await.unwrap();
    std::fs::write(dir.join("plans.json"), plans).unwrap();
    let scripts: Vec<Script> = shipped().into_iter().filter(|s| s.name.ends_with(".strong")).collect();
    let (_, outcomes) = replay(target.clone(), scripts, 3, Encoding::Json, None).await;
    for outcome in outcomes {
        let id = outcome.session_id.unwrap();
        let url = target.http(&format!("/v1/sessions/{id}/events"));
        let token = format!("dev:baseline-{}", outcome.index + 1);
        let body: serde_json::Value = http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        // Through the protocol's types, so the fields keep the order Viva sends them in.
        let events: Vec<viva_protocol::ServerMessage> = serde_json::from_value(body["events"].clone()).unwrap();
        let lines: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let plan = outcome.recording.trim_end_matches(".strong");
        std::fs::write(dir.join(format!("{plan}.jsonl")), lines.join("\n") + "\n").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_sends_what_the_gateway_sends() {
    let gateway = gateway().await;
    if std::env::var_os("VIVA_LOAD_BLESS").is_some() {
        bless(&gateway).await;
        eprintln!("wrote load-tests/baseline/; run the tests again to compare");
        return;
    }
    let baseline = baseline_server().await;
    for encoding in [Encoding::Json, Encoding::MsgPack] {
        for script in shipped() {
            let viva = conversation(&gateway, &script, encoding).await;
            let bare = conversation(&baseline, &script, encoding).await;
            assert!(viva.0.len() > 10, "{}: {:?}", script.name, viva.0);
            assert_eq!(
                bare,
                viva,
                "{} in {}: the baseline's messages differ from Viva's; if the plans changed, regenerate \
                 the canned logs: VIVA_LOAD_BLESS=1 cargo test -p viva-load --test baseline",
                script.name,
                encoding.subprotocol()
            );
        }
    }
}

#[tokio::test]
async fn the_baseline_refuses_what_viva_refuses() {
    let target = baseline_server().await;
    let http = http();
    let create = |token: Option<&str>, plan: &str| {
        let request = http.post(target.http("/v1/sessions")).json(&serde_json::json!({ "plan": plan }));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    assert_eq!(create(None, "frontend").send().await.unwrap().status(), 401);
    assert_eq!(create(Some("dev:a"), "no-such-plan").send().await.unwrap().status(), 400);
    let created = create(Some("dev:a"), "frontend").send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: viva_protocol::rest::SessionCreated = created.json().await.unwrap();
    assert_eq!(created.session_id.len(), "ses_".len() + 32);
    let api = viva_load::client::Api::new(target.clone(), Duration::from_secs(5));
    let socket = |token: &'static str, id: String| {
        let target = target.clone();
        async move { viva_load::client::Socket::connect(&target, token, &id, Encoding::Json, Duration::from_secs(5)).await }
    };
    let stranger = socket("dev:b", created.session_id.clone()).await.err().unwrap().to_string();
    assert!(stranger.contains("HTTP 404"), "{stranger}");
    assert!(socket("dev:a", created.session_id.clone()).await.is_ok());
    assert_eq!(api.plans().await.unwrap().plans.len(), 3);
    let metrics = http.get(target.http("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(viva_load::hold::rss_in_metrics(&metrics).is_some_and(|rss| rss > 0), "{metrics}");
    assert_eq!(http.get(target.http("/nope")).send().await.unwrap().status(), 404);
}
