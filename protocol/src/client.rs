//! Client → server messages.

use serde::{Deserialize, Serialize};

/// A client message id: at most [`crate::Limits::max_id_len`] characters, unique within a
/// session. A message re-sent with an id already seen is not applied twice.
pub type MessageId = String;

/// Every message a client may send. Each may carry an `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    /// Start the interview; a no-op on a session already started.
    #[serde(rename = "session.start")]
    SessionStart {
        /// Client message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
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
}

impl ClientMessage {
    /// The client message id, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::SessionStart { id }
            | Self::AnswerSubmit { id, .. }
            | Self::CodeSubmit { id, .. }
            | Self::TurnInterrupt { id }
            | Self::Ack { id, .. }
            | Self::SessionEnd { id }
            | Self::Ping { id } => id.as_deref(),
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
        }
    }

    /// Every `type` a client may send.
    pub const TYPES: &'static [&'static str] =
        &["session.start", "answer.submit", "code.submit", "turn.interrupt", "ack", "session.end", "ping"];
}

/// A candidate's answer, as it appears in transcripts and exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
