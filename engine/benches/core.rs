//! The session core's throughput: inputs per second through `Session`, driving whole
//! interviews of the shipped plans with the scripted interviewer's text (one input per word)
//! and the heuristic scorer, no I/O. Run with: cargo bench -p viva-engine --bench core

// `criterion_group!` defines undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use viva_engine::core::Candidate;
use viva_engine::core::{CoreConfig, Output, Session, SessionParams};
use viva_engine::interviewer::{InterviewerEvent, ScriptedInterviewer};
use viva_engine::plan::{Expected, Plan, PlanCatalog};
use viva_engine::scorer::HeuristicScorer;
use viva_engine::time::Timestamp;
use viva_protocol::{AnswerContent, ClientMessage};

/// An answer naming every key point of the question (code where code is expected), so each
/// question is answered once, without a follow-up.
fn answer(plan: &Plan, question_id: &str, n: u32) -> ClientMessage {
    let question = plan.question(question_id).expect("the question is in the plan");
    let points: Vec<&str> = question.key_points.iter().filter_map(|k| k.keywords.first().map(String::as_str)).collect();
    let prose = format!(
        "I would start with {}. At 10k requests per second the p99 stays under 50 ms; the trade-off is memory.",
        points.join(", then ")
    );
    let id = Some(format!("a{n}"));
    match &question.expects {
        Expected::Text => ClientMessage::AnswerSubmit { id, text: prose },
        Expected::Code { language } => ClientMessage::CodeSubmit {
            id,
            language: language.clone(),
            source: format!(
                "# {prose}\ndef solve(items):\n    if not items:\n        return []\n    return sorted(items)\n"
            ),
        },
    }
}

/// Plays one whole interview through the core; returns the number of inputs it took.
fn interview(plan: &Arc<Plan>) -> u64 {
    let params = SessionParams {
        session_id: "ses_bench".into(),
        user_id: "user".into(),
        plan: Arc::clone(plan),
        candidate: Candidate { role: Some("backend".into()), level: Some("senior".into()), ..Default::default() },
        time_limit_ms: plan.duration_s * 1000,
        scorer: "heuristic/1".to_owned(),
        voice: Default::default(),
        config: CoreConfig::default(),
    };
    let mut session = Session::new(params);
    let mut now = Timestamp(1_800_000_000_000);
    let mut inputs = 1;
    let mut answers = 0;
    session.handle_client(ClientMessage::SessionStart { id: None, voice: None }, now);
    while !session.is_ended() {
        while let Some(output) = session.poll_output() {
            match output {
                Output::StartTurn(request) => {
                    let text = ScriptedInterviewer::text(&request);
                    for word in text.split_inclusive(' ') {
                        now = now.plus_ms(1);
                        session.handle_interviewer(request.turn_id, InterviewerEvent::Delta(word.to_owned()), now);
                        inputs += 1;
                    }
                    session.handle_interviewer(request.turn_id, InterviewerEvent::Done, now);
                    inputs += 1;
                }
                Output::Score(request) => {
                    let scoring = HeuristicScorer.score_now(&request.plan, &request.question_id, &request.answer);
                    session.handle_score(request.answer_id, scoring, now);
                    inputs += 1;
                }
                Output::Persist(entry) => {
                    black_box(entry);
                }
                Output::Send(message) => {
                    black_box(message);
                }
                Output::CancelTurn { .. } => {}
            }
        }
        if let Some(question_id) = session.state().awaiting().and_then(|t| t.question_id.clone()) {
            answers += 1;
            now = now.plus_ms(30_000);
            session.handle_client(answer(plan, &question_id, answers), now);
            inputs += 1;
        } else if !session.is_ended() {
            panic!("the interview neither waits for an answer nor ended");
        }
    }
    inputs
}

fn core(c: &mut Criterion) {
    let catalog = PlanCatalog::shipped();
    let mut group = c.benchmark_group("core/interview");
    for plan in catalog.iter() {
        group.throughput(Throughput::Elements(interview(plan)));
        group.bench_function(plan.id.as_str(), |b| b.iter(|| interview(black_box(plan))));
    }
    group.finish();
}

/// Heuristic scoring of the largest code answers: a plain one, and one crafted to hit the
/// comment stripper (a `#` on every line; 13 s before it became one pass).
fn scoring(c: &mut Criterion) {
    let catalog = PlanCatalog::shipped();
    let plan = catalog.get("coding-python").expect("a shipped plan");
    let question = plan.questions.iter().find(|q| matches!(q.expects, Expected::Code { .. })).expect("a code question");
    let mut group = c.benchmark_group("scoring/64KiB-code");
    let plain = "def solve(items):\n    return sorted(items)\n".repeat(64 * 1024 / 42);
    let crafted = "#\n".repeat(32 * 1024);
    for (name, source) in [("plain", plain), ("a-comment-per-line", crafted)] {
        let answer = AnswerContent::Code { language: "python".into(), source };
        group.bench_function(name, |b| {
            b.iter(|| HeuristicScorer.score_now(plan, &question.id, black_box(&answer)).expect("scored"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = core, scoring
}
criterion_main!(benches);
