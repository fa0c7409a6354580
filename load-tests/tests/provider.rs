//! The paced provider (`viva-load provider`) over real sockets on 127.0.0.1: its streams parse
//! as server-sent events to the whole turn, choice turns start with a number line in range,
//! JSON answers follow the scorer's schema, and the engine's own LLM client and scorer take
//! its answers. Paced in milliseconds; nothing here asserts a timing.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use viva_engine::core::UserId;
use viva_engine::llm::{ChatMessage, LlmClient, LlmConfig, LlmEvent};
use viva_engine::plan::{Plan, PlanCatalog};
use viva_engine::scorer::{LlmScorer, ScoreRequest, Scorer};
use viva_load::provider::{self, CHOICE_PHRASE, MAX_BODY_BYTES, Pace, Provider};
use viva_protocol::AnswerContent;

const WORDS: usize = 12;

/// The longest any request may take before the test counts it as hung.
const PATIENCE: Duration = Duration::from_secs(20);

/// A provider on 127.0.0.1:0 with a fast pace; its base URL.
async fn start() -> String {
    let pace = Pace {
        first_token: Duration::from_millis(5),
        turn: Duration::from_millis(40),
        score: Duration::from_millis(5),
        turn_words: WORDS,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(provider::serve(listener, Arc::new(Provider::new(pace)), std::future::pending()));
    format!("http://{addr}")
}

/// A plain HTTP client (the workspace's reqwest needs a crypto provider installed first).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(PATIENCE).build().unwrap()
}

/// A streamed reply: its content deltas in order, and whether the finish chunk and `[DONE]`
/// (last) came.
struct Streamed {
    deltas: Vec<String>,
    stopped: bool,
}

impl Streamed {
    fn text(&self) -> String {
        self.deltas.concat()
    }
}

async fn stream(base: &str, body: Value) -> Streamed {
    let response = http().post(format!("{base}/chat/completions")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let mut events: Vec<&str> = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block.strip_prefix("data: ").unwrap_or_else(|| panic!("not an SSE data event: {block:?}"));
        assert!(!data.contains('\n'), "one line per event: {block:?}");
        events.push(data);
    }
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let mut deltas = Vec::new();
    let mut stopped = false;
    for data in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        let choice = &chunk["choices"][0];
        assert!(!stopped, "nothing after the finish chunk but [DONE]: {text}");
        match choice["finish_reason"].as_str() {
            Some("stop") => stopped = true,
            None => deltas.push(choice["delta"]["content"].as_str().unwrap().to_owned()),
            Some(other) => panic!("finish_reason {other}"),
        }
    }
    Streamed { deltas, stopped }
}

fn turn(n: usize) -> Value {
    json!({
        "model": "paced",
        "stream": true,
        "messages": [
            { "role": "system", "content": "You are the interviewer in a mock job interview." },
            { "role": "user", "content": format!("Answer number {n}: I would shard by tenant.") },
            { "role": "system", "content": "Ask the next question." },
        ]
    })
}

#[tokio::test]
async fn a_streamed_turn_is_sse_chunks_of_whole_words_ending_with_done() {
    let base = start().await;
    let reply = stream(&base, turn(1)).await;
    assert!(reply.stopped);
    assert_eq!(reply.deltas.len(), WORDS, "a word per chunk: {:?}", reply.deltas);
    let text = reply.text();
    assert_eq!(text.split(' ').count(), WORDS, "{text}");
    assert!(text.ends_with(['.', '?']), "{text}");
    assert!(text.chars().next().unwrap().is_ascii_uppercase(), "no number line outside choice turns: {text}");
    // The same request gets the same words; other requests get others.
    assert_eq!(stream(&base, turn(1)).await.text(), text);
    let others: Vec<String> =
        futures::future::join_all((2..8).map(|n| stream(&base, turn(n)))).await.iter().map(Streamed::text).collect();
    assert!(others.iter().any(|other| *other != text), "{others:?}");
}

fn choice_turn(n: usize, points: usize) -> Value {
    let list: Vec<String> = (1..=points).map(|k| format!("{k}. key point {k} of answer {n}")).collect();
    let instruction = format!(
        "Decide whether the answer covered these key points:\n{}\n{CHOICE_PHRASE}: 0 when it covered them all, \
         else the first one missed; then ask about it.",
        list.join("\n")
    );
    let mut body = turn(n);
    body["messages"].as_array_mut().unwrap().push(json!({ "role": "system", "content": instruction }));
    body
}

#[tokio::test]
async fn a_choice_turn_starts_with_a_number_line_in_range() {
    let base = start().await;
    let replies = futures::future::join_all((0..24).map(|n| stream(&base, choice_turn(n, 3)))).await;
    let mut picked = Vec::new();
    for reply in &replies {
        assert!(reply.stopped);
        // The number line and the first word come in the first chunk.
        let (number, first_word) = reply.deltas[0].split_once('\n').expect("a number line first");
        assert!(!first_word.is_empty() && !first_word.contains(char::is_whitespace), "{:?}", reply.deltas[0]);
        let number: usize = number.parse().unwrap_or_else(|_| panic!("a number: {:?}", reply.deltas[0]));
        assert!(number <= 3, "{number}");
        picked.push(number);
        let words = reply.text().split_once('\n').unwrap().1.split(' ').count();
        assert_eq!(words, WORDS);
    }
    assert!(picked.contains(&0) && picked.iter().any(|k| *k > 0), "{picked:?}");
    // Without numbered lines, only 0 is in range.
    for n in 0..6 {
        assert!(stream(&base, choice_turn(n, 0)).await.deltas[0].starts_with("0\n"));
    }
    // Only the last message counts.
    let mut moved = choice_turn(1, 3);
    moved["messages"].as_array_mut().unwrap().push(json!({ "role": "system", "content": "Ask the next question." }));
    assert!(!stream(&base, moved).await.deltas[0].contains('\n'));
}

