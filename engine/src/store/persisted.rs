//! The byte format of stored sessions: versioned types of their own, converted explicitly
//! from and to the engine's types, encoded as MessagePack (maps with field names).
//!
//! Engine types change freely; these do not. A change of shape is a new version (`V2`) with a
//! conversion from the old one, so that data written by an older build still loads. Leaf
//! values that protocol v1 already freezes (turn kinds and statuses, end reasons, answer
//! contents, expected formats, scores, the report) are stored in their v1 shapes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use viva_protocol::rest::{Candidate, Report};
use viva_protocol::{AnswerContent, DimensionScore, EndReason, Expects, TurnKind, TurnStatus};

use super::{SessionMeta, StoreError};
use crate::core::{Entry, LogEntry, OpenTurn, Record, State, Status, Turn};
use crate::scorer::Scoring;
use crate::time::Timestamp;

/// Encodes a stored value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// Decodes a stored value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("cannot decode: {e}")))
}

/// A session's metadata.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum MetaBytes {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// Owner.
        user_id: String,
        /// Plan id.
        plan_id: String,
        /// Candidate profile (protocol v1 shape).
        candidate: Candidate,
        /// Milliseconds since the epoch.
        created_at: u64,
        /// Time budget in milliseconds.
        time_limit_ms: u64,
    },
}

impl MetaBytes {
    /// The stored form of `meta`.
    pub fn from_meta(meta: &SessionMeta) -> Self {
        Self::V1 {
            user_id: meta.user_id.clone(),
            plan_id: meta.plan_id.clone(),
            candidate: meta.candidate.clone(),
            created_at: meta.created_at.0,
            time_limit_ms: meta.time_limit_ms,
        }
    }

    /// Back to the engine's type.
    pub fn into_meta(self, session_id: &str) -> SessionMeta {
        match self {
            Self::V1 { user_id, plan_id, candidate, created_at, time_limit_ms } => SessionMeta {
                session_id: session_id.to_owned(),
                user_id,
                plan_id,
                candidate,
                created_at: Timestamp(created_at),
                time_limit_ms,
            },
        }
    }
}

/// One log entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum EntryBytes {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// Sequence number.
        seq: u64,
        /// Milliseconds since the epoch.
        at: u64,
        /// What happened.
        record: RecordV1,
    },
}

/// A durable record, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum RecordV1 {
    /// See [`Record::TurnStarted`].
    TurnStarted {
        /// Turn id.
        turn_id: u32,
        /// Kind.
        kind: TurnKind,
        /// Question.
        question_id: Option<String>,
        /// Key point probed.
        key_point: Option<String>,
        /// Expected answer.
        expects: Option<Expects>,
    },
    /// See [`Record::TurnDone`].
    TurnDone {
        /// Turn id.
        turn_id: u32,
        /// Whole text.
        text: String,
        /// How it ended.
        status: TurnStatus,
    },
    /// See [`Record::AnswerReceived`].
    AnswerReceived {
        /// Answer id.
        answer_id: u32,
        /// Client message id.
        client_id: Option<String>,
        /// Question.
        question_id: String,
        /// The answer.
        answer: AnswerContent,
    },
    /// See [`Record::ScoreUpdated`].
    ScoreUpdated {
        /// Answer id.
        answer_id: u32,
        /// Scores and evidence.
        scoring: ScoringV1,
        /// Running scores after it.
        running: Vec<DimensionScore>,
        /// Running overall after it.
        overall: Option<f32>,
    },
    /// See [`Record::ReportReady`].
    ReportReady {
        /// The report (protocol v1 shape).
        report: Box<Report>,
    },
    /// See [`Record::SessionEnded`].
    SessionEnded {
        /// Why.
        reason: EndReason,
    },
}

