//! REST request and response bodies (`/v1/...`).

use serde::{Deserialize, Serialize};

use crate::state::{Scores, SessionStatus, TranscriptEntry};
use crate::{DimensionScore, EndReason, ErrorCode};

/// Who the candidate is; the interviewer uses it to tailor the interview.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Candidate {
    /// Role applied for, e.g. `backend` (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub role: Option<String>,
    /// Level, e.g. `senior` (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub level: Option<String>,
    /// Résumé as plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_text: Option<String>,
}

/// `POST /v1/sessions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateSession {
    /// Plan id, from `GET /v1/plans`.
    #[schemars(example = "senior-backend")]
    pub plan: String,
    /// Optional candidate profile.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::object::optional")]
    pub candidate: Option<Candidate>,
    /// Adaptive practice: the interviewer prefers the questions and follow-ups that target the
    /// caller's recurring weaknesses on this plan (`GET /v1/me/progress`); the report says
    /// which it revisited and whether they improved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adapt: bool,
}

/// `POST /v1/sessions` answer (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionCreated {
    /// The new session.
    pub session_id: String,
    /// Its plan.
    pub plan: PlanSummary,
    /// Path of its WebSocket.
    pub ws_path: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: u64,
}

/// `POST /v1/sessions/{id}/ticket` answer: a credential for the session's WebSocket, for
/// clients that cannot set headers on it (browsers). Open
/// `GET /v1/sessions/{id}/ws?ticket=<ticket>` without an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SocketTicket {
    /// Opaque and URL-safe; single-use, for this session and its owner only.
    pub ticket: String,
    /// Seconds it stays valid (60).
    pub expires_in_s: u64,
}

/// One interview plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanSummary {
    /// Plan id.
    pub id: String,
    /// Plan version.
    pub version: u32,
    /// Title.
    pub title: String,
    /// Role it interviews for.
    pub role: String,
    /// Level it interviews for.
    pub level: String,
    /// Time limit in seconds.
    pub duration_s: u64,
    /// Number of questions.
    pub questions: usize,
    /// Rubric dimensions scored.
    pub dimensions: Vec<String>,
}

/// `GET /v1/plans` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plans {
    /// Every plan.
    pub plans: Vec<PlanSummary>,
}

/// `GET /v1/sessions/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionView {
    /// The session.
    pub session_id: String,
    /// Its plan.
    pub plan_id: String,
    /// Where it is in its life.
    pub status: SessionStatus,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Head of its durable event log.
    pub last_seq: u64,
    /// Every finished turn and every answer with its text.
    pub transcript: Vec<TranscriptEntry>,
    /// Running scores.
    pub scores: Scores,
    /// Why it ended, once it has.
    pub ended_reason: Option<EndReason>,
    /// Whether the report is ready.
    pub report_ready: bool,
    /// A voice session's ways and audio (absent for a text session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceUsage>,
}

/// What of a session was spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VoiceUsage {
    /// The candidate speaks.
    pub input: bool,
    /// The interviewer speaks.
    pub output: bool,
    /// Milliseconds of the candidate's audio in the answers stored (from their samples).
    pub answers_audio_ms: u64,
}

/// One line of `GET /v1/me/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionSummary {
    /// The session.
    pub session_id: String,
    /// Its plan.
    pub plan_id: String,
    /// Where it is in its life.
    pub status: SessionStatus,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Running or final overall score.
    pub overall: Option<f32>,
    /// Number of answers given.
    pub answers: usize,
}

/// `GET /v1/me/sessions` answer: one page of the history, newest first, and progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MySessions {
    /// Newest first (`items`: every list pages as `{items, next_cursor}`).
    pub items: Vec<SessionSummary>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Sessions of this page that could not be read (damaged data), by id: reported rather
    /// than failing the whole list.
    #[serde(default)]
    pub unreadable: Vec<String>,
}

/// `GET /v1/sessions/{id}/report` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// The session.
    pub session_id: String,
    /// Plan id and version the interview followed.
    pub plan: PlanStamp,
    /// Scorer name and version.
    pub scorer: Stamp,
    /// When it was built, milliseconds since the Unix epoch.
    pub generated_at: u64,
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
    /// Per question asked, in the order asked: how long the candidate took to start and to
    /// finish answering, and the time spent against the plan's budget for it (absent in
    /// reports built before timing was kept).
    #[serde(default)]
    pub questions: Vec<QuestionTiming>,
    /// An adaptive session (`adapt: true`): each recurring weakness it targeted, and whether
    /// it improved (absent for other sessions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisited: Vec<Revisited>,
}

/// A recurring weakness an adaptive session targeted, and how it went this time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Revisited {
    /// The plan question it belongs to.
    pub question_id: String,
    /// The key point's id.
    pub key_point: String,
    /// What the key point is.
    pub description: String,
    /// The question was answered (and scored) in this session.
    pub answered: bool,
    /// This session's best answer to the question covered it, after it was missed before.
    pub improved: bool,
}

