//! Speech-to-text over an OpenAI-compatible API: `POST {base_url}/audio/transcriptions`,
//! multipart (`file`: a WAV of the utterance, `model`, `response_format=verbose_json`,
//! `timestamp_granularities[]=word`), answered `{text, words: [{word, start, end}]}` in
//! seconds.
//!
//! The LLM client's fault rules (`crate::llm`): connect and response timeouts; connect errors,
//! timeouts, 429 (honouring `Retry-After`) and 5xx retried with exponential backoff and
//! jitter; 401/403 and other 4xx not retried; a circuit breaker after repeated failures;
//! requests in flight bounded. The key is sent as a bearer token and never logged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{INPUT_RATE, SpeechToText, SttError, Transcript, Word, check_length, count_error, wav};
use crate::core::UserId;
use crate::llm::Breaker;
use crate::retry::{self, Attempt, Retries};

/// How to reach the provider and how patient to be with it.
#[derive(Clone)]
pub struct OpenAiSttConfig {
    /// e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as a bearer token; never logged.
    pub api_key: Option<String>,
    /// e.g. `whisper-1`.
    pub model: String,
    /// To open the connection.
    pub connect_timeout: Duration,
    /// From sending the request to the whole answer, per attempt.
    pub response_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubled each retry, with jitter.
    pub backoff: Duration,
    /// Requests in flight at once; more wait (within `response_timeout`) for a place.
    pub max_concurrency: usize,
    /// The longest utterance sent.
    pub max_audio: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long the circuit stays open.
    pub breaker_cooldown: Duration,
}

impl std::fmt::Debug for OpenAiSttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSttConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_audio", &self.max_audio)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .finish()
    }
}

impl OpenAiSttConfig {
    /// Defaults for `model` at `base_url`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            model: model.into(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(15),
            max_retries: 2,
            backoff: Duration::from_millis(250),
            max_concurrency: 64,
            max_audio: Duration::from_secs(60),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// Speech-to-text over HTTP (see the module's documentation).
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: OpenAiSttConfig,
    places: Semaphore,
    breaker: Breaker,
}

impl OpenAiStt {
    /// A client for `config`.
    pub fn new(config: OpenAiSttConfig) -> Result<Self, SttError> {
        if config.max_concurrency == 0 {
            return Err(SttError::Unavailable("max_concurrency must be at least 1".into()));
        }
        // reqwest is built without a default crypto provider; ring is ours (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SttError::Unavailable(e.to_string()))?;
        let places = Semaphore::new(config.max_concurrency);
        let breaker = Breaker::new(config.breaker_failures, config.breaker_cooldown);
        Ok(Self { inner: Arc::new(Inner { http, config, places, breaker }) })
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.inner.config.model
    }

    /// Whether calls are refused right now.
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.is_open()
    }
}

#[async_trait]
impl SpeechToText for OpenAiStt {
    fn name(&self) -> &str {
        "openai"
    }

    async fn transcribe(&self, _user: &UserId, audio: &[i16]) -> Result<Transcript, SttError> {
        check_length(audio, self.inner.config.max_audio)?;
        if !self.inner.breaker.allow() {
            let error = SttError::CircuitOpen;
            count_error("openai", &error);
            return Err(error);
        }
        // Dropped before an outcome (its caller went away), the call gives its probe back.
        let mut pending = Abandon(Some(&self.inner.breaker));
        let result = self.inner.transcribe(audio).await;
        pending.0 = None;
        // A call that never reached the provider says nothing about it.
        match &result {
            Err(SttError::Timeout("queue")) => self.inner.breaker.abandon(),
            _ => self.inner.breaker.record(result.is_ok()),
        }
        if let Err(error) = &result {
            count_error("openai", error);
        }
        result
    }
}

/// Tells the breaker a call ended without an outcome, unless disarmed.
struct Abandon<'a>(Option<&'a Breaker>);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.0 {
            breaker.abandon();
        }
    }
}