/// A scoring, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoringV1 {
    /// Per dimension.
    pub dimensions: Vec<DimensionScore>,
    /// Key points covered.
    pub key_points_hit: Vec<String>,
    /// Key points missed.
    pub key_points_missed: Vec<String>,
    /// Observations.
    pub notes: Vec<String>,
    /// `name/version` of the scorer.
    pub scored_by: String,
}

impl From<&Scoring> for ScoringV1 {
    fn from(s: &Scoring) -> Self {
        Self {
            dimensions: s.dimensions.clone(),
            key_points_hit: s.key_points_hit.clone(),
            key_points_missed: s.key_points_missed.clone(),
            notes: s.notes.clone(),
            scored_by: s.scored_by.clone(),
        }
    }
}

impl From<ScoringV1> for Scoring {
    fn from(s: ScoringV1) -> Self {
        Self {
            dimensions: s.dimensions,
            key_points_hit: s.key_points_hit,
            key_points_missed: s.key_points_missed,
            notes: s.notes,
            scored_by: s.scored_by,
        }
    }
}

impl From<&LogEntry> for EntryBytes {
    fn from(entry: &LogEntry) -> Self {
        let record = match &entry.record {
            Record::TurnStarted { turn_id, kind, question_id, key_point, expects } => RecordV1::TurnStarted {
                turn_id: *turn_id,
                kind: *kind,
                question_id: question_id.clone(),
                key_point: key_point.clone(),
                expects: expects.clone(),
            },
            Record::TurnDone { turn_id, text, status } => {
                RecordV1::TurnDone { turn_id: *turn_id, text: text.clone(), status: *status }
            }
            Record::AnswerReceived { answer_id, client_id, question_id, answer } => RecordV1::AnswerReceived {
                answer_id: *answer_id,
                client_id: client_id.clone(),
                question_id: question_id.clone(),
                answer: answer.clone(),
            },
            Record::ScoreUpdated { answer_id, scoring, running, overall } => RecordV1::ScoreUpdated {
                answer_id: *answer_id,
                scoring: scoring.into(),
                running: running.clone(),
                overall: *overall,
            },
            Record::ReportReady { report } => RecordV1::ReportReady { report: report.clone() },
            Record::SessionEnded { reason } => RecordV1::SessionEnded { reason: *reason },
        };
        Self::V1 { seq: entry.seq, at: entry.at.0, record }
    }
}

impl From<EntryBytes> for LogEntry {
    fn from(bytes: EntryBytes) -> Self {
        let EntryBytes::V1 { seq, at, record } = bytes;
        let record = match record {
            RecordV1::TurnStarted { turn_id, kind, question_id, key_point, expects } => {
                Record::TurnStarted { turn_id, kind, question_id, key_point, expects }
            }
            RecordV1::TurnDone { turn_id, text, status } => Record::TurnDone { turn_id, text, status },
            RecordV1::AnswerReceived { answer_id, client_id, question_id, answer } => {
                Record::AnswerReceived { answer_id, client_id, question_id, answer }
            }
            RecordV1::ScoreUpdated { answer_id, scoring, running, overall } => {
                Record::ScoreUpdated { answer_id, scoring: scoring.into(), running, overall }
            }
            RecordV1::ReportReady { report } => Record::ReportReady { report },
            RecordV1::SessionEnded { reason } => Record::SessionEnded { reason },
        };
        LogEntry { seq, at: Timestamp(at), record }
    }
}

/// A snapshot of a session's state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum SnapshotBytes {
    /// Version 1.
    #[serde(rename = "1")]
    V1(StateV1),
}

/// A session's state, version 1.
#[derive(Debug, Serialize, Deserialize)]
pub struct StateV1 {
    /// `None` until started, then whether ended and why.
    started_at: Option<u64>,
    ended: Option<(EndReason, u64)>,
    head: u64,
    transcript: Vec<EntryV1>,
    open_turn: Option<OpenTurnV1>,
    scores: BTreeMap<u32, ScoringV1>,
    answer_ids: HashMap<String, (u64, u32)>,
    report: Option<Box<Report>>,
    turns: u32,
    answers: u32,
}

