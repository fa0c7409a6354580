//! The LLM providers against a real HTTP server speaking the OpenAI wire format, scripted per
//! test: normal streams, error statuses, cut, stalled, hanging and garbage streams, invalid
//! scorer JSON. Time is real but short; every wait is bounded, so a bug fails instead of hanging.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use viva_engine::core::{Decision, Focus, FollowUpChoice, UserId};
use viva_engine::interviewer::{Interviewer, InterviewerEvent, LlmInterviewer, ScriptedInterviewer, TurnRequest};
use viva_engine::llm::{ChatMessage, LlmClient, LlmConfig, LlmError, LlmEvent};
use viva_engine::plan::{Plan, PlanCatalog};
use viva_engine::scorer::{HeuristicScorer, LlmScorer, ScoreRequest, Scorer, Scoring};
use viva_protocol::{AnswerContent, TurnKind};
use viva_testkit::openai::{FakeOpenAi, Reply, scorer_json};

/// The longest any single step of a test may take before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(10);
/// A short timeout, for the tests about timeouts.
const SHORT: Duration = Duration::from_millis(300);
const TEXT: &str = "Tell me about a system you designed end to end.";

/// A client of `fake` whose timeouts only fire on purpose (tests shorten the one they test).
fn config(fake: &FakeOpenAi) -> LlmConfig {
    LlmConfig {
        connect_timeout: PATIENCE,
        first_token_timeout: PATIENCE,
        idle_timeout: PATIENCE,
        max_retries: 2,
        backoff: Duration::from_millis(10),
        max_concurrency: 8,
        breaker_failures: 100,
        breaker_cooldown: Duration::from_secs(60),
        ..LlmConfig::new(fake.base_url(), "fake-model", Some("sk-test".to_owned()))
    }
}

fn client(config: LlmConfig) -> LlmClient {
    LlmClient::new(config).unwrap()
}

/// The user of calls whose user does not matter.
fn anyone() -> UserId {
    UserId::new("anyone")
}

fn chat() -> Vec<ChatMessage> {
    vec![ChatMessage::system("You are an interviewer."), ChatMessage::user("Hello")]
}

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE * 2, future).await.unwrap_or_else(|_| panic!("{what} did not finish in time"))
}

/// Every event of a stream, which must end.
async fn events<T>(stream: BoxStream<'static, T>) -> Vec<T> {
    bounded("the stream", stream.collect()).await
}

/// The text of a completion's events, and how it ended (which must be the last event, once).
fn outcome(events: &[LlmEvent]) -> (String, LlmEvent) {
    let (last, texts) = events.split_last().expect("at least one event");
    let text = texts
        .iter()
        .map(|event| match event {
            LlmEvent::Text(text) => text.as_str(),
            other => panic!("{other:?} before the end: {events:?}"),
        })
        .collect();
    assert!(!matches!(last, LlmEvent::Text(_)), "the stream ended without Done or Failed: {events:?}");
    (text, last.clone())
}

/// Streams one chat against a server answering `replies`: the text, the end, and how many
/// requests the server got.
async fn stream_case(replies: Vec<Reply>, tune: impl FnOnce(&mut LlmConfig)) -> (String, LlmEvent, usize) {
    let fake = FakeOpenAi::replies(replies).await;
    let mut config = config(&fake);
    tune(&mut config);
    let (text, end) = outcome(&events(client(config).stream_chat(&anyone(), chat())).await);
    (text, end, fake.count())
}

#[tokio::test]
async fn a_normal_stream_yields_the_text_then_done() {
    let fake = FakeOpenAi::replies([Reply::Text(TEXT.into())]).await;
    let events = events(client(config(&fake)).stream_chat(&anyone(), chat())).await;
    assert!(events.len() > 2, "streamed in pieces: {events:?}");
    assert_eq!(outcome(&events), (TEXT.to_owned(), LlmEvent::Done));
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/chat/completions");
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-test"));
    let body = &requests[0].body;
    assert_eq!((&body["model"], &body["stream"]), (&json!("fake-model"), &json!(true)));
    assert_eq!(body["messages"][1], json!({ "role": "user", "content": "Hello" }));
}

