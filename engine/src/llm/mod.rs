//! A client for OpenAI-compatible chat completion APIs (OpenAI, vLLM, llama.cpp's server,
//! Ollama): streamed turns over server-sent events, JSON answers for scoring, and everything a
//! provider can do wrong turned into an [`LlmError`] in bounded time.
//!
//! - Before the first token, connect errors, a provider silent past the first-token timeout,
//!   429 (honouring `Retry-After`) and 5xx are retried with exponential backoff and jitter;
//!   401/403 are not (a wrong key is not fixed by asking again). The defaults keep the worst
//!   case (3 × 8 s plus backoff) under the session core's 30 s turn timeout, so the client gives
//!   up — and the circuit breaker learns of it — before the session does.
//! - Timeouts: connecting, the first token, and silence between chunks each have their own.
//! - Admission (`admission.rs`) bounds requests in flight, per user and in all, paces them to
//!   the account's requests and tokens per minute, serves turns before scores and users in
//!   turn; a turn that cannot start within `turn_queue_timeout` fails at once with
//!   [`LlmError::Busy`] (the interviewer speaks it from the script), and the queue wait counts
//!   against the turn's first-token budget.
//! - A circuit breaker sends callers to their fallback for a while after repeated failures.
//! - Dropping a turn's stream drops the HTTP response at once (barge-in stops the billing).

mod admission;
mod breaker;
pub(crate) mod sse;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use breaker::Breaker;

use self::admission::{Admission, Class, Limits, Place};
use crate::core::UserId;
use crate::retry::{self, Attempt, HttpError, Retries};

/// How to reach the provider and how patient to be with it.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as a bearer token; never logged.
    pub api_key: Option<String>,
    /// e.g. `gpt-4o-mini`.
    pub model: String,
    /// To open the connection.
    pub connect_timeout: Duration,
    /// From the request to the response's first token (or whole body, for JSON).
    pub first_token_timeout: Duration,
    /// Longest silence between two chunks of a stream.
    pub idle_timeout: Duration,
    /// Retries before the first token.
    pub max_retries: u32,
    /// First backoff; doubled each retry, with jitter.
    pub backoff: Duration,
    /// Requests in flight at once (each holds a socket and a task; providers limit rates,
    /// not open streams).
    pub max_concurrency: usize,
    /// Requests in flight at once for any one user (their sessions' turns and scores).
    pub max_concurrency_per_user: usize,
    /// Requests sent per minute, the account's tier (0: no limit).
    pub requests_per_minute: u32,
    /// Tokens per minute, the account's tier (0: no limit); a request counts its prompt
    /// (about 4 bytes a token) and the completion it may get.
    pub tokens_per_minute: u32,
    /// How long a turn may wait for its place before it is given up as [`LlmError::Busy`]
    /// (and spoken by the script): the candidate is listening to silence meanwhile.
    pub turn_queue_timeout: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long the circuit stays open.
    pub breaker_cooldown: Duration,
}

impl LlmConfig {
    /// Defaults for `model` at `base_url`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            model: model.into(),
            connect_timeout: Duration::from_secs(5),
            first_token_timeout: Duration::from_secs(8),
            idle_timeout: Duration::from_secs(8),
            max_retries: 2,
            backoff: Duration::from_millis(250),
            max_concurrency: 512,
            max_concurrency_per_user: 4,
            requests_per_minute: 0,
            tokens_per_minute: 0,
            turn_queue_timeout: Duration::from_secs(1),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// What went wrong with the provider.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 401/403: the key is wrong or missing.
    #[error("the provider refused the credentials ({0})")]
    Unauthorized(u16),
    /// 429 after every retry.
    #[error("rate limited by the provider")]
    RateLimited,
    /// Another non-success status after every retry.
    #[error("the provider answered {0}")]
    Status(u16),
    /// The connection failed.
    #[error("cannot reach the provider: {0}")]
    Connect(String),
    /// A timeout: `connect`, `first token` or `idle`.
    #[error("the provider timed out ({0})")]
    Timeout(&'static str),
    /// A body that is not what the API specifies.
    #[error("the provider sent garbage: {0}")]
    Malformed(String),
    /// The stream ended before its `[DONE]`.
    #[error("the stream was cut")]
    Cut,
    /// Too many recent failures; not even tried.
    #[error("the provider is failing; using the fallback")]
    CircuitOpen,
    /// A turn waited for its place past `turn_queue_timeout`; not sent.
    #[error("too many calls to the provider waiting; using the fallback")]
    Busy,
}

impl HttpError for LlmError {
    fn unauthorized(code: u16) -> Self {
        LlmError::Unauthorized(code)
    }
    fn rate_limited() -> Self {
        LlmError::RateLimited
    }
    fn status(code: u16) -> Self {
        LlmError::Status(code)
    }
}

impl LlmError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::Status(_) => "status",
            Self::Connect(_) => "connect",
            Self::Timeout(_) => "timeout",
            Self::Malformed(_) => "malformed",
            Self::Cut => "cut",
            Self::CircuitOpen => "circuit_open",
            Self::Busy => "busy",
        }
    }
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// Its text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: "system", content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: "user", content: content.into() }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: "assistant", content: content.into() }
    }
}

