//! Spoken answers' audio, kept when the engine is asked to (`--audio-recordings on`): each
//! transcribed utterance is compressed (FLAC, `voice::flac`) and stored with its session
//! under the utterance's id — the answer's client message id — before the answer is
//! acknowledged, so an acknowledged spoken answer has its audio unless keeping it failed or
//! the session's cap was reached (logged and counted, never a reason to lose the answer).
//! Stored under the session's keys, the audio is deleted, exported and expired with it, and
//! any node serves it (`Engine::answer_audio`, as a WAV file).

use std::sync::Arc;

use super::{Engine, EngineError};
use crate::core::{AnswerId, SessionId};
use crate::store::Store;
use crate::voice::flac;
use crate::voice::stt::{INPUT_RATE, wav};

/// Whether and how much of the candidates' audio is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioRecordings {
    /// The most bytes of compressed audio one session keeps (a spoken answer beyond it is
    /// not kept; one answer is at most `Speech::max_utterance_ms` long).
    pub max_bytes_per_session: u64,
}

impl Default for AudioRecordings {
    /// 16 MiB a session: about 25 minutes of speech.
    fn default() -> Self {
        Self { max_bytes_per_session: 16 << 20 }
    }
}

/// Keeps one session's spoken answers (a clone goes with each transcription).
#[derive(Clone)]
pub(super) struct AudioKeeper {
    pub(super) store: Arc<dyn Store>,
    pub(super) session_id: SessionId,
    pub(super) recordings: AudioRecordings,
}

impl AudioKeeper {
    /// Compresses `samples` (off the async threads) and stores them under `utterance_id`.
    /// Whatever happens, the answer goes on: a failure is logged and counted.
    pub(super) async fn keep(&self, utterance_id: &str, samples: Vec<i16>) {
        let outcome = match tokio::task::spawn_blocking(move || flac::encode(&samples)).await {
            Ok(Ok(bytes)) => {
                let max = self.recordings.max_bytes_per_session;
                match self.store.put_audio(&self.session_id, utterance_id, &bytes, max).await {
                    Ok(true) => "kept",
                    Ok(false) => {
                        tracing::warn!(session = %self.session_id, utterance = utterance_id, max_bytes = max,
                            "a spoken answer's audio was not kept: the session's recordings are full");
                        "full"
                    }
                    Err(error) => {
                        tracing::warn!(session = %self.session_id, utterance = utterance_id, %error,
                            "a spoken answer's audio could not be stored");
                        "failed"
                    }
                }
            }
            Ok(Err(error)) => {
                tracing::error!(session = %self.session_id, %error, "a spoken answer's audio could not be encoded");
                "failed"
            }
            Err(_) => "failed",
        };
        metrics::counter!("viva_voice_recordings_total", "outcome" => outcome).increment(1);
    }
}

impl Engine {
    /// The audio of a spoken answer, as a WAV file (PCM16 mono 16 kHz), for the session's
    /// owner: `NotFound` when the session is not theirs, the answer does not exist, or its
    /// audio was not kept.
    pub async fn answer_audio(
        &self,
        user_id: &crate::core::UserId,
        session_id: &SessionId,
        answer_id: AnswerId,
    ) -> Result<Vec<u8>, EngineError> {
        let (session, _) = self.restore(user_id, session_id).await?;
        let utterance = session
            .state()
            .answer_ids
            .iter()
            .find(|(_, acknowledged)| acknowledged.answer_id == answer_id)
            .map(|(id, _)| id.clone())
            .ok_or(EngineError::NotFound)?;
        let bytes = self.ctx.store.audio(session_id, &utterance).await?.ok_or(EngineError::NotFound)?;
        // What stored bytes may make us allocate: the longest utterance, twice over.
        let max_samples = (self.ctx.speech.max_utterance_ms.max(60_000) * 2 * u64::from(INPUT_RATE) / 1000) as usize;
        let samples = tokio::task::spawn_blocking(move || flac::decode(&bytes, max_samples))
            .await
            .map_err(|e| EngineError::Internal(format!("decoding a recording: {e}")))?
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(wav(&samples, INPUT_RATE))
    }

    /// The answers of a session whose audio is kept: answer id and compressed size in bytes,
    /// in answer order (for exports).
    pub(crate) async fn kept_audio(&self, session: &crate::core::Session) -> Result<Vec<(AnswerId, u64)>, EngineError> {
        let session_id = &session.params().session_id;
        let kept = self.ctx.store.audio_ids(session_id).await?;
        let answers = &session.state().answer_ids;
        let mut listed: Vec<(AnswerId, u64)> =
            kept.into_iter().filter_map(|(id, bytes)| answers.get(&id).map(|a| (a.answer_id, bytes))).collect();
        listed.sort_unstable();
        Ok(listed)
    }
}