/// A transcript entry, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum EntryV1 {
    Turn(TurnV1),
    Answer { answer_id: u32, question_id: String, answer: AnswerContent },
}

/// A turn, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct TurnV1 {
    turn_id: u32,
    kind: TurnKind,
    question_id: Option<String>,
    key_point: Option<String>,
    expects: Option<Expects>,
    text: String,
    status: Option<TurnStatus>,
}

/// The open turn, version 1: its text so far is kept, so a recovered turn closes with it.
#[derive(Debug, Serialize, Deserialize)]
struct OpenTurnV1 {
    turn: TurnV1,
    next_index: u32,
    last_activity: u64,
}

fn turn_v1(t: &Turn) -> TurnV1 {
    TurnV1 {
        turn_id: t.turn_id,
        kind: t.kind,
        question_id: t.question_id.clone(),
        key_point: t.key_point.clone(),
        expects: t.expects.clone(),
        text: t.text.clone(),
        status: t.status,
    }
}

fn turn(t: TurnV1) -> Turn {
    Turn {
        turn_id: t.turn_id,
        kind: t.kind,
        question_id: t.question_id,
        key_point: t.key_point,
        expects: t.expects,
        text: t.text,
        status: t.status,
    }
}

impl From<&State> for SnapshotBytes {
    fn from(state: &State) -> Self {
        // Waiting for scores before the end is not durable: a snapshot taken then is live.
        let ended = match state.status {
            Status::Ended(reason) => Some((reason, state.ended_at.map_or(0, |t| t.0))),
            Status::Created | Status::Live | Status::Ending { .. } => None,
        };
        Self::V1(StateV1 {
            started_at: state.started_at.map(|t| t.0),
            ended,
            head: state.head,
            transcript: state
                .transcript
                .iter()
                .map(|e| match e {
                    Entry::Turn(t) => EntryV1::Turn(turn_v1(t)),
                    Entry::Answer { answer_id, question_id, answer } => EntryV1::Answer {
                        answer_id: *answer_id,
                        question_id: question_id.clone(),
                        answer: answer.clone(),
                    },
                })
                .collect(),
            open_turn: state.open_turn.as_ref().map(|o| OpenTurnV1 {
                turn: turn_v1(&o.turn),
                next_index: o.next_index,
                last_activity: o.last_activity.0,
            }),
            scores: state.scores.iter().map(|(id, s)| (*id, s.into())).collect(),
            answer_ids: state.answer_ids.clone(),
            report: state.report.clone().map(Box::new),
            turns: state.turns,
            answers: state.answers,
        })
    }
}

impl From<SnapshotBytes> for State {
    fn from(bytes: SnapshotBytes) -> Self {
        let SnapshotBytes::V1(s) = bytes;
        let status = match (s.ended, s.started_at) {
            (Some((reason, _)), _) => Status::Ended(reason),
            (None, Some(_)) => Status::Live,
            (None, None) => Status::Created,
        };
        State {
            status,
            started_at: s.started_at.map(Timestamp),
            ended_at: s.ended.map(|(_, at)| Timestamp(at)),
            head: s.head,
            transcript: s
                .transcript
                .into_iter()
                .map(|e| match e {
                    EntryV1::Turn(t) => Entry::Turn(turn(t)),
                    EntryV1::Answer { answer_id, question_id, answer } => {
                        Entry::Answer { answer_id, question_id, answer }
                    }
                })
                .collect(),
            open_turn: s.open_turn.map(|o| OpenTurn {
                turn: turn(o.turn),
                next_index: o.next_index,
                last_activity: Timestamp(o.last_activity),
            }),
            scores: s.scores.into_iter().map(|(id, v)| (id, v.into())).collect(),
            answer_ids: s.answer_ids,
            report: s.report.map(|r| *r),
            turns: s.turns,
            answers: s.answers,
        }
    }
}
