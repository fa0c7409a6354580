//! The shipped recordings replayed against the real router on 127.0.0.1:0, small-scale, in
//! both encodings: every session completes and no event breaks the protocol. Nothing here
//! asserts a timing; the replay runs at a speed that makes the recordings' pauses vanish.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use viva_engine::Engine;
use viva_engine::interviewer::ScriptedInterviewer;
use viva_gateway::AppState;
use viva_gateway::auth::AuthMode;
use viva_load::client::Api;
use viva_load::recording::{self, Script};
use viva_load::session::SessionOutcome;
use viva_load::{ReplayConfig, Summary, Target, Timeouts};
use viva_protocol::{ClientMessage, Encoding};

/// A gateway with the scripted interviewer at pace 0, serving until the test ends.
async fn gateway() -> Target {
    let engine = Engine::builder().interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).build();
    let listener = viva_gateway::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(engine, AuthMode::Dev);
    tokio::spawn(viva_gateway::run(listener, state, std::future::pending(), Duration::from_secs(1)));
    Target::parse(&format!("ws://{addr}")).unwrap()
}

fn shipped() -> Vec<Script> {
    Script::read_all(&Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings")).unwrap()
}

/// Replays the shipped recordings; the summary and every session's outcome.
async fn replay(target: Target, encoding: Encoding, sessions: usize) -> (Summary, Vec<SessionOutcome>) {
    let config = ReplayConfig {
        target,
        scripts: shipped(),
        sessions,
        concurrency: 3,
        speed: 1e6,
        encoding,
        token_prefix: format!("dev:replay-{}-", encoding.subprotocol().replace('.', "-")),
        timeouts: Timeouts::default(),
    };
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let summary =
        viva_load::replay::run(config, move |outcome, _| seen.lock().unwrap().push(outcome.clone())).await.unwrap();
    let outcomes = outcomes.lock().unwrap().clone();
    (summary, outcomes)
}

fn assert_clean(summary: &Summary, sessions: u64) {
    assert_eq!(summary.violations.total, 0, "violations: {:#?}", summary.examples);
    assert_eq!((summary.sessions.completed, summary.sessions.failed), (sessions, 0), "{:#?}", summary.examples);
    assert!(summary.passed());
    for metric in ["ack", "first_delta", "score", "start_first_delta", "connect"] {
        assert!(summary.latency_ms[metric].count > 0, "{metric} measured");
    }
}

#[test]
fn there_are_recordings_of_every_shipped_plan() {
    let scripts = shipped();
    let mut plans: Vec<&str> = scripts.iter().map(|s| s.plan.as_str()).collect();
    plans.dedup();
    assert_eq!(plans, ["coding-python", "frontend", "senior-backend"]);
    let code = scripts.iter().flat_map(|s| s.answers()).filter(|a| matches!(a, ClientMessage::CodeSubmit { .. }));
    assert!(code.count() >= 2, "code answers are recorded");
    assert!(scripts.iter().any(Script::ends), "a recording ends the interview early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recordings_replay_cleanly_in_json() {
    let (summary, _) = replay(gateway().await, Encoding::Json, 6).await;
    assert_clean(&summary, 6);
    assert_eq!(summary.extra_answers, 0, "each recording answers every question its plan asks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recordings_replay_cleanly_in_msgpack() {
    let (summary, _) = replay(gateway().await, Encoding::MsgPack, 6).await;
    assert_clean(&summary, 6);
}

/// A replayed session's own recording is the recording it replayed: same messages, same
/// answers with the same ids (times differ: the replay ran faster).
#[tokio::test]
async fn a_replayed_session_records_what_was_replayed() {
    let target = gateway().await;
    let scripts = shipped();
    let (summary, outcomes) = replay(target.clone(), Encoding::Json, scripts.len()).await;
    assert_clean(&summary, scripts.len() as u64);
    let api = Api::new(target, Duration::from_secs(10));
    for outcome in outcomes {
        let script = scripts.iter().find(|s| s.name == outcome.recording).unwrap();
        let token = format!("dev:replay-viva-v1-json-{}", outcome.index + 1);
        let recorded = api.recording(&token, outcome.session_id.as_deref().unwrap()).await.unwrap();
        let messages: Vec<&ClientMessage> = recorded.iter().map(|l| &l.message).collect();
        let expected: Vec<&ClientMessage> = script.lines.iter().map(|l| &l.message).collect();
        assert_eq!(messages, expected, "{}", script.name);
        assert!(recorded.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        let again = Script::parse(&format!("{}.again", script.plan), &recording::to_jsonl(&recorded)).unwrap();
        assert_eq!(again.answers().count(), script.answers().count());
    }
}

#[tokio::test]
async fn a_gateway_that_is_not_there_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = Target::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let config = ReplayConfig {
        target,
        scripts: shipped(),
        sessions: 1,
        concurrency: 1,
        speed: 1.0,
        encoding: Encoding::Json,
        token_prefix: "dev:nobody-".into(),
        timeouts: Timeouts { connect: Duration::from_secs(2), ..Timeouts::default() },
    };
    let error = viva_load::replay::run(config, |_, _| {}).await.unwrap_err();
    assert!(error.to_string().contains("the gateway does not answer"), "{error}");
}

#[tokio::test]
async fn a_gateway_that_never_answers_fails_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    // Accepts connections and never says a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = ReplayConfig {
        target,
        scripts: shipped(),
        sessions: 1,
        concurrency: 1,
        speed: 1.0,
        encoding: Encoding::Json,
        token_prefix: "dev:nobody-".into(),
        timeouts: Timeouts { connect: Duration::from_millis(300), ..Timeouts::default() },
    };
    let error = viva_load::replay::run(config, |_, _| {}).await.unwrap_err();
    assert!(error.to_string().contains("GET /v1/plans"), "{error}");
}
