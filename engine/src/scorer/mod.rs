//! Scoring answers against a plan's rubric.
//!
//! A [`Scorer`] scores one answer at a time, off the interview's critical path: the session
//! core asks for a score and goes on; `score.updated` follows whenever the score arrives.

pub mod heuristic;
mod llm;

use std::sync::Arc;

use async_trait::async_trait;
use viva_protocol::{AnswerContent, DimensionScore, rest::Candidate};

use crate::plan::Plan;

pub use heuristic::HeuristicScorer;
pub use llm::LlmScorer;

/// What to score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRequest {
    /// The session the answer belongs to (for logs and providers' request ids).
    pub session_id: String,
    /// The answer.
    pub answer_id: u32,
    /// The plan the question comes from.
    pub plan: Arc<Plan>,
    /// The question answered (an id in `plan`).
    pub question_id: String,
    /// What the candidate submitted.
    pub answer: AnswerContent,
    /// Who the candidate is.
    pub candidate: Candidate,
}

/// One answer's scores and the evidence behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoring {
    /// 0–10 per rubric dimension the question measures, in the question's order.
    pub dimensions: Vec<DimensionScore>,
    /// Ids of the key points the answer covered.
    pub key_points_hit: Vec<String>,
    /// Ids of the key points it missed.
    pub key_points_missed: Vec<String>,
    /// Other observations, one sentence each (structure, specificity, code shape).
    pub notes: Vec<String>,
    /// `name/version` of the scorer that produced this.
    pub scored_by: String,
}

impl Scoring {
    /// Mean of the dimension scores, one decimal.
    pub fn overall(&self) -> Option<f32> {
        mean(self.dimensions.iter().map(|d| d.score))
    }
}

/// Mean of some scores rounded to one decimal; `None` for none.
pub fn mean(scores: impl Iterator<Item = f32>) -> Option<f32> {
    let (sum, n) = scores.fold((0.0f32, 0u32), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| round1(sum / n as f32))
}

/// Rounds a score to one decimal.
pub fn round1(x: f32) -> f32 {
    (x * 10.0).round() / 10.0
}

/// Why an answer could not be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// The question is not in the plan.
    #[error("unknown question `{0}`")]
    UnknownQuestion(String),
    /// The scoring provider failed.
    #[error("scorer failed: {0}")]
    Provider(String),
}

/// Scores answers.
#[async_trait]
pub trait Scorer: Send + Sync + 'static {
    /// `name/version`, stamped on reports.
    fn name(&self) -> &str;

    /// Scores one answer.
    async fn score(&self, request: ScoreRequest) -> Result<Scoring, ScoreError>;
}