/// What a streamed completion yields.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// More text.
    Text(String),
    /// Complete.
    Done,
    /// Failed; nothing follows.
    Failed(LlmError),
}

/// A provider, shared by every session.
#[derive(Debug, Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: LlmConfig,
    admission: Arc<Admission>,
    breaker: Breaker,
}

impl LlmClient {
    /// A client for `config`.
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        // reqwest is built without a default crypto provider; ring is ours (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        // One idle connection kept per place in flight, so that a burst after a lull does not
        // reconnect (HTTP/1.1: one stream per connection); no more.
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_concurrency)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| LlmError::Connect(e.to_string()))?;
        let admission = Admission::new(Limits {
            max_in_flight: config.max_concurrency,
            per_user: config.max_concurrency_per_user,
            requests_per_minute: config.requests_per_minute,
            tokens_per_minute: config.tokens_per_minute,
        });
        let breaker = Breaker::new(config.breaker_failures, config.breaker_cooldown);
        Ok(Self { inner: Arc::new(Inner { http, config, admission, breaker }) })
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.inner.config.model
    }

    /// Whether calls go to the fallback right now.
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// Checks the provider at startup: `GET /models`. A refused key is `Unauthorized`.
    pub async fn check(&self) -> Result<(), LlmError> {
        let config = &self.inner.config;
        let mut request = self.inner.http.get(format!("{}/models", config.base_url));
        if let Some(key) = &config.api_key {
            request = request.bearer_auth(key);
        }
        let response = tokio::time::timeout(config.first_token_timeout, request.send())
            .await
            .map_err(|_| LlmError::Timeout("connect"))?
            .map_err(|e| LlmError::Connect(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            code @ (401 | 403) => Err(LlmError::Unauthorized(code)),
            code => Err(LlmError::Status(code)),
        }
    }

    /// Streams a chat completion for a turn of `user`'s session. Dropping the stream cancels
    /// the request (or its place in the queue).
    pub fn stream_chat(&self, user: &UserId, messages: Vec<ChatMessage>) -> BoxStream<'static, LlmEvent> {
        // A small channel: the reader waits for the session to take each chunk, so a slow
        // consumer slows the provider's stream instead of growing memory.
        let (tx, rx) = mpsc::channel(16);
        let inner = Arc::clone(&self.inner);
        let user = user.clone();
        tokio::spawn(async move {
            let body = inner.body(messages, true, None);
            let result = tokio::select! {
                result = inner.stream_into(&user, body, &tx) => result,
                // Nobody listens any more (barge-in, session gone): drop the HTTP stream now.
                () = tx.closed() => return inner.breaker.abandon(),
            };
            inner.record(&result);
            let last = match result {
                Ok(()) => LlmEvent::Done,
                Err(error) => LlmEvent::Failed(error),
            };
            let _ = tx.send(last).await;
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|event| (event, rx)) }).boxed()
    }

    /// A whole completion as one string for `user`'s session, asking for JSON that follows
    /// `schema`. Served after turns; waits as long as it takes for its place.
    pub async fn complete_json(
        &self,
        user: &UserId,
        messages: Vec<ChatMessage>,
        schema: Value,
    ) -> Result<String, LlmError> {
        let inner = &self.inner;
        let body = inner.body(messages, false, Some(schema));
        let result = inner.complete(user, body).await;
        inner.record(&result);
        result
    }
}

impl Inner {
    /// Feeds the breaker and the error counters.
    fn record<T>(&self, result: &Result<T, LlmError>) {
        // A call refused by the open circuit or never sent says nothing new about the provider.
        if !matches!(result, Err(LlmError::CircuitOpen | LlmError::Busy)) {
            self.breaker.record(result.is_ok());
        }
        if let Err(error) = result {
            metrics::counter!("viva_llm_errors_total", "kind" => error.kind()).increment(1);
        }
    }

    fn body(&self, messages: Vec<ChatMessage>, stream: bool, schema: Option<Value>) -> Value {
        let mut body = json!({ "model": self.config.model, "messages": messages, "stream": stream });
        if let Some(schema) = schema {
            body["response_format"] =
                json!({ "type": "json_schema", "json_schema": { "name": "result", "strict": true, "schema": schema } });
        }
        body
    }

