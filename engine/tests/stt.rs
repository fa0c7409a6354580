//! Speech-to-text with real components: pocketsphinx on speech synthesized by espeak-ng, and
//! the OpenAI-compatible client against a real HTTP server on 127.0.0.1.
//!
//! The pocketsphinx tests are skipped (with a message) only when the binaries are missing
//! (`apt-get install pocketsphinx pocketsphinx-en-us espeak-ng`; scripts/test.sh does it), and
//! never in CI (`viva_testkit::missing_program`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use viva_engine::core::UserId;
use viva_engine::voice::stt::{
    OpenAiStt, OpenAiSttConfig, PocketsphinxConfig, PocketsphinxStt, SpeechToText, SttError,
};
use viva_testkit::speech::{offline_speech_installed as installed, speech};

/// Every wait is bounded, so a bug fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

fn alice() -> UserId {
    UserId::new("alice")
}

// ---- pocketsphinx on espeak-ng speech ----

/// The recognizer restricted to the sentence's words (free-form recognition of synthetic
/// speech is poor; see `PocketsphinxStt::with_grammar`).
#[tokio::test]
async fn pocketsphinx_with_a_grammar_transcribes_synthetic_speech_with_word_timings() {
    if !installed() {
        return;
    }
    let sentence = "I would use a cache with a time to live";
    let words: Vec<&str> = sentence.split(' ').collect();
    let stt = PocketsphinxStt::new(PocketsphinxConfig::default()).unwrap().with_grammar(&words).unwrap();
    let audio = [vec![0i16; 8000], speech(sentence), vec![0i16; 8000]].concat();
    let audio_ms = (audio.len() / 16) as u32;
    let transcript = tokio::time::timeout(PATIENCE, stt.transcribe(&alice(), &audio)).await.unwrap().unwrap();
    eprintln!("heard: {:?}", transcript.text);

    let heard: Vec<&str> = transcript.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(transcript.text, heard.join(" "));
    let lowered: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    assert!(heard.iter().all(|w| lowered.iter().any(|l| l == w)), "only the grammar's words: {heard:?}");
    // The key words come back, in the order they were said (the grammar allows any order).
    let position = |word: &str| heard.iter().position(|w| *w == word);
    let (would, use_, cache) = (position("would"), position("use"), position("cache"));
    assert!(would.is_some() && use_.is_some() && cache.is_some(), "{heard:?}");
    assert!(would < use_ && use_ < cache, "{heard:?}");
    assert!(heard.len() >= 6, "most of the sentence: {heard:?}");
    // Timings increase, do not overlap, and fall within the audio (which has 500 ms of silence
    // either side).
    for word in &transcript.words {
        assert!(word.start_ms < word.end_ms && word.end_ms <= audio_ms, "{word:?}");
    }
    for pair in transcript.words.windows(2) {
        assert!(pair[0].end_ms <= pair[1].start_ms, "{pair:?}");
    }
    assert!(transcript.words[0].start_ms >= 300, "{:?}", transcript.words[0]);
}

#[tokio::test]
async fn pocketsphinx_hears_nothing_in_silence() {
    if !installed() {
        return;
    }
    let free = PocketsphinxStt::new(PocketsphinxConfig::default()).unwrap();
    let grammar = free.clone().with_grammar(["cache", "time"]).unwrap();
    for stt in [free, grammar] {
        let transcript = tokio::time::timeout(PATIENCE, stt.transcribe(&alice(), &vec![0i16; 32_000])).await.unwrap();
        assert_eq!(transcript.unwrap(), Default::default());
        assert_eq!(stt.transcribe(&alice(), &[]).await.unwrap(), Default::default());
    }
}

