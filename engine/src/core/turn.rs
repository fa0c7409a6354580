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
    /// Everything said so far.
    pub transcript: Vec<TranscriptEntry>,
    /// 1 on the first try; more when asking again after a failed turn.
    pub attempt: u32,
}

/// What an interviewer's stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterviewerEvent {
    /// More text of the turn.
    Delta(String),
    /// The turn is complete.
    Done,
    /// The turn cannot be completed.
    Failed(String),
}
