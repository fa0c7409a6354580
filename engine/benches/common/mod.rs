//! What the engine's benchmarks share: one whole scripted interview played through the core
//! (the scripted interviewer's text one word per input, the heuristic scorer, and, if asked,
//! every message that would be sent encoded with the JSON codec), no I/O.

use std::hint::black_box;
use std::sync::Arc;

use viva_engine::core::Candidate;
use viva_engine::core::{CoreConfig, FollowUps, Output, Session, SessionParams};
use viva_engine::interviewer::{InterviewerEvent, ScriptedInterviewer};
use viva_engine::plan::{Expected, Plan};
use viva_engine::scorer::HeuristicScorer;
use viva_engine::time::Timestamp;
use viva_protocol::{ClientMessage, Encoding};

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

/// Plays one whole interview through the core; returns the number of inputs it took. With
/// `encode`, every message the driver would send is encoded as JSON too.
#[inline(never)]
pub fn interview(plan: &Arc<Plan>, encode: bool) -> u64 {
    interview_answering(plan, encode, |question_id, n| answer(plan, question_id, n))
}

/// [`interview`] with the answers `answer(question_id, n)` gives (the `n`th answer, from 1);
/// `SessionEnd` ends the interview early.
pub fn interview_answering(plan: &Arc<Plan>, encode: bool, mut answer: impl FnMut(&str, u32) -> ClientMessage) -> u64 {
    let params = SessionParams {
        session_id: "ses_bench".into(),
        user_id: "user".into(),
        plan: Arc::clone(plan),
        candidate: Candidate { role: Some("backend".into()), level: Some("senior".into()), ..Default::default() },
        time_limit_ms: plan.duration_s * 1000,
        scorer: "heuristic/1".to_owned(),
        voice: Default::default(),
        // As the gateway binary configures the scripted interviewer and heuristic scorer.
        config: CoreConfig {
            follow_ups: FollowUps::Scorer { wait_ms: 3_000 },
            turn_context: 0,
            ..CoreConfig::default()
        },
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
                Output::Persist(entry) if encode => {
                    let message = entry.to_message(&"ses_bench".into());
                    black_box(Encoding::Json.encode_message(&message).expect("a server message encodes"));
                }
                Output::Send(message) if encode => {
                    black_box(Encoding::Json.encode_message(&message).expect("a server message encodes"));
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
            session.handle_client(answer(&question_id, answers), now);
            inputs += 1;
        } else if !session.is_ended() {
            panic!("the interview neither waits for an answer nor ended");
        }
    }
    inputs
}