#[tokio::test]
async fn pocketsphinx_refuses_a_long_utterance_and_a_missing_binary() {
    let config = PocketsphinxConfig { binary: "/nonexistent/pocketsphinx_continuous".into(), ..Default::default() };
    let Err(error) = PocketsphinxStt::new(config) else { panic!("constructed without a binary") };
    assert_eq!(error.kind(), "unavailable");
    if !installed() {
        return;
    }
    let config = PocketsphinxConfig { max_audio: Duration::from_secs(1), ..Default::default() };
    let stt = PocketsphinxStt::new(config).unwrap();
    let error = stt.transcribe(&alice(), &vec![0i16; 17_000]).await.unwrap_err();
    assert_eq!(error, SttError::TooLong { ms: 1062, max_ms: 1000 });

    // A recognizer past its timeout is given up (and killed: kill_on_drop).
    let config = PocketsphinxConfig { timeout: Duration::from_millis(1), ..Default::default() };
    let stt = PocketsphinxStt::new(config).unwrap();
    let error = tokio::time::timeout(PATIENCE, stt.transcribe(&alice(), &vec![0i16; 160_000])).await.unwrap();
    assert_eq!(error.unwrap_err().kind(), "timeout");
}

#[tokio::test]
async fn pocketsphinx_with_one_place_concurrent_utterances_wait_their_turn() {
    if !installed() {
        return;
    }
    let config = PocketsphinxConfig { max_concurrency: 1, ..Default::default() };
    let stt = PocketsphinxStt::new(config).unwrap().with_grammar(["cache", "time", "live"]).unwrap();
    let audio = [vec![0i16; 4000], speech("a cache with a time to live"), vec![0i16; 4000]].concat();
    let user = alice();
    let calls = (0..3).map(|_| stt.transcribe(&user, &audio));
    let results = tokio::time::timeout(PATIENCE, futures::future::join_all(calls)).await.unwrap();
    for result in results {
        assert!(result.unwrap().words.iter().any(|w| w.text == "cache"));
    }
}

// ---- the OpenAI-compatible client against a local server ----

/// What the server does with the next request.
#[derive(Clone)]
enum Reply {
    /// Answers this status, extra headers and body.
    Status(u16, Vec<(&'static str, &'static str)>, &'static str),
    /// Never answers.
    Hang,
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    /// The multipart fields: name → bytes.
    fields: Vec<(String, Vec<u8>)>,
}

#[derive(Clone, Default)]
struct Server {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const VERBOSE_JSON: &str = r#"{"task":"transcribe","language":"english","duration":1.5,"text":"I would use a cache.","words":[{"word":"I","start":0.1,"end":0.2},{"word":"would","start":0.2,"end":0.45},{"word":"use","start":0.45,"end":0.7},{"word":"a","start":0.7,"end":0.8},{"word":"cache","start":0.8,"end":1.25}]}"#;

async fn transcriptions(State(server): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let fields = content_type
        .split("boundary=")
        .nth(1)
        .map(|boundary| multipart_fields(&body, boundary.trim_matches('"')))
        .unwrap_or_default();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    server.seen.lock().unwrap().push(Seen { authorization, fields });
    let reply = server.replies.lock().unwrap().pop_front().unwrap_or(Reply::Status(200, vec![], VERBOSE_JSON));
    match reply {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Reply::Status(code, headers, body) => {
            let mut response = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
    }
}

/// The fields of a `multipart/form-data` body (a test's parser: no nesting, no encodings).
fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    let starts: Vec<usize> =
        body.windows(delimiter.len()).enumerate().filter(|(_, w)| *w == delimiter).map(|(i, _)| i).collect();
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let Some(split) = part.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&part[..split]);
        let name = head.split("name=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
        let content = &part[split + 4..part.len() - 2]; // the CRLF before the next delimiter
        fields.push((name.to_owned(), content.to_vec()));
    }
    fields
}

fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a [u8]> {
    seen.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
}

/// A server answering `replies` in turn (then verbose JSON), and a client for it with short
/// timeouts and backoff.
async fn serve(replies: Vec<Reply>) -> (Server, OpenAiStt) {
    let server = Server { replies: Arc::new(Mutex::new(replies.into())), ..Default::default() };
    let app = Router::new().route("/v1/audio/transcriptions", post(transcriptions)).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = OpenAiSttConfig::new(format!("http://{address}/v1/"), "whisper-test", Some("sk-test".into()));
    config.response_timeout = Duration::from_millis(500);
    config.backoff = Duration::from_millis(10);
    config.max_retries = 2;
    (server, OpenAiStt::new(config).unwrap())
}

async fn transcribe(stt: &OpenAiStt, audio: &[i16]) -> Result<viva_engine::voice::stt::Transcript, SttError> {
    tokio::time::timeout(PATIENCE, stt.transcribe(&alice(), audio)).await.expect("bounded")
}

#[tokio::test]
async fn openai_sends_a_wav_and_parses_the_words() {
    let (server, stt) = serve(vec![]).await;
    let audio: Vec<i16> = (0..24_000).map(|i| ((i % 100) * 50) as i16).collect();
    let transcript = transcribe(&stt, &audio).await.unwrap();
    assert_eq!(transcript.text, "I would use a cache.");
    let words: Vec<(&str, u32, u32)> =
        transcript.words.iter().map(|w| (w.text.as_str(), w.start_ms, w.end_ms)).collect();
    assert_eq!(
        words,
        vec![("I", 100, 200), ("would", 200, 450), ("use", 450, 700), ("a", 700, 800), ("cache", 800, 1250)]
    );

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(field(request, "model"), Some(&b"whisper-test"[..]));
    assert_eq!(field(request, "response_format"), Some(&b"verbose_json"[..]));
    assert_eq!(field(request, "timestamp_granularities[]"), Some(&b"word"[..]));
    let wav = field(request, "file").expect("a file");
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([wav[20], wav[21]]), 1, "PCM");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 1, "mono");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
    assert_eq!(u16::from_le_bytes([wav[34], wav[35]]), 16, "bits");
    assert_eq!(&wav[36..40], b"data");
    assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize, audio.len() * 2);
    let samples: Vec<i16> = wav[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert_eq!(samples, audio);
}