/// How long one question of an interview took, from the durable log's times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QuestionTiming {
    /// The question.
    pub question_id: String,
    /// Seconds the plan budgets for it (its `budget_s`, or the plan's `duration_s` shared by
    /// its questions).
    pub budget_s: u64,
    /// Answers given on it, follow-up answers included.
    pub answers: u32,
    /// Milliseconds from the end of the question's turn to the start of the first answer (a
    /// typed answer starts when it arrives; a spoken one `audio_ms` before it was stored; 0
    /// after a barge-in); `null` when unanswered.
    pub to_start_ms: Option<u64>,
    /// Milliseconds from the end of the question's turn to the first answer's arrival; `null`
    /// when unanswered.
    pub to_finish_ms: Option<u64>,
    /// Milliseconds from the question's first turn to the last turn or answer about it
    /// (follow-ups included).
    pub spent_ms: u64,
    /// `spent_ms` is over `budget_s`.
    pub over_budget: bool,
    /// Milliseconds of the candidate's audio in the spoken answers on it (absent when none was
    /// spoken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_ms: Option<u64>,
}

/// Which plan, in which version (as in `PlanSummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanStamp {
    /// Plan id.
    pub id: String,
    /// Plan version.
    pub version: u32,
}

/// A name and a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stamp {
    /// Name or id.
    pub name: String,
    /// Version.
    pub version: String,
}

/// The evidence behind one answer's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnswerEvidence {
    /// The answer.
    pub answer_id: u32,
    /// The question it answers.
    pub question_id: String,
    /// The question as asked.
    pub question: String,
    /// Per dimension; empty when the answer could not be scored.
    pub dimensions: Vec<DimensionScore>,
    /// Mean of `dimensions`.
    pub overall: Option<f32>,
    /// Key points the answer covered.
    pub key_points_hit: Vec<String>,
    /// Key points it missed.
    pub key_points_missed: Vec<String>,
    /// Other observations (structure, specificity, code shape).
    pub notes: Vec<String>,
    /// Which scorer scored it (`name/version`), or why it was not scored.
    pub scored_by: String,
}

/// `GET /v1/me/progress`: the caller's progress across their finished sessions (kept
/// incrementally, one summary per session's report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Progress {
    /// Finished sessions counted (those with a report).
    pub sessions: usize,
    /// The overall score over time (`name`: `overall`).
    pub overall: DimensionProgress,
    /// Per rubric dimension, in the order they first appear: the score over time.
    pub dimensions: Vec<DimensionProgress>,
    /// Key points missed in two or more sessions, most pressing first (not covered since, then
    /// missed most often, then most recently).
    pub weaknesses: Vec<KeyPointProgress>,
    /// Key points covered in two or more sessions and never missed.
    pub strengths: Vec<KeyPointProgress>,
    /// What to practise next: the questions that exercise the weaknesses, most pressing first
    /// (start one with `POST /v1/sessions {plan, adapt: true}`).
    pub practise: Vec<PractiseItem>,
    /// Per session, oldest first: how long answering took.
    pub timing: Vec<SessionTiming>,
    /// The mean seconds to finish an answer (`mean_to_finish_ms`), last sessions against the
    /// first; `null` with fewer than two sessions timed.
    pub timing_trend: Option<Trend>,
    /// The above in words (trends, answer time, the most pressing weakness).
    pub notes: Vec<String>,
}

/// A score over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DimensionProgress {
    /// The dimension (or `overall`).
    pub name: String,
    /// One point per finished session that scored it, oldest first.
    pub points: Vec<ProgressPoint>,
    /// Mean of the last N points against the first N; `null` with fewer than two points.
    pub trend: Option<Trend>,
}

/// One finished session's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProgressPoint {
    /// The session.
    pub session_id: String,
    /// Its plan.
    pub plan_id: String,
    /// When it ended (its report was built), milliseconds since the Unix epoch.
    pub ended_at: u64,
    /// The score, 0–10.
    pub score: f32,
}

/// The mean of the last `sessions` values against the first `sessions` (3, or half the values
/// when there are fewer than 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Trend {
    /// N.
    pub sessions: usize,
    /// Mean of the first N.
    pub first: f32,
    /// Mean of the last N.
    pub last: f32,
    /// `last - first`.
    pub change: f32,
}

/// A key point across sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyPointProgress {
    /// The plan of the question.
    pub plan_id: String,
    /// The question.
    pub question_id: String,
    /// The key point's id.
    pub key_point: String,
    /// What it is.
    pub description: String,
    /// Sessions whose best answer to the question missed it, oldest first.
    pub missed_in: Vec<String>,
    /// Sessions whose best answer covered it, oldest first.
    pub hit_in: Vec<String>,
}

