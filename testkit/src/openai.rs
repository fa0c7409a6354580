//! A fake OpenAI-compatible provider: a real HTTP server on 127.0.0.1:0 speaking the chat
//! completions wire format (server-sent events when `"stream": true`, one JSON body when not),
//! whose every answer is scripted by the test, including the ways real providers fail.
//!
//! It records what it was asked, how many requests were in flight at once, and how many
//! responses the client dropped before their end (barge-in must close the HTTP request).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

/// How the server answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The text, streamed a word per event then `[DONE]` (or as one message when not streamed).
    Text(String),
    /// Like `Text`, waiting this long before each word (or before the whole body).
    Slow(String, Duration),
    /// This status, with an OpenAI-style error body.
    Status(u16),
    /// 429 with `Retry-After: 0`.
    RateLimited,
    /// The text's events, then the body ends without `[DONE]` (half a JSON body when not
    /// streamed).
    Cut(String),
    /// The text's events, then silence with the connection open.
    Stall(String),
    /// The text's events, then (once they are out) the connection is aborted mid-body.
    Reset(String),
    /// No answer at all: not even a status line.
    Hang,
    /// 200, then HTML where events (or JSON) were due.
    Garbage,
}

/// One request the server got.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// 1 for the first request, in arrival order.
    pub n: usize,
    /// `/chat/completions` or `/models`.
    pub path: String,
    /// The JSON body (`Null` for none or non-JSON).
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Request {
    /// Whether the request asks for a streamed answer.
    pub fn stream(&self) -> bool {
        self.body["stream"] == json!(true)
    }
}

type Script = dyn Fn(&Request) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Request>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Responses the client dropped before their end.
    dropped: watch::Sender<usize>,
    /// Ends hangs and stalls when the server goes away.
    shutdown: watch::Sender<bool>,
}

/// A fake provider serving until dropped.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeOpenAi {
    /// Starts a server that answers each request with `script(request)`.
    pub async fn start(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            dropped: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        });
        let app = Router::new()
            .route("/chat/completions", post(chat))
            .route("/models", get(models))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// Starts a server whose n-th request gets the n-th reply; the last reply repeats.
    pub async fn replies(replies: impl IntoIterator<Item = Reply>) -> Self {
        let replies: Vec<Reply> = replies.into_iter().collect();
        assert!(!replies.is_empty(), "at least one reply");
        Self::start(move |request| replies[(request.n - 1).min(replies.len() - 1)].clone()).await
    }

    /// The base URL to configure a client with (the paths hang right off it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Requests being answered right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Most requests ever answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Responses the client went away from before their end.
    pub fn dropped(&self) -> usize {
        *self.shared.dropped.borrow()
    }

    /// Waits until at least `n` responses were dropped by the client (unbounded: wrap it in a
    /// timeout).
    pub async fn until_dropped(&self, n: usize) {
        let mut dropped = self.shared.dropped.subscribe();
        let _ = dropped.wait_for(|d| *d >= n).await;
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        self.task.abort();
    }
}

/// A reply the LLM scorer accepts for the request `body`: every dimension its schema names
/// scored `score`, with evidence, and no key point hit.
pub fn scorer_json(body: &Value, score: f64) -> String {
    let schema = &body["response_format"]["json_schema"]["schema"]["properties"]["dimensions"]["items"];
    let names = schema["properties"]["name"]["enum"].as_array().cloned().unwrap_or_default();
    let dimensions: Vec<Value> =
        names.iter().map(|name| json!({ "name": name, "score": score, "evidence": "the answer" })).collect();
    json!({ "dimensions": dimensions, "key_points_hit": [] }).to_string()
}

/// One request in flight: counted from its arrival until its answer is complete, or until
/// the client drops it (which is recorded).
struct Flight {
    shared: Arc<Shared>,
    done: bool,
}

