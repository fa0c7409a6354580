//! Text-to-speech: a turn's sentences spoken as PCM16 little-endian mono at [`OUTPUT_RATE`],
//! streamed in chunks as they are made.
//!
//! - [`EspeakTts`]: the offline default, `espeak-ng` run as a subprocess (it is GPL-3: never
//!   linked), its 22,050 Hz WAV resampled to 24 kHz.
//! - [`OpenAiTts`]: `POST /audio/speech` with `response_format: pcm` (24 kHz already), with the
//!   LLM client's fault rules: timeouts, retries before the first byte, a circuit breaker.
//!
//! Every call is bounded (text length, places in flight, time to the first audio and to the
//! end), and dropping the stream stops the synthesis at once (barge-in).
//! Empty (or blank) text is an empty stream: nothing to say is not an error.

mod espeak;
mod openai;
pub mod resample;

use futures::stream::BoxStream;

pub use espeak::{EspeakConfig, EspeakTts};
pub use openai::{OpenAiTts, OpenAiTtsConfig};

use crate::core::UserId;

/// The sample rate of every provider's output (and of `turn.audio`).
pub const OUTPUT_RATE: u32 = 24_000;

/// Speaks text: PCM16 little-endian mono at 24 kHz (`OUTPUT_RATE`), streamed in chunks as it is made.
pub trait TextToSpeech: Send + Sync + 'static {
    /// The provider, for logs and metrics.
    fn name(&self) -> &str;

    /// One sentence (or a few words) of a turn. Dropping the stream stops the synthesis at once
    /// (barge-in): the subprocess is killed, the HTTP response dropped. An error ends the stream.
    fn speak(&self, user: &UserId, text: &str) -> BoxStream<'static, Result<Vec<i16>, TtsError>>;
}

/// Why a sentence could not be spoken (that turn goes on as text only).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TtsError {
    /// The text is longer than the provider's cap.
    #[error("text too long to speak ({chars} characters, at most {max})")]
    TooLong {
        /// Characters in the text.
        chars: usize,
        /// The cap.
        max: usize,
    },
    /// The synthesizer cannot be run (e.g. `espeak-ng` is not installed).
    #[error("text-to-speech unavailable: {0}")]
    Unavailable(String),
    /// The subprocess failed (exit status, stderr's first line).
    #[error("the synthesizer failed: {0}")]
    Process(String),
    /// 401/403: the key is wrong or missing.
    #[error("the provider refused the credentials ({0})")]
    Unauthorized(u16),
    /// 429 after every retry.
    #[error("rate limited by the provider")]
    RateLimited,
    /// Another non-success status (after every retry, for 5xx).
    #[error("the provider answered {0}")]
    Status(u16),
    /// The connection failed, or broke mid-stream.
    #[error("cannot reach the provider: {0}")]
    Connect(String),
    /// A timeout: `place`, `first audio`, `idle` or `sentence`.
    #[error("text-to-speech timed out ({0})")]
    Timeout(&'static str),
    /// Audio that is not what was promised (a bad WAV header, an odd number of bytes).
    #[error("malformed audio: {0}")]
    Malformed(String),
    /// Too many recent failures; not even tried.
    #[error("the text-to-speech provider is failing")]
    CircuitOpen,
}

impl crate::retry::HttpError for TtsError {
    fn unauthorized(code: u16) -> Self {
        TtsError::Unauthorized(code)
    }
    fn rate_limited() -> Self {
        TtsError::RateLimited
    }
    fn status(code: u16) -> Self {
        TtsError::Status(code)
    }
}

impl TtsError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Unavailable(_) => "unavailable",
            Self::Process(_) => "process",
            Self::Unauthorized(_) => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::Status(_) => "status",
            Self::Connect(_) => "connect",
            Self::Timeout(_) => "timeout",
            Self::Malformed(_) => "malformed",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

/// The text as it is sent: trimmed, control characters as spaces (no NUL can reach an
/// argument), within `max` characters.
fn prepare(text: &str, max: usize) -> Result<String, TtsError> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars > max {
        return Err(TtsError::TooLong { chars, max });
    }
    Ok(text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect())
}

/// PCM16 LE bytes to samples across arbitrary splits: an odd byte waits for the next chunk.
#[derive(Debug, Default)]
struct Pcm16 {
    carry: Option<u8>,
}

impl Pcm16 {
    fn push(&mut self, mut bytes: &[u8], out: &mut Vec<i16>) {
        if let (Some(low), Some((&high, rest))) = (self.carry, bytes.split_first()) {
            out.push(i16::from_le_bytes([low, high]));
            self.carry = None;
            bytes = rest;
        }
        let pairs = bytes.chunks_exact(2);
        self.carry = pairs.remainder().first().copied();
        out.extend(pairs.map(|pair| i16::from_le_bytes([pair[0], pair[1]])));
    }

    /// Whether the bytes so far made whole samples.
    fn finish(self) -> Result<(), TtsError> {
        match self.carry {
            None => Ok(()),
            Some(_) => Err(TtsError::Malformed("an odd number of bytes of PCM16".into())),
        }
    }
}

fn record_error(provider: &'static str, error: &TtsError) {
    metrics::counter!("viva_tts_errors_total", "provider" => provider, "kind" => error.kind()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_survives_odd_splits() {
        let samples: Vec<i16> = vec![0, 1, -1, i16::MAX, i16::MIN, 0x1234];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        for size in 1..=bytes.len() {
            let mut pcm = Pcm16::default();
            let mut out = Vec::new();
            for part in bytes.chunks(size) {
                pcm.push(part, &mut out);
            }
            assert_eq!(pcm.finish(), Ok(()));
            assert_eq!(out, samples, "splits of {size}");
        }
        let mut pcm = Pcm16::default();
        pcm.push(&[1, 2, 3], &mut Vec::new());
        assert_eq!(pcm.finish().map_err(|e| e.kind()), Err("malformed"));
    }

    #[test]
    fn text_is_trimmed_capped_and_has_no_control_characters() {
        assert_eq!(prepare("  Hi\0there\n ", 100), Ok("Hi there".to_owned()));
        assert_eq!(prepare("   ", 100), Ok(String::new()));
        assert_eq!(prepare("héllo", 5), Ok("héllo".to_owned()));
        assert_eq!(prepare("hello!", 5), Err(TtsError::TooLong { chars: 6, max: 5 }));
    }
}
