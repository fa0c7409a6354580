//! What the core asks a scorer and what it takes back. The core owns these types (like
//! quinn-proto owns its events): scorers depend on them, never the reverse.

use std::sync::Arc;

use viva_protocol::{AnswerContent, DimensionScore};

use super::{AnswerId, Candidate, SessionId, UserId};
use crate::plan::Plan;

/// What to score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRequest {
    /// The session the answer belongs to (for logs and providers' request ids).
    pub session_id: SessionId,
    /// Whose session it is (providers bound their work per user).
    pub user_id: UserId,
    /// The answer.
    pub answer_id: AnswerId,
    /// The plan the question comes from.
    pub plan: Arc<Plan>,
    /// The question answered (an id in `plan`).
    pub question_id: String,
    /// What the candidate submitted (joined with the answers it follows up, if any).
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

    /// What an answer gets when every attempt to score it failed.
    pub fn unscored(error: &ScoreError) -> Self {
        Self {
            dimensions: Vec::new(),
            key_points_hit: Vec::new(),
            key_points_missed: Vec::new(),
            notes: vec![format!("Could not be scored: {error}")],
            scored_by: "unscored".to_owned(),
        }
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
