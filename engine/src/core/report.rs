//! The end-of-interview report, built from the plan, the transcript and the scores.
//!
//! [`Report`] is the engine's own type: it is part of the state (and so of snapshots), and
//! REST serves it through an explicit conversion ([`Report::to_rest`]), so that neither
//! freezes the other's shape.

use viva_protocol::rest;
use viva_protocol::{DimensionScore, EndReason};

use super::state::{Entry, State, best_per_question, running_scores};
use super::{AnswerId, SessionId, SessionParams};
use crate::time::Timestamp;

/// A finished interview's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The session.
    pub session_id: SessionId,
    /// Id of the plan the interview followed.
    pub plan_id: String,
    /// Its version.
    pub plan_version: u32,
    /// `name/version` of the scorer configured.
    pub scorer: String,
    /// When it was built.
    pub generated_at: Timestamp,
    /// Why the session ended.
    pub ended_reason: EndReason,
    /// Overall score, 0–10; `None` when nothing was scored.
    pub overall: Option<f32>,
    /// Per rubric dimension.
    pub dimensions: Vec<DimensionScore>,
    /// Per answer: scores and evidence.
    pub answers: Vec<AnswerEvidence>,
    /// What went well.
    pub strengths: Vec<String>,
    /// What to practise next.
    pub practise: Vec<String>,
}

/// The evidence behind one answer's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerEvidence {
    /// The answer.
    pub answer_id: AnswerId,
    /// The question it answers.
    pub question_id: String,
    /// The question's prompt.
    pub question: String,
    /// Its scores per dimension.
    pub dimensions: Vec<DimensionScore>,
    /// Mean of those.
    pub overall: Option<f32>,
    /// Key points covered, by description.
    pub key_points_hit: Vec<String>,
    /// Key points missed, by description.
    pub key_points_missed: Vec<String>,
    /// Observations.
    pub notes: Vec<String>,
    /// `name/version` of the scorer, or `unscored`.
    pub scored_by: String,
}

impl Report {
    /// The report as `GET /v1/sessions/{id}/report` serves it.
    pub fn to_rest(&self) -> rest::Report {
        let (name, version) = self.scorer.split_once('/').unwrap_or((&self.scorer, ""));
        rest::Report {
            session_id: self.session_id.to_string(),
            plan: rest::PlanStamp { id: self.plan_id.clone(), version: self.plan_version },
            scorer: rest::Stamp { name: name.to_owned(), version: version.to_owned() },
            generated_at: self.generated_at.0,
            ended_reason: self.ended_reason,
            overall: self.overall,
            dimensions: self.dimensions.clone(),
            answers: self
                .answers
                .iter()
                .map(|a| rest::AnswerEvidence {
                    answer_id: a.answer_id.0,
                    question_id: a.question_id.clone(),
                    question: a.question.clone(),
                    dimensions: a.dimensions.clone(),
                    overall: a.overall,
                    key_points_hit: a.key_points_hit.clone(),
                    key_points_missed: a.key_points_missed.clone(),
                    notes: a.notes.clone(),
                    scored_by: a.scored_by.clone(),
                })
                .collect(),
            strengths: self.strengths.clone(),
            practise: self.practise.clone(),
        }
    }
}

/// A dimension at or above this is a strength.
const STRONG: f32 = 7.0;
/// A dimension below this is something to practise.
const WEAK: f32 = 5.5;

/// Builds the report of a session that ends for `reason`.
pub fn build(params: &SessionParams, state: &State, reason: EndReason, now: Timestamp) -> Report {
    let plan = &params.plan;
    let (dimensions, overall) = running_scores(plan, &state.transcript, &state.scores);
    // Key points by description, without a closing full stop (they are joined with "; ").
    let describe = |question_id: &str, ids: &[String]| -> Vec<String> {
        let question = plan.question(question_id);
        ids.iter()
            .map(|id| {
                let point = question.and_then(|q| q.key_points.iter().find(|k| &k.id == id));
                point.map_or(id.as_str(), |k| k.description.trim_end_matches('.')).to_owned()
            })
            .collect()
    };
    let answers: Vec<AnswerEvidence> = state
        .transcript
        .iter()
        .filter_map(|entry| {
            let Entry::Answer { answer_id, question_id, .. } = entry else {
                return None;
            };
            let scoring = state.scores.get(answer_id);
            Some(AnswerEvidence {
                answer_id: *answer_id,
                question_id: question_id.clone(),
                question: plan.question(question_id).map(|q| q.prompt.clone()).unwrap_or_default(),
                dimensions: scoring.map(|s| s.dimensions.clone()).unwrap_or_default(),
                overall: scoring.and_then(|s| s.overall()),
                key_points_hit: scoring.map(|s| describe(question_id, &s.key_points_hit)).unwrap_or_default(),
                key_points_missed: scoring.map(|s| describe(question_id, &s.key_points_missed)).unwrap_or_default(),
                notes: scoring
                    .map_or_else(|| vec!["Not scored before the session ended.".to_owned()], |s| s.notes.clone()),
                scored_by: scoring.map_or_else(|| "unscored".to_owned(), |s| s.scored_by.clone()),
            })
        })
        .collect();

    let describe_dimension = |name: &str| {
        let dimension = plan.dimensions.iter().find(|d| d.name == name);
        dimension.map_or(name, |d| d.description.trim_end_matches('.')).to_owned()
    };
    let line =
        |d: &viva_protocol::DimensionScore| format!("{} ({}/10): {}", d.name, d.score, describe_dimension(&d.name));
    let mut strengths: Vec<String> = dimensions.iter().filter(|d| d.score >= STRONG).map(line).collect();
    let mut practise: Vec<String> = dimensions.iter().filter(|d| d.score < WEAK).map(line).collect();
    // Per question, what its best answer (with any follow-up) covered and missed.
    for (question_id, scoring) in best_per_question(&state.transcript, &state.scores) {
        let hit = describe(question_id, &scoring.key_points_hit);
        if scoring.overall().is_some_and(|o| o >= STRONG) && !hit.is_empty() {
            strengths.push(format!("{question_id}: covered {}", hit.join("; ")));
        }
        let missed = describe(question_id, &scoring.key_points_missed);
        if !missed.is_empty() {
            practise.push(format!("{question_id}: cover {}", missed.join("; ")));
        }
    }
    let answered = |id: &str| answers.iter().any(|a| a.question_id == id);
    let level = params.candidate.level.as_deref();
    for question in plan.questions.iter().filter(|q| q.suits(level) && !answered(&q.id)) {
        practise.push(format!("{}: not answered: {}", question.id, question.prompt));
    }

    Report {
        session_id: params.session_id.clone(),
        plan_id: plan.id.clone(),
        plan_version: plan.version,
        scorer: params.scorer.clone(),
        generated_at: now,
        ended_reason: reason,
        overall,
        dimensions,
        answers,
        strengths,
        practise,
    }
}
