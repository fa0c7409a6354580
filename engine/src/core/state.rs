//! The state of one session: exactly the fold of its durable records, nothing else.
//!
//! Everything the interview decides next is derived from this (see `script`), so a state
//! rebuilt from a snapshot and a log tail behaves exactly like the live one. What is not
//! durable (the open turn's text so far, the follow-up wait, scoring attempts, the budget)
//! lives beside it in the session (`Session::live`), and a restart re-decides it.

use std::collections::{BTreeMap, HashMap};

use viva_protocol::{AnswerContent, DimensionScore, EndReason, Expects, TurnKind, TurnStatus, Voice};

use super::record::{LogEntry, Record, Spoken};
use super::report::Report;
use super::scoring::{Scoring, mean};
use super::{AnswerId, TurnId};
use crate::plan::Plan;
use crate::time::Timestamp;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for `session.start`.
    Created,
    /// Interviewing.
    Live,
    /// The end is decided (`session.ending`); waiting for outstanding scores or a closing
    /// turn before the report.
    Ending {
        /// Why it ends.
        reason: EndReason,
        /// Since when.
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
        answer_id: AnswerId,
        /// The question answered.
        question_id: String,
        /// What was submitted (a spoken answer: its transcript).
        answer: AnswerContent,
        /// How a spoken answer was heard.
        spoken: Option<Spoken>,
        /// When it was accepted (its `answer.received`); `None` only in a snapshot stored
        /// before entries carried their times.
        at: Option<Timestamp>,
    },
}

/// An interviewer turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Turn id.
    pub turn_id: TurnId,
    /// Its kind.
    pub kind: TurnKind,
    /// The question it is about.
    pub question_id: Option<String>,
    /// For a follow-up: the key point probed.
    pub key_point: Option<String>,
    /// What answer it expects.
    pub expects: Option<Expects>,
    /// Its whole text once done (as heard, when the candidate cut its audio off); empty while
    /// open (what was said so far is not durable).
    pub text: String,
    /// How it ended (`None` while open).
    pub status: Option<TurnStatus>,
    /// When it started (its `turn.started`); `None` only in a snapshot stored before entries
    /// carried their times.
    pub started_at: Option<Timestamp>,
    /// When it ended (its `turn.done`); `None` while open, or in a snapshot stored before
    /// entries carried their times.
    pub ended_at: Option<Timestamp>,
}

/// The whole durable state of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Where the session is.
    pub status: Status,
    /// When `session.start` was applied.
    pub started_at: Option<Timestamp>,
    /// The ways the session is spoken (chosen at its start).
    pub voice: Voice,
    /// When `session.ended` was committed.
    pub ended_at: Option<Timestamp>,
    /// `usage.low` was sent (metering).
    pub usage_low: bool,
    /// Seq of the last durable event.
    pub head: u64,
    /// Finished turns and answers, in order.
    pub transcript: Vec<Entry>,
    /// The turn in flight.
    pub open_turn: Option<Turn>,
    /// Scores by answer id.
    pub scores: BTreeMap<AnswerId, Scoring>,
    /// Client ids of accepted answers → where they were acknowledged.
    pub answer_ids: HashMap<String, Acknowledged>,
    /// The report, once built.
    pub report: Option<Report>,
    /// The last turn started (0 before any).
    pub last_turn: TurnId,
    /// The last answer accepted (0 before any).
    pub last_answer: AnswerId,
}

/// Where an answer with a client id was acknowledged, to acknowledge a re-send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    /// Seq of its `answer.received`.
    pub seq: u64,
    /// The answer.
    pub answer_id: AnswerId,
}

impl State {
    /// A session not started yet.
    pub fn new() -> Self {
        Self {
            status: Status::Created,
            started_at: None,
            voice: Voice::default(),
            usage_low: false,
            ended_at: None,
            head: 0,
            transcript: Vec::new(),
            open_turn: None,
            scores: BTreeMap::new(),
            answer_ids: HashMap::new(),
            report: None,
            last_turn: TurnId(0),
            last_answer: AnswerId(0),
        }
    }