const DIMENSIONS: [&str; 3] = ["depth", "clarity", "tradeoffs"];
const KEY_POINTS: [&str; 4] = ["load_balancer", "sharding", "caching", "failover"];

fn score_request(n: usize) -> Value {
    json!({
        "model": "paced",
        "stream": false,
        "messages": [
            { "role": "system", "content": "You grade answers. Reply with JSON only." },
            { "role": "user", "content": format!("Question: design it\n\nAnswer:\nI would shard by tenant and cache reads ({n}).") },
        ],
        "response_format": { "type": "json_schema", "json_schema": { "name": "result", "strict": true, "schema": {
            "type": "object",
            "properties": {
                "dimensions": { "type": "array", "items": { "type": "object", "properties": {
                    "name": { "type": "string", "enum": DIMENSIONS },
                    "score": { "type": "number", "minimum": 0, "maximum": 10 },
                    "evidence": { "type": "string" },
                } } },
                "key_points_hit": { "type": "array", "items": { "type": "string", "enum": KEY_POINTS } },
            },
        } } },
    })
}

async fn complete(base: &str, body: &Value) -> Value {
    let response = http().post(format!("{base}/chat/completions")).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert!(completion["usage"]["total_tokens"].as_u64().unwrap() > 0);
    completion
}

#[tokio::test]
async fn a_json_answer_follows_the_scorer_schema() {
    let base = start().await;
    let mut hits = std::collections::BTreeSet::new();
    let mut scores = std::collections::BTreeSet::new();
    for n in 0..16 {
        let completion = complete(&base, &score_request(n)).await;
        let content: Value = serde_json::from_str(completion["choices"][0]["message"]["content"].as_str().unwrap())
            .expect("the content is JSON");
        let dimensions = content["dimensions"].as_array().unwrap();
        let names: Vec<&str> = dimensions.iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, DIMENSIONS, "every dimension once");
        for d in dimensions {
            let score = d["score"].as_f64().unwrap();
            assert!((0.0..=10.0).contains(&score), "{score}");
            scores.insert(score.to_string());
            assert!(d["evidence"].is_string());
        }
        for point in content["key_points_hit"].as_array().unwrap() {
            let point = point.as_str().unwrap();
            assert!(KEY_POINTS.contains(&point), "{point}");
            hits.insert(point.to_owned());
        }
    }
    assert!(scores.len() > 1 && hits.len() > 1, "varied: {scores:?} {hits:?}");
    // Without a response format, the answer is prose.
    let mut prose = score_request(1);
    prose.as_object_mut().unwrap().remove("response_format");
    let completion = complete(&base, &prose).await;
    assert_eq!(completion["choices"][0]["message"]["content"].as_str().unwrap().split(' ').count(), WORDS);
}

#[tokio::test]
async fn models_answer_and_bad_requests_get_openai_errors() {
    let base = start().await;
    let models: Value = http().get(format!("{base}/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "paced");
    let post = |body: Vec<u8>| http().post(format!("{base}/chat/completions")).body(body).send();
    for (body, status) in [
        (b"{not json".to_vec(), 400),
        (b"[1, 2]".to_vec(), 400),
        (br#"{"stream": true}"#.to_vec(), 400),
        (vec![b' '; MAX_BODY_BYTES + 1], 413),
    ] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), status);
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{error}");
    }
    let response = http().get(format!("{base}/v1/nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

fn client(base: &str) -> LlmClient {
    let config = LlmConfig {
        first_token_timeout: PATIENCE,
        idle_timeout: PATIENCE,
        max_retries: 0,
        ..LlmConfig::new(base, "paced", None)
    };
    LlmClient::new(config).unwrap()
}

#[tokio::test]
async fn the_engine_client_streams_its_turns_and_the_llm_scorer_takes_its_scores() {
    let base = start().await;
    let client = client(&base);
    tokio::time::timeout(PATIENCE, client.check()).await.unwrap().unwrap();
    let chat = vec![ChatMessage::system("You are the interviewer."), ChatMessage::user("Hello")];
    let events: Vec<LlmEvent> =
        tokio::time::timeout(PATIENCE, client.stream_chat(&UserId::new("u"), chat).collect()).await.unwrap();
    let (last, texts) = events.split_last().unwrap();
    assert_eq!(last, &LlmEvent::Done, "{events:?}");
    let text: String = texts
        .iter()
        .map(|e| match e {
            LlmEvent::Text(t) => t.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(text.split(' ').count(), WORDS, "{text}");

    let plan: Arc<Plan> = PlanCatalog::shipped().get("senior-backend").unwrap().clone();
    let scorer = LlmScorer::new(client);
    for question in &plan.questions {
        let request = ScoreRequest {
            session_id: "ses_paced".into(),
            user_id: "u".into(),
            answer_id: viva_engine::core::AnswerId(1),
            plan: Arc::clone(&plan),
            question_id: question.id.clone(),
            answer: AnswerContent::Text { text: "A load balancer in front of stateless servers, then caching.".into() },
            candidate: Default::default(),
        };
        let scoring = tokio::time::timeout(PATIENCE, scorer.score(request)).await.unwrap().unwrap();
        assert_eq!(scoring.scored_by, "llm/paced", "not the heuristic fallback: {:?}", scoring.notes);
        let names: Vec<&str> = scoring.dimensions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, question.dimensions.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
