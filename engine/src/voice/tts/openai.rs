//! OpenAI's `POST /audio/speech` with `response_format: pcm`: raw PCM16 LE mono at 24 kHz,
//! streamed as the body arrives. The fault rules are the LLM client's (`crate::llm`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, timeout, timeout_at};

use super::{Pcm16, TextToSpeech, TtsError, prepare, record_error};
use crate::core::UserId;
use crate::llm::Breaker;
use crate::retry::{self, Attempt, Retries};

/// How to reach the provider and how patient to be with it.
#[derive(Clone)]
pub struct OpenAiTtsConfig {
    /// e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as a bearer token; never logged (not even by `Debug`).
    pub api_key: Option<String>,
    /// e.g. `gpt-4o-mini-tts`.
    pub model: String,
    /// e.g. `alloy`.
    pub voice: String,
    /// Longest text spoken at once, in characters (OpenAI takes up to 4,096).
    pub max_chars: usize,
    /// To open the connection.
    pub connect_timeout: Duration,
    /// From the call to the first bytes of audio, the wait for a place included.
    pub first_audio_timeout: Duration,
    /// Longest silence between two chunks of the body.
    pub idle_timeout: Duration,
    /// From the call to the end of the body.
    pub sentence_timeout: Duration,
    /// Retries before the first byte (connect errors, first-audio timeouts, 429, 5xx).
    pub max_retries: u32,
    /// First backoff; doubled each retry, with jitter.
    pub backoff: Duration,
    /// Requests in flight at once; others wait for a place (within the first-audio timeout).
    pub max_concurrency: usize,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long the circuit stays open.
    pub breaker_cooldown: Duration,
}

impl std::fmt::Debug for OpenAiTtsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiTtsConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("max_chars", &self.max_chars)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_audio_timeout", &self.first_audio_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("sentence_timeout", &self.sentence_timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("max_concurrency", &self.max_concurrency)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .finish()
    }
}

impl OpenAiTtsConfig {
    /// Defaults for the provider at `base_url`.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            model: "gpt-4o-mini-tts".to_owned(),
            voice: "alloy".to_owned(),
            max_chars: 2_000,
            connect_timeout: Duration::from_secs(5),
            first_audio_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            sentence_timeout: Duration::from_secs(60),
            max_retries: 2,
            backoff: Duration::from_millis(250),
            max_concurrency: 256,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// Speaks with an OpenAI-compatible `/audio/speech`.
#[derive(Debug, Clone)]
pub struct OpenAiTts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: OpenAiTtsConfig,
    places: Semaphore,
    breaker: Breaker,
}

impl OpenAiTts {
    /// A client for `config`.
    pub fn new(config: OpenAiTtsConfig) -> Result<Self, TtsError> {
        // reqwest is built without a default crypto provider; ring is ours (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_concurrency)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| TtsError::Connect(e.without_url().to_string()))?;
        let places = Semaphore::new(config.max_concurrency.max(1));
        let breaker = Breaker::new(config.breaker_failures, config.breaker_cooldown);
        Ok(Self { inner: Arc::new(Inner { http, config, places, breaker }) })
    }

    /// Whether calls fail at once right now.
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.is_open()
    }
}

impl TextToSpeech for OpenAiTts {
    fn name(&self) -> &str {
        "openai"
    }

    fn speak(&self, _user: &UserId, text: &str) -> BoxStream<'static, Result<Vec<i16>, TtsError>> {
        let text = match prepare(text, self.inner.config.max_chars) {
            Ok(text) if text.is_empty() => return stream::empty().boxed(),
            Ok(text) => text,
            Err(error) => {
                record_error("openai", &error);
                return stream::once(async move { Err(error) }).boxed();
            }
        };
        let (tx, rx) = mpsc::channel(4);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let result = tokio::select! {
                result = inner.run(&text, &tx) => result,
                // Nobody listens any more (barge-in): drop the HTTP response now.
                () = tx.closed() => return inner.breaker.abandon(),
            };
            // A call refused before it reached the provider says nothing about it.
            if !matches!(result, Err(TtsError::CircuitOpen | TtsError::Timeout("place"))) {
                inner.breaker.record(result.is_ok());
            }
            if let Err(error) = result {
                record_error("openai", &error);
                let _ = tx.send(Err(error)).await;
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }
}

type Sender = mpsc::Sender<Result<Vec<i16>, TtsError>>;

impl Inner {
    async fn run(&self, text: &str, tx: &Sender) -> Result<(), TtsError> {
        let started = Instant::now();
        let first_deadline = started + self.config.first_audio_timeout;
        let deadline = started + self.config.sentence_timeout;
        let _place = timeout_at(first_deadline, self.places.acquire())
            .await
            .map_err(|_| TtsError::Timeout("place"))?
            .expect("the semaphore is never closed");
        let response = self.send(text, first_deadline).await?;
        let mut body = response.bytes_stream();
        let mut pcm = Pcm16::default();
        let mut first = true;
        loop {
            let (limit, what) = match first {
                true => (self.config.first_audio_timeout, "first audio"),
                false => (self.config.idle_timeout, "idle"),
            };
            let next = tokio::select! {
                next = timeout(limit, body.next()) => next.map_err(|_| TtsError::Timeout(what))?,
                () = tokio::time::sleep_until(deadline) => return Err(TtsError::Timeout("sentence")),
            };
            let bytes = match next {
                None => break,
                Some(Ok(bytes)) => bytes,
                Some(Err(e)) => return Err(TtsError::Connect(format!("the body was cut: {}", e.without_url()))),
            };
            let mut samples = Vec::with_capacity(bytes.len() / 2 + 1);
            pcm.push(&bytes, &mut samples);
            if samples.is_empty() {
                continue;
            }
            if first {
                first = false;
                metrics::histogram!("viva_tts_first_audio_seconds", "provider" => "openai").record(started.elapsed());
            }
            if tx.send(Ok(samples)).await.is_err() {
                return Ok(());
            }
        }
        pcm.finish()
    }

    /// Sends the request until the provider answers 2xx: retries connect errors, timeouts,
    /// 429 (after its `Retry-After`) and 5xx with backoff; gives up at once on other statuses
    /// and when the circuit is open. The first attempt has what is left of the first-audio
    /// budget after the wait for a place.
    async fn send(&self, text: &str, first_deadline: Instant) -> Result<reqwest::Response, TtsError> {
        if !self.breaker.allow() {
            return Err(TtsError::CircuitOpen);
        }
        let body = json!({
            "model": self.config.model,
            "input": text,
            "voice": self.config.voice,
            "response_format": "pcm",
        })
        .to_string();
        let first_audio = first_deadline.saturating_duration_since(Instant::now());
        let retries = Retries { max: self.config.max_retries, backoff: self.config.backoff };
        retry::retrying(retries, "text-to-speech", |attempt| {
            let mut request = self
                .http
                .post(format!("{}/audio/speech", self.config.base_url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let limit = if attempt == 0 { first_audio } else { self.config.first_audio_timeout };
            async move {
                match timeout(limit, request.send()).await {
                    Err(_) => Attempt::Retry(TtsError::Timeout("first audio"), None),
                    Ok(Err(e)) => Attempt::Retry(TtsError::Connect(e.without_url().to_string()), None),
                    Ok(Ok(response)) => retry::judge(response),
                }
            }
        })
        .await
    }
}
