//! The byte format of stored sessions: versioned types of their own, converted explicitly
//! from and to the engine's types, encoded as MessagePack (maps with field names).
//!
//! Engine types change freely; these do not. A change of shape is a new version (`V2`) with a
//! conversion from the old one, so that data written by an older build still loads (the
//! fixtures in `fixtures/v1/` were written by such a build; `fixtures/issue-15/` hold the
//! optional fields added by issue 15). Leaf values that protocol v1
//! already freezes (turn kinds and statuses, end reasons, answer contents, expected formats,
//! dimension scores) are stored in their v1 shapes; everything else has a type here.
//!
//! Versions:
//! - snapshots: `V1` (until issue 11: kept the open turn's text, had no ending status) is read
//!   and converted; `V2` is written (the state is the fold of the log: no text of the open
//!   turn, the durable ending).
//! - log entries: `V1`; the record kinds `session_ending` and `turn_truncated`, and the optional
//!   fields `voice` (of `turn_started`) and `spoken` (of `answer_received`) were added (old data
//!   never has them; they are left out when empty, so text sessions are stored as before).
//! - snapshots `V2` gained the optional `voice` and the answers' `spoken` the same way.
//! - log entries gained the kind `usage_low`, snapshots `V2` the optional `usage_low` (metering).
//! - snapshots `V2`: transcript turns gained the optional `started_at`/`ended_at`, answers the
//!   optional `at` (issue 15: entries carry their times). A snapshot stored before has none: its
//!   entries load without times (`None`), the log's later entries with theirs.
//! - reports (in `report_ready` records and snapshots) gained the optional `questions` (the
//!   timing per question); older reports load with none.
//! - progress summaries (a user's progress record, one per finished session): `V1`.
//! - webhook deliveries (the outbox, `store::webhooks`): `V1`.
//! - metadata: `V1`; its candidate gained the optional `focus` (an adaptive session's targets,
//!   issue 15), reports the optional `revisited`.
//! - résumés (per user): `V1`.
//! - archives (a finished session's whole log, compacted on Redis): `1` (the archive's field
//!   `v`): its `data` is the entries' [`EntryBytes`], the stream's encoding, as one MessagePack
//!   array, deflated.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use viva_protocol::server::TimedWord;
use viva_protocol::{AnswerContent, DimensionScore, EndReason, Expects, TurnKind, TurnStatus, Voice};

use super::webhooks::{PendingWebhook, WebhookMessage};
use super::{SessionMeta, StoreError};
use crate::core::{
    Acknowledged, AnswerEvidence, AnswerId, Candidate, Entry, Focus, LogEntry, QuestionTiming, Record, Report,
    Revisited, Scoring, SessionId, Spoken, State, Status, Turn, TurnId, UserId,
};
use crate::progress::{QuestionProgress, SessionProgress};
use crate::resume::Resume;
use crate::time::Timestamp;

/// Encodes a stored value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// Decodes a stored value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("cannot decode: {e}")))
}

/// The format of archives written ([`encode_archive`]), kept beside their data.
pub const ARCHIVE_VERSION: &str = "1";

/// Most bytes an archive may inflate to: a finished interview's log is tens of KB, so more is
/// corrupt data, refused before it takes the memory.
pub const MAX_ARCHIVE_BYTES: u64 = 16 * 1024 * 1024;

/// A whole log as an archive's data ([`ARCHIVE_VERSION`] 1): the entries as one MessagePack
/// array of [`EntryBytes`], deflated.
pub fn encode_archive(entries: &[LogEntry]) -> Result<Vec<u8>, StoreError> {
    use std::io::Write;
    let bytes = encode(&entries.iter().map(EntryBytes::from).collect::<Vec<_>>())?;
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater
        .write_all(&bytes)
        .and_then(|()| deflater.finish())
        .map_err(|e| StoreError::Corrupt(format!("cannot deflate: {e}")))
}

