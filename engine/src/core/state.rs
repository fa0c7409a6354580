//! The state of one session: the fold of its durable records, plus the open turn's text.
//!
//! Everything the interview decides next is derived from this (see `Session::next_step`),
//! so a state rebuilt from a snapshot and a log tail behaves exactly like the live one.

use std::collections::{BTreeMap, HashMap};

use viva_protocol::rest::Report;
use viva_protocol::server::AnswerScore;
use viva_protocol::state::{self as wire, SessionStatus};
use viva_protocol::{AnswerContent, DimensionScore, EndReason, Expects, TurnKind, TurnStatus};

use super::record::{LogEntry, Record};
use crate::plan::Plan;
use crate::scorer::{Scoring, mean};
use crate::time::Timestamp;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for `session.start`.
    Created,
    /// Interviewing.
    Live,
    /// Ended; waiting for outstanding scores before the report (not durable).
    Ending {
        /// Why it ends.
        reason: EndReason,
        /// Since when it waits.
        since: Timestamp,
    },
    /// Over.
    Ended(EndReason),
}

/// A finished turn or an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A finished interviewer turn.
    Turn(Turn),
    /// A candidate's answer.
    Answer {
        /// Answer id.
        answer_id: u32,
        /// The question answered.
        question_id: String,
        /// What was submitted.
        answer: AnswerContent,
    },
}

/// An interviewer turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Turn id.
    pub turn_id: u32,
    /// Its kind.
    pub kind: TurnKind,
    /// The question it is about.
    pub question_id: Option<String>,
    /// For a follow-up: the key point probed.
    pub key_point: Option<String>,
    /// What answer it expects.
    pub expects: Option<Expects>,
    /// Text delivered so far (the whole text once done).
    pub text: String,
    /// How it ended (`None` while open).
    pub status: Option<TurnStatus>,
}

/// The turn in flight, with what is not durable about it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTurn {
    /// The turn; its `text` grows with every delta.
    pub turn: Turn,
    /// Index of the next delta.
    pub next_index: u32,
    /// Last time the interviewer sent something for it (for the idle timeout).
    pub last_activity: Timestamp,
}

/// The whole state of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Where the session is.
    pub status: Status,
    /// When `session.start` was applied.
    pub started_at: Option<Timestamp>,
    /// When `session.ended` was committed.
    pub ended_at: Option<Timestamp>,
    /// Seq of the last durable event.
    pub head: u64,
    /// Finished turns and answers, in order.
    pub transcript: Vec<Entry>,
    /// The turn in flight.
    pub open_turn: Option<OpenTurn>,
    /// Scores by answer id.
    pub scores: BTreeMap<u32, Scoring>,
    /// Client ids of accepted answers → (seq of `answer.received`, answer id).
    pub answer_ids: HashMap<String, (u64, u32)>,
    /// The report, once built.
    pub report: Option<Report>,
    /// Turns started so far.
    pub turns: u32,
    /// Answers accepted so far.
    pub answers: u32,
}

impl State {
    /// A session not started yet.
    pub fn new() -> Self {
        Self {
            status: Status::Created,
            started_at: None,
            ended_at: None,
            head: 0,
            transcript: Vec::new(),
            open_turn: None,
            scores: BTreeMap::new(),
            answer_ids: HashMap::new(),
            report: None,
            turns: 0,
            answers: 0,
        }
    }

