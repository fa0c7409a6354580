//! `viva-load provider`: a paced OpenAI-format chat completions server, the LLM for load runs
//! of `viva-gateway --interviewer llm --scorer llm`. Unlike the tests' scripted fake
//! (`viva_testkit::openai`), every answer here is made up and paced like a hosted model's:
//!
//! - `GET /models`: one model, `paced`.
//! - `POST /chat/completions` with `"stream": true`: server-sent `chat.completion.chunk`
//!   events, one word each ([`Pace::turn_words`] of them), the first [`Pace::first_token`]
//!   after the request arrived and the rest spread evenly so the last one goes out
//!   [`Pace::turn`] after it; then a chunk with `finish_reason: "stop"` and `data: [DONE]`.
//!   Each event is its own body chunk, flushed as it is due. The words are interviewer-like
//!   sentences from a fixed pool, picked by a hash of the request body (the same request gets
//!   the same reply). A *choice turn* (the last message is a system message containing
//!   [`CHOICE_PHRASE`]) starts with a number line, `0` or `K` in 1..=N where N counts that
//!   message's lines starting with `K. `, in the same chunk as the first word (`"2\nCould"`).
//! - `POST /chat/completions` without `stream`: one `chat.completion` after [`Pace::score`].
//!   When the request has a `response_format`, its content is JSON valid for the scorer's
//!   schema (`response_format.json_schema.schema`): every dimension its
//!   `properties.dimensions.items.properties.name.enum` names, once, with a score 0–10 and
//!   words of the answer as evidence, and `key_points_hit` a subset of
//!   `properties.key_points_hit.items.enum`. Without one, it is the turn's text.
//! - A body that is not a JSON object with a `messages` array: 400, OpenAI-style error body;
//!   bodies over [`MAX_BODY_BYTES`]: 413.
//!
//! - `POST /audio/transcriptions` (multipart, as the engine's OpenAI speech-to-text sends it:
//!   `file` a WAV, `model`, `response_format`, `timestamp_granularities[]`): after
//!   [`Pace::stt`], a `verbose_json` transcript ([`TRANSCRIPT`], the same answer every time)
//!   with its words spread evenly over the audio's duration, read from the WAV's header (its
//!   rate, channels, bits) and its data chunk's size. `response_format=text`: the text alone.
//!   No WAV `file` part: 400.
//! - `POST /audio/speech` (JSON `{model, input, voice, response_format: "pcm"}`): raw PCM16
//!   LE mono at 24 kHz, [`Pace::speech_ms_per_char`] of audio per character of `input`, a quiet
//!   tone rising and falling (not silence), in [`SPEECH_CHUNK_MS`] body chunks: the first after
//!   [`Pace::tts_first_audio`], the rest at once (synthesis faster than real time, not paced).
//!   An empty `input` or another `response_format`: 400.
//!
//! Everything waits on tokio timers (no thread or blocking per request), so one process holds
//! thousands of streams. No authentication (any key is accepted), no other endpoint.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The one model served.
pub const MODEL: &str = "paced";
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// What `/audio/transcriptions` hears, whatever was said: an answer naming common key points.
pub const TRANSCRIPT: &str =
    "I would use an LRU cache with a TTL so stale entries expire, and shard by key across the nodes";
/// The rate of `/audio/speech`'s PCM.
pub const SPEECH_RATE: u32 = 24_000;
/// Milliseconds of audio per body chunk of `/audio/speech`.
pub const SPEECH_CHUNK_MS: u64 = 100;

/// What makes a streamed request a choice turn, in its last (system) message.
pub const CHOICE_PHRASE: &str = "Start your reply with a line holding only a number";

/// How fast the provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// From a streamed request's arrival to its first content chunk.
    pub first_token: Duration,
    /// From a streamed request's arrival to its last content chunk (at least `first_token`).
    pub turn: Duration,
    /// From a non-streamed request's arrival to its answer.
    pub score: Duration,
    /// Words in a streamed turn (at least 1).
    pub turn_words: usize,
    /// From a transcription request's arrival to its answer.
    pub stt: Duration,
    /// From a speech request's arrival to its first audio.
    pub tts_first_audio: Duration,
    /// Milliseconds of speech made per character of the text (about a person's pace).
    pub speech_ms_per_char: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            first_token: Duration::from_millis(300),
            turn: Duration::from_millis(1500),
            score: Duration::from_millis(1200),
            turn_words: 60,
            stt: Duration::from_millis(300),
            tts_first_audio: Duration::from_millis(200),
            speech_ms_per_char: 60,
        }
    }
}