/// The entries of an archive written by [`encode_archive`] in format `version`: a whole log,
/// seqs 1 to n.
pub fn decode_archive(version: &str, data: &[u8]) -> Result<Vec<LogEntry>, StoreError> {
    use std::io::Read;
    if version != ARCHIVE_VERSION {
        return Err(StoreError::Corrupt(format!("archive version `{version}`")));
    }
    let mut bytes = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(MAX_ARCHIVE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::Corrupt(format!("cannot inflate the archive: {e}")))?;
    if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(StoreError::Corrupt(format!("archive inflates past {MAX_ARCHIVE_BYTES} bytes")));
    }
    let entries: Vec<LogEntry> = decode::<Vec<EntryBytes>>(&bytes)?.into_iter().map(LogEntry::from).collect();
    match entries.iter().zip(1..).find(|(entry, seq)| entry.seq != *seq) {
        Some((entry, seq)) => Err(StoreError::Corrupt(format!("archived entry {} where {seq} belongs", entry.seq))),
        None => Ok(entries),
    }
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
        /// Candidate profile.
        candidate: CandidateV1,
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
            user_id: meta.user_id.to_string(),
            plan_id: meta.plan_id.clone(),
            candidate: CandidateV1 {
                role: meta.candidate.role.clone(),
                level: meta.candidate.level.clone(),
                resume_text: meta.candidate.resume_text.clone(),
                focus: meta
                    .candidate
                    .focus
                    .iter()
                    .map(|f| FocusV1 { question_id: f.question_id.clone(), key_point: f.key_point.clone() })
                    .collect(),
            },
            created_at: meta.created_at.0,
            time_limit_ms: meta.time_limit_ms,
        }
    }

    /// Back to the engine's type.
    pub fn into_meta(self, session_id: &SessionId) -> SessionMeta {
        match self {
            Self::V1 { user_id, plan_id, candidate, created_at, time_limit_ms } => SessionMeta {
                session_id: session_id.clone(),
                user_id: UserId::new(user_id),
                plan_id,
                candidate: Candidate {
                    role: candidate.role,
                    level: candidate.level,
                    resume_text: candidate.resume_text,
                    focus: candidate
                        .focus
                        .into_iter()
                        .map(|f| Focus { question_id: f.question_id, key_point: f.key_point })
                        .collect(),
                },
                created_at: Timestamp(created_at),
                time_limit_ms,
            },
        }
    }
}

/// A candidate profile, version 1 (the shape of protocol v1's `Candidate`).
#[derive(Debug, Serialize, Deserialize)]
pub struct CandidateV1 {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    resume_text: Option<String>,
    /// An adaptive session's targeted key points (issue 15); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    focus: Vec<FocusV1>,
}

/// A key point an adaptive session targets.
#[derive(Debug, Serialize, Deserialize)]
pub struct FocusV1 {
    question_id: String,
    key_point: String,
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
        /// The ways the session is spoken (its first turn only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<Voice>,
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
        /// How a spoken answer was heard.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spoken: Option<SpokenV1>,
    },
    /// See [`Record::TurnTruncated`].
    TurnTruncated {
        /// Turn id.
        turn_id: u32,
        /// Text as heard.
        text: String,
        /// Where playback stopped.
        audio_end_ms: u64,
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
    /// See [`Record::UsageLow`].
    UsageLow {
        /// Seconds left.
        remaining_s: u64,
    },
    /// See [`Record::SessionEnding`].
    SessionEnding {
        /// Why.
        reason: EndReason,
    },
    /// See [`Record::ReportReady`].
    ReportReady {
        /// The report.
        report: Box<ReportV1>,
    },
    /// See [`Record::SessionEnded`].
    SessionEnded {
        /// Why.
        reason: EndReason,
    },
}

/// How a spoken answer was heard, version 1 (words in protocol v1's shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpokenV1 {
    words: Vec<TimedWord>,
    audio_ms: u64,
}

impl From<&Spoken> for SpokenV1 {
    fn from(s: &Spoken) -> Self {
        Self { words: s.words.clone(), audio_ms: s.audio_ms }
    }
}

impl From<SpokenV1> for Spoken {
    fn from(s: SpokenV1) -> Self {
        Self { words: s.words, audio_ms: s.audio_ms }
    }
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
            Record::TurnStarted { turn_id, kind, question_id, key_point, expects, voice } => RecordV1::TurnStarted {
                turn_id: turn_id.0,
                kind: *kind,
                question_id: question_id.clone(),
                key_point: key_point.clone(),
                expects: expects.clone(),
                voice: *voice,
            },
            Record::TurnDone { turn_id, text, status } => {
                RecordV1::TurnDone { turn_id: turn_id.0, text: text.clone(), status: *status }
            }
            Record::AnswerReceived { answer_id, client_id, question_id, answer, spoken } => RecordV1::AnswerReceived {
                answer_id: answer_id.0,
                client_id: client_id.clone(),
                question_id: question_id.clone(),
                answer: answer.clone(),
                spoken: spoken.as_ref().map(SpokenV1::from),
            },
            Record::TurnTruncated { turn_id, text, audio_end_ms } => {
                RecordV1::TurnTruncated { turn_id: turn_id.0, text: text.clone(), audio_end_ms: *audio_end_ms }
            }
            Record::ScoreUpdated { answer_id, scoring, running, overall } => RecordV1::ScoreUpdated {
                answer_id: answer_id.0,
                scoring: scoring.into(),
                running: running.clone(),
                overall: *overall,
            },
            Record::SessionEnding { reason } => RecordV1::SessionEnding { reason: *reason },
            Record::UsageLow { remaining_s } => RecordV1::UsageLow { remaining_s: *remaining_s },
            Record::ReportReady { report } => RecordV1::ReportReady { report: Box::new(report.as_ref().into()) },
            Record::SessionEnded { reason } => RecordV1::SessionEnded { reason: *reason },
        };
        Self::V1 { seq: entry.seq, at: entry.at.0, record }
    }
}