    /// Folds one durable event into the state.
    pub fn apply(&mut self, entry: &LogEntry) {
        debug_assert_eq!(entry.seq, self.head + 1, "log entries apply in order");
        self.head = entry.seq;
        match &entry.record {
            Record::TurnStarted { turn_id, kind, question_id, key_point, expects } => {
                if self.status == Status::Created {
                    self.status = Status::Live;
                    self.started_at = Some(entry.at);
                }
                self.turns = self.turns.max(*turn_id);
                let turn = Turn {
                    turn_id: *turn_id,
                    kind: *kind,
                    question_id: question_id.clone(),
                    key_point: key_point.clone(),
                    expects: expects.clone(),
                    text: String::new(),
                    status: None,
                };
                self.open_turn = Some(OpenTurn { turn, next_index: 0, last_activity: entry.at });
            }
            Record::TurnDone { turn_id, text, status } => {
                if let Some(OpenTurn { mut turn, .. }) = self.open_turn.take_if(|t| t.turn.turn_id == *turn_id) {
                    turn.text.clone_from(text);
                    turn.status = Some(*status);
                    self.transcript.push(Entry::Turn(turn));
                }
            }
            Record::AnswerReceived { answer_id, client_id, question_id, answer } => {
                self.answers = self.answers.max(*answer_id);
                if let Some(id) = client_id {
                    self.answer_ids.insert(id.clone(), (entry.seq, *answer_id));
                }
                self.transcript.push(Entry::Answer {
                    answer_id: *answer_id,
                    question_id: question_id.clone(),
                    answer: answer.clone(),
                });
            }
            Record::ScoreUpdated { answer_id, scoring, .. } => {
                self.scores.insert(*answer_id, scoring.clone());
            }
            Record::ReportReady { report } => self.report = Some((**report).clone()),
            Record::SessionEnded { reason } => {
                self.status = Status::Ended(*reason);
                self.ended_at = Some(entry.at);
                self.open_turn = None;
            }
        }
    }

    /// The question the interviewer waits on: the last entry is a finished question or
    /// follow-up turn that did not fail, and nothing is in flight.
    pub fn awaiting(&self) -> Option<&Turn> {
        if self.status != Status::Live || self.open_turn.is_some() {
            return None;
        }
        match self.transcript.last() {
            Some(Entry::Turn(turn)) if turn.kind.awaits_answer() && turn.status != Some(TurnStatus::Failed) => {
                Some(turn)
            }
            _ => None,
        }
    }

    /// What the candidate has said on `question_id` up to and including `answer_id`: one
    /// answer as it is, or an answer and its follow-up answers joined when they share a format.
    pub fn answer_so_far(&self, question_id: &str, answer_id: u32) -> Option<AnswerContent> {
        let parts: Vec<&AnswerContent> = self
            .transcript
            .iter()
            .filter_map(|e| match e {
                Entry::Answer { answer_id: id, question_id: q, answer } if q == question_id && *id <= answer_id => {
                    Some(answer)
                }
                _ => None,
            })
            .collect();
        let (last, earlier) = parts.split_last()?;
        let joined = match last {
            AnswerContent::Text { text } => {
                let texts: Option<Vec<&str>> = earlier
                    .iter()
                    .map(|p| match p {
                        AnswerContent::Text { text } => Some(text.as_str()),
                        AnswerContent::Code { .. } => None,
                    })
                    .collect();
                texts.map(|mut texts| {
                    texts.push(text);
                    AnswerContent::Text { text: texts.join("\n\n") }
                })
            }
            AnswerContent::Code { language, source } => {
                let sources: Option<Vec<&str>> = earlier
                    .iter()
                    .map(|p| match p {
                        AnswerContent::Code { source, .. } => Some(source.as_str()),
                        AnswerContent::Text { .. } => None,
                    })
                    .collect();
                sources.map(|mut sources| {
                    sources.push(source);
                    AnswerContent::Code { language: language.clone(), source: sources.join("\n\n") }
                })
            }
        };
        Some(joined.unwrap_or_else(|| (*last).clone()))
    }

    /// Answers without a score yet.
    pub fn unscored(&self) -> impl Iterator<Item = (u32, &str, &AnswerContent)> {
        self.transcript.iter().filter_map(|e| match e {
            Entry::Answer { answer_id, question_id, answer } if !self.scores.contains_key(answer_id) => {
                Some((*answer_id, question_id.as_str(), answer))
            }
            _ => None,
        })
    }

    /// The reason the session ended or is ending.
    pub fn end_reason(&self) -> Option<EndReason> {
        match self.status {
            Status::Ending { reason, .. } | Status::Ended(reason) => Some(reason),
            Status::Created | Status::Live => None,
        }
    }