impl Pace {
    /// When content chunk `index` (0-based) of `count` is due, after the request arrived.
    pub fn word_at(&self, index: usize, count: usize) -> Duration {
        let span = self.turn.saturating_sub(self.first_token);
        if count <= 1 {
            return self.first_token;
        }
        let (index, last) = (index.min(count - 1) as u128, (count - 1) as u128);
        let offset = span.as_nanos() * index / last;
        self.first_token + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }
}

/// What the provider has served so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderStats {
    /// Streamed requests.
    pub streamed: u64,
    /// Streams the client dropped before `[DONE]`.
    pub streams_cut: u64,
    /// Non-streamed requests.
    pub completions: u64,
    /// Requests refused (bad body, unknown path).
    pub rejected: u64,
    /// Chat requests being answered now.
    pub in_flight: u64,
    /// Most chat requests answered at once.
    pub max_in_flight: u64,
    /// Transcriptions answered.
    pub transcriptions: u64,
    /// Milliseconds of audio transcribed.
    pub transcribed_ms: u64,
    /// Speech requests answered.
    pub speeches: u64,
    /// Milliseconds of audio synthesized (all of it, including streams the client dropped).
    pub spoken_ms: u64,
}

/// The provider's pace and counters, shared by its requests.
#[derive(Debug, Default)]
pub struct Provider {
    pace: Pace,
    next_id: AtomicU64,
    streamed: AtomicU64,
    streams_cut: AtomicU64,
    completions: AtomicU64,
    rejected: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    transcriptions: AtomicU64,
    transcribed_ms: AtomicU64,
    speeches: AtomicU64,
    spoken_ms: AtomicU64,
}

impl Provider {
    /// A provider answering at `pace`.
    pub fn new(pace: Pace) -> Self {
        Self { pace, ..Self::default() }
    }

    /// Its pace.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// Its counters now.
    pub fn stats(&self) -> ProviderStats {
        ProviderStats {
            streamed: self.streamed.load(Ordering::Relaxed),
            streams_cut: self.streams_cut.load(Ordering::Relaxed),
            completions: self.completions.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            transcriptions: self.transcriptions.load(Ordering::Relaxed),
            transcribed_ms: self.transcribed_ms.load(Ordering::Relaxed),
            speeches: self.speeches.load(Ordering::Relaxed),
            spoken_ms: self.spoken_ms.load(Ordering::Relaxed),
        }
    }
}

/// The HTTP routes.
pub fn router(provider: Arc<Provider>) -> Router {
    Router::new()
        .route("/models", get(models))
        .route("/chat/completions", post(chat))
        .route("/audio/transcriptions", post(transcribe))
        .route("/audio/speech", post(speak))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(provider)
}

/// Serves on `listener` until `shutdown` completes (streams open then are dropped with the
/// runtime).
pub async fn serve(
    listener: TcpListener,
    provider: Arc<Provider>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    // Events are small writes spaced in time: without this, Nagle would hold one back until
    // the previous one is acknowledged.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::select! {
        served = axum::serve(listener, router(provider)) => served,
        () = shutdown => Ok(()),
    }
}

async fn models() -> Response {
    axum::Json(json!({ "object": "list", "data": [{ "id": MODEL, "object": "model", "owned_by": "viva-load" }] }))
        .into_response()
}

async fn not_found(State(provider): State<Arc<Provider>>, method: Method, uri: Uri) -> Response {
    provider.rejected.fetch_add(1, Ordering::Relaxed);
    error(StatusCode::NOT_FOUND, &format!("Unknown request URL: {method} {}", uri.path()))
}

/// An OpenAI-style error.
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": null } });
    (status, axum::Json(body)).into_response()
}

/// A request's body and its JSON, or the OpenAI-style refusal (counted) of one that is not JSON.
fn json_body(provider: &Provider, body: Result<Bytes, BytesRejection>) -> Result<(Bytes, Value), Box<Response>> {
    let refuse = |status: StatusCode, message: &str| {
        provider.rejected.fetch_add(1, Ordering::Relaxed);
        Box::new(error(status, message))
    };
    let body = body.map_err(|rejection| refuse(rejection.status(), &rejection.body_text()))?;
    let json = serde_json::from_slice(&body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, &format!("We could not parse the JSON body: {e}")))?;
    Ok((body, json))
}