impl From<EntryBytes> for LogEntry {
    fn from(bytes: EntryBytes) -> Self {
        let EntryBytes::V1 { seq, at, record } = bytes;
        let record = match record {
            RecordV1::TurnStarted { turn_id, kind, question_id, key_point, expects, voice } => {
                Record::TurnStarted { turn_id: TurnId(turn_id), kind, question_id, key_point, expects, voice }
            }
            RecordV1::TurnDone { turn_id, text, status } => Record::TurnDone { turn_id: TurnId(turn_id), text, status },
            RecordV1::AnswerReceived { answer_id, client_id, question_id, answer, spoken } => Record::AnswerReceived {
                answer_id: AnswerId(answer_id),
                client_id,
                question_id,
                answer,
                spoken: spoken.map(Spoken::from),
            },
            RecordV1::TurnTruncated { turn_id, text, audio_end_ms } => {
                Record::TurnTruncated { turn_id: TurnId(turn_id), text, audio_end_ms }
            }
            RecordV1::ScoreUpdated { answer_id, scoring, running, overall } => {
                Record::ScoreUpdated { answer_id: AnswerId(answer_id), scoring: scoring.into(), running, overall }
            }
            RecordV1::SessionEnding { reason } => Record::SessionEnding { reason },
            RecordV1::UsageLow { remaining_s } => Record::UsageLow { remaining_s },
            RecordV1::ReportReady { report } => Record::ReportReady { report: Box::new((*report).into()) },
            RecordV1::SessionEnded { reason } => Record::SessionEnded { reason },
        };
        LogEntry { seq, at: Timestamp(at), record }
    }
}

/// A report, version 1 (the shape of protocol v1's `Report`, which it was stored as before).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportV1 {
    session_id: String,
    plan: PlanStampV1,
    scorer: StampV1,
    generated_at: u64,
    ended_reason: EndReason,
    overall: Option<f32>,
    dimensions: Vec<DimensionScore>,
    answers: Vec<AnswerEvidenceV1>,
    strengths: Vec<String>,
    practise: Vec<String>,
    /// Timing per question (issue 15); absent in reports stored before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    questions: Vec<QuestionTimingV1>,
    /// An adaptive session's targeted key points (issue 15); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revisited: Vec<RevisitedV1>,
}

/// A targeted key point in a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RevisitedV1 {
    question_id: String,
    key_point: String,
    description: String,
    answered: bool,
    improved: bool,
}

/// How long one question took, as a report stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct QuestionTimingV1 {
    question_id: String,
    budget_s: u64,
    answers: u32,
    to_start_ms: Option<u64>,
    to_finish_ms: Option<u64>,
    spent_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audio_ms: Option<u64>,
}

impl From<&QuestionTiming> for QuestionTimingV1 {
    fn from(q: &QuestionTiming) -> Self {
        Self {
            question_id: q.question_id.clone(),
            budget_s: q.budget_s,
            answers: q.answers,
            to_start_ms: q.to_start_ms,
            to_finish_ms: q.to_finish_ms,
            spent_ms: q.spent_ms,
            audio_ms: q.audio_ms,
        }
    }
}

