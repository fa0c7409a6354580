//! Speech-to-text: one utterance of the candidate's audio in, its text with word timings out.
//!
//! - [`PocketsphinxStt`]: offline, Debian's `pocketsphinx` run as a subprocess per utterance
//!   (crashes and hangs stay in the child; killed on timeout or when the call is dropped).
//! - [`OpenAiStt`]: an OpenAI-compatible `POST /audio/transcriptions`, with the LLM client's
//!   fault rules (timeouts, retries with backoff, a circuit breaker, bounded concurrency).
//!
//! Audio is PCM16 mono at [`INPUT_RATE`], as samples; an utterance is at most a configured
//! length (60 s by default): longer is [`SttError::TooLong`], not sent.

mod openai;
mod pocketsphinx;

use async_trait::async_trait;

pub use self::openai::{OpenAiStt, OpenAiSttConfig};
pub use self::pocketsphinx::{PocketsphinxConfig, PocketsphinxStt};
use crate::core::UserId;

/// Samples a second of the audio providers take (mono PCM16).
pub const INPUT_RATE: u32 = 16_000;

/// A speech-to-text provider.
#[async_trait]
pub trait SpeechToText: Send + Sync + 'static {
    /// A short name for logs and metrics (e.g. `pocketsphinx`).
    fn name(&self) -> &str;

    /// One utterance: PCM16 mono 16 kHz ([`INPUT_RATE`]) samples → its text with word timings.
    /// Silence gives an empty transcript.
    async fn transcribe(&self, user: &UserId, audio: &[i16]) -> Result<Transcript, SttError>;
}

/// What was said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The words, as one text.
    pub text: String,
    /// Each word and where it is in the utterance (empty if the provider gave no timings).
    pub words: Vec<Word>,
}

/// One recognized word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word.
    pub text: String,
    /// Where it starts, in milliseconds from the start of the utterance.
    pub start_ms: u32,
    /// Where it ends.
    pub end_ms: u32,
}

/// Why an utterance was not transcribed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SttError {
    /// The provider cannot work at all (a missing binary or model, a bad configuration).
    #[error("speech-to-text unavailable: {0}")]
    Unavailable(String),
    /// The utterance is longer than the configured cap; not sent.
    #[error("utterance too long: {ms} ms (at most {max_ms} ms)")]
    TooLong {
        /// Its length.
        ms: u64,
        /// The cap.
        max_ms: u64,
    },
    /// A timeout: `queue` (waiting for a place), `recognizer` (the subprocess), `connect`,
    /// `response`.
    #[error("speech-to-text timed out ({0})")]
    Timeout(&'static str),
    /// The recognizer failed (the subprocess exited with an error or crashed).
    #[error("the recognizer failed: {0}")]
    Failed(String),
    /// 401/403: the key is wrong or missing.
    #[error("the provider refused the credentials ({0})")]
    Unauthorized(u16),
    /// 429 after every retry.
    #[error("rate limited by the provider")]
    RateLimited,
    /// Another non-success status (after every retry, for 5xx).
    #[error("the provider answered {0}")]
    Status(u16),
    /// The connection failed.
    #[error("cannot reach the provider: {0}")]
    Connect(String),
    /// An answer that is not what the API specifies.
    #[error("the provider sent garbage: {0}")]
    Malformed(String),
    /// Too many recent failures; not even tried.
    #[error("the provider is failing; not tried")]
    CircuitOpen,
}

impl crate::retry::HttpError for SttError {
    fn unauthorized(code: u16) -> Self {
        SttError::Unauthorized(code)
    }
    fn rate_limited() -> Self {
        SttError::RateLimited
    }
    fn status(code: u16) -> Self {
        SttError::Status(code)
    }
}

impl SttError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::TooLong { .. } => "too_long",
            Self::Timeout(_) => "timeout",
            Self::Failed(_) => "failed",
            Self::Unauthorized(_) => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::Status(_) => "status",
            Self::Connect(_) => "connect",
            Self::Malformed(_) => "malformed",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

/// Milliseconds of `samples` at [`INPUT_RATE`].
pub fn audio_ms(samples: usize) -> u64 {
    samples as u64 * 1000 / u64::from(INPUT_RATE)
}

/// `Err(TooLong)` past `max`.
fn check_length(audio: &[i16], max: std::time::Duration) -> Result<(), SttError> {
    let ms = audio_ms(audio.len());
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if ms > max_ms { Err(SttError::TooLong { ms, max_ms }) } else { Ok(()) }
}

/// Little-endian bytes of `samples` (raw PCM16).
fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// A PCM16 mono WAV file of `samples` at `rate`.
pub fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36u32.saturating_add(data)).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes a second
    bytes.extend_from_slice(&2u16.to_le_bytes()); // bytes a frame
    bytes.extend_from_slice(&16u16.to_le_bytes()); // bits a sample
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    bytes.extend_from_slice(&pcm_bytes(samples));
    bytes
}

/// Counts a failed call for metrics.
fn count_error(provider: &'static str, error: &SttError) {
    metrics::counter!("viva_stt_errors_total", "provider" => provider, "kind" => error.kind()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_header_says_16_khz_mono_pcm16() {
        let bytes = wav(&[1, -1, 300], INPUT_RATE);
        assert_eq!(bytes.len(), 44 + 6);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 36 + 6);
        assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 1);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 16_000);
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 6);
        assert_eq!(&bytes[44..], &[1, 0, 0xff, 0xff, 0x2c, 0x01]);
    }

    #[test]
    fn length_cap() {
        let second = vec![0i16; 16_000];
        assert_eq!(check_length(&second, std::time::Duration::from_secs(1)), Ok(()));
        assert_eq!(
            check_length(&second, std::time::Duration::from_millis(999)),
            Err(SttError::TooLong { ms: 1000, max_ms: 999 })
        );
    }
}