async fn chat(State(provider): State<Arc<Provider>>, body: Result<Bytes, BytesRejection>) -> Response {
    let arrived = Instant::now();
    let refuse = |status: StatusCode, message: &str| {
        provider.rejected.fetch_add(1, Ordering::Relaxed);
        error(status, message)
    };
    let (body, request) = match json_body(&provider, body) {
        Ok(parsed) => parsed,
        Err(refusal) => return *refusal,
    };
    if !request.is_object() || !request["messages"].is_array() {
        return refuse(StatusCode::BAD_REQUEST, "The body must be a JSON object with a `messages` array.");
    }
    let seed = fnv1a(&body);
    let id = format!("chatcmpl-paced-{}", provider.next_id.fetch_add(1, Ordering::Relaxed) + 1);
    let model = request["model"].as_str().unwrap_or(MODEL).to_owned();
    let flight = Flight::new(&provider);
    if request["stream"] == json!(true) {
        provider.streamed.fetch_add(1, Ordering::Relaxed);
        let mut rng = Rng(seed);
        let words = turn_words(&mut rng, provider.pace.turn_words);
        let prefix = choice_count(&request).map(|count| format!("{}\n", choose(&mut rng, count)));
        let turn = Turn { id, model, created: unix_now(), words, prefix, arrived, next: 0, flight };
        return stream(turn);
    }
    provider.completions.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep_until(arrived + provider.pace.score).await;
    let mut rng = Rng(seed);
    let content = if request.get("response_format").is_some_and(|f| !f.is_null()) {
        scores(&request, &mut rng)
    } else {
        turn_words(&mut rng, provider.pace.turn_words).join(" ")
    };
    let completion = json!({
        "id": id,
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": usage(body.len(), content.len()),
    });
    flight.end();
    axum::Json(completion).into_response()
}

async fn transcribe(
    State(provider): State<Arc<Provider>>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let arrived = Instant::now();
    let refuse = |status: StatusCode, message: &str| {
        provider.rejected.fetch_add(1, Ordering::Relaxed);
        error(status, message)
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refuse(rejection.status(), &rejection.body_text()),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(parts) = multipart(content_type, &body) else {
        return refuse(StatusCode::BAD_REQUEST, "The body must be multipart/form-data.");
    };
    let field = |name: &str| parts.iter().find(|(n, _)| n == name).map(|(_, value)| *value);
    let Some(seconds) = field("file").and_then(wav_seconds) else {
        return refuse(StatusCode::BAD_REQUEST, "The `file` part must be a PCM WAV file.");
    };
    let format = field("response_format").map(String::from_utf8_lossy).unwrap_or_default().into_owned();
    provider.transcriptions.fetch_add(1, Ordering::Relaxed);
    provider.transcribed_ms.fetch_add((seconds * 1000.0).round() as u64, Ordering::Relaxed);
    tokio::time::sleep_until(arrived + provider.pace.stt).await;
    if format == "text" {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], TRANSCRIPT).into_response();
    }
    axum::Json(transcript(seconds)).into_response()
}

/// [`TRANSCRIPT`] as `verbose_json` for `seconds` of audio: its words spread evenly over them.
pub fn transcript(seconds: f64) -> Value {
    let words: Vec<&str> = TRANSCRIPT.split_whitespace().collect();
    let slot = seconds / words.len() as f64;
    let round = |s: f64| (s * 1000.0).round() / 1000.0;
    let timed: Vec<Value> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let word = word.trim_matches(|c: char| c.is_ascii_punctuation());
            json!({ "word": word, "start": round(i as f64 * slot), "end": round((i as f64 + 0.9) * slot) })
        })
        .collect();
    json!({ "task": "transcribe", "language": "english", "duration": round(seconds), "text": TRANSCRIPT, "words": timed })
}

/// The parts of a `multipart/form-data` body, `(name, content)`; `None` when it is not one.
fn multipart<'a>(content_type: &str, body: &'a [u8]) -> Option<Vec<(String, &'a [u8])>> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    // Before the first delimiter: a preamble, ignored.
    let start = find(rest, delimiter.as_bytes())?;
    rest = &rest[start + delimiter.len()..];
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, format!("\r\n{delimiter}").as_bytes())?;
        let part = &rest[..end];
        rest = &rest[end + 2 + delimiter.len()..];
        let split = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..split]);
        let name = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition")).and_then(|l| {
            let (_, after) = l.split_once("name=\"")?;
            after.split_once('"').map(|(name, _)| name.to_owned())
        })?;
        parts.push((name, &part[split + 4..]));
    }
    Some(parts)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The duration of a PCM WAV file, from its `fmt ` chunk and the size of its `data` chunk