impl From<QuestionTimingV1> for QuestionTiming {
    fn from(q: QuestionTimingV1) -> Self {
        Self {
            question_id: q.question_id,
            budget_s: q.budget_s,
            answers: q.answers,
            to_start_ms: q.to_start_ms,
            to_finish_ms: q.to_finish_ms,
            spent_ms: q.spent_ms,
            audio_ms: q.audio_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PlanStampV1 {
    id: String,
    version: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StampV1 {
    name: String,
    version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AnswerEvidenceV1 {
    answer_id: u32,
    question_id: String,
    question: String,
    dimensions: Vec<DimensionScore>,
    overall: Option<f32>,
    key_points_hit: Vec<String>,
    key_points_missed: Vec<String>,
    notes: Vec<String>,
    scored_by: String,
}

impl From<&Report> for ReportV1 {
    fn from(r: &Report) -> Self {
        let (name, version) = r.scorer.split_once('/').unwrap_or((&r.scorer, ""));
        Self {
            session_id: r.session_id.to_string(),
            plan: PlanStampV1 { id: r.plan_id.clone(), version: r.plan_version },
            scorer: StampV1 { name: name.to_owned(), version: version.to_owned() },
            generated_at: r.generated_at.0,
            ended_reason: r.ended_reason,
            overall: r.overall,
            dimensions: r.dimensions.clone(),
            answers: r
                .answers
                .iter()
                .map(|a| AnswerEvidenceV1 {
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
            strengths: r.strengths.clone(),
            practise: r.practise.clone(),
            questions: r.questions.iter().map(QuestionTimingV1::from).collect(),
            revisited: r
                .revisited
                .iter()
                .map(|v| RevisitedV1 {
                    question_id: v.question_id.clone(),
                    key_point: v.key_point.clone(),
                    description: v.description.clone(),
                    answered: v.answered,
                    improved: v.improved,
                })
                .collect(),
        }
    }
}

impl From<ReportV1> for Report {
    fn from(r: ReportV1) -> Self {
        let scorer =
            if r.scorer.version.is_empty() { r.scorer.name } else { format!("{}/{}", r.scorer.name, r.scorer.version) };
        Self {
            session_id: SessionId::new(r.session_id),
            plan_id: r.plan.id,
            plan_version: r.plan.version,
            scorer,
            generated_at: Timestamp(r.generated_at),
            ended_reason: r.ended_reason,
            overall: r.overall,
            dimensions: r.dimensions,
            answers: r
                .answers
                .into_iter()
                .map(|a| AnswerEvidence {
                    answer_id: AnswerId(a.answer_id),
                    question_id: a.question_id,
                    question: a.question,
                    dimensions: a.dimensions,
                    overall: a.overall,
                    key_points_hit: a.key_points_hit,
                    key_points_missed: a.key_points_missed,
                    notes: a.notes,
                    scored_by: a.scored_by,
                })
                .collect(),
            strengths: r.strengths,
            practise: r.practise,
            questions: r.questions.into_iter().map(QuestionTiming::from).collect(),
            revisited: r
                .revisited
                .into_iter()
                .map(|v| Revisited {
                    question_id: v.question_id,
                    key_point: v.key_point,
                    description: v.description,
                    answered: v.answered,
                    improved: v.improved,
                })
                .collect(),
        }
    }
}

/// One finished session's summary in its user's progress record (issue 15).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum ProgressBytes {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// Session id.
        session_id: String,
        /// Plan id.
        plan_id: String,
        /// When its report was built (ms).
        ended_at: u64,
        /// Overall score.
        overall: Option<f32>,
        /// Final score per dimension.
        dimensions: Vec<DimensionScore>,
        /// Per question.
        questions: Vec<QuestionProgressV1>,
    },
}

/// One question of a session's summary, version 1.
#[derive(Debug, Serialize, Deserialize)]
pub struct QuestionProgressV1 {
    question_id: String,
    hit: Vec<String>,
    missed: Vec<String>,
    to_start_ms: Option<u64>,
    to_finish_ms: Option<u64>,
    spent_ms: Option<u64>,
    budget_s: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audio_ms: Option<u64>,
}

impl From<&SessionProgress> for ProgressBytes {
    fn from(s: &SessionProgress) -> Self {
        Self::V1 {
            session_id: s.session_id.to_string(),
            plan_id: s.plan_id.clone(),
            ended_at: s.ended_at.0,
            overall: s.overall,
            dimensions: s.dimensions.clone(),
            questions: s
                .questions
                .iter()
                .map(|q| QuestionProgressV1 {
                    question_id: q.question_id.clone(),
                    hit: q.hit.clone(),
                    missed: q.missed.clone(),
                    to_start_ms: q.to_start_ms,
                    to_finish_ms: q.to_finish_ms,
                    spent_ms: q.spent_ms,
                    budget_s: q.budget_s,
                    audio_ms: q.audio_ms,
                })
                .collect(),
        }
    }
}

impl From<ProgressBytes> for SessionProgress {
    fn from(bytes: ProgressBytes) -> Self {
        let ProgressBytes::V1 { session_id, plan_id, ended_at, overall, dimensions, questions } = bytes;
        Self {
            session_id: SessionId::new(session_id),
            plan_id,
            ended_at: Timestamp(ended_at),
            overall,
            dimensions,
            questions: questions
                .into_iter()
                .map(|q| QuestionProgress {
                    question_id: q.question_id,
                    hit: q.hit,
                    missed: q.missed,
                    to_start_ms: q.to_start_ms,
                    to_finish_ms: q.to_finish_ms,
                    spent_ms: q.spent_ms,
                    budget_s: q.budget_s,
                    audio_ms: q.audio_ms,
                })
                .collect(),
        }
    }
}

/// A snapshot of a session's state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum SnapshotBytes {
    /// Version 1: read, never written.
    #[serde(rename = "1")]
    V1(StateV1),
    /// Version 2.
    #[serde(rename = "2")]
    V2(StateV2),
}

/// A session's state, version 1: the open turn kept its text so far, and an ending session
/// was stored as live (the ending was not durable).
#[derive(Debug, Serialize, Deserialize)]
pub struct StateV1 {
    started_at: Option<u64>,
    ended: Option<(EndReason, u64)>,
    head: u64,
    transcript: Vec<EntryV1>,
    open_turn: Option<OpenTurnV1>,
    scores: BTreeMap<u32, ScoringV1>,
    answer_ids: HashMap<String, (u64, u32)>,
    report: Option<Box<ReportV1>>,
    turns: u32,
    answers: u32,
}

/// The open turn, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct OpenTurnV1 {
    turn: TurnV1,
    next_index: u32,
    last_activity: u64,
}

/// A session's state, version 2: exactly the fold of its log.
#[derive(Debug, Serialize, Deserialize)]
pub struct StateV2 {
    started_at: Option<u64>,
    /// Set once `session.ending` is stored: why, and when.
    ending: Option<(EndReason, u64)>,
    /// Set once `session.ended` is stored: why, and when.
    ended: Option<(EndReason, u64)>,
    head: u64,
    transcript: Vec<EntryV1>,
    /// The turn in flight (its text is empty: what was said so far is not durable).
    open_turn: Option<TurnV1>,
    scores: BTreeMap<u32, ScoringV1>,
    /// Client id → (seq of `answer.received`, answer id).
    answer_ids: HashMap<String, (u64, u32)>,
    report: Option<Box<ReportV1>>,
    last_turn: u32,
    last_answer: u32,
    /// The ways the session is spoken.
    #[serde(default, skip_serializing_if = "is_text_only")]
    voice: Voice,
    /// `usage.low` was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    usage_low: bool,
}

fn is_text_only(voice: &Voice) -> bool {
    *voice == Voice::default()
}

/// A transcript entry, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum EntryV1 {
    Turn(TurnV1),
    Answer {
        answer_id: u32,
        question_id: String,
        answer: AnswerContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spoken: Option<SpokenV1>,
        /// When it was accepted (ms); absent in snapshots stored before issue 15.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
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
    /// When it started and ended (ms); absent in snapshots stored before issue 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended_at: Option<u64>,
}

impl From<&Turn> for TurnV1 {
    fn from(t: &Turn) -> Self {
        Self {
            turn_id: t.turn_id.0,
            kind: t.kind,
            question_id: t.question_id.clone(),
            key_point: t.key_point.clone(),
            expects: t.expects.clone(),
            text: t.text.clone(),
            status: t.status,
            started_at: t.started_at.map(|t| t.0),
            ended_at: t.ended_at.map(|t| t.0),
        }
    }
}

impl From<TurnV1> for Turn {
    fn from(t: TurnV1) -> Self {
        Self {
            turn_id: TurnId(t.turn_id),
            kind: t.kind,
            question_id: t.question_id,
            key_point: t.key_point,
            expects: t.expects,
            text: t.text,
            status: t.status,
            started_at: t.started_at.map(Timestamp),
            ended_at: t.ended_at.map(Timestamp),
        }
    }
}

impl From<&Entry> for EntryV1 {
    fn from(entry: &Entry) -> Self {
        match entry {
            Entry::Turn(t) => Self::Turn(t.into()),
            Entry::Answer { answer_id, question_id, answer, spoken, at } => Self::Answer {
                answer_id: answer_id.0,
                question_id: question_id.clone(),
                answer: answer.clone(),
                spoken: spoken.as_ref().map(SpokenV1::from),
                at: at.map(|t| t.0),
            },
        }
    }
}

impl From<EntryV1> for Entry {
    fn from(entry: EntryV1) -> Self {
        match entry {
            EntryV1::Turn(t) => Self::Turn(t.into()),
            EntryV1::Answer { answer_id, question_id, answer, spoken, at } => Self::Answer {
                answer_id: AnswerId(answer_id),
                question_id,
                answer,
                spoken: spoken.map(Spoken::from),
                at: at.map(Timestamp),
            },
        }
    }
}

impl From<&State> for SnapshotBytes {
    fn from(state: &State) -> Self {
        let (ending, ended) = match state.status {
            Status::Created | Status::Live => (None, None),
            Status::Ending { reason, since } => (Some((reason, since.0)), None),
            Status::Ended(reason) => (None, Some((reason, state.ended_at.map_or(0, |t| t.0)))),
        };
        Self::V2(StateV2 {
            started_at: state.started_at.map(|t| t.0),
            ending,
            ended,
            head: state.head,
            transcript: state.transcript.iter().map(EntryV1::from).collect(),
            open_turn: state.open_turn.as_ref().map(TurnV1::from),
            scores: state.scores.iter().map(|(id, s)| (id.0, s.into())).collect(),
            answer_ids: state.answer_ids.iter().map(|(id, a)| (id.clone(), (a.seq, a.answer_id.0))).collect(),
            report: state.report.as_ref().map(|r| Box::new(r.into())),
            last_turn: state.last_turn.0,
            last_answer: state.last_answer.0,
            voice: state.voice,
            usage_low: state.usage_low,
        })
    }
}

impl From<SnapshotBytes> for State {
    fn from(bytes: SnapshotBytes) -> Self {
        let s = match bytes {
            SnapshotBytes::V2(s) => s,
            SnapshotBytes::V1(s) => s.into(),
        };
        let status = match (s.ended, s.ending, s.started_at) {
            (Some((reason, _)), ..) => Status::Ended(reason),
            (None, Some((reason, since)), _) => Status::Ending { reason, since: Timestamp(since) },
            (None, None, Some(_)) => Status::Live,
            (None, None, None) => Status::Created,
        };
        let answer_id = |(seq, id): (u64, u32)| Acknowledged { seq, answer_id: AnswerId(id) };
        State {
            status,
            started_at: s.started_at.map(Timestamp),
            voice: s.voice,
            usage_low: s.usage_low,
            ended_at: s.ended.map(|(_, at)| Timestamp(at)),
            head: s.head,
            transcript: s.transcript.into_iter().map(Entry::from).collect(),
            open_turn: s.open_turn.map(Turn::from),
            scores: s.scores.into_iter().map(|(id, v)| (AnswerId(id), v.into())).collect(),
            answer_ids: s.answer_ids.into_iter().map(|(id, a)| (id, answer_id(a))).collect(),
            report: s.report.map(|r| (*r).into()),
            last_turn: TurnId(s.last_turn),
            last_answer: AnswerId(s.last_answer),
        }
    }
}

/// Version 1 to 2: the open turn loses its text (a recovered turn closes without it, as after
/// a crash), and there was no durable ending.
impl From<StateV1> for StateV2 {
    fn from(s: StateV1) -> Self {
        Self {
            started_at: s.started_at,
            ending: None,
            ended: s.ended,
            head: s.head,
            transcript: s.transcript,
            open_turn: s.open_turn.map(|o| TurnV1 { text: String::new(), ..o.turn }),
            scores: s.scores,
            answer_ids: s.answer_ids,
            report: s.report,
            last_turn: s.turns,
            last_answer: s.answers,
            voice: Voice::default(),
            usage_low: false,
        }
    }
}

/// A user's résumé.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum ResumeBytes {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// Normalized text, within the engine's limit.
        text: String,
        /// Whether it was cut to fit.
        truncated: bool,
        /// The file's name.
        file_name: String,
        /// The file's media type.
        media_type: String,
        /// The file's size in bytes.
        size_bytes: u64,
        /// Milliseconds since the epoch.
        uploaded_at: u64,
    },
}

impl From<&Resume> for ResumeBytes {
    fn from(resume: &Resume) -> Self {
        Self::V1 {
            text: resume.text.clone(),
            truncated: resume.truncated,
            file_name: resume.file_name.clone(),
            media_type: resume.media_type.clone(),
            size_bytes: resume.size_bytes,
            uploaded_at: resume.uploaded_at.0,
        }
    }
}

impl From<ResumeBytes> for Resume {
    fn from(stored: ResumeBytes) -> Self {
        match stored {
            ResumeBytes::V1 { text, truncated, file_name, media_type, size_bytes, uploaded_at } => {
                Self { text, truncated, file_name, media_type, size_bytes, uploaded_at: Timestamp(uploaded_at) }
            }
        }
    }
}

/// A webhook delivery waiting in a session's outbox (`store::webhooks`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum WebhookBytes {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// The event's seq.
        seq: u64,
        /// The endpoint's id.
        endpoint: String,
        /// The JSON body.
        body: String,
        /// Milliseconds since the epoch.
        created_at: u64,
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
        /// Given up on: when (ms) and why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dead: Option<(u64, String)>,
    },
}