/// A question to practise and the weak key points it exercises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PractiseItem {
    /// The plan that asks it.
    pub plan_id: String,
    /// The question.
    pub question_id: String,
    /// The question as written in the plan.
    pub question: String,
    /// The weak key points, by description.
    pub key_points: Vec<String>,
}

/// How long answering took in one session (from its report's `questions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionTiming {
    /// The session.
    pub session_id: String,
    /// Its plan.
    pub plan_id: String,
    /// When it ended, milliseconds since the Unix epoch.
    pub ended_at: u64,
    /// Questions asked.
    pub questions: u32,
    /// Mean of the questions' `to_start_ms`; `null` when none was answered.
    pub mean_to_start_ms: Option<u64>,
    /// Mean of the questions' `to_finish_ms`; `null` when none was answered.
    pub mean_to_finish_ms: Option<u64>,
    /// Mean of the questions' `spent_ms`; `null` without times.
    pub mean_spent_ms: Option<u64>,
    /// Questions over their budget.
    pub over_budget: u32,
    /// Audio of the spoken answers (absent when none was spoken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_ms: Option<u64>,
}

/// The body of every REST error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiError {
    /// The error.
    pub error: ApiErrorBody,
}

/// Code and message of a REST error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

/// `GET /v1/me/export`: everything stored about the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Export {
    /// The user.
    pub user_id: String,
    /// When the export was made, milliseconds since the Unix epoch.
    pub exported_at: u64,
    /// Every session, newest first.
    pub sessions: Vec<ExportedSession>,
    /// Sessions that could not be read (damaged data), by id: reported rather than failing
    /// the whole export.
    #[serde(default)]
    pub unreadable: Vec<String>,
    /// The caller's minutes and their whole ledger, newest first (with `--metering minutes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<ExportedMinutes>,
    /// The caller's progress record: one summary per finished session, as
    /// `GET /v1/me/progress` computes from it (absent when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// The caller's résumé (`PUT /v1/me/resume`), when one is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeView>,
}

/// A user's minutes in an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportedMinutes {
    /// Seconds free to spend.
    pub balance_s: u64,
    /// Seconds held by live sessions.
    pub held_s: u64,
    /// Every credit and debit, newest first.
    pub ledger: Vec<LedgerItem>,
}

/// `GET /v1/me/usage` (and the admin's `GET /v1/admin/users/{user}/usage`): the balance, what
/// live sessions hold, and one page of the ledger, newest first (`?cursor=&limit=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Usage {
    /// Seconds free to spend.
    pub balance_s: u64,
    /// Seconds held by live sessions (reserved a slice at a time).
    pub held_s: u64,
    /// Ledger entries of this page, newest first.
    pub items: Vec<LedgerItem>,
    /// The `cursor` of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// One credit or debit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LedgerItem {
    /// When it was applied, milliseconds since the Unix epoch.
    pub at: u64,
    /// `credit` or `debit`.
    pub kind: String,
    /// Seconds.
    pub seconds: u64,
    /// The session a debit is for.
    pub session_id: Option<String>,
    /// Its idempotency key: the caller's for a credit; `<session>:<seconds settled before>`
    /// for a debit (usable as a billing system's event id).
    pub key: String,
    /// Why (a credit's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A voice session's debit: milliseconds of the candidate's speech received over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_in_ms: Option<u64>,
    /// A voice session's debit: milliseconds of the interviewer's speech sent over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_out_ms: Option<u64>,
}

/// `POST /v1/admin/users/{user}/credits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreditRequest {
    /// Seconds to add: 1 to 3,153,600,000 (a century).
    #[schemars(range(min = 1, max = 3_153_600_000u64))]
    pub seconds: u64,
    /// The same key again credits nothing and answers the same (1 to 200 bytes).
    #[schemars(length(min = 1, max = 200))]
    pub idempotency_key: String,
    /// Why, kept in the ledger (at most 500 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

/// The answer to a credit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Credited {
    /// The balance right after the credit.
    pub balance_s: u64,
    /// Whether this key had been credited before (nothing was added now).
    pub duplicate: bool,
}

/// One session in an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportedSession {
    /// Status, transcript with every answer and code, scores.
    pub session: SessionView,
    /// The profile given at creation (role, level, résumé).
    pub candidate: Candidate,
    /// The report, once built.
    pub report: Option<Report>,
    /// Spoken answers whose audio is kept (`--audio-recordings on`), in answer order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recordings: Vec<AnswerRecording>,
}

/// A spoken answer's audio kept with its session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnswerRecording {
    /// The answer.
    pub answer_id: u32,
    /// Size as stored (FLAC), in bytes.
    pub stored_bytes: u64,
    /// Where its owner gets it as a WAV file:
    /// `/v1/sessions/{session_id}/answers/{answer_id}/audio`.
    pub audio_path: String,
}

