//! The end-of-interview report, built from the plan, the transcript and the scores.

use viva_protocol::EndReason;
use viva_protocol::rest::{AnswerEvidence, PlanStamp, Report, Stamp};

use super::SessionParams;
use super::state::{Entry, State, best_per_question, running_scores};
use crate::time::Timestamp;

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

    let (scorer_name, scorer_version) = params.scorer.split_once('/').unwrap_or((&params.scorer, ""));
    Report {
        session_id: params.session_id.clone(),
        plan: PlanStamp { id: plan.id.clone(), version: plan.version },
        scorer: Stamp { name: scorer_name.to_owned(), version: scorer_version.to_owned() },
        generated_at: now.0,
        ended_reason: reason,
        overall,
        dimensions,
        answers,
        strengths,
        practise,
    }
}