    /// The wire form of the state at `now`.
    pub fn to_wire(&self, plan: &Plan, time_limit_ms: u64, now: Timestamp) -> wire::SessionState {
        let (dimensions, overall) = running_scores(plan, &self.transcript, &self.scores);
        wire::SessionState {
            status: self.wire_status(),
            plan_id: plan.id.clone(),
            transcript: self.transcript.iter().map(|e| self.wire_entry(e)).collect(),
            open_turn: self.open_turn.as_ref().map(|open| wire::OpenTurn {
                turn_id: open.turn.turn_id,
                kind: open.turn.kind,
                question_id: open.turn.question_id.clone(),
                expects: open.turn.expects.clone(),
                text: open.turn.text.clone(),
                next_index: open.next_index,
            }),
            awaiting_answer: self.awaiting().and_then(|t| {
                Some(wire::AwaitingAnswer {
                    question_id: t.question_id.clone()?,
                    expects: t.expects.clone().unwrap_or(Expects::Text),
                })
            }),
            scores: wire::Scores { dimensions, overall },
            clock: self.clock(time_limit_ms, now),
            ended_reason: self.end_reason().filter(|_| matches!(self.status, Status::Ended(_))),
            report_ready: self.report.is_some(),
        }
    }

    /// The status as clients see it.
    pub fn wire_status(&self) -> SessionStatus {
        match self.status {
            Status::Created => SessionStatus::Created,
            Status::Live | Status::Ending { .. } => SessionStatus::Live,
            Status::Ended(_) => SessionStatus::Ended,
        }
    }

    /// A transcript entry as clients see it.
    pub fn wire_entry(&self, entry: &Entry) -> wire::TranscriptEntry {
        match entry {
            Entry::Turn(t) => wire::TranscriptEntry::Turn {
                turn_id: t.turn_id,
                kind: t.kind,
                question_id: t.question_id.clone(),
                text: t.text.clone(),
                status: t.status.unwrap_or(TurnStatus::Interrupted),
            },
            Entry::Answer { answer_id, question_id, answer } => wire::TranscriptEntry::Answer {
                answer_id: *answer_id,
                question_id: question_id.clone(),
                answer: answer.clone(),
                score: self
                    .scores
                    .get(answer_id)
                    .map(|s| AnswerScore { dimensions: s.dimensions.clone(), overall: s.overall() }),
            },
        }
    }

    /// Time spent and left at `now`.
    pub fn clock(&self, time_limit_ms: u64, now: Timestamp) -> viva_protocol::Clock {
        let elapsed_ms = match (self.started_at, self.status) {
            (None, _) => 0,
            // An ended session's clock stands still at its last event.
            (Some(start), Status::Ended(_)) => self.ended_at.unwrap_or(start).ms_since(start),
            (Some(start), _) => now.ms_since(start),
        };
        viva_protocol::Clock {
            elapsed_s: elapsed_ms / 1000,
            remaining_s: time_limit_ms.saturating_sub(elapsed_ms).div_ceil(1000),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Running score per plan dimension (mean over the questions that measure it, each counted
/// once by its best-scored answer, in the plan's order) and the overall (mean of those).
///
/// Counting a question once keeps a follow-up answer (scored together with the answer it
/// follows up) from dragging the question down twice.
pub fn running_scores(
    plan: &Plan,
    transcript: &[Entry],
    scores: &BTreeMap<u32, Scoring>,
) -> (Vec<DimensionScore>, Option<f32>) {
    let best = best_per_question(transcript, scores);
    let dimensions: Vec<DimensionScore> = plan
        .dimensions
        .iter()
        .filter_map(|d| {
            let scores = best.values().flat_map(|s| &s.dimensions).filter(|x| x.name == d.name).map(|x| x.score);
            Some(DimensionScore { name: d.name.clone(), score: mean(scores)? })
        })
        .collect();
    let overall = mean(dimensions.iter().map(|d| d.score));
    (dimensions, overall)
}

/// For each answered question, the scoring of its best-scored answer.
pub fn best_per_question<'a>(
    transcript: &'a [Entry],
    scores: &'a BTreeMap<u32, Scoring>,
) -> BTreeMap<&'a str, &'a Scoring> {
    let mut best: BTreeMap<&str, &Scoring> = BTreeMap::new();
    for entry in transcript {
        let Entry::Answer { answer_id, question_id, .. } = entry else {
            continue;
        };
        let Some(scoring) = scores.get(answer_id).filter(|s| s.overall().is_some()) else {
            continue;
        };
        let better = best.get(question_id.as_str()).is_none_or(|b| scoring.overall() >= b.overall());
        if better {
            best.insert(question_id, scoring);
        }
    }
    best
}
