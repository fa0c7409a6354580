//! Durable records: what a session's event log holds.
//!
//! Each [`LogEntry`] is one durable event: the core commits it, the driver stores it, and only
//! then sends its wire form ([`LogEntry::to_message`]). A session's state is the fold of its
//! entries (see `State::apply`), which is what makes recovery (snapshot + tail) exact.

use viva_protocol::server::{
    AnswerReceived, AnswerScore, AnswerSource, ReportReady, ScoreUpdated, SessionEnded, SessionEnding, TimedWord,
    TurnDone, TurnStarted, TurnTruncated, UsageLow,
};
use viva_protocol::{AnswerContent, DimensionScore, EndReason, Expects, ServerMessage, TurnKind, TurnStatus, Voice};

use super::report::Report;
use super::scoring::Scoring;
use super::{AnswerId, SessionId, TurnId};
use crate::time::Timestamp;

/// One durable event with its sequence number and time.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// 1, 2, 3, ... per session, no gap.
    pub seq: u64,
    /// When the core committed it.
    pub at: Timestamp,
    /// What happened.
    pub record: Record,
}

/// How a spoken answer was heard: its words in time and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    /// Each word and where it is in the audio (empty when the provider gave no timings).
    pub words: Vec<TimedWord>,
    /// Milliseconds of audio.
    pub audio_ms: u64,
}

/// What happened, with everything needed to rebuild the state from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The interviewer began a turn.
    TurnStarted {
        /// Turn id, 1, 2, 3, ...
        turn_id: TurnId,
        /// Its kind.
        kind: TurnKind,
        /// The plan question it is about.
        question_id: Option<String>,
        /// For a follow-up: the key point it probes.
        key_point: Option<String>,
        /// What answer it expects.
        expects: Option<Expects>,
        /// On the turn that starts the session: the ways it is spoken (`session.start
        /// {voice}`), when any.
        voice: Option<Voice>,
    },
    /// The turn ended.
    TurnDone {
        /// The turn.
        turn_id: TurnId,
        /// Its whole text as delivered.
        text: String,
        /// How it ended.
        status: TurnStatus,
    },
    /// An answer was accepted.
    AnswerReceived {
        /// Answer id, 1, 2, 3, ...
        answer_id: AnswerId,
        /// The client message id it came with.
        client_id: Option<String>,
        /// The question it answers.
        question_id: String,
        /// What the candidate submitted (a spoken answer: its transcript, as text).
        answer: AnswerContent,
        /// How a spoken answer was heard; `None` for a typed one.
        spoken: Option<Spoken>,
    },
    /// A spoken turn was cut off: the candidate heard it up to `audio_end_ms`.
    TurnTruncated {
        /// The turn (done).
        turn_id: TurnId,
        /// Its text as heard; the transcript keeps this one.
        text: String,
        /// Where playback stopped, in milliseconds of the turn's audio.
        audio_end_ms: u64,
    },
    /// The candidate's minutes are running low (once per session).
    UsageLow {
        /// Seconds of minutes left.
        remaining_s: u64,
    },
    /// An answer was scored (or given up on: then `scoring.dimensions` is empty).
    ScoreUpdated {
        /// The answer.
        answer_id: AnswerId,
        /// Its scores and evidence.
        scoring: Scoring,
        /// Running scores per dimension after it.
        running: Vec<DimensionScore>,
        /// Running overall after it.
        overall: Option<f32>,
    },
    /// The end is decided; scores or a closing turn are awaited before the report.
    SessionEnding {
        /// Why it ends.
        reason: EndReason,
    },
    /// The report was built.
    ReportReady {
        /// The report.
        report: Box<Report>,
    },
    /// The session ended.
    SessionEnded {
        /// Why.
        reason: EndReason,
    },
}

impl LogEntry {
    /// The wire form of this event.
    pub fn to_message(&self, session_id: &SessionId) -> ServerMessage {
        let seq = self.seq;
        match &self.record {
            Record::TurnStarted { turn_id, kind, question_id, expects, .. } => {
                ServerMessage::TurnStarted(TurnStarted {
                    seq,
                    turn_id: turn_id.0,
                    kind: *kind,
                    question_id: question_id.clone(),
                    expects: expects.clone(),
                })
            }
            Record::TurnDone { turn_id, text, status } => {
                ServerMessage::TurnDone(TurnDone { seq, turn_id: turn_id.0, text: text.clone(), status: *status })
            }
            Record::AnswerReceived { answer_id, client_id, answer, spoken, .. } => {
                let mut message = AnswerReceived::typed(seq, client_id.clone(), answer_id.0);
                if let (Some(spoken), AnswerContent::Text { text }) = (spoken, answer) {
                    message.source = Some(AnswerSource::Voice);
                    message.transcript = Some(text.clone());
                    message.words = Some(spoken.words.clone());
                    message.audio_ms = Some(spoken.audio_ms);
                }
                ServerMessage::AnswerReceived(message)
            }
            Record::TurnTruncated { turn_id, text, audio_end_ms } => ServerMessage::TurnTruncated(TurnTruncated {
                seq,
                turn_id: turn_id.0,
                text: text.clone(),
                audio_end_ms: *audio_end_ms,
            }),
            Record::ScoreUpdated { answer_id, scoring, running, overall } => {
                ServerMessage::ScoreUpdated(ScoreUpdated {
                    seq,
                    answer_id: answer_id.0,
                    dimensions: running.clone(),
                    overall: *overall,
                    answer: AnswerScore { dimensions: scoring.dimensions.clone(), overall: scoring.overall() },
                })
            }
            Record::SessionEnding { reason } => ServerMessage::SessionEnding(SessionEnding { seq, reason: *reason }),
            Record::UsageLow { remaining_s } => ServerMessage::UsageLow(UsageLow { seq, remaining_s: *remaining_s }),
            Record::ReportReady { .. } => {
                ServerMessage::ReportReady(ReportReady { seq, session_id: session_id.to_string() })
            }
            Record::SessionEnded { reason } => ServerMessage::SessionEnded(SessionEnded { seq, reason: *reason }),
        }
    }
}