/// (or of what follows its header, when that size is wrong).
pub fn wav_seconds(file: &[u8]) -> Option<f64> {
    if file.len() < 12 || &file[..4] != b"RIFF" || &file[8..12] != b"WAVE" {
        return None;
    }
    let (mut at, mut format) = (12, None);
    while at + 8 <= file.len() {
        let id = &file[at..at + 4];
        let size = u32::from_le_bytes(file[at + 4..at + 8].try_into().ok()?) as usize;
        let content = at + 8;
        if id == b"fmt " && size >= 16 && content + 16 <= file.len() {
            let channels = u16::from_le_bytes(file[content + 2..content + 4].try_into().ok()?);
            let rate = u32::from_le_bytes(file[content + 4..content + 8].try_into().ok()?);
            let bits = u16::from_le_bytes(file[content + 14..content + 16].try_into().ok()?);
            format = Some((channels, rate, bits));
        } else if id == b"data" {
            let (channels, rate, bits) = format?;
            let bytes_per_second = f64::from(rate) * f64::from(channels) * f64::from(bits / 8);
            if bytes_per_second <= 0.0 {
                return None;
            }
            let bytes = size.min(file.len() - content);
            return Some(bytes as f64 / bytes_per_second);
        }
        at = content + size + size % 2;
    }
    None
}