    /// Takes a place (see `admission.rs`), then sends `body` until the provider answers 2xx:
    /// retries connect errors, 429 and 5xx with backoff; gives up at once on other statuses
    /// and when the circuit is open. The place is held for as long as the response is read.
    /// A turn's first attempt has the first-token budget less the time it waited in the queue.
    async fn send(&self, user: &UserId, class: Class, body: &Value) -> Result<(reqwest::Response, Place), LlmError> {
        if !self.breaker.allow() {
            return Err(LlmError::CircuitOpen);
        }
        let body = serde_json::to_vec(body).map_err(|e| LlmError::Malformed(e.to_string()))?;
        let asked = Instant::now();
        let deadline = (class == Class::Turn).then(|| asked + self.config.turn_queue_timeout);
        let place = self
            .admission
            .acquire(user, class, estimated_tokens(class, &body), deadline)
            .await
            .map_err(|_| LlmError::Busy)?;
        let first_token = match class {
            Class::Turn => self.config.first_token_timeout.saturating_sub(asked.elapsed()),
            Class::Score => self.config.first_token_timeout,
        };
        let retries = Retries { max: self.config.max_retries, backoff: self.config.backoff };
        let response = retry::retrying(retries, "provider", |attempt| {
            let mut request = self
                .http
                .post(format!("{}/chat/completions", self.config.base_url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let limit = if attempt == 0 { first_token } else { self.config.first_token_timeout };
            async move {
                match tokio::time::timeout(limit, request.send()).await {
                    Err(_) => Attempt::Retry(LlmError::Timeout("first token"), None),
                    Ok(Err(e)) => Attempt::Retry(LlmError::Connect(e.without_url().to_string()), None),
                    Ok(Ok(response)) => retry::judge(response),
                }
            }
        })
        .await?;
        Ok((response, place))
    }

    /// Streams the answer's content deltas into `tx` until `[DONE]`.
    async fn stream_into(&self, user: &UserId, body: Value, tx: &mpsc::Sender<LlmEvent>) -> Result<(), LlmError> {
        let started = Instant::now();
        let (response, _place) = self.send(user, Class::Turn, &body).await?;
        let mut chunks = response.bytes_stream();
        let mut lines = sse::Lines::default();
        let mut first = true;
        // When the first text arrived and how many pieces followed, for the turn's metrics.
        let mut texts: Option<(Instant, u32)> = None;
        loop {
            let limit = if first { self.config.first_token_timeout } else { self.config.idle_timeout };
            let chunk = match tokio::time::timeout(limit, chunks.next()).await {
                Err(_) => return Err(LlmError::Timeout(if first { "first token" } else { "idle" })),
                Ok(None) => return Err(LlmError::Cut),
                // The connection broke mid-stream.
                Ok(Some(Err(_))) => return Err(LlmError::Cut),
                Ok(Some(Ok(chunk))) => chunk,
            };
            first = false;
            for data in lines.push(&chunk) {
                match sse::delta(&data)? {
                    sse::Data::Done => {
                        if let Some((at, count)) = texts {
                            let seconds = at.elapsed().as_secs_f64();
                            if seconds > 0.0 {
                                metrics::histogram!("viva_llm_chunks_per_second").record(f64::from(count) / seconds);
                            }
                        }
                        return Ok(());
                    }
                    sse::Data::Text(text) if text.is_empty() => {}
                    sse::Data::Text(text) => {
                        match &mut texts {
                            None => {
                                metrics::histogram!("viva_llm_first_token_seconds").record(started.elapsed());
                                texts = Some((Instant::now(), 1));
                            }
                            Some((_, count)) => *count += 1,
                        }
                        if tx.send(LlmEvent::Text(text)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// A non-streamed completion's message content.
    async fn complete(&self, user: &UserId, body: Value) -> Result<String, LlmError> {
        let (response, _place) = self.send(user, Class::Score, &body).await?;
        let body = tokio::time::timeout(self.config.first_token_timeout, response.bytes())
            .await
            .map_err(|_| LlmError::Timeout("first token"))?
            .map_err(|e| LlmError::Malformed(e.without_url().to_string()))?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| LlmError::Malformed(e.to_string()))?;
        value["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".into()))
    }
}

/// Tokens a call may cost, as providers count them against a per-minute limit: its prompt
/// (about 4 bytes a token in English JSON) and the completion it may get (a turn is at most
/// 90 words; a score's JSON is longer).
fn estimated_tokens(class: Class, body: &[u8]) -> u32 {
    let completion = match class {
        Class::Turn => 200,
        Class::Score => 400,
    };
    u32::try_from(body.len() / 4).unwrap_or(u32::MAX).saturating_add(completion)
}
