//! Server → client messages.
//!
//! Durable events carry a `seq` (1, 2, 3, ... per session, no gap, no duplicate, stored before
//! sent); ephemeral ones (`turn.delta`, `clock`, `pong`, `error`) carry none.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, SessionState};

/// Every message the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// First message on every connection.
    #[serde(rename = "session.ready")]
    SessionReady(Box<SessionReady>),
    /// The interviewer begins a turn (durable).
    #[serde(rename = "turn.started")]
    TurnStarted(TurnStarted),
    /// A piece of the open turn's text (ephemeral).
    #[serde(rename = "turn.delta")]
    TurnDelta(TurnDelta),
    /// The turn ended (durable); `text` is the whole turn as delivered.
    #[serde(rename = "turn.done")]
    TurnDone(TurnDone),
    /// An answer is stored (durable).
    #[serde(rename = "answer.received")]
    AnswerReceived(AnswerReceived),
    /// A spoken turn was cut off by the candidate: its text as heard (durable).
    #[serde(rename = "turn.truncated")]
    TurnTruncated(TurnTruncated),
    /// The candidate's minutes are running low (durable, metering).
    #[serde(rename = "usage.low")]
    UsageLow(UsageLow),
    /// A piece of the open turn's audio (ephemeral, voice output).
    #[serde(rename = "turn.audio")]
    TurnAudio(TurnAudio),
    /// The candidate began to speak (ephemeral, voice input).
    #[serde(rename = "input_audio.speech_started")]
    SpeechStarted(SpeechStarted),
    /// The candidate stopped speaking: the utterance is being transcribed (ephemeral).
    #[serde(rename = "input_audio.speech_stopped")]
    SpeechStopped(SpeechStopped),
    /// Partial text of the utterance being transcribed (ephemeral, when the provider streams).
    #[serde(rename = "answer.transcript.delta")]
    TranscriptDelta(TranscriptDelta),
    /// An answer was scored (durable).
    #[serde(rename = "score.updated")]
    ScoreUpdated(ScoreUpdated),
    /// The report can be fetched (durable).
    #[serde(rename = "report.ready")]
    ReportReady(ReportReady),
    /// The end is decided and stored (durable): outstanding scores, a closing turn and the
    /// report may follow before `session.ended`.
    #[serde(rename = "session.ending")]
    SessionEnding(SessionEnding),
    /// The interview is over (durable); the server then closes with 1000.
    #[serde(rename = "session.ended")]
    SessionEnded(SessionEnded),
    /// Time spent and left (ephemeral).
    #[serde(rename = "clock")]
    Clock(Clock),
    /// A message could not be applied (ephemeral).
    #[serde(rename = "error")]
    Error(ErrorEvent),
    /// Answer to `ping` (ephemeral).
    #[serde(rename = "pong")]
    Pong(Pong),
}

impl ServerMessage {
    /// The `seq` of a durable event; `None` for ephemeral ones and `session.ready`.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::TurnStarted(e) => Some(e.seq),
            Self::TurnDone(e) => Some(e.seq),
            Self::AnswerReceived(e) => Some(e.seq),
            Self::TurnTruncated(e) => Some(e.seq),
            Self::UsageLow(e) => Some(e.seq),
            Self::ScoreUpdated(e) => Some(e.seq),
            Self::ReportReady(e) => Some(e.seq),
            Self::SessionEnding(e) => Some(e.seq),
            Self::SessionEnded(e) => Some(e.seq),
            Self::SessionReady(_)
            | Self::TurnDelta(_)
            | Self::TurnAudio(_)
            | Self::SpeechStarted(_)
            | Self::SpeechStopped(_)
            | Self::TranscriptDelta(_)
            | Self::Clock(_)
            | Self::Error(_)
            | Self::Pong(_) => None,
        }
    }

    /// The wire name of this message's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SessionReady(_) => "session.ready",
            Self::TurnStarted(_) => "turn.started",
            Self::TurnDelta(_) => "turn.delta",
            Self::TurnDone(_) => "turn.done",
            Self::AnswerReceived(_) => "answer.received",
            Self::TurnTruncated(_) => "turn.truncated",
            Self::UsageLow(_) => "usage.low",
            Self::TurnAudio(_) => "turn.audio",
            Self::SpeechStarted(_) => "input_audio.speech_started",
            Self::SpeechStopped(_) => "input_audio.speech_stopped",
            Self::TranscriptDelta(_) => "answer.transcript.delta",
            Self::ScoreUpdated(_) => "score.updated",
            Self::ReportReady(_) => "report.ready",
            Self::SessionEnding(_) => "session.ending",
            Self::SessionEnded(_) => "session.ended",
            Self::Clock(_) => "clock",
            Self::Error(_) => "error",
            Self::Pong(_) => "pong",
        }
    }
}