#[tokio::test]
async fn a_500_is_retried() {
    let replies = vec![Reply::Status(500), Reply::Text(TEXT.into())];
    assert_eq!(stream_case(replies, |_| {}).await, (TEXT.to_owned(), LlmEvent::Done, 2));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let replies = vec![Reply::RateLimited, Reply::Text(TEXT.into())];
    assert_eq!(stream_case(replies, |_| {}).await, (TEXT.to_owned(), LlmEvent::Done, 2));
}

#[tokio::test]
async fn a_500_on_every_attempt_fails_after_the_retries() {
    let expected = (String::new(), LlmEvent::Failed(LlmError::Status(500)), 3);
    assert_eq!(stream_case(vec![Reply::Status(503), Reply::Status(500)], |_| {}).await, expected);
    let once = (String::new(), LlmEvent::Failed(LlmError::Status(500)), 1);
    assert_eq!(stream_case(vec![Reply::Status(500)], |c| c.max_retries = 0).await, once);
}

#[tokio::test]
async fn a_429_on_every_attempt_is_rate_limited() {
    let expected = (String::new(), LlmEvent::Failed(LlmError::RateLimited), 3);
    assert_eq!(stream_case(vec![Reply::RateLimited], |_| {}).await, expected);
}

#[tokio::test]
async fn refused_credentials_and_other_client_errors_are_not_retried() {
    for (code, error) in
        [(401, LlmError::Unauthorized(401)), (403, LlmError::Unauthorized(403)), (404, LlmError::Status(404))]
    {
        let expected = (String::new(), LlmEvent::Failed(error), 1);
        assert_eq!(stream_case(vec![Reply::Status(code)], |_| {}).await, expected, "{code}");
    }
}

#[tokio::test]
async fn check_asks_for_the_models_and_reports_a_refused_key() {
    let fake = FakeOpenAi::replies([Reply::Text(String::new()), Reply::Status(401), Reply::Status(500)]).await;
    let client = client(config(&fake));
    assert_eq!(bounded("check", client.check()).await, Ok(()));
    assert_eq!(bounded("check", client.check()).await, Err(LlmError::Unauthorized(401)));
    assert_eq!(bounded("check", client.check()).await, Err(LlmError::Status(500)));
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.path == "/models" && r.authorization.as_deref() == Some("Bearer sk-test")));
}

#[tokio::test]
async fn a_cut_stream_fails_after_its_text() {
    assert_eq!(
        stream_case(vec![Reply::Cut(TEXT.into())], |_| {}).await,
        (TEXT.to_owned(), LlmEvent::Failed(LlmError::Cut), 1)
    );
}

