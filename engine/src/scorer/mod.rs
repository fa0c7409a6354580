//! Scoring answers against a plan's rubric.
//!
//! A [`Scorer`] scores one answer at a time, off the interview's critical path: the session
//! core asks for a score and goes on; `score.updated` follows whenever the score arrives.

pub mod heuristic;
pub(crate) mod llm;

use async_trait::async_trait;

pub use crate::core::{ScoreError, ScoreRequest, Scoring, mean, round1};

pub use heuristic::HeuristicScorer;
pub use llm::LlmScorer;

/// Scores answers.
#[async_trait]
pub trait Scorer: Send + Sync + 'static {
    /// `name/version`, stamped on reports.
    fn name(&self) -> &str;

    /// Scores one answer.
    async fn score(&self, request: ScoreRequest) -> Result<Scoring, ScoreError>;
}
