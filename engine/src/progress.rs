//! Progress across sessions, pure: a finished session's compact summary
//! ([`SessionProgress`], what a user's progress record keeps, one per session), and what
//! `GET /v1/me/progress` shows of them ([`progress`]): scores over time per dimension with their
//! trend, recurring weaknesses (key points missed in two or more sessions) and strengths that
//! held, what to practise, and timing over sessions. Also the key points an adaptive session
//! targets ([`focus`]).
//!
//! The record is kept incrementally (the session's driver adds a summary once its report is
//! durable; a read repairs what is missing), so serving progress never loads a session's log.

use std::collections::BTreeMap;

use viva_protocol::DimensionScore;
use viva_protocol::rest;

use crate::core::{Focus, SessionId, State, best_per_question, round1};
use crate::plan::{Plan, PlanCatalog};
use crate::time::Timestamp;

/// Trends compare the mean of the last N sessions with the first N: at most this many.
const TREND_SESSIONS: usize = 3;
/// A key point missed in at least this many sessions is a recurring weakness (and hit in this
/// many, never missed, a strength that held).
const RECURRING: usize = 2;
/// Most key points an adaptive session targets.
const MAX_FOCUS: usize = 6;
/// A change of a dimension's mean by at least this much is a rise or a fall, not steady.
const NOTABLE_SCORE_CHANGE: f32 = 0.5;
/// A change of the time to finish an answer by at least this share is a change.
const NOTABLE_TIME_CHANGE: f32 = 0.1;

/// One finished session, as its user's progress record keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionProgress {
    /// The session.
    pub session_id: SessionId,
    /// Its plan.
    pub plan_id: String,
    /// When its report was built.
    pub ended_at: Timestamp,
    /// Its overall score.
    pub overall: Option<f32>,
    /// Its final score per dimension.
    pub dimensions: Vec<DimensionScore>,
    /// Per question asked or answered, in the order asked.
    pub questions: Vec<QuestionProgress>,
}

/// One question of a finished session: the key points its best answer covered and missed (by
/// id) and its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionProgress {
    /// The question.
    pub question_id: String,
    /// Key points covered.
    pub hit: Vec<String>,
    /// Key points missed.
    pub missed: Vec<String>,
    /// From the report's timing (`None`: not answered, or no times).
    pub to_start_ms: Option<u64>,
    /// From the report's timing.
    pub to_finish_ms: Option<u64>,
    /// From the report's timing (`None`: no times).
    pub spent_ms: Option<u64>,
    /// The plan's budget for it.
    pub budget_s: u64,
    /// Audio of its spoken answers.
    pub audio_ms: Option<u64>,
}

impl SessionProgress {
    /// The summary of a session whose report is built (`None` before).
    pub fn of(session_id: &SessionId, state: &State) -> Option<Self> {
        let report = state.report.as_ref()?;
        let best = best_per_question(&state.transcript, &state.scores);
        let mut questions: Vec<QuestionProgress> = report
            .questions
            .iter()
            .map(|t| QuestionProgress {
                question_id: t.question_id.clone(),
                hit: Vec::new(),
                missed: Vec::new(),
                to_start_ms: t.to_start_ms,
                to_finish_ms: t.to_finish_ms,
                spent_ms: Some(t.spent_ms),
                budget_s: t.budget_s,
                audio_ms: t.audio_ms,
            })
            .collect();
        for (question_id, scoring) in best {
            let at = match questions.iter().position(|q| q.question_id == question_id) {
                Some(at) => at,
                // A report without timing (built before it was kept).
                None => {
                    questions.push(QuestionProgress {
                        question_id: question_id.to_owned(),
                        hit: Vec::new(),
                        missed: Vec::new(),
                        to_start_ms: None,
                        to_finish_ms: None,
                        spent_ms: None,
                        budget_s: 0,
                        audio_ms: None,
                    });
                    questions.len() - 1
                }
            };
            questions[at].hit.clone_from(&scoring.key_points_hit);
            questions[at].missed.clone_from(&scoring.key_points_missed);
        }
        Some(Self {
            session_id: session_id.clone(),
            plan_id: report.plan_id.clone(),
            ended_at: report.generated_at,
            overall: report.overall,
            dimensions: report.dimensions.clone(),
            questions,
        })
    }
}