impl Flight {
    fn new(shared: &Arc<Shared>) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self { shared: Arc::clone(shared), done: false }
    }

    /// The answer is complete (called before its last bytes go out, so the client cannot
    /// start another request while this one still counts).
    fn complete(&mut self) {
        if !self.done {
            self.done = true;
            self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if !self.done {
            self.complete();
            self.shared.dropped.send_modify(|d| *d += 1);
        }
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &[u8]) -> Request {
    let mut requests = shared.requests.lock().unwrap_or_else(|e| e.into_inner());
    let request = Request {
        n: requests.len() + 1,
        path: path.to_owned(),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        authorization: headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    requests.push(request.clone());
    request
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let request = record(&shared, "/models", &headers, b"");
    match (shared.script)(&request) {
        Reply::Status(code) => error(code),
        Reply::RateLimited => rate_limited(),
        _ => {
            axum::Json(json!({ "object": "list", "data": [{ "id": "fake-model", "object": "model" }] })).into_response()
        }
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = record(&shared, "/chat/completions", &headers, &body);
    let reply = (shared.script)(&request);
    let mut flight = Flight::new(&shared);
    let mut shutdown = shared.shutdown.subscribe();
    let response = match reply {
        Reply::Status(code) => error(code),
        Reply::RateLimited => rate_limited(),
        Reply::Hang => {
            let _ = shutdown.wait_for(|s| *s).await;
            error(503)
        }
        reply if request.stream() => return events(reply, flight, shutdown),
        Reply::Text(text) => message(&text),
        Reply::Slow(text, delay) => {
            tokio::time::sleep(delay).await;
            message(&text)
        }
        Reply::Garbage => {
            ([(header::CONTENT_TYPE, "text/html")], "<html><body>502 Bad Gateway</body></html>").into_response()
        }
        Reply::Cut(text) => return partial(&text, vec![Step::Complete], flight, shutdown),
        Reply::Stall(text) => return partial(&text, vec![Step::Forever], flight, shutdown),
        Reply::Reset(text) => {
            let end = vec![Step::Sleep(Duration::from_millis(50)), Step::Complete, Step::Reset];
            return partial(&text, end, flight, shutdown);
        }
    };
    flight.complete();
    response
}

/// The first half of a JSON answer, then `end`.
fn partial(text: &str, end: Vec<Step>, flight: Flight, shutdown: watch::Receiver<bool>) -> Response {
    let full = message_json(text).to_string();
    let half = Bytes::copy_from_slice(&full.as_bytes()[..full.len() / 2]);
    body([Step::Chunk(half)].into_iter().chain(end).collect(), "application/json", flight, shutdown)
}

fn error(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": { "message": format!("scripted {code}"), "type": "server_error" } });
    (status, axum::Json(body)).into_response()
}

fn rate_limited() -> Response {
    let body = json!({ "error": { "message": "slow down", "type": "rate_limit_exceeded" } });
    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")], axum::Json(body)).into_response()
}

fn message_json(text: &str) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }]
    })
}

fn message(text: &str) -> Response {
    axum::Json(message_json(text)).into_response()
}

/// A streamed chunk carrying `delta`.
fn event(delta: Value, finish: Option<&str>) -> Bytes {
    let chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "model": "fake-model",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }]
    });
    Bytes::from(format!("data: {chunk}\n\n"))
}

/// The text's events (role first, then a word each, keeping the spaces).
fn text_events(text: &str) -> Vec<Bytes> {
    let mut events = vec![event(json!({ "role": "assistant", "content": "" }), None)];
    events.extend(text.split_inclusive(' ').map(|word| event(json!({ "content": word }), None)));
    events
}

fn events(reply: Reply, flight: Flight, shutdown: watch::Receiver<bool>) -> Response {
    let finish = || vec![Step::Chunk(event(json!({}), Some("stop"))), Step::Complete, Step::Chunk(done())];
    let steps = match reply {
        Reply::Text(text) => text_events(&text).into_iter().map(Step::Chunk).chain(finish()).collect(),
        Reply::Slow(text, delay) => text_events(&text)
            .into_iter()
            .flat_map(|chunk| [Step::Sleep(delay), Step::Chunk(chunk)])
            .chain(finish())
            .collect(),
        // What comes before a stall or a reset goes out as one chunk, so the client has all
        // of it before the silence starts.
        Reply::Stall(text) => vec![Step::Chunk(text_events(&text).concat().into()), Step::Forever],
        Reply::Reset(text) => {
            let flushed = Step::Sleep(Duration::from_millis(50));
            vec![Step::Chunk(text_events(&text).concat().into()), flushed, Step::Complete, Step::Reset]
        }
        Reply::Cut(text) => text_events(&text).into_iter().map(Step::Chunk).chain([Step::Complete]).collect(),
        Reply::Garbage => vec![Step::Complete, Step::Chunk(Bytes::from_static(b"data: <html>Bad Gateway</html>\n\n"))],
        Reply::Status(_) | Reply::RateLimited | Reply::Hang => unreachable!("answered without a body"),
    };
    body(steps, "text/event-stream", flight, shutdown)
}

fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// What a response body does next.
enum Step {
    Chunk(Bytes),
    Sleep(Duration),
    /// The answer is complete as far as the server is concerned (the rest may still be sent).
    Complete,
    /// Says nothing more until the server stops.
    Forever,
    /// Aborts the connection.
    Reset,
}

struct Stepper {
    steps: VecDeque<Step>,
    flight: Flight,
    shutdown: watch::Receiver<bool>,
}

fn body(steps: Vec<Step>, content_type: &'static str, flight: Flight, shutdown: watch::Receiver<bool>) -> Response {
    let stepper = Stepper { steps: steps.into(), flight, shutdown };
    let stream = futures::stream::unfold(stepper, |mut s| async move {
        loop {
            match s.steps.pop_front()? {
                Step::Chunk(bytes) => return Some((Ok(bytes), s)),
                Step::Sleep(delay) => tokio::time::sleep(delay).await,
                Step::Complete => s.flight.complete(),
                Step::Forever => {
                    let _ = s.shutdown.wait_for(|stop| *stop).await;
                    return None;
                }
                Step::Reset => return Some((Err(std::io::Error::other("scripted reset")), s)),
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}
