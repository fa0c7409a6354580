//! The interview's script: what the interviewer does next, derived from the transcript alone
//! (never from a flag that could disagree with it). Pure functions of the state.
//!
//! After the intro comes the first question that suits the candidate's level. After an
//! answer: code gets a feedback turn first; then one follow-up per question on the first key
//! point the answer missed; then the next question, or the closing. A failed turn is asked
//! again (a new turn) until too many fail in a row. The closing ends the interview.
//!
//! An adaptive session (`Candidate::focus`) asks the questions of its focus key points first
//! (most pressing first, then the rest in the plan's order), and its follow-up probes a missed
//! focus point before any other missed point.

use viva_protocol::{AnswerContent, EndReason, TurnKind, TurnStatus, Voice};

use super::state::{Entry, State, Turn};
use super::{AnswerId, FollowUpChoice, FollowUps, SessionParams};
use crate::rubric;

/// What the interviewer does next.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    /// Start a turn.
    Turn(TurnSpec),
    /// Wait for the candidate (or for a turn in flight, or a score).
    Wait,
    /// End the session.
    Finish(EndReason),
}

/// A turn to start.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TurnSpec {
    pub(super) kind: TurnKind,
    pub(super) question_id: Option<String>,
    pub(super) key_point: Option<String>,
    /// For feedback: the answer reviewed.
    pub(super) answer: Option<AnswerContent>,
    /// For a closing turn of an early end: why.
    pub(super) ending: Option<EndReason>,
    pub(super) attempt: u32,
    /// After an answer: the interviewer may choose this turn instead of the default above.
    pub(super) choice: Option<FollowUpChoice>,
    /// For the turn that starts the session: the ways it is spoken.
    pub(super) voice: Option<Voice>,
}

impl TurnSpec {
    pub(super) fn new(kind: TurnKind, question_id: Option<String>) -> Self {
        Self { kind, question_id, key_point: None, answer: None, ending: None, attempt: 1, choice: None, voice: None }
    }
}

/// The next step of a live interview. `deciding`: an answer whose score the follow-up
/// decision waits for (the scorer's missing key points choose the follow-up).
pub(super) fn next_step(params: &SessionParams, state: &State, deciding: Option<AnswerId>) -> Step {
    let transcript = &state.transcript;
    match transcript.last() {
        None => Step::Turn(TurnSpec::new(TurnKind::Intro, None)),
        Some(Entry::Answer { .. }) => after_answer(params, state, transcript.len() - 1, deciding),
        Some(Entry::Turn(turn)) if turn.status == Some(TurnStatus::Failed) => ask_again(params, transcript, turn),
        Some(Entry::Turn(turn)) => match turn.kind {
            TurnKind::Intro => next_question(params, None),
            TurnKind::Question | TurnKind::FollowUp => Step::Wait,
            TurnKind::Feedback => match transcript.iter().rposition(|e| matches!(e, Entry::Answer { .. })) {
                Some(answer_at) => after_answer(params, state, answer_at, deciding),
                None => Step::Finish(EndReason::Completed),
            },
            TurnKind::Closing => Step::Finish(EndReason::Completed),
        },
    }
}