impl WebhookBytes {
    /// A pending delivery (`dead`: given up on at that time, for that reason).
    pub fn new(pending: &PendingWebhook, dead: Option<(Timestamp, &str)>) -> Self {
        let m = &pending.message;
        Self::V1 {
            seq: m.seq,
            endpoint: m.endpoint.clone(),
            body: m.body.clone(),
            created_at: m.created_at.0,
            attempts: pending.attempts,
            last_error: pending.last_error.clone(),
            dead: dead.map(|(at, why)| (at.0, why.to_owned())),
        }
    }

    /// The delivery, and when and why it was given up on, if it was.
    pub fn into_pending(self) -> (PendingWebhook, Option<(Timestamp, String)>) {
        let Self::V1 { seq, endpoint, body, created_at, attempts, last_error, dead } = self;
        let message = WebhookMessage { seq, endpoint, body, created_at: Timestamp(created_at) };
        (PendingWebhook { message, attempts, last_error }, dead.map(|(at, why)| (Timestamp(at), why)))
    }
}

#[cfg(test)]
mod tests {
    //! Data written by the build before issue 11 (`fixtures/v1/`) loads into today's types.

    use super::*;

    fn log(bytes: &[u8]) -> Vec<LogEntry> {
        let blobs: Vec<Vec<u8>> = rmp_serde::from_slice(bytes).unwrap();
        blobs.iter().map(|b| LogEntry::from(decode::<EntryBytes>(b).unwrap())).collect()
    }

