//! What the core asks the interviewer and what it hears back. The core owns these types:
//! interviewers depend on them, never the reverse.

use std::sync::Arc;

use viva_protocol::state::TranscriptEntry;
use viva_protocol::{AnswerContent, EndReason, TurnKind};

use super::{Candidate, SessionId, TurnId, UserId};
use crate::plan::Plan;

/// A turn to speak.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRequest {
    /// The session (for logs and providers' request ids).
    pub session_id: SessionId,
    /// Whose session it is (providers bound their work per user).
    pub user_id: UserId,
    /// The turn.
    pub turn_id: TurnId,
    /// Its kind.
    pub kind: TurnKind,
    /// The plan.
    pub plan: Arc<Plan>,
    /// The question it is about (question, follow-up, feedback).
    pub question_id: Option<String>,
    /// For a follow-up: the key point the last answer missed.
    pub key_point: Option<String>,
    /// For feedback: the answer to review.
    pub answer: Option<AnswerContent>,
    /// For a closing turn spoken because the session is ending early (out of minutes): why,
    /// so that the interviewer says so, briefly.
    pub ending: Option<EndReason>,
    /// Who the candidate is.
    pub candidate: Candidate,
    /// The latest of what was said so far: at most `CoreConfig::turn_context` entries.
    pub transcript: Vec<TranscriptEntry>,
    /// 1 on the first try; more when asking again after a failed turn.
    pub attempt: u32,
    /// After an answer, when the interviewer may choose what this turn is; `kind`,
    /// `question_id` and `key_point` above are then the default.
    pub choice: Option<FollowUpChoice>,
}

/// The turn after an answer that has had no follow-up yet is a follow-up on one of the
/// question's key points, or moving on. An interviewer that reads answers (an LLM) may choose
/// which, in its stream, before its first words ([`InterviewerEvent::Chose`]); one that does
/// not simply speaks the request's default (the scorer's or the rubric's choice). The turn is
/// started (`turn.started`, with its kind) when the choice is known, so the candidate hears no
/// extra silence for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpChoice {
    /// The question answered: a follow-up probes one of its key points.
    pub question_id: String,
    /// Moving on: `Question` (the next question's id) or `Closing` (none).
    pub move_on: (TurnKind, Option<String>),
}

/// What the interviewer chose for a turn offered a [`FollowUpChoice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A follow-up probing this key point of the question.
    FollowUp {
        /// The key point's id.
        key_point: String,
    },
    /// The next question, or the closing.
    MoveOn,
}

/// What an interviewer's stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterviewerEvent {
    /// What the turn is, for a turn offered a choice; before any text, at most once.
    Chose(Decision),
    /// More text of the turn.
    Delta(String),
    /// The turn is complete.
    Done,
    /// The turn cannot be completed.
    Failed(String),
}