/// After the answer at `answer_at`: feedback on code, a follow-up, or the next question.
fn after_answer(params: &SessionParams, state: &State, answer_at: usize, deciding: Option<AnswerId>) -> Step {
    let transcript = &state.transcript;
    let Some(Entry::Answer { answer_id, question_id, answer, .. }) = transcript.get(answer_at) else {
        return Step::Wait;
    };
    let reviewed =
        transcript[answer_at + 1..].iter().any(|e| matches!(e, Entry::Turn(t) if t.kind == TurnKind::Feedback));
    if matches!(answer, AnswerContent::Code { .. }) && !reviewed {
        let mut spec = TurnSpec::new(TurnKind::Feedback, Some(question_id.clone()));
        spec.answer = Some(answer.clone());
        return Step::Turn(spec);
    }
    let plan = &params.plan;
    let Some(index) = plan.questions.iter().position(|q| &q.id == question_id) else {
        return Step::Finish(EndReason::Completed);
    };
    let question = &plan.questions[index];
    let followed_up = transcript.iter().any(
        |e| matches!(e, Entry::Turn(t) if t.kind == TurnKind::FollowUp && t.question_id.as_deref() == Some(&question.id)),
    );
    if !followed_up {
        // What the answer lacks: the scorer's word when its score is in, else the rubric's.
        let scored = state.scores.get(answer_id).filter(|s| !s.dimensions.is_empty());
        let missed: Vec<String> = match scored {
            Some(scoring) => scoring.key_points_missed.clone(),
            None if deciding == Some(*answer_id) => return Step::Wait,
            None => rubric::coverage(question, answer).missed.iter().map(|k| k.id.clone()).collect(),
        };
        // A focus point first (most pressing first), else the first missed.
        let mut focus = params.candidate.focus_on(&question.id);
        let missing =
            focus.find(|f| missed.iter().any(|m| m == f)).map(str::to_owned).or_else(|| missed.first().cloned());
        let move_on = next_question(params, Some(index));
        let Step::Turn(mut spec) = missing.map_or(move_on.clone(), |point| Step::Turn(follow_up(&question.id, point)))
        else {
            return move_on;
        };
        if params.config.follow_ups == FollowUps::Interviewer && !question.key_points.is_empty() {
            if let Step::Turn(next) = move_on {
                spec.choice =
                    Some(FollowUpChoice { question_id: question.id.clone(), move_on: (next.kind, next.question_id) });
            }
        }
        return Step::Turn(spec);
    }
    next_question(params, Some(index))
}

/// A follow-up on `point` of `question_id`.
pub(super) fn follow_up(question_id: &str, point: String) -> TurnSpec {
    let mut spec = TurnSpec::new(TurnKind::FollowUp, Some(question_id.to_owned()));
    spec.key_point = Some(point);
    spec
}

/// The question after the one at `after` (the first one for `None`) that suits the
/// candidate's level, or the closing: in the plan's order, or, in an adaptive session, in
/// [`question_order`].
fn next_question(params: &SessionParams, after: Option<usize>) -> Step {
    let level = params.candidate.level.as_deref();
    let next = if params.candidate.focus.is_empty() {
        params.plan.next_question(after, level)
    } else {
        let order = question_order(params);
        let at = match after {
            None => 0,
            Some(after) => order.iter().position(|&i| i == after).map_or(order.len(), |p| p + 1),
        };
        order.get(at).map(|&i| &params.plan.questions[i])
    };
    match next {
        Some(next) => Step::Turn(TurnSpec::new(TurnKind::Question, Some(next.id.clone()))),
        None => Step::Turn(TurnSpec::new(TurnKind::Closing, None)),
    }
}

/// The plan's questions that suit the candidate's level, by index, in the order an adaptive
/// session asks them: those of its focus points first (in the focus's order), then the others
/// in the plan's order.
pub(super) fn question_order(params: &SessionParams) -> Vec<usize> {
    let plan = &params.plan;
    let level = params.candidate.level.as_deref();
    let suits: Vec<usize> = (0..plan.questions.len()).filter(|&i| plan.questions[i].suits(level)).collect();
    let mut order: Vec<usize> = Vec::with_capacity(suits.len());
    for focus in &params.candidate.focus {
        let found = suits.iter().copied().find(|&i| plan.questions[i].id == focus.question_id);
        if let Some(i) = found.filter(|i| !order.contains(i)) {
            order.push(i);
        }
    }
    order.extend(suits.into_iter().filter(|i| !order.contains(i)).collect::<Vec<_>>());
    order
}

/// After a failed turn: the same turn again, in a new turn, unless too many failed in a row.
fn ask_again(params: &SessionParams, transcript: &[Entry], failed: &Turn) -> Step {
    let failures = transcript
        .iter()
        .rev()
        .take_while(|e| matches!(e, Entry::Turn(t) if t.status == Some(TurnStatus::Failed)))
        .count() as u32;
    if failures >= params.config.max_turn_failures {
        return Step::Finish(EndReason::InterviewerFailed);
    }
    let answer = (failed.kind == TurnKind::Feedback)
        .then(|| {
            transcript.iter().rev().find_map(|e| match e {
                Entry::Answer { answer, .. } => Some(answer.clone()),
                Entry::Turn(_) => None,
            })
        })
        .flatten();
    Step::Turn(TurnSpec {
        kind: failed.kind,
        question_id: failed.question_id.clone(),
        key_point: failed.key_point.clone(),
        answer,
        ending: None,
        attempt: failures + 1,
        choice: None,
        voice: None,
    })
}