impl Inner {
    async fn transcribe(&self, audio: &[i16]) -> Result<Transcript, SttError> {
        let _place = tokio::time::timeout(self.config.response_timeout, self.places.acquire())
            .await
            .map_err(|_| SttError::Timeout("queue"))?
            .map_err(|_| SttError::Unavailable("closed".into()))?;
        let file = wav(audio, INPUT_RATE);
        let retries = Retries { max: self.config.max_retries, backoff: self.config.backoff };
        retry::retrying(retries, "speech-to-text", |_| async {
            match tokio::time::timeout(self.config.response_timeout, self.attempt(&file)).await {
                Err(_) => Attempt::Retry(SttError::Timeout("response"), None),
                Ok(attempt) => attempt,
            }
        })
        .await
    }

    /// One request and its answer.
    async fn attempt(&self, file: &[u8]) -> Attempt<Transcript, SttError> {
        let part = match reqwest::multipart::Part::bytes(file.to_vec()).file_name("utterance.wav").mime_str("audio/wav")
        {
            Ok(part) => part,
            Err(e) => return Attempt::Fail(SttError::Unavailable(e.to_string())),
        };
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", self.config.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "word");
        let mut request = self.http.post(format!("{}/audio/transcriptions", self.config.base_url)).multipart(form);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = match request.send().await {
            Ok(response) => match retry::judge(response) {
                Attempt::Done(response) => response,
                Attempt::Retry(error, wait) => return Attempt::Retry(error, wait),
                Attempt::Fail(error) => return Attempt::Fail(error),
            },
            Err(e) if e.is_timeout() => return Attempt::Retry(SttError::Timeout("connect"), None),
            Err(e) => return Attempt::Retry(SttError::Connect(e.without_url().to_string()), None),
        };
        match response.bytes().await {
            Err(e) => Attempt::Retry(SttError::Connect(e.without_url().to_string()), None),
            Ok(body) => match parse_verbose_json(&body) {
                Ok(transcript) => Attempt::Done(transcript),
                Err(error) => Attempt::Fail(error),
            },
        }
    }
}

#[derive(Deserialize)]
struct VerboseJson {
    text: String,
    #[serde(default)]
    words: Vec<VerboseWord>,
}

#[derive(Deserialize)]
struct VerboseWord {
    word: String,
    start: f64,
    end: f64,
}

/// `{text, words: [{word, start, end}]}` (seconds) → a transcript (milliseconds).
fn parse_verbose_json(body: &[u8]) -> Result<Transcript, SttError> {
    let answer: VerboseJson = serde_json::from_slice(body).map_err(|e| SttError::Malformed(e.to_string()))?;
    let ms = |s: f64| -> Result<u32, SttError> {
        if !s.is_finite() || s < 0.0 {
            return Err(SttError::Malformed(format!("a word timing of {s} s")));
        }
        Ok((s * 1000.0).round().min(f64::from(u32::MAX)) as u32)
    };
    let words = answer
        .words
        .into_iter()
        .map(|w| Ok(Word { text: w.word.trim().to_owned(), start_ms: ms(w.start)?, end_ms: ms(w.end)? }))
        .collect::<Result<Vec<_>, SttError>>()?;
    Ok(Transcript { text: answer.text.trim().to_owned(), words })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_json_seconds_become_milliseconds() {
        let body = br#"{"text":" a cache ","language":"english","words":[{"word":"a","start":0.0,"end":0.12},{"word":"cache","start":0.12,"end":0.5004}]}"#;
        let transcript = parse_verbose_json(body).unwrap();
        assert_eq!(transcript.text, "a cache");
        assert_eq!(
            transcript.words,
            vec![
                Word { text: "a".into(), start_ms: 0, end_ms: 120 },
                Word { text: "cache".into(), start_ms: 120, end_ms: 500 }
            ]
        );
        assert_eq!(parse_verbose_json(br#"{"text":""}"#).unwrap(), Transcript::default());
        assert!(matches!(parse_verbose_json(b"{"), Err(SttError::Malformed(_))));
        assert!(matches!(
            parse_verbose_json(br#"{"text":"a","words":[{"word":"a","start":-1,"end":0}]}"#),
            Err(SttError::Malformed(_))
        ));
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        let config = OpenAiSttConfig::new("http://127.0.0.1:1/v1", "whisper-1", Some("sk-secret".into()));
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
