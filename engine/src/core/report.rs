//! The end-of-interview report, built from the plan, the transcript and the scores.
//!
//! [`Report`] is the engine's own type: it is part of the state (and so of snapshots), and
//! REST serves it through an explicit conversion ([`Report::to_rest`]), so that neither
//! freezes the other's shape.

use viva_protocol::rest;
use viva_protocol::{DimensionScore, EndReason, TurnKind, TurnStatus};

use super::state::{Entry, State, best_per_question, running_scores};
use super::{AnswerId, SessionId, SessionParams};
use crate::plan::Plan;
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
    /// Per question asked, in the order asked: how long answering took, against its budget.
    pub questions: Vec<QuestionTiming>,
    /// An adaptive session: each targeted key point (`Candidate::focus`), whether its question
    /// was answered and whether the answer covered it this time.
    pub revisited: Vec<Revisited>,
}

/// A key point an adaptive session targeted, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revisited {
    /// The question.
    pub question_id: String,
    /// The key point's id.
    pub key_point: String,
    /// Its description.
    pub description: String,
    /// The question was answered (and scored) in this session.
    pub answered: bool,
    /// The best answer to it covered the key point, missed before: it improved.
    pub improved: bool,
}

/// How long one question took, from the durable log's times (see [`timing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionTiming {
    /// The question.
    pub question_id: String,
    /// Seconds the plan budgets for it ([`crate::plan::Plan::budget_s`]).
    pub budget_s: u64,
    /// Answers given on it, follow-up answers included.
    pub answers: u32,
    /// From the end of the question's turn to the start of its first answer: a typed answer
    /// starts when it arrives, a spoken one its audio's length before (never before the turn
    /// ended: a barge-in counts as 0). `None` when unanswered.
    pub to_start_ms: Option<u64>,
    /// From the end of the question's turn to the arrival of its first answer. `None` when
    /// unanswered.
    pub to_finish_ms: Option<u64>,
    /// From the start of the question's first turn to the end of the last turn or answer about
    /// it (follow-ups included): the time spent on it, to compare with `budget_s`.
    pub spent_ms: u64,
    /// Milliseconds of the candidate's audio in the spoken answers on it; `None` when none was
    /// spoken.
    pub audio_ms: Option<u64>,
}

impl QuestionTiming {
    /// Whether more time than budgeted went to it.
    pub fn over_budget(&self) -> bool {
        self.spent_ms > self.budget_s.saturating_mul(1000)
    }
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
            questions: self
                .questions
                .iter()
                .map(|q| rest::QuestionTiming {
                    question_id: q.question_id.clone(),
                    budget_s: q.budget_s,
                    answers: q.answers,
                    to_start_ms: q.to_start_ms,
                    to_finish_ms: q.to_finish_ms,
                    spent_ms: q.spent_ms,
                    over_budget: q.over_budget(),
                    audio_ms: q.audio_ms,
                })
                .collect(),
            revisited: self
                .revisited
                .iter()
                .map(|r| rest::Revisited {
                    question_id: r.question_id.clone(),
                    key_point: r.key_point.clone(),
                    description: r.description.clone(),
                    answered: r.answered,
                    improved: r.improved,
                })
                .collect(),
        }
    }
}

/// Per question asked, in the order asked, the time it took, from the transcript's times
/// (the durable log's). Entries without times (snapshots stored before they were kept) count
/// as unknown: a question whose times are unknown is left out.
pub fn timing(plan: &Plan, transcript: &[Entry]) -> Vec<QuestionTiming> {
    /// What is known of one question so far.
    struct Seen<'a> {
        question_id: &'a str,
        first_start: Timestamp,
        /// The end of the last question turn (not failed) before its first answer.
        asked_end: Option<Timestamp>,
        last_end: Timestamp,
        answers: u32,
        first_answer: Option<(Timestamp, u64)>,
        audio_ms: Option<u64>,
    }
    let mut seen: Vec<Seen> = Vec::new();
    for entry in transcript {
        match entry {
            Entry::Turn(turn) => {
                let (Some(question_id), Some(started), Some(ended)) =
                    (turn.question_id.as_deref(), turn.started_at, turn.ended_at)
                else {
                    continue;
                };
                if !matches!(turn.kind, TurnKind::Question | TurnKind::FollowUp) {
                    continue;
                }
                let at = match seen.iter().position(|s| s.question_id == question_id) {
                    Some(at) => at,
                    None if turn.kind == TurnKind::Question => {
                        seen.push(Seen {
                            question_id,
                            first_start: started,
                            asked_end: None,
                            last_end: ended,
                            answers: 0,
                            first_answer: None,
                            audio_ms: None,
                        });
                        seen.len() - 1
                    }
                    None => continue,
                };
                let s = &mut seen[at];
                s.last_end = s.last_end.max(ended);
                let asks = turn.kind == TurnKind::Question && turn.status != Some(TurnStatus::Failed);
                if asks && s.first_answer.is_none() {
                    s.asked_end = Some(ended);
                }
            }
            Entry::Answer { question_id, spoken, at: Some(at), .. } => {
                let Some(s) = seen.iter_mut().find(|s| s.question_id == question_id) else { continue };
                s.answers += 1;
                s.last_end = s.last_end.max(*at);
                let audio = spoken.as_ref().map(|sp| sp.audio_ms);
                if let Some(ms) = audio {
                    s.audio_ms = Some(s.audio_ms.unwrap_or(0) + ms);
                }
                if s.first_answer.is_none() {
                    s.first_answer = Some((*at, audio.unwrap_or(0)));
                }
            }
            Entry::Answer { .. } => {}
        }
    }
    seen.into_iter()
        .map(|s| {
            let answered = s.first_answer.zip(s.asked_end);
            QuestionTiming {
                question_id: s.question_id.to_owned(),
                budget_s: plan.question(s.question_id).map_or(0, |q| plan.budget_s(q)),
                answers: s.answers,
                to_start_ms: answered
                    .map(|((at, audio_ms), asked)| Timestamp(at.0.saturating_sub(audio_ms)).ms_since(asked)),
                to_finish_ms: answered.map(|((at, _), asked)| at.ms_since(asked)),
                spent_ms: s.last_end.ms_since(s.first_start),
                audio_ms: s.audio_ms,
            }
        })
        .collect()
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
    let best = best_per_question(&state.transcript, &state.scores);
    let revisited = params
        .candidate
        .focus
        .iter()
        .map(|f| {
            let scoring = best.get(f.question_id.as_str());
            Revisited {
                question_id: f.question_id.clone(),
                key_point: f.key_point.clone(),
                description: describe(&f.question_id, std::slice::from_ref(&f.key_point)).remove(0),
                answered: scoring.is_some(),
                improved: scoring.is_some_and(|s| s.key_points_hit.contains(&f.key_point)),
            }
        })
        .collect();
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
        questions: timing(plan, &state.transcript),
        revisited,
    }
}