#[tokio::test]
async fn openai_retries_5xx_and_429() {
    let (server, stt) = serve(vec![Reply::Status(500, vec![], "oops")]).await;
    assert!(transcribe(&stt, &[0; 1600]).await.is_ok());
    assert_eq!(server.seen.lock().unwrap().len(), 2);

    let (server, stt) = serve(vec![Reply::Status(429, vec![("retry-after", "0")], "slow down")]).await;
    assert!(transcribe(&stt, &[0; 1600]).await.is_ok());
    assert_eq!(server.seen.lock().unwrap().len(), 2);

    // Every attempt failing: the last error, after max_retries (2) retries.
    let (server, stt) = serve(vec![Reply::Status(503, vec![], ""); 3]).await;
    assert_eq!(transcribe(&stt, &[0; 1600]).await.unwrap_err(), SttError::Status(503));
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn openai_does_not_retry_a_refused_key_or_another_4xx() {
    let (server, stt) = serve(vec![Reply::Status(401, vec![], "no")]).await;
    let error = transcribe(&stt, &[0; 1600]).await.unwrap_err();
    assert_eq!((error.kind(), error), ("unauthorized", SttError::Unauthorized(401)));
    assert_eq!(server.seen.lock().unwrap().len(), 1);

    let (server, stt) = serve(vec![Reply::Status(400, vec![], "bad audio")]).await;
    assert_eq!(transcribe(&stt, &[0; 1600]).await.unwrap_err(), SttError::Status(400));
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn openai_times_out_a_silent_provider() {
    let (_server, stt) = serve(vec![Reply::Hang; 3]).await;
    let error = transcribe(&stt, &[0; 1600]).await.unwrap_err();
    assert_eq!(error.kind(), "timeout", "{error}");
}

#[tokio::test]
async fn openai_reports_garbage_as_malformed() {
    let (server, stt) = serve(vec![Reply::Status(200, vec![], "{\"text\": 12")]).await;
    let error = transcribe(&stt, &[0; 1600]).await.unwrap_err();
    assert_eq!(error.kind(), "malformed", "{error}");
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn openai_connect_errors_are_retried_then_open_the_circuit() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = OpenAiSttConfig::new(format!("http://127.0.0.1:{port}/v1"), "whisper-test", None);
    config.backoff = Duration::from_millis(1);
    config.breaker_failures = 2;
    let stt = OpenAiStt::new(config).unwrap();
    for _ in 0..2 {
        assert_eq!(transcribe(&stt, &[0; 1600]).await.unwrap_err().kind(), "connect");
    }
    assert!(stt.circuit_open());
    assert_eq!(transcribe(&stt, &[0; 1600]).await.unwrap_err(), SttError::CircuitOpen);
}
