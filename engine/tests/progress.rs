//! Progress across sessions and adaptive practice, through the engine, on both stores (the
//! memory store, and Redis via a real `redis-server`): three finished interviews with known
//! answers → the expected scores over time, trend and recurring weaknesses; an adaptive
//! interview asks about them first; the record is repaired on read; deleting the user leaves no
//! progress behind.

use std::sync::Arc;
use std::time::Duration;

use expect_test::{Expect, expect};
use viva_engine::core::{Candidate, Focus, SessionId, UserId};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::store::{MemoryStore, RedisStore, Store};
use viva_engine::{Engine, Next};
use viva_protocol::rest::Progress;
use viva_protocol::{ClientMessage, ServerMessage, TurnKind};
use viva_testkit::RedisServer;

fn engine(store: Arc<dyn Store>) -> Engine {
    Engine::builder().store(store).interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO))).build()
}

/// The turns a session asked (kind, question), in order.
type Asked = Vec<(TurnKind, Option<String>)>;

/// Plays one interview on `senior-backend`: each answer in `answers` goes to the next turn that
/// awaits one (questions and follow-ups alike); then `session.end`. Returns the turns asked.
async fn interview(engine: &Engine, user: &UserId, adapt: bool, answers: &[&str]) -> (SessionId, Asked) {
    let meta = if adapt {
        engine.create_adaptive_session(user, "senior-backend", Candidate::default()).await.unwrap()
    } else {
        engine.create_session(user, "senior-backend", Candidate::default()).await.unwrap()
    };
    let mut connection = engine.connect(user, &meta.session_id, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    let mut answers = answers.iter();
    let mut asked = Vec::new();
    let mut kinds = std::collections::HashMap::new();
    loop {
        match connection.next().await {
            Next::Message(ServerMessage::TurnStarted(t)) => {
                kinds.insert(t.turn_id, t.kind);
                asked.push((t.kind, t.question_id.clone()));
            }
            Next::Message(ServerMessage::TurnDone(d)) if kinds.get(&d.turn_id).is_some_and(|k| k.awaits_answer()) => {
                let message = match answers.next() {
                    Some(text) => {
                        ClientMessage::AnswerSubmit { id: Some(format!("a{}", d.turn_id)), text: (*text).into() }
                    }
                    None => ClientMessage::SessionEnd { id: None },
                };
                connection.send(message).await.unwrap();
            }
            Next::Message(_) => {}
            Next::Close(_) => return (meta.session_id, asked),
        }
    }
}

/// The three interviews: the rate limiter's failure mode is never covered and its atomicity
/// only the third time; the event pipeline's windowing is never covered; the algorithm, the
/// shared store and the client's feedback always are.
const FIRST: &[&str] = &[
    "A token bucket per API key, kept in Redis, answering 429 when empty.",
    "I am not sure.",
    "Devices send events to Kafka, partitioned by device id, and I dedup on an event id.",
    "I would store the results somewhere.",
];
const SECOND: &[&str] = &[
    "A sliding window counter in Redis, and a 429 with Retry-After for the client.",
    "I would have to think about it.",
    "Events go into Kafka first, partitioned by device so consumers scale out; dedup by id.",
    "Then they land in a database.",
];
const THIRD: &[&str] = &[
    "A token bucket in Redis, refilled and decremented atomically by a Lua script; clients get a \
     429 with a Retry-After header.",
    "Nothing more to add.",
    "Kafka partitioned by device id, idempotent writes keyed by event id, and results in ClickHouse.",
    "That is all.",
];

/// What a client needs of the progress, with the sessions named by their order.
fn render(progress: &Progress, sessions: &[SessionId]) -> String {
    let name = |id: &str| match sessions.iter().position(|s| s.as_str() == id) {
        Some(i) => format!("s{}", i + 1),
        None => id.to_owned(),
    };
    let names = |ids: &[String]| ids.iter().map(|id| name(id)).collect::<Vec<_>>().join(" ");
    let mut out = format!("sessions: {}\n", progress.sessions);
    for d in std::iter::once(&progress.overall).chain(&progress.dimensions) {
        let points: Vec<String> = d.points.iter().map(|p| format!("{}={}", name(&p.session_id), p.score)).collect();
        let trend = d
            .trend
            .as_ref()
            .map_or("-".to_owned(), |t| format!("{} -> {} ({:+}, n={})", t.first, t.last, t.change, t.sessions));
        out.push_str(&format!("{:<16} {}  trend {trend}\n", d.name, points.join(" ")));
    }
    for (title, points) in [("weakness", &progress.weaknesses), ("strength", &progress.strengths)] {
        for k in points {
            out.push_str(&format!(
                "{title} {}/{}: missed in [{}], hit in [{}]\n",
                k.question_id,
                k.key_point,
                names(&k.missed_in),
                names(&k.hit_in)
            ));
        }
    }
    for p in &progress.practise {
        out.push_str(&format!("practise {}/{}: {}\n", p.plan_id, p.question_id, p.key_points.join("; ")));
    }
    // Two questions answered and a third asked when the session ended.
    let timed = progress.timing.iter().all(|t| t.questions == 3 && t.mean_to_finish_ms.is_some());
    out.push_str(&format!("timing: {} sessions, each with 3 questions timed: {timed}\n", progress.timing.len()));
    out
}

/// `gap`: the time between the interviews, so that each ends at a time of its own.
async fn check(store: Arc<dyn Store>, gap: Duration, expect_progress: Expect) {
    let engine = engine(Arc::clone(&store));
    let user: UserId = "pat".into();
    let mut sessions = Vec::new();
    for answers in [FIRST, SECOND, THIRD] {
        let (session, asked) = interview(&engine, &user, false, answers).await;
        // Without adapting, the plan's order: the rate limiter first.
        assert_eq!(asked[1], (TurnKind::Question, Some("rate-limiter".into())), "{asked:?}");
        sessions.push(session);
        tokio::time::sleep(gap).await;
    }
    let progress = engine.progress(&user).await.unwrap();
    expect_progress.assert_eq(&render(&progress, &sessions));

    // Lost summaries (a driver that died between the report and the record) are repaired on
    // the next read, from the stored reports.
    store.forget_progress(&user, &sessions[..2]).await.unwrap();
    assert_eq!(store.progress(&user).await.unwrap().len(), 1);
    assert_eq!(engine.progress(&user).await.unwrap(), progress);
    assert_eq!(store.progress(&user).await.unwrap().len(), 3);

    // An adaptive interview: the weak points of the record, most pressing first; the pipeline's
    // question is asked first, and the rate limiter's follow-up probes its failure mode, where
    // the plan's order would probe atomicity (both missed by this answer).
    let (adaptive, asked) = interview(
        &engine,
        &user,
        true,
        &[
            "Kafka partitioned by device, and dedup by event id.",
            "I don't know.",
            "A token bucket in Redis.",
            "I would fail open and fall back to a local limit.",
        ],
    )
    .await;
    let meta = store.meta(&adaptive).await.unwrap().unwrap();
    let focus = |q: &str, k: &str| Focus { question_id: q.into(), key_point: k.into() };
    assert_eq!(
        meta.candidate.focus,
        [
            focus("event-pipeline", "windowing"),
            focus("rate-limiter", "failure_mode"),
            focus("event-pipeline", "serving_store"),
            focus("rate-limiter", "atomicity"),
        ]
    );
    let asked: Vec<String> = asked.iter().map(|(k, q)| format!("{k:?} {}", q.as_deref().unwrap_or("-"))).collect();
    assert_eq!(
        asked[..5],
        [
            "Intro -",
            "Question event-pipeline",
            "FollowUp event-pipeline",
            "Question rate-limiter",
            "FollowUp rate-limiter",
        ]
    );
    let view = engine.view(&user, &adaptive).await.unwrap();
    let probed: Vec<&str> = view
        .transcript
        .iter()
        .filter_map(|e| match e {
            viva_protocol::state::TranscriptEntry::Turn { kind: TurnKind::FollowUp, text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let plan = engine.plans().get("senior-backend").unwrap();
    let follow_up =
        |q: &str, k: &str| plan.question(q).unwrap().key_points.iter().find(|p| p.id == k).unwrap().follow_up.clone();
    assert_eq!(probed, [follow_up("event-pipeline", "windowing"), follow_up("rate-limiter", "failure_mode")]);
    // The report says what it revisited and what improved.
    let report = engine.report(&user, &adaptive).await.unwrap();
    let revisited: Vec<String> = report
        .revisited
        .iter()
        .map(|r| format!("{}/{} {} {}", r.question_id, r.key_point, r.answered, r.improved))
        .collect();
    assert_eq!(
        revisited,
        [
            "event-pipeline/windowing true false",
            "rate-limiter/failure_mode true true",
            "event-pipeline/serving_store true false",
            "rate-limiter/atomicity true false",
        ]
    );
    assert_eq!(engine.progress(&user).await.unwrap().sessions, 4);

    // Deleting the user deletes the record too.
    engine.delete_user(&user).await.unwrap();
    assert!(store.progress(&user).await.unwrap().is_empty());
    assert_eq!(engine.progress(&user).await.unwrap().sessions, 0);
}

#[tokio::test(start_paused = true)]
async fn progress_over_three_sessions_and_an_adaptive_one_in_memory() {
    check(Arc::new(MemoryStore::new()), Duration::from_secs(60), expect![[r#"
        sessions: 3
        overall          s1=4.3 s2=4.4 s3=5.5  trend 4.3 -> 5.5 (+1.2, n=1)
        system_design    s1=4.6 s2=4.8 s3=6  trend 4.6 -> 6 (+1.4, n=1)
        technical_depth  s1=4.6 s2=4.8 s3=6  trend 4.6 -> 6 (+1.4, n=1)
        communication    s1=3.6 s2=3.7 s3=4.4  trend 3.6 -> 4.4 (+0.8, n=1)
        weakness event-pipeline/windowing: missed in [s1 s2 s3], hit in []
        weakness rate-limiter/failure_mode: missed in [s1 s2 s3], hit in []
        weakness event-pipeline/serving_store: missed in [s1 s2], hit in [s3]
        weakness rate-limiter/atomicity: missed in [s1 s2], hit in [s3]
        strength event-pipeline/delivery_semantics: missed in [], hit in [s1 s2 s3]
        strength event-pipeline/durable_log: missed in [], hit in [s1 s2 s3]
        strength event-pipeline/partitioning: missed in [], hit in [s1 s2 s3]
        strength rate-limiter/algorithm: missed in [], hit in [s1 s2 s3]
        strength rate-limiter/client_feedback: missed in [], hit in [s1 s2 s3]
        strength rate-limiter/shared_state: missed in [], hit in [s1 s2 s3]
        practise senior-backend/event-pipeline: Aggregates in event-time windows with a stream processor and copes with late events; Stores aggregates in a store suited to time-series reads for the dashboard
        practise senior-backend/rate-limiter: Decides what happens when the limiter's store is unavailable: fail open or closed, local fallback; Updates counters atomically (a Lua script, INCR with an expiry) so concurrent requests do not race
        timing: 3 sessions, each with 3 questions timed: true
    "#]]).await;
}

#[tokio::test]
async fn progress_over_three_sessions_and_an_adaptive_one_on_redis() {
    let redis = RedisServer::start();
    let store = Arc::new(RedisStore::connect(&redis.url(), Duration::from_secs(2)).await.unwrap());
    // A real clock: a few milliseconds apart are apart.
    check(store, Duration::from_millis(5), expect![[r#"
        sessions: 3
        overall          s1=4.3 s2=4.4 s3=5.5  trend 4.3 -> 5.5 (+1.2, n=1)
        system_design    s1=4.6 s2=4.8 s3=6  trend 4.6 -> 6 (+1.4, n=1)
        technical_depth  s1=4.6 s2=4.8 s3=6  trend 4.6 -> 6 (+1.4, n=1)
        communication    s1=3.6 s2=3.7 s3=4.4  trend 3.6 -> 4.4 (+0.8, n=1)
        weakness event-pipeline/windowing: missed in [s1 s2 s3], hit in []
        weakness rate-limiter/failure_mode: missed in [s1 s2 s3], hit in []
        weakness event-pipeline/serving_store: missed in [s1 s2], hit in [s3]
        weakness rate-limiter/atomicity: missed in [s1 s2], hit in [s3]
        strength event-pipeline/delivery_semantics: missed in [], hit in [s1 s2 s3]
        strength event-pipeline/durable_log: missed in [], hit in [s1 s2 s3]
        strength event-pipeline/partitioning: missed in [], hit in [s1 s2 s3]
        strength rate-limiter/algorithm: missed in [], hit in [s1 s2 s3]
        strength rate-limiter/client_feedback: missed in [], hit in [s1 s2 s3]
        strength rate-limiter/shared_state: missed in [], hit in [s1 s2 s3]
        practise senior-backend/event-pipeline: Aggregates in event-time windows with a stream processor and copes with late events; Stores aggregates in a store suited to time-series reads for the dashboard
        practise senior-backend/rate-limiter: Decides what happens when the limiter's store is unavailable: fail open or closed, local fallback; Updates counters atomically (a Lua script, INCR with an expiry) so concurrent requests do not race
        timing: 3 sessions, each with 3 questions timed: true
    "#]]).await;
    // Nothing of the user is left: no progress key either.
    let left = redis.cli(&["--scan"]);
    assert_eq!(left.trim(), "", "{left}");
}