#[tokio::test]
async fn a_reset_connection_fails_after_its_text() {
    let (text, end, requests) = stream_case(vec![Reply::Reset(TEXT.into())], |_| {}).await;
    assert_eq!((text.as_str(), requests), (TEXT, 1));
    assert!(matches!(end, LlmEvent::Failed(LlmError::Cut | LlmError::Malformed(_))), "{end:?}");
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out_on_every_attempt() {
    let expected = (String::new(), LlmEvent::Failed(LlmError::Timeout("first token")), 3);
    assert_eq!(stream_case(vec![Reply::Hang], |c| c.first_token_timeout = SHORT).await, expected);
}

#[tokio::test]
async fn a_stream_that_stalls_times_out_as_idle() {
    let expected = (TEXT.to_owned(), LlmEvent::Failed(LlmError::Timeout("idle")), 1);
    assert_eq!(stream_case(vec![Reply::Stall(TEXT.into())], |c| c.idle_timeout = SHORT).await, expected);
}

#[tokio::test]
async fn garbage_is_malformed() {
    let (text, end, requests) = stream_case(vec![Reply::Garbage], |_| {}).await;
    assert_eq!((text.as_str(), requests), ("", 1));
    assert!(matches!(end, LlmEvent::Failed(LlmError::Malformed(_))), "{end:?}");
}

#[tokio::test]
async fn slow_chunks_within_the_idle_timeout_arrive_whole() {
    let replies = vec![Reply::Slow("one two three".into(), Duration::from_millis(20))];
    assert_eq!(stream_case(replies, |_| {}).await, ("one two three".to_owned(), LlmEvent::Done, 1));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_request() {
    let long = "word ".repeat(500);
    let fake = FakeOpenAi::replies([Reply::Slow(long, Duration::from_millis(20))]).await;
    let mut stream = client(config(&fake)).stream_chat(&anyone(), chat());
    let first = bounded("the first token", stream.next()).await;
    assert!(matches!(first, Some(LlmEvent::Text(_))), "{first:?}");
    drop(stream);
    bounded("the server noticing", fake.until_dropped(1)).await;
    assert_eq!((fake.dropped(), fake.in_flight(), fake.count()), (1, 0, 1));
}

#[tokio::test]
async fn repeated_failures_open_the_circuit_without_asking_the_provider() {
    let fake = FakeOpenAi::replies([Reply::Status(500)]).await;
    let client = client(LlmConfig { max_retries: 0, breaker_failures: 3, ..config(&fake) });
    for n in 1..=3 {
        assert!(!client.circuit_open(), "closed before failure {n}");
        assert_eq!(events(client.stream_chat(&anyone(), chat())).await, [LlmEvent::Failed(LlmError::Status(500))]);
    }
    assert!(client.circuit_open());
    assert_eq!(events(client.stream_chat(&anyone(), chat())).await, [LlmEvent::Failed(LlmError::CircuitOpen)]);
    let json = bounded("complete_json", client.complete_json(&anyone(), chat(), json!({}))).await;
    assert_eq!(json, Err(LlmError::CircuitOpen));
    assert_eq!(fake.count(), 3, "no request while the circuit is open");
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let replies = [Reply::Status(500), Reply::Status(500), Reply::Text(TEXT.into()), Reply::Status(500)];
    let fake = FakeOpenAi::replies(replies).await;
    let client = client(LlmConfig { max_retries: 0, breaker_failures: 3, ..config(&fake) });
    let ends: Vec<LlmEvent> = bounded(
        "five streams",
        futures::stream::iter(0..5)
            .then(|_| async { outcome(&events(client.stream_chat(&anyone(), chat())).await).1 })
            .collect(),
    )
    .await;
    let failed = LlmEvent::Failed(LlmError::Status(500));
    assert_eq!(ends, [failed.clone(), failed.clone(), LlmEvent::Done, failed.clone(), failed]);
    assert!(!client.circuit_open(), "two failures since the success");
}

#[tokio::test]
async fn concurrency_is_bounded_by_the_semaphore() {
    let fake = FakeOpenAi::replies([Reply::Slow("one two three four five".into(), Duration::from_millis(30))]).await;
    let client = client(LlmConfig { max_concurrency: 1, ..config(&fake) });
    let (a, b) = bounded("two streams", async {
        futures::join!(events(client.stream_chat(&anyone(), chat())), events(client.stream_chat(&anyone(), chat())))
    })
    .await;
    assert_eq!(outcome(&a), ("one two three four five".to_owned(), LlmEvent::Done));
    assert_eq!(outcome(&b), ("one two three four five".to_owned(), LlmEvent::Done));
    assert_eq!((fake.count(), fake.max_in_flight()), (2, 1), "one after the other");
}

#[tokio::test]
async fn the_server_sees_concurrent_streams_when_allowed() {
    // The control of the test above: the fake does notice two streams at once.
    let fake = FakeOpenAi::replies([Reply::Stall(TEXT.into())]).await;
    let client = client(LlmConfig { max_concurrency: 2, ..config(&fake) });
    let (mut a, mut b) = (client.stream_chat(&anyone(), chat()), client.stream_chat(&anyone(), chat()));
    assert!(matches!(bounded("a's first token", a.next()).await, Some(LlmEvent::Text(_))));
    assert!(matches!(bounded("b's first token", b.next()).await, Some(LlmEvent::Text(_))));
    assert_eq!(fake.max_in_flight(), 2);
    drop((a, b));
    bounded("both closed", fake.until_dropped(2)).await;
}

#[tokio::test]
async fn one_user_cannot_take_the_providers_whole_concurrency() {
    let fake = FakeOpenAi::replies([Reply::Stall(TEXT.into())]).await;
    let client = client(LlmConfig { max_concurrency: 8, max_concurrency_per_user: 2, ..config(&fake) });
    let ann = UserId::new("ann");
    let (mut a1, mut a2) = (client.stream_chat(&ann, chat()), client.stream_chat(&ann, chat()));
    assert!(matches!(bounded("ann's first", a1.next()).await, Some(LlmEvent::Text(_))));
    assert!(matches!(bounded("ann's second", a2.next()).await, Some(LlmEvent::Text(_))));
    // Ann's third call waits for one of her own places ...
    let mut a3 = client.stream_chat(&ann, chat());
    assert!(tokio::time::timeout(Duration::from_millis(200), a3.next()).await.is_err(), "ann's third is sent");
    // ... while Bob's is served.
    let mut bob = client.stream_chat(&UserId::new("bob"), chat());
    assert!(matches!(bounded("bob's first", bob.next()).await, Some(LlmEvent::Text(_))));
    assert_eq!(fake.max_in_flight(), 3);
    // One of Ann's ends: her third goes.
    drop(a1);
    assert!(matches!(bounded("ann's third", a3.next()).await, Some(LlmEvent::Text(_))));
    drop((a2, a3, bob));
    bounded("all closed", fake.until_dropped(4)).await;
}

fn plan() -> Arc<Plan> {
    PlanCatalog::shipped().get("senior-backend").unwrap().clone()
}

fn score_request(plan: &Arc<Plan>) -> ScoreRequest {
    let question = &plan.questions[0];
    ScoreRequest {
        session_id: "ses_test".into(),
        user_id: "user".into(),
        answer_id: viva_engine::core::AnswerId(1),
        plan: Arc::clone(plan),
        question_id: question.id.clone(),
        answer: AnswerContent::Text { text: "I would put a load balancer in front of stateless servers.".into() },
        candidate: Default::default(),
    }
}

/// The scorer's result against a server answering `replies` (non-streamed JSON contents), and
/// how many requests it took.
async fn score_case(replies: Vec<Reply>) -> (Scoring, usize) {
    let fake = FakeOpenAi::replies(replies).await;
    let scorer = LlmScorer::new(client(config(&fake)));
    let scoring = bounded("scoring", scorer.score(score_request(&plan()))).await.unwrap();
    (scoring, fake.count())
}

/// A reply for the first question of the plan: its dimensions scored `score`, except `skip`.
fn scores(score: Value, skip: Option<&str>) -> Reply {
    let plan = plan();
    let question = &plan.questions[0];
    let dimensions: Vec<Value> = question
        .dimensions
        .iter()
        .filter(|name| Some(name.as_str()) != skip)
        .map(|name| json!({ "name": name, "score": score, "evidence": "load balancer" }))
        .collect();
    let hit = [question.key_points[0].id.clone()];
    Reply::Text(json!({ "dimensions": dimensions, "key_points_hit": hit }).to_string())
}

fn valid() -> Reply {
    scores(json!(7.5), None)
}

#[tokio::test]
async fn valid_scorer_json_is_the_score() {
    let plan = plan();
    let question = &plan.questions[0];
    let (scoring, requests) = score_case(vec![valid()]).await;
    assert_eq!((scoring.scored_by.as_str(), requests), ("llm/fake-model", 1));
    let dimensions: Vec<(&str, f32)> = scoring.dimensions.iter().map(|d| (d.name.as_str(), d.score)).collect();
    let expected: Vec<(&str, f32)> = question.dimensions.iter().map(|d| (d.as_str(), 7.5)).collect();
    assert_eq!(dimensions, expected);
    assert_eq!(scoring.key_points_hit, [question.key_points[0].id.clone()]);
    assert_eq!(scoring.key_points_hit.len() + scoring.key_points_missed.len(), question.key_points.len());
}

#[tokio::test]
async fn the_scorer_asks_for_json_following_a_schema_of_the_question() {
    let fake = FakeOpenAi::start(|request| Reply::Text(scorer_json(&request.body, 6.0))).await;
    let scoring = bounded("scoring", LlmScorer::new(client(config(&fake))).score(score_request(&plan()))).await;
    assert_eq!(scoring.unwrap().scored_by, "llm/fake-model");
    let body = &fake.requests()[0].body;
    assert_eq!(body["stream"], json!(false));
    assert_eq!(body["response_format"]["type"], json!("json_schema"));
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains(&plan().questions[0].prompt), "{prompt}");
}

#[tokio::test]
async fn invalid_scorer_json_is_asked_for_once_more() {
    let fenced = match valid() {
        Reply::Text(json) => Reply::Text(format!("```json\n{json}\n```")),
        _ => unreachable!(),
    };
    let out_of_range = scores(json!(11), None);
    let negative = scores(json!(-1), None);
    let missing = scores(json!(5), Some(plan().questions[0].dimensions[0].as_str()));
    let unknown_point = Reply::Text(json!({ "dimensions": [], "key_points_hit": ["nope"] }).to_string());
    let cases = [
        ("fenced JSON is fine", vec![fenced], 1),
        ("not JSON", vec![Reply::Text("I'd give it a 7.".into()), valid()], 2),
        ("wrong shape", vec![Reply::Text(json!({ "score": 7 }).to_string()), valid()], 2),
        ("score over 10", vec![out_of_range, valid()], 2),
        ("negative score", vec![negative, valid()], 2),
        ("a dimension missing", vec![missing, valid()], 2),
        ("an unknown key point", vec![unknown_point, valid()], 2),
        ("a 500, retried by the client", vec![Reply::Status(500), valid()], 2),
        ("a cut body", vec![Reply::Cut(String::new()), valid()], 2),
        ("garbage", vec![Reply::Garbage, valid()], 2),
    ];
    for (name, replies, expected) in cases {
        let (scoring, requests) = score_case(replies).await;
        assert_eq!((scoring.scored_by.as_str(), requests), ("llm/fake-model", expected), "{name}");
    }
}

#[tokio::test]
async fn the_retry_tells_the_model_what_was_wrong() {
    let fake = FakeOpenAi::replies([scores(json!(42), None), valid()]).await;
    let scoring = bounded("scoring", LlmScorer::new(client(config(&fake))).score(score_request(&plan()))).await;
    assert_eq!(scoring.unwrap().scored_by, "llm/fake-model");
    let retry = &fake.requests()[1].body["messages"];
    let last = retry.as_array().unwrap().last().unwrap()["content"].as_str().unwrap();
    assert!(last.contains("previous reply was invalid") && last.contains("42"), "{last}");
}

#[tokio::test]
async fn a_scorer_that_fails_twice_falls_back_to_the_heuristic() {
    let plan = plan();
    let request = score_request(&plan);
    let heuristic = HeuristicScorer.score_now(&plan, &request.question_id, &request.answer).unwrap();
    let cases = [
        ("invalid twice", vec![Reply::Text("{}".into())], 2),
        ("out of range twice", vec![scores(json!(10.5), None)], 2),
        ("500 every time", vec![Reply::Status(500)], 6),
        ("refused key", vec![Reply::Status(401)], 2),
    ];
    for (name, replies, expected) in cases {
        let (scoring, requests) = score_case(replies).await;
        assert_eq!((scoring.scored_by.as_str(), requests), (HeuristicScorer::NAME, expected), "{name}");
        assert_eq!(scoring.dimensions, heuristic.dimensions, "{name}");
        let note = scoring.notes.last().unwrap();
        assert!(note.starts_with("The LLM scorer failed") && note.ends_with("scored heuristically."), "{name}: {note}");
    }
}

#[tokio::test]
async fn a_scorer_whose_provider_hangs_falls_back_in_bounded_time() {
    let fake = FakeOpenAi::replies([Reply::Hang]).await;
    let scorer = LlmScorer::new(client(LlmConfig { first_token_timeout: SHORT, max_retries: 0, ..config(&fake) }));
    let scoring = bounded("scoring", scorer.score(score_request(&plan()))).await.unwrap();
    assert_eq!((scoring.scored_by.as_str(), fake.count()), (HeuristicScorer::NAME, 2));
    assert!(scoring.notes.last().unwrap().contains("timed out"), "{:?}", scoring.notes);
}

fn turn(kind: TurnKind, attempt: u32) -> TurnRequest {
    let plan = plan();
    let question_id = (kind != TurnKind::Intro).then(|| plan.questions[0].id.clone());
    TurnRequest {
        session_id: "ses_test".into(),
        user_id: "user".into(),
        turn_id: viva_engine::core::TurnId(2),
        kind,
        plan,
        question_id,
        key_point: None,
        answer: None,
        ending: None,
        candidate: Default::default(),
        transcript: Vec::new(),
        attempt,
        choice: None,
    }
}

/// A turn's text and how it ended (which must be the last event, once).
fn turn_outcome(events: &[InterviewerEvent]) -> (String, InterviewerEvent) {
    let (last, deltas) = events.split_last().expect("at least one event");
    let text = deltas
        .iter()
        .map(|event| match event {
            InterviewerEvent::Delta(text) => text.as_str(),
            other => panic!("{other:?} before the end: {events:?}"),
        })
        .collect();
    (text, last.clone())
}

fn interviewer(client: LlmClient) -> LlmInterviewer {
    LlmInterviewer::new(client, ScriptedInterviewer::new(Duration::ZERO))
}

#[tokio::test]
async fn the_model_speaks_a_turn() {
    let fake = FakeOpenAi::replies([Reply::Text(TEXT.into())]).await;
    let interviewer = interviewer(client(config(&fake)));
    assert_eq!(interviewer.name(), "llm/fake-model");
    let events = events(interviewer.stream_turn(turn(TurnKind::Question, 1))).await;
    assert!(events.len() > 2, "streamed in pieces: {events:?}");
    assert_eq!(turn_outcome(&events), (TEXT.to_owned(), InterviewerEvent::Done));
    let messages = fake.requests()[0].body["messages"].clone();
    let instruction = messages.as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(instruction.contains(&plan().questions[0].prompt), "{instruction}");
}

#[tokio::test]
async fn an_adaptive_session_tells_the_model_the_weak_points_of_the_question() {
    let question = plan().questions[0].clone();
    let weak = &question.key_points[2];
    let mut request = turn(TurnKind::Question, 1);
    request.candidate.focus = vec![Focus { question_id: question.id.clone(), key_point: weak.id.clone() }];
    let mut elsewhere = turn(TurnKind::Question, 1);
    elsewhere.question_id = Some(plan().questions[1].id.clone());
    elsewhere.candidate.focus = request.candidate.focus.clone();
    for (request, told) in [(request, true), (turn(TurnKind::Question, 1), false), (elsewhere, false)] {
        let fake = FakeOpenAi::replies([Reply::Text(TEXT.into())]).await;
        events(interviewer(client(config(&fake))).stream_turn(request)).await;
        let messages = fake.requests()[0].body["messages"].clone();
        let last = messages.as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
        let description = weak.description.trim_end_matches('.');
        assert_eq!(last.contains("adaptive practice") && last.contains(description), told, "{last}");
    }
}

#[tokio::test]
async fn a_failed_model_turn_is_failed() {
    let fake = FakeOpenAi::replies([Reply::Cut(TEXT.into())]).await;
    let events = events(interviewer(client(config(&fake))).stream_turn(turn(TurnKind::Intro, 1))).await;
    let (text, end) = turn_outcome(&events);
    assert_eq!(text, TEXT);
    assert!(matches!(end, InterviewerEvent::Failed(_)), "{end:?}");
}

#[tokio::test]
async fn the_script_takes_the_third_attempt_without_asking_the_model() {
    let fake = FakeOpenAi::replies([Reply::Text(TEXT.into())]).await;
    let interviewer = interviewer(client(config(&fake)));
    for kind in [TurnKind::Intro, TurnKind::Question, TurnKind::Closing] {
        let request = turn(kind, 3);
        let events = events(interviewer.stream_turn(request.clone())).await;
        assert_eq!(turn_outcome(&events), (ScriptedInterviewer::text(&request), InterviewerEvent::Done), "{kind:?}");
    }
    assert_eq!(fake.count(), 0);
    let second = events(interviewer.stream_turn(turn(TurnKind::Question, 2))).await;
    assert_eq!(turn_outcome(&second), (TEXT.to_owned(), InterviewerEvent::Done), "the model gets a second try");
}

#[tokio::test]
async fn the_script_speaks_while_the_circuit_is_open() {
    let fake = FakeOpenAi::replies([Reply::Status(500)]).await;
    let client = client(LlmConfig { max_retries: 0, breaker_failures: 1, ..config(&fake) });
    let interviewer = interviewer(client.clone());
    let failed = events(interviewer.stream_turn(turn(TurnKind::Question, 1))).await;
    assert!(matches!(turn_outcome(&failed).1, InterviewerEvent::Failed(_)));
    assert!(client.circuit_open());
    let request = turn(TurnKind::Question, 1);
    let events = events(interviewer.stream_turn(request.clone())).await;
    assert_eq!(turn_outcome(&events), (ScriptedInterviewer::text(&request), InterviewerEvent::Done));
    assert_eq!(fake.count(), 1, "the model was not asked while the circuit is open");
}

#[tokio::test]
async fn a_turn_that_cannot_get_a_place_in_time_is_spoken_by_the_script() {
    let fake = FakeOpenAi::replies([Reply::Stall(TEXT.into())]).await;
    let client = client(LlmConfig { max_concurrency: 1, turn_queue_timeout: SHORT, ..config(&fake) });
    let interviewer = interviewer(client.clone());
    // Another session's turn holds the provider's only place ...
    let mut holding = interviewer.stream_turn(turn(TurnKind::Question, 1));
    assert!(matches!(bounded("the first turn's first token", holding.next()).await, Some(InterviewerEvent::Delta(_))));
    // ... so this one waits SHORT for it, and then the script speaks it, whole.
    let request = turn(TurnKind::Question, 1);
    let events = events(interviewer.stream_turn(request.clone())).await;
    assert_eq!(turn_outcome(&events), (ScriptedInterviewer::text(&request), InterviewerEvent::Done));
    assert_eq!(fake.count(), 1, "the waiting turn was never sent");
    assert!(!client.circuit_open(), "a busy queue says nothing about the provider");
    drop(holding);
    bounded("the first turn closed", fake.until_dropped(1)).await;
}

/// A follow-up turn (the rubric's default) offered a choice: a follow-up or moving on.
fn choice_turn() -> TurnRequest {
    let mut request = turn(TurnKind::FollowUp, 1);
    let question = request.plan.questions[0].clone();
    request.key_point = Some(question.key_points[0].id.clone());
    let next = request.plan.questions[1].id.clone();
    request.choice = Some(FollowUpChoice { question_id: question.id, move_on: (TurnKind::Question, Some(next)) });
    request
}

#[tokio::test]
async fn the_model_chooses_the_follow_up_on_its_first_line_and_then_speaks_it() {
    let request = choice_turn();
    let points: Vec<String> = request.plan.questions[0].key_points.iter().map(|k| k.id.clone()).collect();
    let cases = [
        // The number and the first words in one chunk, or apart, or padded.
        ("2\nHow would you handle that? ", Some(Decision::FollowUp { key_point: points[1].clone() })),
        ("0 \n Next question. ", Some(Decision::MoveOn)),
        // Not a number: the words are the turn, the default is spoken.
        ("Could you say more? ", None),
    ];
    for (reply, decision) in cases {
        let fake = FakeOpenAi::replies([Reply::Text(reply.into())]).await;
        let heard = events(interviewer(client(config(&fake))).stream_turn(request.clone())).await;
        let (chose, rest) = match heard.first() {
            Some(InterviewerEvent::Chose(decision)) => (Some(decision.clone()), &heard[1..]),
            _ => (None, &heard[..]),
        };
        assert_eq!(chose, decision, "{reply:?}: {heard:?}");
        let (text, end) = turn_outcome(rest);
        let spoken = reply.split_once('\n').map_or(reply, |(_, words)| words).trim_start();
        assert_eq!((text.as_str(), end), (spoken, InterviewerEvent::Done), "{reply:?}");
        // The model was told the key points, numbered, and how to choose.
        let asked = &fake.requests()[0].body["messages"];
        let last = asked.as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
        assert!(last.contains("Start your reply with a line holding only a number"), "{last}");
        assert!(last.contains(&format!("2. {}", request.plan.questions[0].key_points[1].description)), "{last}");
        assert!(last.contains(&request.plan.questions[1].prompt), "moving on asks the next question: {last}");
    }
    // A number that is no key point is no choice: the default, with the words after it.
    let fake = FakeOpenAi::replies([Reply::Text("9\nTell me more. ".into())]).await;
    let heard = events(interviewer(client(config(&fake))).stream_turn(request.clone())).await;
    assert_eq!(turn_outcome(&heard), ("Tell me more. ".to_owned(), InterviewerEvent::Done));
    // The script, speaking for a busy provider, speaks the default and chooses nothing.
    let fake = FakeOpenAi::replies([Reply::Stall(TEXT.into())]).await;
    let client = client(LlmConfig { max_concurrency: 1, turn_queue_timeout: SHORT, ..config(&fake) });
    let mut holding = interviewer(client.clone()).stream_turn(turn(TurnKind::Question, 1));
    assert!(matches!(bounded("the first turn's first token", holding.next()).await, Some(InterviewerEvent::Delta(_))));
    let heard = events(interviewer(client).stream_turn(request.clone())).await;
    assert_eq!(turn_outcome(&heard), (ScriptedInterviewer::text(&request), InterviewerEvent::Done));
}