/// What a key point did across sessions.
#[derive(Default)]
struct Record {
    missed_in: Vec<(Timestamp, String)>,
    hit_in: Vec<(Timestamp, String)>,
}

impl Record {
    /// The key point was covered in the latest session that asked it.
    fn hit_last(&self) -> bool {
        let last_hit = self.hit_in.iter().map(|(at, _)| *at).max();
        let last_miss = self.missed_in.iter().map(|(at, _)| *at).max();
        last_hit > last_miss
    }
}

/// `(plan, question, key point)` → what it did, over `sessions` (oldest first).
fn key_points(sessions: &[&SessionProgress]) -> BTreeMap<(String, String, String), Record> {
    let mut points: BTreeMap<(String, String, String), Record> = BTreeMap::new();
    for s in sessions {
        for q in &s.questions {
            let key = |point: &String| (s.plan_id.clone(), q.question_id.clone(), point.clone());
            for point in &q.missed {
                points.entry(key(point)).or_default().missed_in.push((s.ended_at, s.session_id.to_string()));
            }
            for point in &q.hit {
                points.entry(key(point)).or_default().hit_in.push((s.ended_at, s.session_id.to_string()));
            }
        }
    }
    points
}

/// The recurring weaknesses, most pressing first: not covered since, then missed most often,
/// then missed most recently.
fn weaknesses(points: &BTreeMap<(String, String, String), Record>) -> Vec<(&(String, String, String), &Record)> {
    let mut weak: Vec<_> = points.iter().filter(|(_, r)| r.missed_in.len() >= RECURRING).collect();
    weak.sort_by(|(ka, a), (kb, b)| {
        let last = |r: &Record| r.missed_in.iter().map(|(at, _)| *at).max();
        (a.hit_last(), std::cmp::Reverse(a.missed_in.len()), std::cmp::Reverse(last(a)), *ka).cmp(&(
            b.hit_last(),
            std::cmp::Reverse(b.missed_in.len()),
            std::cmp::Reverse(last(b)),
            *kb,
        ))
    });
    weak
}

/// Oldest first (by when each ended, then id).
fn in_order(sessions: &[SessionProgress]) -> Vec<&SessionProgress> {
    let mut sorted: Vec<&SessionProgress> = sessions.iter().collect();
    sorted.sort_by(|a, b| (a.ended_at, &a.session_id).cmp(&(b.ended_at, &b.session_id)));
    sorted
}

/// The key points of `plan` an adaptive session targets: the user's recurring weaknesses on
/// it, most pressing first, at most [`MAX_FOCUS`].
pub fn focus(sessions: &[SessionProgress], plan: &Plan) -> Vec<Focus> {
    let sorted = in_order(sessions);
    let points = key_points(&sorted);
    weaknesses(&points)
        .into_iter()
        .filter(|((plan_id, question_id, point), _)| {
            plan_id == &plan.id
                && plan.question(question_id).is_some_and(|q| q.key_points.iter().any(|k| &k.id == point))
        })
        .take(MAX_FOCUS)
        .map(|((_, question_id, point), _)| Focus { question_id: question_id.clone(), key_point: point.clone() })
        .collect()
}