    fn snapshot(bytes: &[u8]) -> State {
        State::from(decode::<SnapshotBytes>(bytes).unwrap())
    }

    /// The fold of a log as a snapshot stored before issue 15 holds it: its transcript's
    /// entries without their times (the log has them; those snapshots did not keep them).
    fn without_entry_times(mut state: State) -> State {
        for entry in &mut state.transcript {
            match entry {
                Entry::Turn(turn) => (turn.started_at, turn.ended_at) = (None, None),
                Entry::Answer { at, .. } => *at = None,
            }
        }
        state
    }

    /// Every finished entry of the fold has its time from the log.
    fn has_entry_times(state: &State) -> bool {
        state.transcript.iter().all(|e| match e {
            Entry::Turn(turn) => turn.started_at.is_some() && turn.ended_at.is_some(),
            Entry::Answer { at, .. } => at.is_some(),
        })
    }

    #[test]
    fn v1_metadata_loads() {
        let meta =
            decode::<MetaBytes>(include_bytes!("fixtures/v1/meta.msgpack")).unwrap().into_meta(&"ses_fixture".into());
        assert_eq!(meta.user_id, "alice");
        assert_eq!(meta.plan_id, "test");
        assert_eq!(meta.created_at, Timestamp(999_000));
        assert_eq!(meta.time_limit_ms, 600_000);
        let candidate = Candidate {
            role: Some("backend".into()),
            level: Some("senior".into()),
            resume_text: Some("Rust, Redis, Kafka.".into()),
            focus: Vec::new(),
        };
        assert_eq!(meta.candidate, candidate);
        assert_eq!(
            decode::<MetaBytes>(&encode(&MetaBytes::from_meta(&meta)).unwrap())
                .unwrap()
                .into_meta(&"ses_fixture".into()),
            meta
        );
    }

