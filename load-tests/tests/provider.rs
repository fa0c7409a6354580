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
        stt: Duration::from_millis(5),
        tts_first_audio: Duration::from_millis(5),
        speech_ms_per_char: 60,
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

// ---- speech ----

/// A 16 kHz mono PCM16 WAV of `ms` milliseconds of a quiet tone.
fn wav(ms: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..16 * ms).map(|i| ((i as f64 / 10.0).sin() * 3000.0) as i16).collect();
    let data = (samples.len() * 2) as u32;
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    for field in [16u32.to_le_bytes().as_slice(), &1u16.to_le_bytes(), &1u16.to_le_bytes(), &16_000u32.to_le_bytes()] {
        bytes.extend_from_slice(field);
    }
    for field in [32_000u32.to_le_bytes().as_slice(), &2u16.to_le_bytes(), &16u16.to_le_bytes(), b"data"] {
        bytes.extend_from_slice(field);
    }
    bytes.extend_from_slice(&data.to_le_bytes());
    bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    bytes
}

fn transcription_form(file: Vec<u8>, format: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(file).file_name("utterance.wav").mime_str("audio/wav").unwrap();
    reqwest::multipart::Form::new()
        .part("file", part)
        .text("model", "whisper-1")
        .text("response_format", format.to_owned())
        .text("timestamp_granularities[]", "word")
}

#[tokio::test]
async fn a_transcription_spreads_the_answer_over_the_audio() {
    let base = start().await;
    let response = http()
        .post(format!("{base}/audio/transcriptions"))
        .multipart(transcription_form(wav(2_500), "verbose_json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["text"], provider::TRANSCRIPT);
    assert_eq!(body["duration"], 2.5);
    let words = body["words"].as_array().unwrap();
    assert_eq!(words.len(), provider::TRANSCRIPT.split_whitespace().count());
    let times: Vec<(f64, f64)> =
        words.iter().map(|w| (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap())).collect();
    assert!(times.windows(2).all(|w| w[0].0 < w[0].1 && w[0].1 <= w[1].0), "{times:?}");
    assert_eq!(times[0].0, 0.0);
    assert!(times.last().unwrap().1 <= 2.5 && times.last().unwrap().1 > 2.0, "{times:?}");
    assert_eq!((&words[8]["word"], &words[12]["word"]), (&json!("TTL"), &json!("expire")), "no punctuation in words");

    let text = http()
        .post(format!("{base}/audio/transcriptions"))
        .multipart(transcription_form(wav(100), "text"))
        .send()
        .await
        .unwrap();
    assert_eq!(text.text().await.unwrap(), provider::TRANSCRIPT);
    // No WAV, no transcript.
    for form in [transcription_form(b"not a wav".to_vec(), "json"), reqwest::multipart::Form::new().text("a", "b")] {
        let response = http().post(format!("{base}/audio/transcriptions")).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), 400);
    }
    let response = http().post(format!("{base}/audio/transcriptions")).body("x").send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn speech_is_pcm_proportional_to_the_text_and_not_silent() {
    let base = start().await;
    let input = "Tell me how you would design a rate limiter.";
    let body = json!({ "model": "tts-1", "input": input, "voice": "alloy", "response_format": "pcm" });
    let response = http().post(format!("{base}/audio/speech")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len() % 2, 0);
    let samples: Vec<i16> = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert_eq!(samples.len(), provider::speech_samples(input.chars().count(), 60));
    assert_eq!(samples.len(), input.len() * 60 * 24, "60 ms a character at 24 kHz");
    let loud = samples.iter().filter(|s| s.unsigned_abs() > 300).count();
    assert!(loud > samples.len() / 3, "{loud} of {} samples", samples.len());
    assert!(samples.iter().all(|s| s.unsigned_abs() <= 2000));

    for bad in [
        json!({ "input": "", "response_format": "pcm" }),
        json!({ "input": "Hello.", "response_format": "mp3" }),
        json!({ "response_format": "pcm" }),
    ] {
        let response = http().post(format!("{base}/audio/speech")).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn the_engine_speech_clients_take_its_transcripts_and_its_audio() {
    use viva_engine::voice::stt::{OpenAiStt, OpenAiSttConfig, SpeechToText};
    use viva_engine::voice::tts::{OUTPUT_RATE, OpenAiTts, OpenAiTtsConfig, TextToSpeech};
    let base = start().await;
    let user = UserId::new("u");

    let stt = OpenAiStt::new(OpenAiSttConfig {
        response_timeout: PATIENCE,
        max_retries: 0,
        ..OpenAiSttConfig::new(&base, "whisper-1", None)
    })
    .unwrap();
    let audio: Vec<i16> = (0..16 * 3_000).map(|i| ((i as f64 / 7.0).sin() * 4000.0) as i16).collect();
    let transcript = tokio::time::timeout(PATIENCE, stt.transcribe(&user, &audio)).await.unwrap().unwrap();
    assert_eq!(transcript.text, provider::TRANSCRIPT);
    assert_eq!(transcript.words.len(), provider::TRANSCRIPT.split_whitespace().count());
    let last = transcript.words.last().unwrap();
    assert!(last.end_ms <= 3_000 && last.end_ms > 2_500, "{last:?}");

    let tts = OpenAiTts::new(OpenAiTtsConfig {
        first_audio_timeout: PATIENCE,
        idle_timeout: PATIENCE,
        sentence_timeout: PATIENCE,
        max_retries: 0,
        ..OpenAiTtsConfig::new(&base, None)
    })
    .unwrap();
    let sentence = "Could you walk me through it?";
    let chunks: Vec<Vec<i16>> = tokio::time::timeout(PATIENCE, tts.speak(&user, sentence).collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(chunks.len() > 1, "streamed in chunks");
    let samples: usize = chunks.iter().map(Vec::len).sum();
    assert_eq!(samples, sentence.len() * 60 * OUTPUT_RATE as usize / 1000);
}
