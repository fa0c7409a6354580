//! Whole interviews over real sockets with the LLM interviewer and scorer, against a fake
//! OpenAI-compatible provider on a loopback port: one that answers well, and one that fails
//! every other request and cuts every third stream. Interviews complete either way, every
//! turn is closed, and nothing is left waiting on the provider. The binary itself runs one
//! with `--interviewer llm --scorer llm`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Connect, Gateway, Process, Remote, assert_kept, play};
use viva_engine::interviewer::{LlmInterviewer, ScriptedInterviewer};
use viva_engine::llm::{LlmClient, LlmConfig};
use viva_engine::plan::PlanCatalog;
use viva_engine::scorer::{HeuristicScorer, LlmScorer};
use viva_engine::{Engine, EngineConfig};
use viva_protocol::{ClientMessage, ServerMessage, TurnKind, TurnStatus};
use viva_testkit::openai::{FakeOpenAi, Reply, Request, scorer_json};

/// The longest a whole interview may take before it counts as hung.
const INTERVIEW: Duration = Duration::from_secs(90);

/// A gateway whose engine speaks and scores through `fake`.
async fn gateway(fake: &FakeOpenAi) -> Gateway {
    let config = LlmConfig {
        connect_timeout: Duration::from_secs(5),
        first_token_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        max_retries: 2,
        backoff: Duration::from_millis(10),
        breaker_cooldown: Duration::from_secs(1),
        ..LlmConfig::new(fake.base_url(), "fake-model", Some("sk-test".to_owned()))
    };
    let client = LlmClient::new(config).unwrap();
    let engine = Engine::builder()
        .config(EngineConfig::default())
        .interviewer(Arc::new(LlmInterviewer::new(client.clone(), ScriptedInterviewer::new(Duration::ZERO))))
        .scorer(Arc::new(LlmScorer::new(client)))
        .build();
    Gateway::start_on(engine, |_| {}).await
}

/// What the model says on request `n`.
fn turn_text(n: usize) -> String {
    format!("This is the model speaking on request {n}: could you walk me through it?")
}

/// The model's answer to `request`: a turn's text when streamed, a valid score when not.
fn answer(request: &Request) -> Reply {
    if request.stream() { Reply::Text(turn_text(request.n)) } else { Reply::Text(scorer_json(&request.body, 7.0)) }
}

/// Plays a whole interview of `user` on `plan_id`, bounded: every message and the report.
async fn interview(gateway: &Remote, user: &str, plan_id: &str) -> (Vec<ServerMessage>, serde_json::Value) {
    let run = async {
        let plan = PlanCatalog::shipped().get(plan_id).unwrap().clone();
        let session = gateway.create(user, plan_id).await;
        let mut client = gateway.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
        let ServerMessage::SessionReady(_) = client.message().await else { panic!("session.ready first") };
        client.send(&ClientMessage::SessionStart { id: Some("start".into()), voice: None }).await;
        let (messages, close) = play(&mut client, &plan).await;
        assert_eq!(close, Some(1000), "{user}");
        assert_kept(&messages);
        let (status, report) = gateway.get(Some(user), &format!("/v1/sessions/{session}/report")).await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(report["ended_reason"], "completed", "{user}");
        (messages, report)
    };
    tokio::time::timeout(INTERVIEW, run).await.unwrap_or_else(|_| panic!("{user}'s interview hung"))
}

fn turns(messages: &[ServerMessage]) -> Vec<(u32, TurnStatus, String)> {
    let done = messages.iter().filter_map(|m| match m {
        ServerMessage::TurnDone(t) => Some((t.turn_id, t.status, t.text.clone())),
        _ => None,
    });
    done.collect()
}