    #[test]
    fn a_v1_snapshot_is_the_fold_of_the_v1_log() {
        // Mid-interview: the open turn's text so far was in V1 snapshots; it is not durable now.
        let live = log(include_bytes!("fixtures/v1/log-live.msgpack"));
        let state = snapshot(include_bytes!("fixtures/v1/snapshot-live.msgpack"));
        assert!(has_entry_times(&State::fold(&live)));
        // Nor was the open turn's start time kept.
        let mut folded = without_entry_times(State::fold(&live));
        folded.open_turn.as_mut().unwrap().started_at = None;
        assert_eq!(state, folded);
        assert_eq!(state.status, Status::Live);
        assert_eq!(state.open_turn.as_ref().map(|t| (t.kind, t.text.as_str())), Some((TurnKind::FollowUp, "")));
        // Ended, with the report.
        let ended = log(include_bytes!("fixtures/v1/log-ended.msgpack"));
        let state = snapshot(include_bytes!("fixtures/v1/snapshot-ended.msgpack"));
        assert_eq!(state, without_entry_times(State::fold(&ended)));
        assert_eq!(state.status, Status::Ended(EndReason::EndedByCandidate));
        let report = state.report.as_ref().unwrap();
        assert_eq!((report.scorer.as_str(), report.plan_id.as_str()), ("heuristic/1", "test"));
        assert_eq!(report.answers.len(), 2);
        assert_eq!(state.answer_ids.len(), 2);
    }

