//! The interviewer: who speaks the turns the session core decides on.
//!
//! The core decides *what* comes next (a question, a follow-up on a missing key point, the
//! closing); an [`Interviewer`] decides *how it is said* and streams it. The stream is polled
//! by the session's driver; dropping it cancels the turn (barge-in), which for a network
//! provider closes the request.

mod llm;
mod scripted;

use futures::stream::BoxStream;

pub use crate::core::{InterviewerEvent, TurnRequest};

pub use llm::LlmInterviewer;
pub use scripted::ScriptedInterviewer;

/// Speaks turns.
pub trait Interviewer: Send + Sync + 'static {
    /// `name/version`, for logs and metrics.
    fn name(&self) -> &str;

    /// Streams the turn's text. The stream ends after `Done` or `Failed`; a stream that ends
    /// without either is treated as failed.
    fn stream_turn(&self, request: TurnRequest) -> BoxStream<'static, InterviewerEvent>;

    /// Whether it reads the request's transcript. One that does not (the scripted
    /// interviewer) gets none: the entries are copied for every turn.
    fn reads_transcript(&self) -> bool {
        true
    }
}
