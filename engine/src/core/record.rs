//! Durable records: what a session's event log holds.
//!
//! Each [`LogEntry`] is one durable event: the core commits it, the driver stores it, and only
//! then sends its wire form ([`LogEntry::to_message`]). A session's state is the fold of its
//! entries (see `State::apply`), which is what makes recovery (snapshot + tail) exact.

use viva_protocol::server::{
    AnswerReceived, AnswerScore, ReportReady, ScoreUpdated, SessionEnded, SessionEnding, TurnDone, TurnStarted,
};
use viva_protocol::{AnswerContent, DimensionScore, EndReason, Expects, ServerMessage, TurnKind, TurnStatus};

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
        /// What the candidate submitted.
        answer: AnswerContent,
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
            Record::AnswerReceived { answer_id, client_id, .. } => {
                ServerMessage::AnswerReceived(AnswerReceived { seq, id: client_id.clone(), answer_id: answer_id.0 })
            }
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
            Record::ReportReady { .. } => {
                ServerMessage::ReportReady(ReportReady { seq, session_id: session_id.to_string() })
            }
            Record::SessionEnded { reason } => ServerMessage::SessionEnded(SessionEnded { seq, reason: *reason }),
        }
    }
}
