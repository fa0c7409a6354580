//! The interviewer: who speaks the turns the session core decides on.
//!
//! The core decides *what* comes next (a question, a follow-up on a missing key point, the
//! closing); an [`Interviewer`] decides *how it is said* and streams it. The stream is polled
//! by the session's driver; dropping it cancels the turn (barge-in), which for a network
//! provider closes the request.

mod llm;
mod scripted;

use std::sync::Arc;

use futures::stream::BoxStream;
use viva_protocol::rest::Candidate;
use viva_protocol::state::TranscriptEntry;
use viva_protocol::{AnswerContent, TurnKind};

use crate::plan::Plan;

pub use llm::LlmInterviewer;
pub use scripted::ScriptedInterviewer;

/// A turn to speak.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRequest {
    /// The session (for logs and providers' request ids).
    pub session_id: String,
    /// The turn.
    pub turn_id: u32,
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

/// Speaks turns.
pub trait Interviewer: Send + Sync + 'static {
    /// `name/version`, for logs and metrics.
    fn name(&self) -> &str;

    /// Streams the turn's text. The stream ends after `Done` or `Failed`; a stream that ends
    /// without either is treated as failed.
    fn stream_turn(&self, request: TurnRequest) -> BoxStream<'static, InterviewerEvent>;
}