/// `session.ready`: sent first on every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionReady {
    /// The session.
    pub session_id: String,
    /// Ownership epoch of this load of the session (grows on every load).
    pub epoch: u64,
    /// True when every durable event after the client's `last_seq` follows.
    pub resumed: bool,
    /// The session's current head (does not advance it).
    pub seq: u64,
    /// Same as `seq`.
    pub last_seq: u64,
    /// The whole current state.
    pub state: SessionState,
}

/// The kind of an interviewer turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnKind {
    /// Greeting and overview.
    Intro,
    /// A question from the plan.
    Question,
    /// A probe for what the last answer lacked.
    FollowUp,
    /// A short review of an answer (e.g. of submitted code).
    Feedback,
    /// Goodbye.
    Closing,
}

impl TurnKind {
    /// Whether the interviewer waits for the candidate after this turn.
    pub fn awaits_answer(self) -> bool {
        matches!(self, Self::Question | Self::FollowUp)
    }
}

/// What answer a question expects. Either submission is accepted for any question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum Expects {
    /// A prose answer.
    Text,
    /// Code in `language`.
    Code {
        /// The expected language, e.g. `python`.
        language: String,
    },
}

/// `turn.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TurnStarted {
    /// Durable sequence number.
    pub seq: u64,
    /// The turn (1, 2, 3, ... per session).
    pub turn_id: u32,
    /// Its kind.
    pub kind: TurnKind,
    /// The plan question it is about, if any.
    pub question_id: Option<String>,
    /// What answer is expected after it (`question` and `follow_up` only).
    pub expects: Option<Expects>,
}

/// `turn.delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TurnDelta {
    /// The open turn.
    pub turn_id: u32,
    /// 0, 1, 2, ... within the turn.
    pub index: u32,
    /// The text to append.
    pub text: String,
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// The interviewer finished it.
    Completed,
    /// The candidate cut in (barge-in), the time ran out or the session ended.
    Interrupted,
    /// The interviewer failed; a new turn asks again.
    Failed,
}

/// `turn.done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TurnDone {
    /// Durable sequence number.
    pub seq: u64,
    /// The turn.
    pub turn_id: u32,
    /// The whole turn as delivered.
    pub text: String,
    /// How it ended.
    pub status: TurnStatus,
}

/// `answer.received`: the answer is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnswerReceived {
    /// Durable sequence number.
    pub seq: u64,
    /// The client message id of the submission, if it had one.
    pub id: Option<MessageId>,
    /// The answer (1, 2, 3, ... per session).
    pub answer_id: u32,
    /// How it was given: `voice` for a spoken answer; absent for a typed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AnswerSource>,
    /// A spoken answer's text, as recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// A spoken answer's words and where each is in its audio (empty when the provider gave no
    /// timings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<TimedWord>>,
    /// A spoken answer's length, in milliseconds of audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_ms: Option<u64>,
}

impl AnswerReceived {
    /// The acknowledgement of a typed answer.
    pub fn typed(seq: u64, id: Option<MessageId>, answer_id: u32) -> Self {
        Self { seq, id, answer_id, source: None, transcript: None, words: None, audio_ms: None }
    }
}

/// How an answer was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// Spoken, and transcribed by the server.
    Voice,
}

/// One recognised word of a spoken answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimedWord {
    /// The word.
    pub text: String,
    /// Where it starts, in milliseconds from the start of the utterance's audio.
    pub start_ms: u32,
    /// Where it ends.
    pub end_ms: u32,
}