    #[test]
    fn a_v1_ending_snapshot_loads_as_live() {
        // V1 had no durable ending: the session was stored as live, and recovers as such.
        let state = snapshot(include_bytes!("fixtures/v1/snapshot-ending.msgpack"));
        assert_eq!(state.status, Status::Live);
        assert_eq!(state.last_answer, AnswerId(2));
        assert!(state.unscored().next().is_some());
    }

    #[test]
    fn today_s_forms_round_trip() {
        let ended = log(include_bytes!("fixtures/v1/log-ended.msgpack"));
        let again: Vec<LogEntry> = ended
            .iter()
            .map(|e| LogEntry::from(decode::<EntryBytes>(&encode(&EntryBytes::from(e)).unwrap()).unwrap()))
            .collect();
        assert_eq!(again, ended);
        let mut state = State::fold(&ended[..ended.len() - 2]);
        let ending = LogEntry {
            seq: state.head + 1,
            at: Timestamp(2_000_000),
            record: Record::SessionEnding { reason: EndReason::EndedByCandidate },
        };
        state.apply(&ending);
        let stored = encode(&SnapshotBytes::from(&state)).unwrap();
        assert_eq!(snapshot(&stored), state);
        let full = State::fold(&ended);
        assert!(has_entry_times(&full));
        assert_eq!(snapshot(&encode(&SnapshotBytes::from(&full)).unwrap()), full);
    }

    /// Writes `bytes` to `fixtures/issue-15/<name>` when `WRITE_FIXTURES` is set (once, by
    /// the build that introduced the forms), and returns the committed bytes.
    fn fixture(name: &str, bytes: Vec<u8>) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/fixtures/issue-15").join(name);
        if std::env::var_os("WRITE_FIXTURES").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn data_written_with_issue_15_s_optional_fields_loads() {
        // A snapshot whose transcript has its times, metadata with an adaptive session's focus,
        // a progress summary: written by the build that added them (`fixtures/issue-15/`).
        let ended = log(include_bytes!("fixtures/v1/log-ended.msgpack"));
        let state = State::fold(&ended);
        let stored = fixture("snapshot-timed.msgpack", encode(&SnapshotBytes::from(&state)).unwrap());
        let loaded = snapshot(&stored);
        assert!(has_entry_times(&loaded));
        assert_eq!(loaded, state);

        let focus = vec![Focus { question_id: "cache".into(), key_point: "ttl".into() }];
        let meta = SessionMeta {
            session_id: "ses_fixture".into(),
            user_id: "alice".into(),
            plan_id: "test".into(),
            candidate: Candidate { level: Some("senior".into()), focus, ..Default::default() },
            created_at: Timestamp(999_000),
            time_limit_ms: 600_000,
        };
        let stored = fixture("meta-focus.msgpack", encode(&MetaBytes::from_meta(&meta)).unwrap());
        assert_eq!(decode::<MetaBytes>(&stored).unwrap().into_meta(&"ses_fixture".into()), meta);

        let summary = SessionProgress {
            session_id: "ses_fixture".into(),
            plan_id: "test".into(),
            ended_at: Timestamp(1_200_000),
            overall: Some(6.2),
            dimensions: vec![DimensionScore { name: "design".into(), score: 6.2 }],
            questions: vec![QuestionProgress {
                question_id: "cache".into(),
                hit: vec!["eviction".into()],
                missed: vec!["ttl".into()],
                to_start_ms: Some(3_500),
                to_finish_ms: Some(5_000),
                spent_ms: Some(18_000),
                budget_s: 300,
                audio_ms: Some(1_500),
            }],
        };
        let stored = fixture("progress.msgpack", encode(&ProgressBytes::from(&summary)).unwrap());
        assert_eq!(SessionProgress::from(decode::<ProgressBytes>(&stored).unwrap()), summary);
    }

    #[test]
    fn a_resume_round_trips() {
        let resume = Resume {
            text: "Rust, Redis, Kafka.".into(),
            truncated: true,
            file_name: "cv.pdf".into(),
            media_type: "application/pdf".into(),
            size_bytes: 12_345,
            uploaded_at: Timestamp(1_000),
        };
        let stored = encode(&ResumeBytes::from(&resume)).unwrap();
        assert_eq!(Resume::from(decode::<ResumeBytes>(&stored).unwrap()), resume);
    }
}
