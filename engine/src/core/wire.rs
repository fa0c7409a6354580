//! The session as clients see it: the protocol's `SessionState` and transcript entries, built
//! from the durable state plus what is being said right now.

use viva_protocol::server::AnswerScore;
use viva_protocol::state::{self as wire, SessionStatus};
use viva_protocol::{Expects, TurnStatus};

use super::Speaking;
use super::state::{Entry, State, Status, running_scores};
use crate::plan::Plan;

/// The whole state at a moment: `speaking` is the open turn's text so far, `clock` the time.
pub(super) fn session_state(
    state: &State,
    plan: &Plan,
    speaking: Option<&Speaking>,
    clock: viva_protocol::Clock,
) -> wire::SessionState {
    let (dimensions, overall) = running_scores(plan, &state.transcript, &state.scores);
    wire::SessionState {
        status: status(state),
        plan_id: plan.id.clone(),
        transcript: state.transcript.iter().map(|e| entry(state, e)).collect(),
        open_turn: state.open_turn.as_ref().map(|turn| {
            let said = speaking.filter(|s| s.turn_id == turn.turn_id);
            wire::OpenTurn {
                turn_id: turn.turn_id.0,
                kind: turn.kind,
                question_id: turn.question_id.clone(),
                expects: turn.expects.clone(),
                text: said.map(|s| s.text.clone()).unwrap_or_default(),
                next_index: said.map_or(0, |s| s.next_index),
            }
        }),
        awaiting_answer: state.awaiting().and_then(|t| {
            Some(wire::AwaitingAnswer {
                question_id: t.question_id.clone()?,
                expects: t.expects.clone().unwrap_or(Expects::Text),
            })
        }),
        scores: wire::Scores { dimensions, overall },
        clock,
        ended_reason: state.end_reason().filter(|_| matches!(state.status, Status::Ended(_))),
        report_ready: state.report.is_some(),
        voice: (state.voice.input || state.voice.output).then_some(state.voice),
    }
}

/// The status as clients see it: ending is still live to them.
pub(super) fn status(state: &State) -> SessionStatus {
    match state.status {
        Status::Created => SessionStatus::Created,
        Status::Live | Status::Ending { .. } => SessionStatus::Live,
        Status::Ended(_) => SessionStatus::Ended,
    }
}

/// A transcript entry as clients see it.
pub(super) fn entry(state: &State, entry: &Entry) -> wire::TranscriptEntry {
    match entry {
        Entry::Turn(t) => wire::TranscriptEntry::Turn {
            turn_id: t.turn_id.0,
            kind: t.kind,
            question_id: t.question_id.clone(),
            text: t.text.clone(),
            status: t.status.unwrap_or(TurnStatus::Interrupted),
            started_at: t.started_at.map(|t| t.0),
            ended_at: t.ended_at.map(|t| t.0),
        },
        Entry::Answer { answer_id, question_id, answer, spoken, at } => wire::TranscriptEntry::Answer {
            answer_id: answer_id.0,
            question_id: question_id.clone(),
            answer: answer.clone(),
            score: state
                .scores
                .get(answer_id)
                .map(|s| AnswerScore { dimensions: s.dimensions.clone(), overall: s.overall() }),
            spoken: spoken.as_ref().map(|s| wire::SpokenAnswer { words: s.words.clone(), audio_ms: s.audio_ms }),
            at: at.map(|t| t.0),
        },
    }
}
