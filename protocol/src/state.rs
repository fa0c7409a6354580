//! The whole state of a session as a client sees it (`session.ready.state`, REST views).

use serde::{Deserialize, Serialize};

use crate::server::{AnswerScore, TimedWord};
use crate::{AnswerContent, Clock, DimensionScore, EndReason, Expects, TurnKind, TurnStatus, Voice};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Created, waiting for `session.start`.
    Created,
    /// Running.
    Live,
    /// Over; see `ended_reason`.
    Ended,
}

/// Everything a client needs to render a session from nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionState {
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// The interview plan.
    pub plan_id: String,
    /// Finished turns and answers, in order.
    pub transcript: Vec<TranscriptEntry>,
    /// The turn in flight, with its text so far.
    pub open_turn: Option<OpenTurn>,
    /// Set while the interviewer waits for an answer.
    pub awaiting_answer: Option<AwaitingAnswer>,
    /// Running scores.
    pub scores: Scores,
    /// Time spent and left.
    pub clock: Clock,
    /// Why the session ended, once it has.
    pub ended_reason: Option<EndReason>,
    /// Whether `GET /v1/sessions/{id}/report` answers 200.
    pub report_ready: bool,
    /// The ways the session is spoken, when it was started with voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Voice>,
}

/// One entry of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum TranscriptEntry {
    /// A finished interviewer turn.
    Turn {
        /// The turn.
        turn_id: u32,
        /// Its kind.
        kind: TurnKind,
        /// The plan question it is about, if any.
        question_id: Option<String>,
        /// The whole text as delivered.
        text: String,
        /// How it ended.
        status: TurnStatus,
        /// When it started (its `turn.started` was stored), milliseconds since the Unix epoch;
        /// absent only for sessions snapshotted before entries carried their times.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<u64>,
        /// When it ended (its `turn.done` was stored), milliseconds since the Unix epoch;
        /// absent as `started_at`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ended_at: Option<u64>,
    },
    /// A candidate's answer.
    Answer {
        /// The answer.
        answer_id: u32,
        /// The question it answers.
        question_id: String,
        /// What the candidate submitted.
        answer: AnswerContent,
        /// Its scores, once scored.
        score: Option<AnswerScore>,
        /// A spoken answer's words in time and its length (absent for a typed one; its text
        /// is the transcript).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spoken: Option<SpokenAnswer>,
        /// When it was accepted (its `answer.received` was stored), milliseconds since the
        /// Unix epoch; absent only for sessions snapshotted before entries carried their times.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
}

/// How a spoken answer was heard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpokenAnswer {
    /// Its words and where each is in the utterance's audio.
    pub words: Vec<TimedWord>,
    /// Milliseconds of audio transcribed.
    pub audio_ms: u64,
}

/// The interviewer turn in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpenTurn {
    /// The turn.
    pub turn_id: u32,
    /// Its kind.
    pub kind: TurnKind,
    /// The plan question it is about, if any.
    pub question_id: Option<String>,
    /// What answer is expected after it.
    pub expects: Option<Expects>,
    /// The text delivered so far.
    pub text: String,
    /// The `index` of the next `turn.delta`.
    pub next_index: u32,
}

/// The question the interviewer waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AwaitingAnswer {
    /// The question.
    pub question_id: String,
    /// What answer it expects.
    pub expects: Expects,
}

/// Running scores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scores {
    /// Per rubric dimension, over every answer scored so far.
    pub dimensions: Vec<DimensionScore>,
    /// Mean of `dimensions`; `None` before the first score.
    pub overall: Option<f32>,
}