    /// The state of a log, folded from the start.
    pub fn fold<'a>(log: impl IntoIterator<Item = &'a LogEntry>) -> Self {
        let mut state = Self::new();
        for entry in log {
            state.apply(entry);
        }
        state
    }

    /// Folds one durable event into the state.
    pub fn apply(&mut self, entry: &LogEntry) {
        debug_assert_eq!(entry.seq, self.head + 1, "log entries apply in order");
        self.head = entry.seq;
        match &entry.record {
            Record::TurnStarted { turn_id, kind, question_id, key_point, expects, voice } => {
                if self.status == Status::Created {
                    self.status = Status::Live;
                    self.started_at = Some(entry.at);
                    self.voice = voice.unwrap_or_default();
                }
                self.last_turn = self.last_turn.max(*turn_id);
                self.open_turn = Some(Turn {
                    turn_id: *turn_id,
                    kind: *kind,
                    question_id: question_id.clone(),
                    key_point: key_point.clone(),
                    expects: expects.clone(),
                    text: String::new(),
                    status: None,
                    started_at: Some(entry.at),
                    ended_at: None,
                });
            }
            Record::TurnDone { turn_id, text, status } => {
                if let Some(mut turn) = self.open_turn.take_if(|t| t.turn_id == *turn_id) {
                    turn.text.clone_from(text);
                    turn.status = Some(*status);
                    turn.ended_at = Some(entry.at);
                    self.transcript.push(Entry::Turn(turn));
                }
            }
            Record::AnswerReceived { answer_id, client_id, question_id, answer, spoken } => {
                self.last_answer = self.last_answer.max(*answer_id);
                if let Some(id) = client_id {
                    self.answer_ids.insert(id.clone(), Acknowledged { seq: entry.seq, answer_id: *answer_id });
                }
                self.transcript.push(Entry::Answer {
                    answer_id: *answer_id,
                    question_id: question_id.clone(),
                    answer: answer.clone(),
                    spoken: spoken.clone(),
                    at: Some(entry.at),
                });
            }
            Record::TurnTruncated { turn_id, text, .. } => {
                if let Some(turn) = self.finished_turn_mut(*turn_id) {
                    turn.text.clone_from(text);
                }
            }
            Record::ScoreUpdated { answer_id, scoring, .. } => {
                self.scores.insert(*answer_id, scoring.clone());
            }
            Record::UsageLow { .. } => self.usage_low = true,
            Record::SessionEnding { reason } => self.status = Status::Ending { reason: *reason, since: entry.at },
            Record::ReportReady { report } => self.report = Some((**report).clone()),
            Record::SessionEnded { reason } => {
                self.status = Status::Ended(*reason);
                self.ended_at = Some(entry.at);
                self.open_turn = None;
            }
        }
    }

    /// A finished turn of the transcript.
    pub fn finished_turn(&self, turn_id: TurnId) -> Option<&Turn> {
        self.transcript.iter().rev().find_map(|e| match e {
            Entry::Turn(turn) if turn.turn_id == turn_id => Some(turn),
            _ => None,
        })
    }

    fn finished_turn_mut(&mut self, turn_id: TurnId) -> Option<&mut Turn> {
        self.transcript.iter_mut().rev().find_map(|e| match e {
            Entry::Turn(turn) if turn.turn_id == turn_id => Some(turn),
            _ => None,
        })
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
    pub fn answer_so_far(&self, question_id: &str, answer_id: AnswerId) -> Option<AnswerContent> {
        let parts: Vec<&AnswerContent> = self
            .transcript
            .iter()
            .filter_map(|e| match e {
                Entry::Answer { answer_id: id, question_id: q, answer, .. } if q == question_id && *id <= answer_id => {
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
    pub fn unscored(&self) -> impl Iterator<Item = (AnswerId, &str, &AnswerContent)> {
        self.transcript.iter().filter_map(|e| match e {
            Entry::Answer { answer_id, question_id, answer, .. } if !self.scores.contains_key(answer_id) => {
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

    /// Milliseconds of interview at `now`: from `session.start`, standing still at the end.
    pub fn elapsed_ms(&self, now: Timestamp) -> u64 {
        match (self.started_at, self.status) {
            (None, _) => 0,
            (Some(start), Status::Ended(_)) => self.ended_at.unwrap_or(start).ms_since(start),
            (Some(start), _) => now.ms_since(start),
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
    scores: &BTreeMap<AnswerId, Scoring>,
) -> (Vec<DimensionScore>, Option<f32>) {
    running_scores_by(plan, transcript, |id| scores.get(&id))
}

/// [`running_scores`] with the scores looked up by `score_of` (the stored ones and one about
/// to be stored, without copying the others).
pub(super) fn running_scores_by<'a>(
    plan: &Plan,
    transcript: &'a [Entry],
    score_of: impl Fn(AnswerId) -> Option<&'a Scoring>,
) -> (Vec<DimensionScore>, Option<f32>) {
    let best = best_by(transcript, score_of);
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
    scores: &'a BTreeMap<AnswerId, Scoring>,
) -> BTreeMap<&'a str, &'a Scoring> {
    best_by(transcript, |id| scores.get(&id))
}

fn best_by<'a>(
    transcript: &'a [Entry],
    score_of: impl Fn(AnswerId) -> Option<&'a Scoring>,
) -> BTreeMap<&'a str, &'a Scoring> {
    let mut best: BTreeMap<&str, &Scoring> = BTreeMap::new();
    for entry in transcript {
        let Entry::Answer { answer_id, question_id, .. } = entry else {
            continue;
        };
        let Some(scoring) = score_of(*answer_id).filter(|s| s.overall().is_some()) else {
            continue;
        };
        let better = best.get(question_id.as_str()).is_none_or(|b| scoring.overall() >= b.overall());
        if better {
            best.insert(question_id, scoring);
        }
    }
    best
}