async fn speak(State(provider): State<Arc<Provider>>, body: Result<Bytes, BytesRejection>) -> Response {
    let arrived = Instant::now();
    let refuse = |status: StatusCode, message: &str| {
        provider.rejected.fetch_add(1, Ordering::Relaxed);
        error(status, message)
    };
    let (_, request) = match json_body(&provider, body) {
        Ok(parsed) => parsed,
        Err(refusal) => return *refusal,
    };
    let Some(input) = request["input"].as_str().filter(|i| !i.trim().is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "`input` must be a non-empty string.");
    };
    if request["response_format"] != "pcm" {
        return refuse(StatusCode::BAD_REQUEST, "This server only speaks `response_format: \"pcm\"`.");
    }
    let samples = speech_samples(input.chars().count(), provider.pace.speech_ms_per_char);
    provider.speeches.fetch_add(1, Ordering::Relaxed);
    provider.spoken_ms.fetch_add(samples as u64 * 1000 / u64::from(SPEECH_RATE), Ordering::Relaxed);
    let first = arrived + provider.pace.tts_first_audio;
    let chunk = (u64::from(SPEECH_RATE) * SPEECH_CHUNK_MS / 1000) as usize;
    let chunks = futures::stream::unfold(0usize, move |from| async move {
        if from >= samples {
            return None;
        }
        if from == 0 {
            tokio::time::sleep_until(first).await;
        }
        let to = (from + chunk).min(samples);
        let bytes: Vec<u8> = (from..to).flat_map(|i| tone(i, samples).to_le_bytes()).collect();
        Some((Ok::<_, io::Error>(Bytes::from(bytes)), to))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "audio/pcm")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Samples of speech `/audio/speech` makes for `chars` characters at `ms_per_char`.
pub fn speech_samples(chars: usize, ms_per_char: u64) -> usize {
    (chars as u64 * ms_per_char * u64::from(SPEECH_RATE) / 1000) as usize
}

/// Sample `i` of `count`: a quiet 220 Hz tone whose loudness rises and falls about four
/// times a second, like syllables.
fn tone(i: usize, count: usize) -> i16 {
    let t = i as f64 / f64::from(SPEECH_RATE);
    let syllables = 0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin();
    // 5 ms fades at both ends: no click.
    let fade = (i.min(count - i) as f64 / (f64::from(SPEECH_RATE) * 0.005)).min(1.0);
    (2000.0 * syllables * fade * (std::f64::consts::TAU * 220.0 * t).sin()) as i16
}

/// Token counts as a provider would report them, roughly (four bytes a token).
fn usage(prompt_bytes: usize, completion_bytes: usize) -> Value {
    let (prompt, completion) = (prompt_bytes.div_ceil(4), completion_bytes.div_ceil(4));
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A chat request being answered: counted from its arrival until its answer is complete or
/// dropped.
struct Flight {
    provider: Arc<Provider>,
    ended: bool,
}

impl Flight {
    fn new(provider: &Arc<Provider>) -> Self {
        let now = provider.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        provider.max_in_flight.fetch_max(now, Ordering::Relaxed);
        Self { provider: Arc::clone(provider), ended: false }
    }

    fn end(mut self) {
        self.ended = true;
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.provider.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.ended {
            self.provider.streams_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One streamed turn on its way out.
struct Turn {
    id: String,
    model: String,
    created: u64,
    words: Vec<String>,
    /// The choice turn's number line, sent with the first word.
    prefix: Option<String>,
    arrived: Instant,
    /// The next event: a word's index, then the finish chunk, then `[DONE]`.
    next: usize,
    flight: Flight,
}

impl Turn {
    /// A `chat.completion.chunk` event carrying `delta`.
    fn event(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    }
}

fn stream(turn: Turn) -> Response {
    let events = futures::stream::unfold(Some(turn), |turn| async move {
        let mut turn = turn?;
        let (count, index) = (turn.words.len(), turn.next);
        turn.next += 1;
        let bytes = if index < count {
            let pace = turn.flight.provider.pace;
            tokio::time::sleep_until(turn.arrived + pace.word_at(index, count)).await;
            let word = &turn.words[index];
            match (index, &turn.prefix) {
                (0, prefix) => {
                    let content = format!("{}{word}", prefix.as_deref().unwrap_or_default());
                    turn.event(json!({ "role": "assistant", "content": content }), None)
                }
                _ => turn.event(json!({ "content": format!(" {word}") }), None),
            }
        } else if index == count {
            turn.event(json!({}), Some("stop"))
        } else {
            // The answer is complete as soon as its last event is handed over.
            turn.flight.end();
            return Some((Ok::<_, io::Error>(Bytes::from_static(b"data: [DONE]\n\n")), None));
        };
        Some((Ok(bytes), Some(turn)))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// For a choice turn (its last message is a system message with [`CHOICE_PHRASE`]), how
/// many numbered lines (`K. ...`) that message has.
pub fn choice_count(request: &Value) -> Option<usize> {
    let last = request["messages"].as_array()?.last()?;
    let content = last["content"].as_str()?;
    if last["role"] != "system" || !content.contains(CHOICE_PHRASE) {
        return None;
    }
    let numbered = |line: &str| {
        let line = line.trim_start();
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && line[digits..].starts_with(". ")
    };
    Some(content.lines().filter(|line| numbered(line)).count())
}

/// A choice turn's number: 0 about half the time, else one of 1..=count.
fn choose(rng: &mut Rng, count: usize) -> usize {
    let draw = rng.next();
    if count == 0 || draw.is_multiple_of(2) { 0 } else { 1 + (draw / 2 % count as u64) as usize }
}

/// What an interviewer says, in sentences from here.
const SENTENCES: &[&str] = &[
    "Thanks, that gives me a clear picture of how you approached it.",
    "I like that you started from the requirements before picking a design.",
    "Let's dig a little deeper into one of the trade-offs you mentioned.",
    "Could you walk me through what happens when that component fails halfway through a request?",
    "How would you know it was failing, and who would get paged first?",
    "Suppose the traffic grew ten times over the next year.",
    "Which part of your design would you expect to break first, and why?",
    "You mentioned caching a moment ago, so tell me how you would keep it consistent.",
    "What would you measure to decide whether the change was worth it?",
    "That is a reasonable answer, and many strong candidates land in the same place.",
    "Now imagine a teammate disagrees with that choice in a design review.",
    "How would you convince them, or what would change your own mind?",
    "Let's move on to something a bit more hands-on.",
    "Think out loud as you go; I care more about your reasoning than the final answer.",
    "Could you give me a concrete example from a project you worked on?",
    "What would you do differently if you had to build it again today?",
];

/// Short sentences by length (`CLOSERS[n - 1]` has n words), to end a turn on a whole
/// sentence when the next one from the pool does not fit.
const CLOSERS: [&str; 8] = [
    "Please.",
    "Go ahead.",
    "Take your time.",
    "Whenever you are ready.",
    "Tell me what you think.",
    "Take a moment if you need.",
    "Tell me how you would approach that.",
    "Take your time and talk me through it.",
];

/// `count` words of interviewer text in whole sentences, picked by `rng`.
fn turn_words(rng: &mut Rng, count: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::with_capacity(count);
    while words.len() < count {
        let left = count - words.len();
        let start = (rng.next() % SENTENCES.len() as u64) as usize;
        // The first sentence from `start` on that fits (the pool's shortest has 9 words, so
        // one always does when no closer is long enough).
        let fits = (0..SENTENCES.len())
            .map(|i| SENTENCES[(start + i) % SENTENCES.len()])
            .find(|s| s.split_whitespace().count() <= left);
        let sentence = match fits {
            Some(sentence) if left > CLOSERS.len() || rng.next().is_multiple_of(2) => sentence,
            _ if left <= CLOSERS.len() => CLOSERS[left - 1],
            _ => SENTENCES[start],
        };
        words.extend(sentence.split_whitespace().take(left).map(str::to_owned));
    }
    words
}

/// The scorer's JSON for `request`: every dimension of its schema once, scored 0–10 with
/// words of the answer as evidence, and some of the key points its schema lists.
fn scores(request: &Value, rng: &mut Rng) -> String {
    let properties = &request["response_format"]["json_schema"]["schema"]["properties"];
    let strings = |value: &Value| -> Vec<String> {
        value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let names = strings(&properties["dimensions"]["items"]["properties"]["name"]["enum"]);
    let points = strings(&properties["key_points_hit"]["items"]["enum"]);
    let answer = answer_words(request);
    let dimensions: Vec<Value> = names
        .iter()
        .map(|name| {
            // 0–10 in halves, mostly in the middle, as graders score.
            let score = ((rng.next() % 11) + (rng.next() % 11)) as f64 / 2.0;
            json!({ "name": name, "score": score, "evidence": evidence(&answer, rng) })
        })
        .collect();
    let hit: Vec<&String> = points.iter().filter(|_| rng.next().is_multiple_of(2)).collect();
    json!({ "dimensions": dimensions, "key_points_hit": hit }).to_string()
}

/// The words of the answer being scored: what follows `Answer` in the last user message.
fn answer_words(request: &Value) -> Vec<String> {
    let messages = request["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let text = messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str());
    let text = text.unwrap_or_default();
    let answer = text.rsplit_once("Answer").map_or(text, |(_, after)| after.split_once('\n').map_or("", |(_, a)| a));
    answer.split_whitespace().map(str::to_owned).collect()
}

/// A few consecutive words of the answer (empty for an empty answer).
fn evidence(answer: &[String], rng: &mut Rng) -> String {
    if answer.is_empty() {
        return String::new();
    }
    let start = (rng.next() % answer.len() as u64) as usize;
    let len = 3 + (rng.next() % 6) as usize;
    answer[start..(start + len).min(answer.len())].join(" ")
}

/// FNV-1a, 64 bits: a stable hash of the request body (the same request, the same reply).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64: numbers drawn from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_spread_from_the_first_token_to_the_end_of_the_turn() {
        let pace = Pace::default();
        assert_eq!(pace.word_at(0, 60), Duration::from_millis(300));
        assert_eq!(pace.word_at(59, 60), Duration::from_millis(1500));
        let gaps: Vec<Duration> = (1..60).map(|i| pace.word_at(i, 60) - pace.word_at(i - 1, 60)).collect();
        assert!(gaps.iter().all(|g| g.as_micros().abs_diff(1200 * 1000 / 59) <= 1), "{gaps:?}");
        assert_eq!(pace.word_at(0, 1), Duration::from_millis(300));
    }

    #[test]
    fn turns_have_the_words_asked_for_and_end_a_sentence() {
        for count in (1..=100).chain([500]) {
            for seed in 0..20 {
                let words = turn_words(&mut Rng(seed), count);
                assert_eq!(words.len(), count);
                assert!(words.last().unwrap().ends_with(['.', '?']), "{words:?}");
            }
        }
    }

    #[test]
    fn choice_turns_count_the_numbered_lines_of_the_last_system_message() {
        let request = |role: &str, content: &str| json!({ "messages": [{ "role": role, "content": content }] });
        let list = format!("Key points:\n1. caching\n2. failover\n  3. metrics\n4.no space\nx. no\n{CHOICE_PHRASE}.");
        assert_eq!(choice_count(&request("system", &list)), Some(3));
        assert_eq!(choice_count(&request("user", &list)), None);
        assert_eq!(choice_count(&request("system", "1. a\n2. b")), None);
        assert_eq!(choice_count(&request("system", CHOICE_PHRASE)), Some(0));
        let mut rng = Rng(7);
        let picks: Vec<usize> = (0..200).map(|_| choose(&mut rng, 3)).collect();
        assert!(picks.iter().all(|k| *k <= 3));
        let zeros = picks.iter().filter(|k| **k == 0).count();
        assert!((70..=130).contains(&zeros), "{zeros} zeros of 200");
        assert!((1..=3).all(|k| picks.contains(&k)));
        assert!((0..50).all(|_| choose(&mut rng, 0) == 0));
    }
}
