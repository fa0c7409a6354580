//! Client → server messages.

use serde::{Deserialize, Serialize};

use crate::audio::Audio;

/// A client message id: at most [`crate::Limits::max_id_len`] characters, unique within a
/// session. A message re-sent with an id already seen is not applied twice.
pub type MessageId = String;

/// Every message a client may send. Each may carry an `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum ClientMessage {
    /// Start the interview; a no-op on a session already started.
    #[serde(rename = "session.start")]
    SessionStart {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        /// Speak and listen instead of (or besides) typing and reading.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::object::optional")]
        voice: Option<Voice>,
    },
    /// Answer the current question in prose.
    #[serde(rename = "answer.submit")]
    AnswerSubmit {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        /// The answer.
        text: String,
    },
    /// Answer the current question with code.
    #[serde(rename = "code.submit")]
    CodeSubmit {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        /// The language of `source`, e.g. `python`.
        language: String,
        /// The code.
        source: String,
    },
    /// Barge-in: cancel the interviewer's turn in flight.
    #[serde(rename = "turn.interrupt")]
    TurnInterrupt {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    /// The client has processed every durable event up to `seq`.
    #[serde(rename = "ack")]
    Ack {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        /// Highest durable `seq` processed.
        seq: u64,
    },
    /// The candidate ends the interview early.
    #[serde(rename = "session.end")]
    SessionEnd {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    /// Liveness check; answered with `pong`.
    #[serde(rename = "ping")]
    Ping {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    /// More of a spoken answer: 20–200 ms of PCM16 LE mono at 16 kHz.
    #[serde(rename = "input_audio.append")]
    InputAudioAppend {
        /// The utterance: a new one per answer, which becomes the answer's client message id
        /// (a re-sent utterance is stored once).
        id: MessageId,
        /// The samples.
        audio: Audio,
    },
    /// The utterance is the whole answer (push-to-talk).
    #[serde(rename = "input_audio.commit")]
    InputAudioCommit {
        /// The utterance.
        id: MessageId,
    },
    /// Drop what was sent of the utterance.
    #[serde(rename = "input_audio.clear")]
    InputAudioClear {
        /// The utterance.
        id: MessageId,
    },
    /// After a barge-in: where the interviewer's audio stopped playing.
    #[serde(rename = "turn.truncate")]
    TurnTruncate {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        /// The turn cut off.
        turn_id: u32,
        /// How much of its audio was played, in milliseconds.
        audio_end_ms: u64,
    },
}

/// Which ways of a session are spoken (`session.start {voice}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Voice {
    /// The candidate speaks their answers.
    #[serde(default)]
    pub input: bool,
    /// The interviewer's turns come as audio too.
    #[serde(default)]
    pub output: bool,
}

impl ClientMessage {
    /// The client message id, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::SessionStart { id, .. }
            | Self::AnswerSubmit { id, .. }
            | Self::CodeSubmit { id, .. }
            | Self::TurnInterrupt { id }
            | Self::Ack { id, .. }
            | Self::SessionEnd { id }
            | Self::Ping { id }
            | Self::TurnTruncate { id, .. } => id.as_deref(),
            Self::InputAudioAppend { id, .. } | Self::InputAudioCommit { id } | Self::InputAudioClear { id } => {
                Some(id)
            }
        }
    }

    /// The wire name of this message's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SessionStart { .. } => "session.start",
            Self::AnswerSubmit { .. } => "answer.submit",
            Self::CodeSubmit { .. } => "code.submit",
            Self::TurnInterrupt { .. } => "turn.interrupt",
            Self::Ack { .. } => "ack",
            Self::SessionEnd { .. } => "session.end",
            Self::Ping { .. } => "ping",
            Self::InputAudioAppend { .. } => "input_audio.append",
            Self::InputAudioCommit { .. } => "input_audio.commit",
            Self::InputAudioClear { .. } => "input_audio.clear",
            Self::TurnTruncate { .. } => "turn.truncate",
        }
    }

    /// Whether this is one of the voice messages (audio in, or the playback position).
    pub fn is_voice(&self) -> bool {
        matches!(
            self,
            Self::InputAudioAppend { .. }
                | Self::InputAudioCommit { .. }
                | Self::InputAudioClear { .. }
                | Self::TurnTruncate { .. }
        )
    }

    /// Every `type` a client may send.
    pub const TYPES: &'static [&'static str] = &[
        "session.start",
        "answer.submit",
        "code.submit",
        "turn.interrupt",
        "ack",
        "session.end",
        "ping",
        "input_audio.append",
        "input_audio.commit",
        "input_audio.clear",
        "turn.truncate",
    ];
}

/// A candidate's answer, as it appears in transcripts and exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum AnswerContent {
    /// Prose.
    Text {
        /// The answer.
        text: String,
    },
    /// Code.
    Code {
        /// Its language.
        language: String,
        /// The code.
        source: String,
    },
}
