"""The wire types of Viva protocol v1 (docs/protocol.md), as TypedDicts.

Messages stay the plain dicts the decoders give (no conversion, nothing to keep in sync but
the shapes), so the types are for the reader and the type checker. They follow the JSON
Schemas generated from the server's Rust types (protocol/schema/*.schema.json): each TypedDict
is named after its schema definition and has the same fields; tests/test_protocol.py fails
when a message, a field or an enumeration value of the schemas has no counterpart here.

A field is required here when the server always sends it, as docs/protocol.md says (`T|null`
fields included), and `NotRequired` when it may be absent. Audio (`turn.audio`,
`input_audio.append`) is `bytes` whatever the encoding: the JSON codec converts base64.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from live annotations.
from typing import Literal, NotRequired, TypedDict, Union

TurnKind = Literal["intro", "question", "follow_up", "feedback", "closing"]
TurnStatus = Literal["completed", "interrupted", "failed"]
SessionStatus = Literal["created", "live", "ended"]
EndReason = Literal[
    "completed", "time_up", "ended_by_candidate", "interviewer_failed", "out_of_minutes", "abandoned"
]
AnswerSource = Literal["voice"]
ErrorCode = Literal[
    "invalid_message",
    "unknown_type",
    "wrong_frame_type",
    "invalid_id",
    "answer_too_large",
    "not_awaiting_answer",
    "nothing_to_interrupt",
    "not_started",
    "session_ended",
    "rate_limited",
    "store_unavailable",
    "unauthorized",
    "forbidden",
    "not_found",
    "bad_request",
    "not_ready",
    "unavailable",
    "internal",
    "voice_unavailable",
    "stt_failed",
    "tts_failed",
    "insufficient_minutes",
    "at_capacity",
    "too_many_live_sessions",
    "unsupported_media_type",
    "unreadable_resume",
]


# --- Shared shapes -----------------------------------------------------------------------


class TextExpects(TypedDict):
    format: Literal["text"]


class CodeExpects(TypedDict):
    format: Literal["code"]
    language: str


Expects = Union[TextExpects, CodeExpects]


class TextAnswer(TypedDict):
    format: Literal["text"]
    text: str


class CodeAnswer(TypedDict):
    format: Literal["code"]
    language: str
    source: str


AnswerContent = Union[TextAnswer, CodeAnswer]


class DimensionScore(TypedDict):
    name: str
    score: float


class Scores(TypedDict):
    dimensions: list[DimensionScore]
    overall: float | None


class AnswerScore(Scores):
    """One answer's own scores (`score.updated.answer`, a transcript answer's `score`)."""


class Clock(TypedDict):
    elapsed_s: int
    remaining_s: int


class Voice(TypedDict):
    input: bool
    output: bool


class TimedWord(TypedDict):
    text: str
    start_ms: int
    end_ms: int


class SpokenAnswer(TypedDict):
    words: list[TimedWord]
    audio_ms: int


class TurnEntry(TypedDict):
    entry: Literal["turn"]
    turn_id: int
    kind: TurnKind
    question_id: str | None
    text: str
    status: TurnStatus
    started_at: NotRequired[int]
    ended_at: NotRequired[int]


class AnswerEntry(TypedDict):
    entry: Literal["answer"]
    answer_id: int
    question_id: str
    answer: AnswerContent
    score: AnswerScore | None
    spoken: NotRequired[SpokenAnswer]
    at: NotRequired[int]


TranscriptEntry = Union[TurnEntry, AnswerEntry]


class OpenTurn(TypedDict):
    turn_id: int
    kind: TurnKind
    question_id: str | None
    expects: Expects | None
    text: str
    next_index: int


class AwaitingAnswer(TypedDict):
    question_id: str
    expects: Expects


class SessionState(TypedDict):
    status: SessionStatus
    plan_id: str
    transcript: list[TranscriptEntry]
    open_turn: OpenTurn | None
    awaiting_answer: AwaitingAnswer | None
    scores: Scores
    clock: Clock
    ended_reason: EndReason | None
    report_ready: bool
    voice: NotRequired[Voice]


# --- Server → client (section 4) ---------------------------------------------------------


class SessionReady(TypedDict):
    type: Literal["session.ready"]
    session_id: str
    epoch: int
    resumed: bool
    seq: int
    last_seq: int
    state: SessionState


class TurnStarted(TypedDict):
    type: Literal["turn.started"]
    seq: int
    turn_id: int
    kind: TurnKind
    question_id: str | None
    expects: Expects | None


class TurnDelta(TypedDict):
    type: Literal["turn.delta"]
    turn_id: int
    index: int
    text: str


class TurnDone(TypedDict):
    type: Literal["turn.done"]
    seq: int
    turn_id: int
    text: str
    status: TurnStatus


class AnswerReceived(TypedDict):
    type: Literal["answer.received"]
    seq: int
    id: str | None
    answer_id: int
    source: NotRequired[AnswerSource]
    transcript: NotRequired[str]
    words: NotRequired[list[TimedWord]]
    audio_ms: NotRequired[int]


class TurnTruncated(TypedDict):
    type: Literal["turn.truncated"]
    seq: int
    turn_id: int
    text: str
    audio_end_ms: int


class UsageLow(TypedDict):
    type: Literal["usage.low"]
    seq: int
    remaining_s: int


class TurnAudio(TypedDict):
    type: Literal["turn.audio"]
    turn_id: int
    index: int
    audio: bytes


class SpeechStarted(TypedDict):
    type: Literal["input_audio.speech_started"]
    audio_start_ms: int


class SpeechStopped(TypedDict):
    type: Literal["input_audio.speech_stopped"]
    audio_end_ms: int


class TranscriptDelta(TypedDict):
    type: Literal["answer.transcript.delta"]
    id: str
    text: str


class ScoreUpdated(TypedDict):
    type: Literal["score.updated"]
    seq: int
    answer_id: int
    dimensions: list[DimensionScore]
    overall: float | None
    answer: AnswerScore


class ReportReady(TypedDict):
    type: Literal["report.ready"]
    seq: int
    session_id: str


class SessionEnding(TypedDict):
    type: Literal["session.ending"]
    seq: int
    reason: EndReason


class SessionEnded(TypedDict):
    type: Literal["session.ended"]
    seq: int
    reason: EndReason


class ClockTick(Clock):
    """The `clock` message (its fields are the schema's `Clock`)."""

    type: Literal["clock"]


class ErrorEvent(TypedDict):
    type: Literal["error"]
    code: ErrorCode
    message: str
    fatal: bool
    ref: str | None


class Pong(TypedDict):
    type: Literal["pong"]
    id: NotRequired[str]


ServerMessage = Union[
    SessionReady,
    TurnStarted,
    TurnDelta,
    TurnDone,
    AnswerReceived,
    TurnTruncated,
    UsageLow,
    TurnAudio,
    SpeechStarted,
    SpeechStopped,
    TranscriptDelta,
    ScoreUpdated,
    ReportReady,
    SessionEnding,
    SessionEnded,
    ClockTick,
    ErrorEvent,
    Pong,
]
"""Every message the server sends."""


# --- Client → server (section 3) ---------------------------------------------------------


class SessionStart(TypedDict):
    type: Literal["session.start"]
    id: NotRequired[str]
    voice: NotRequired[Voice]


class AnswerSubmit(TypedDict):
    type: Literal["answer.submit"]
    id: NotRequired[str]
    text: str


class CodeSubmit(TypedDict):
    type: Literal["code.submit"]
    id: NotRequired[str]
    language: str
    source: str


class TurnInterrupt(TypedDict):
    type: Literal["turn.interrupt"]
    id: NotRequired[str]


class Ack(TypedDict):
    type: Literal["ack"]
    id: NotRequired[str]
    seq: int


class SessionEnd(TypedDict):
    type: Literal["session.end"]
    id: NotRequired[str]


class Ping(TypedDict):
    type: Literal["ping"]
    id: NotRequired[str]


class InputAudioAppend(TypedDict):
    type: Literal["input_audio.append"]
    id: str
    audio: bytes


class InputAudioCommit(TypedDict):
    type: Literal["input_audio.commit"]
    id: str


class InputAudioClear(TypedDict):
    type: Literal["input_audio.clear"]
    id: str


class TurnTruncate(TypedDict):
    type: Literal["turn.truncate"]
    id: NotRequired[str]
    turn_id: int
    audio_end_ms: int


ClientMessage = Union[
    SessionStart,
    AnswerSubmit,
    CodeSubmit,
    TurnInterrupt,
    Ack,
    SessionEnd,
    Ping,
    InputAudioAppend,
    InputAudioCommit,
    InputAudioClear,
    TurnTruncate,
]
"""Every message a client may send."""


# --- REST bodies (section 8) -------------------------------------------------------------


class ApiErrorBody(TypedDict):
    code: ErrorCode
    message: str


class ApiErrorResponse(TypedDict):
    """Every REST and handshake error: `{"error": {"code", "message"}}` (schema: `ApiError`)."""

    error: ApiErrorBody


class PlanSummary(TypedDict):
    id: str
    version: int
    title: str
    role: str
    level: str
    duration_s: int
    questions: int
    dimensions: list[str]


class Plans(TypedDict):
    plans: list[PlanSummary]


class Candidate(TypedDict, total=False):
    role: str | None
    level: str | None
    resume_text: str | None


class SessionCreated(TypedDict):
    session_id: str
    plan: PlanSummary
    ws_path: str
    created_at: int


class SocketTicket(TypedDict):
    ticket: str
    expires_in_s: int


class VoiceUsage(TypedDict):
    input: bool
    output: bool
    answers_audio_ms: int


class SessionView(TypedDict):
    session_id: str
    plan_id: str
    status: SessionStatus
    created_at: int
    last_seq: int
    transcript: list[TranscriptEntry]
    scores: Scores
    ended_reason: EndReason | None
    report_ready: bool
    voice: NotRequired[VoiceUsage]


class SessionSummary(TypedDict):
    session_id: str
    plan_id: str
    status: SessionStatus
    created_at: int
    overall: float | None
    answers: int


class MySessions(TypedDict):
    items: list[SessionSummary]
    next_cursor: str | None
    unreadable: list[str]


class PlanStamp(TypedDict):
    id: str
    version: int


class Stamp(TypedDict):
    name: str
    version: str


class AnswerEvidence(TypedDict):
    answer_id: int
    question_id: str
    question: str
    dimensions: list[DimensionScore]
    overall: float | None
    key_points_hit: list[str]
    key_points_missed: list[str]
    notes: list[str]
    scored_by: str


class QuestionTiming(TypedDict):
    question_id: str
    budget_s: int
    answers: int
    to_start_ms: int | None
    to_finish_ms: int | None
    spent_ms: int
    over_budget: bool
    audio_ms: NotRequired[int]


class Revisited(TypedDict):
    question_id: str
    key_point: str
    description: str
    answered: bool
    improved: bool


class Report(TypedDict):
    session_id: str
    plan: PlanStamp
    scorer: Stamp
    generated_at: int
    ended_reason: EndReason
    overall: float | None
    dimensions: list[DimensionScore]
    answers: list[AnswerEvidence]
    strengths: list[str]
    practise: list[str]
    questions: list[QuestionTiming]
    revisited: NotRequired[list[Revisited]]