fn scored_by(report: &serde_json::Value) -> Vec<String> {
    let answers = report["answers"].as_array().unwrap();
    answers.iter().map(|a| a["scored_by"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_whole_interview_spoken_and_scored_by_the_model() {
    let fake = FakeOpenAi::start(answer).await;
    let gateway = gateway(&fake).await;
    let (messages, report) = interview(&gateway, "alice", "senior-backend").await;

    let turns = turns(&messages);
    assert!(turns.len() > 5, "{turns:?}");
    assert_eq!(turns[0], (1, TurnStatus::Completed, turn_text(1)), "the intro is the model's first stream");
    let streamed: Vec<String> = fake.requests().iter().filter(|r| r.stream()).map(|r| turn_text(r.n)).collect();
    for (turn_id, status, text) in &turns {
        assert_eq!(*status, TurnStatus::Completed, "turn {turn_id}");
        assert!(streamed.contains(text), "turn {turn_id} says {text:?}, which the model did not stream");
    }
    assert_eq!(streamed.len(), turns.len(), "one stream per turn");

    let scored = scored_by(&report);
    assert!(!scored.is_empty());
    assert!(scored.iter().all(|s| s == "llm/fake-model"), "{scored:?}");
    let scores = fake.requests().iter().filter(|r| !r.stream()).count();
    assert_eq!(scores, scored.len(), "one scoring request per answer");
    assert_eq!((fake.in_flight(), fake.dropped()), (0, 0), "nothing left open at the provider");
}

#[tokio::test]
async fn interviews_complete_against_a_provider_that_keeps_failing() {
    let streams = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(Mutex::new((0, 0)));
    let script = {
        let (streams, served) = (Arc::clone(&streams), Arc::clone(&served));
        move |request: &Request| {
            if request.n.is_multiple_of(2) {
                served.lock().unwrap().0 += 1;
                return Reply::Status(500);
            }
            if request.stream() && streams.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
                served.lock().unwrap().1 += 1;
                return Reply::Cut("I was about to ask you".into());
            }
            answer(request)
        }
    };
    let fake = FakeOpenAi::start(script).await;
    let gateway = gateway(&fake).await;
    let plans = ["senior-backend", "coding-python", "frontend"];
    let users = ["ann", "ben", "cat"];
    let runs = users.iter().zip(plans).map(|(user, plan)| interview(&gateway, user, plan));
    let results = futures::future::join_all(runs).await;

    let (errors, cuts) = *served.lock().unwrap();
    assert!(errors > 0 && cuts > 0, "the provider failed: {errors} errors, {cuts} cuts");
    let mut failed_turns = 0;
    for (user, (messages, report)) in users.iter().zip(&results) {
        failed_turns += turns(messages).iter().filter(|(_, status, _)| *status == TurnStatus::Failed).count();
        let scored = scored_by(report);
        let known = |s: &String| s == "llm/fake-model" || s == HeuristicScorer::NAME;
        assert!(!scored.is_empty() && scored.iter().all(known), "{user}: {scored:?}");
    }
    assert!(failed_turns > 0, "cut streams fail their turns, which are asked again");
    assert_eq!((fake.in_flight(), fake.dropped()), (0, 0), "nothing left open at the provider");
}

/// The model's answer, choosing to follow up on the first key point whenever it is offered the
/// choice (docs/providers.md: a first line holding only a number).
fn answer_choosing(request: &Request) -> Reply {
    let last = request.body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str());
    match last {
        Some(text) if request.stream() && text.contains("Start your reply with a line holding only a number") => {
            Reply::Text(format!("1\n{}", turn_text(request.n)))
        }
        _ => answer(request),
    }
}

#[tokio::test]
async fn the_binary_interviews_with_interviewer_llm_and_scorer_llm() {
    let fake = FakeOpenAi::start(answer_choosing).await;
    let url = fake.base_url();
    // The binary checks the provider before it prints its banner: wait for it off the runtime
    // that serves the fake.
    let start = tokio::task::spawn_blocking(move || {
        let args = ["--interviewer", "llm", "--scorer", "llm", "--llm-model", "fake-model", "--llm-base-url", &url];
        Process::spawn(&[&args[..], &["--llm-api-key", "sk-test", "--scripted-pace-ms", "0"]].concat())
    });
    let gateway = tokio::time::timeout(INTERVIEW, start).await.expect("the binary starts").unwrap();
    let (messages, report) = interview(&gateway, "dora", "senior-backend").await;

    let first = &fake.requests()[0];
    assert_eq!((first.path.as_str(), first.authorization.as_deref()), ("/models", Some("Bearer sk-test")));
    assert_eq!(turns(&messages)[0], (1, TurnStatus::Completed, turn_text(2)), "the intro is the model's");
    assert!(scored_by(&report).iter().all(|s| s == "llm/fake-model"), "{report}");
    // The model chose a follow-up after every first answer: its number line chose it and was
    // not spoken.
    let started =
        |kind| messages.iter().filter(|m| matches!(m, ServerMessage::TurnStarted(t) if t.kind == kind)).count();
    assert_eq!(started(TurnKind::FollowUp), started(TurnKind::Question), "a follow-up per question");
    assert!(turns(&messages).iter().all(|(_, _, text)| text.starts_with("This is the model")), "{messages:?}");
    // The provider's queue is visible.
    let metrics = common::http().get(gateway.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in ["viva_llm_in_flight", "viva_llm_queue_depth{class=\"turn\"}", "viva_llm_queue_wait_seconds_bucket"] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }

    gateway.signal("TERM");
    let (code, logs) = tokio::time::timeout(INTERVIEW, gateway.wait()).await.expect("the binary stops");
    assert_eq!(code, Some(0), "{logs}");
    assert!(!logs.contains("sk-test"), "the key is never logged: {logs}");
}