/// `turn.truncated`: the candidate cut a spoken turn off (`turn.truncate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TurnTruncated {
    /// Durable sequence number.
    pub seq: u64,
    /// The turn.
    pub turn_id: u32,
    /// Its text as heard: what its audio up to `audio_end_ms` said. Transcripts and the
    /// report use it; the turn's `turn.done` keeps the whole text as delivered.
    pub text: String,
    /// Where playback stopped, in milliseconds of the turn's audio.
    pub audio_end_ms: u64,
}

/// `usage.low`: the candidate's minutes will run out soon (sent once per session, when about
/// a minute is left); at zero the interviewer closes and the session ends `out_of_minutes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageLow {
    /// Durable sequence number.
    pub seq: u64,
    /// Seconds of the candidate's minutes left.
    pub remaining_s: u64,
}

/// `turn.audio`: the open turn spoken, beside its `turn.delta` captions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TurnAudio {
    /// The turn.
    pub turn_id: u32,
    /// 0, 1, 2, ... within the turn.
    pub index: u32,
    /// PCM16 little-endian mono at 24 kHz.
    pub audio: Audio,
}

/// `input_audio.speech_started`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpeechStarted {
    /// Where speech begins, in milliseconds of the utterance's audio.
    pub audio_start_ms: u64,
}

/// `input_audio.speech_stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpeechStopped {
    /// Where speech ends, in milliseconds of the utterance's audio.
    pub audio_end_ms: u64,
}

/// `answer.transcript.delta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TranscriptDelta {
    /// The utterance (`input_audio.append`'s `id`).
    pub id: MessageId,
    /// Text to append to what was recognised so far.
    pub text: String,
}

use crate::MessageId;
use crate::audio::Audio;

/// A score on one rubric dimension, 0–10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DimensionScore {
    /// Rubric dimension, e.g. `system_design`.
    pub name: String,
    /// 0.0–10.0, one decimal.
    pub score: f32,
}

/// The scores of one answer on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnswerScore {
    /// Per rubric dimension the question measures.
    pub dimensions: Vec<DimensionScore>,
    /// Mean of `dimensions`; `None` when the answer could not be scored.
    pub overall: Option<f32>,
}

/// `score.updated`: an answer was scored; the running scores moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScoreUpdated {
    /// Durable sequence number.
    pub seq: u64,
    /// The answer scored.
    pub answer_id: u32,
    /// Running score per dimension over every answer scored so far.
    pub dimensions: Vec<DimensionScore>,
    /// Running overall score; `None` while no answer could be scored.
    pub overall: Option<f32>,
    /// This answer's own scores.
    pub answer: AnswerScore,
}

/// `report.ready`: `GET /v1/sessions/{id}/report` now answers 200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportReady {
    /// Durable sequence number.
    pub seq: u64,
    /// The session.
    pub session_id: String,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Every question was asked and the interviewer closed.
    Completed,
    /// The plan's time ran out.
    TimeUp,
    /// The candidate sent `session.end`.
    EndedByCandidate,
    /// The interviewer failed repeatedly.
    InterviewerFailed,
    /// The candidate's minutes ran out (metering).
    OutOfMinutes,
    /// Started, then left with no client connected for too long (`--abandon-after-s`).
    Abandoned,
}

/// `session.ending`: the interview is closing and a report is coming. Sent when the end has
/// to wait for something (scores still outstanding, a closing turn); an end that completes at
/// once goes straight to `report.ready` and `session.ended`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionEnding {
    /// Durable sequence number.
    pub seq: u64,
    /// Why the session ends.
    pub reason: EndReason,
}

/// `session.ended`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionEnded {
    /// Durable sequence number.
    pub seq: u64,
    /// Why.
    pub reason: EndReason,
}

/// `clock`: time spent and left, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Clock {
    /// Seconds since `session.start`.
    pub elapsed_s: u64,
    /// Seconds until the interview is out of time.
    pub remaining_s: u64,
}

/// `error`: a message could not be applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorEvent {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// When true the server closes the socket after this.
    pub fatal: bool,
    /// The client message id the error is about, if it had one.
    #[serde(rename = "ref")]
    pub reference: Option<MessageId>,
}

/// `pong`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pong {
    /// The `id` of the `ping`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<MessageId>,
}