/// The mean of the last N values against the first N (N = [`TREND_SESSIONS`], or half the
/// values when there are fewer than twice that); `None` with fewer than two values.
fn trend(values: &[f32]) -> Option<rest::Trend> {
    let n = (values.len() / 2).min(TREND_SESSIONS);
    if n == 0 {
        return None;
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (first, last) = (round1(mean(&values[..n])), round1(mean(&values[values.len() - n..])));
    Some(rest::Trend { sessions: n, first, last, change: round1(last - first) })
}

/// What `GET /v1/me/progress` answers for these session summaries (any order).
pub fn progress(sessions: &[SessionProgress], plans: &PlanCatalog) -> rest::Progress {
    let sorted = in_order(sessions);
    let point = |s: &SessionProgress, score: f32| rest::ProgressPoint {
        session_id: s.session_id.to_string(),
        plan_id: s.plan_id.clone(),
        ended_at: s.ended_at.0,
        score,
    };
    // Dimensions in the order they first appear.
    let mut names: Vec<&str> = Vec::new();
    for s in &sorted {
        for d in &s.dimensions {
            if !names.contains(&d.name.as_str()) {
                names.push(&d.name);
            }
        }
    }
    let series = |name: &str, points: Vec<rest::ProgressPoint>| {
        let scores: Vec<f32> = points.iter().map(|p| p.score).collect();
        rest::DimensionProgress { name: name.to_owned(), trend: trend(&scores), points }
    };
    let dimensions: Vec<rest::DimensionProgress> = names
        .iter()
        .map(|name| {
            let points = sorted
                .iter()
                .filter_map(|s| s.dimensions.iter().find(|d| d.name == *name).map(|d| point(s, d.score)))
                .collect();
            series(name, points)
        })
        .collect();
    let overall = series("overall", sorted.iter().filter_map(|s| s.overall.map(|o| point(s, o))).collect());

    let describe = |plan_id: &str, question_id: &str, point: &str| {
        let question = plans.get(plan_id).and_then(|p| p.question(question_id));
        let key = question.and_then(|q| q.key_points.iter().find(|k| k.id == point));
        key.map_or(point, |k| k.description.trim_end_matches('.')).to_owned()
    };
    let points = key_points(&sorted);
    let shown =
        |((plan_id, question_id, point), record): (&(String, String, String), &Record)| rest::KeyPointProgress {
            plan_id: plan_id.clone(),
            question_id: question_id.clone(),
            key_point: point.clone(),
            description: describe(plan_id, question_id, point),
            missed_in: record.missed_in.iter().map(|(_, id)| id.clone()).collect(),
            hit_in: record.hit_in.iter().map(|(_, id)| id.clone()).collect(),
        };
    let weak: Vec<rest::KeyPointProgress> = weaknesses(&points).into_iter().map(shown).collect();
    let strengths: Vec<rest::KeyPointProgress> =
        points.iter().filter(|(_, r)| r.hit_in.len() >= RECURRING && r.missed_in.is_empty()).map(shown).collect();
    // What to practise: the questions of the weaknesses, in the weaknesses' order.
    let mut practise: Vec<rest::PractiseItem> = Vec::new();
    for w in &weak {
        let found = practise.iter_mut().find(|p| p.plan_id == w.plan_id && p.question_id == w.question_id);
        match found {
            Some(item) => item.key_points.push(w.description.clone()),
            None => practise.push(rest::PractiseItem {
                plan_id: w.plan_id.clone(),
                question_id: w.question_id.clone(),
                question: plans
                    .get(&w.plan_id)
                    .and_then(|p| p.question(&w.question_id))
                    .map(|q| q.prompt.clone())
                    .unwrap_or_default(),
                key_points: vec![w.description.clone()],
            }),
        }
    }

    let mean_ms = |values: Vec<u64>| (!values.is_empty()).then(|| values.iter().sum::<u64>() / values.len() as u64);
    let timing: Vec<rest::SessionTiming> = sorted
        .iter()
        .map(|s| rest::SessionTiming {
            session_id: s.session_id.to_string(),
            plan_id: s.plan_id.clone(),
            ended_at: s.ended_at.0,
            questions: s.questions.len() as u32,
            mean_to_start_ms: mean_ms(s.questions.iter().filter_map(|q| q.to_start_ms).collect()),
            mean_to_finish_ms: mean_ms(s.questions.iter().filter_map(|q| q.to_finish_ms).collect()),
            mean_spent_ms: mean_ms(s.questions.iter().filter_map(|q| q.spent_ms).collect()),
            over_budget: s
                .questions
                .iter()
                .filter(|q| q.spent_ms.is_some_and(|ms| ms > q.budget_s.saturating_mul(1000)))
                .count() as u32,
            audio_ms: s.questions.iter().filter_map(|q| q.audio_ms).reduce(|a, b| a + b),
        })
        .collect();
    let finish_s: Vec<f32> = timing.iter().filter_map(|t| t.mean_to_finish_ms).map(|ms| ms as f32 / 1000.0).collect();
    let timing_trend = trend(&finish_s);

    let mut notes = Vec::new();
    for d in dimensions.iter().chain([&overall]) {
        let Some(t) = &d.trend else { continue };
        let way = if t.change >= NOTABLE_SCORE_CHANGE {
            "up"
        } else if t.change <= -NOTABLE_SCORE_CHANGE {
            "down"
        } else {
            "steady"
        };
        let n = t.sessions;
        notes.push(format!("{}: {way} ({} → {}, last {n} vs first {n} sessions)", d.name, t.first, t.last));
    }
    if let Some(t) = &timing_trend {
        let share = if t.first > 0.0 { t.change / t.first } else { 0.0 };
        let how = if share <= -NOTABLE_TIME_CHANGE {
            "answers are getting more concise"
        } else if share >= NOTABLE_TIME_CHANGE {
            "answers are taking longer"
        } else {
            "answer time is steady"
        };
        notes.push(format!("{how}: {} s → {} s to finish an answer", t.first, t.last));
    }
    if let Some(w) = weak.first() {
        notes.push(format!(
            "most pressing: {} ({} of `{}`, missed in {} sessions)",
            w.description,
            w.question_id,
            w.plan_id,
            w.missed_in.len()
        ));
    }

    rest::Progress {
        sessions: sorted.len(),
        overall,
        dimensions,
        weaknesses: weak,
        strengths,
        practise,
        timing,
        timing_trend,
        notes,
    }
}

#[cfg(test)]
mod tests {
    //! Trends and timing over more sessions than the engine's tests play, as data.

    use expect_test::expect;

    use super::*;

    /// A session ending at minute `i` with `score` everywhere and answers taking `finish_ms`.
    fn session(i: u64, score: f32, finish_ms: u64) -> SessionProgress {
        SessionProgress {
            session_id: SessionId::new(format!("s{i}")),
            plan_id: "senior-backend".into(),
            ended_at: Timestamp(i * 60_000),
            overall: Some(score),
            dimensions: vec![DimensionScore { name: "system_design".into(), score }],
            questions: vec![QuestionProgress {
                question_id: "rate-limiter".into(),
                hit: vec!["algorithm".into()],
                missed: if i.is_multiple_of(2) { vec!["atomicity".into()] } else { Vec::new() },
                to_start_ms: Some(finish_ms / 4),
                to_finish_ms: Some(finish_ms),
                spent_ms: Some(finish_ms * 2),
                budget_s: 660,
                audio_ms: None,
            }],
        }
    }

    #[test]
    fn trends_compare_the_last_three_sessions_with_the_first_three() {
        // Given out of order: they are sorted by when they ended.
        let sessions: Vec<SessionProgress> = [(4, 6.0, 40_000), (1, 3.0, 90_000), (2, 4.0, 80_000), (3, 5.0, 60_000)]
            .into_iter()
            .chain([(5, 7.0, 30_000), (6, 8.0, 20_000), (7, 8.5, 20_000)])
            .map(|(i, score, ms)| session(i, score, ms))
            .collect();
        let progress = progress(&sessions, &PlanCatalog::shipped());
        let points: Vec<String> = progress.overall.points.iter().map(|p| p.session_id.clone()).collect();
        assert_eq!(points, ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]);
        expect![[r#"
            system_design: up (4 → 7.8, last 3 vs first 3 sessions)
            overall: up (4 → 7.8, last 3 vs first 3 sessions)
            answers are getting more concise: 76.7 s → 23.3 s to finish an answer
            most pressing: Updates counters atomically (a Lua script, INCR with an expiry) so concurrent requests do not race (rate-limiter of `senior-backend`, missed in 3 sessions)"#]]
        .assert_eq(&progress.notes.join("\n"));
        // One session: no trend yet; two: one against one.
        assert!(super::progress(&sessions[..1], &PlanCatalog::shipped()).overall.trend.is_none());
        let two = super::progress(&sessions[..2], &PlanCatalog::shipped());
        assert_eq!(two.overall.trend.map(|t| (t.sessions, t.first, t.last)), Some((1, 3.0, 6.0)));
        // The weakness missed in s2, s4, s6 (covered in the others) is still recurring.
        assert_eq!(progress.weaknesses.len(), 1);
        assert_eq!(progress.weaknesses[0].missed_in, ["s2", "s4", "s6"]);
        assert_eq!(progress.strengths[0].key_point, "algorithm");
    }
}