/// `GET /v1/sessions/{id}/events`: the session's durable events, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Events {
    /// The session.
    pub session_id: String,
    /// Every durable event, as clients received it.
    pub events: Vec<crate::ServerMessage>,
}

/// One line of a recording (`GET /v1/sessions/{id}/recording`, `application/x-ndjson`): a
/// message the candidate's client sent, and when, in milliseconds after the session started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recording {
    /// Milliseconds after the session started (`session.start` is at 0).
    pub t_ms: u64,
    /// What the client sent.
    pub message: crate::ClientMessage,
}

/// `PUT /v1/me/resume` answer (200): what was kept of the file. The body of the request is the
/// file itself, with its `Content-Type` (`application/pdf`,
/// `application/vnd.openxmlformats-officedocument.wordprocessingml.document`, `text/markdown`,
/// `text/plain`), at most 2 MiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResumeUploaded {
    /// Characters of text kept.
    pub chars: usize,
    /// Whether the text was cut (at a sentence boundary) to the server's résumé limit.
    pub truncated: bool,
    /// Skills the interview plans know that the text names (e.g. `kafka`, `token bucket`).
    pub skills: Vec<String>,
    /// The file's name (from `Content-Disposition`; `resume` when none was given).
    pub file_name: String,
    /// The file's media type.
    pub media_type: String,
    /// The file's size in bytes.
    pub size_bytes: u64,
    /// When it was uploaded, milliseconds since the Unix epoch.
    pub uploaded_at: u64,
}

/// `GET /v1/me/resume` answer: the caller's résumé as kept, used as `candidate.resume_text`
/// by `POST /v1/sessions` when the request gives none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResumeView {
    /// The text extracted and normalized (plain text: paragraphs on their own lines).
    pub text: String,
    /// Characters of text.
    pub chars: usize,
    /// Whether the text was cut (at a sentence boundary) to the server's résumé limit.
    pub truncated: bool,
    /// Skills the interview plans know that the text names.
    pub skills: Vec<String>,
    /// The file's name.
    pub file_name: String,
    /// The file's media type.
    pub media_type: String,
    /// The file's size in bytes.
    pub size_bytes: u64,
    /// When it was uploaded, milliseconds since the Unix epoch.
    pub uploaded_at: u64,
}

/// `GET /v1/admin/webhooks`: the endpoints configured and the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WebhookEndpoints {
    /// Every endpoint, as configured.
    pub endpoints: Vec<WebhookEndpoint>,
    /// Deliveries waiting (due, claimed or backing off), on every node.
    pub pending: u64,
    /// Dead letters (see `GET /v1/admin/webhooks/dead`).
    pub dead: u64,
}

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WebhookEndpoint {
    /// Its id (from its URL): deliveries and dead letters name it.
    pub id: String,
    /// Where webhooks are POSTed.
    pub url: String,
    /// Set when it is switched off (it answered 410 Gone); `POST
    /// /v1/admin/webhooks/endpoints/{id}/enable` switches it on again.
    pub disabled: Option<EndpointDisabled>,
}

/// Why and since when an endpoint is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointDisabled {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// Why.
    pub reason: String,
}

/// `GET /v1/admin/webhooks/dead`: the newest dead letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadWebhooks {
    /// Newest first, at most `limit`.
    pub items: Vec<DeadWebhook>,
    /// How many there are in all.
    pub total: u64,
}

/// A webhook delivery given up on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadWebhook {
    /// The delivery (`<session>.<seq>.<endpoint>`): `POST /v1/admin/webhooks/dead/{id}/redrive`
    /// sends it again.
    pub id: String,
    /// Its `webhook-id` (the same on every attempt).
    pub webhook_id: String,
    /// The endpoint's id.
    pub endpoint: String,
    /// The event: `report.ready`, `session.ended`, `usage.low`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The session it is about.
    pub session_id: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event happened, milliseconds since the Unix epoch.
    pub created_at: u64,
    /// When it was given up on.
    pub dead_at: u64,
    /// Why.
    pub reason: String,
}

/// `GET /v1/admin/nodes`: the gateway nodes on this store, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Nodes {
    /// Every node whose last heartbeat has not expired.
    pub items: Vec<NodeView>,
}

/// One gateway node as it last said it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeView {
    /// Its id (`--node-id`).
    pub id: String,
    /// Where it listens, as it says.
    pub address: String,
    /// Sessions it runs.
    pub live_sessions: u64,
    /// Its last heartbeat, milliseconds since the Unix epoch.
    pub heartbeat_at: u64,
    /// Draining: taking no new sessions, handing its own over, then exiting.
    pub draining: bool,
    /// The node that answered this request.
    pub this_node: bool,
}
