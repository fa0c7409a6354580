"""The interview as a client knows it, and the one function that changes it:
`reduce(model, action) -> model`.

The same reducer as the web console's (gateway/console/model.js), so a backend follows an
interview exactly as the page does: the model is rebuilt from `session.ready.state` on every
connect, durable events are applied only when their `seq` is the next one, and the client's
own answers are matched to their `answer.received` by message id, never by content. Anything
that does not fit (a gap in `seq`, a `turn.done` for a turn that is not open, the
acknowledgement of an answer this client does not know) marks the model `resync`: only a new
`session.ready` repairs it, and `Interview` reconnects to get one.

Pure: no socket, no clock; it never mutates its inputs and returns the very same model when an
action changes nothing. Transcript entries keep the protocol's shapes: the console's view-only
marks (`heard` on a truncated turn, `source` on a spoken answer) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict, Union, cast

from .protocol import (
    AnswerContent,
    AnswerEntry,
    AnswerReceived,
    AwaitingAnswer,
    Clock,
    EndReason,
    OpenTurn,
    Scores,
    ServerMessage,
    SessionReady,
    SessionStatus,
    TranscriptEntry,
    TurnEntry,
    Voice,
)


class LocalSubmit(TypedDict):
    """What the client itself does: it sends an answer with message id `id`."""

    type: Literal["local.submit"]
    id: str
    answer: AnswerContent


Action = Union[ServerMessage, LocalSubmit]

RETRY_ERRORS = frozenset({"rate_limited", "store_unavailable"})
"""Errors that leave a sent answer pending, to re-send later with the same id."""


@dataclass(frozen=True)
class PendingAnswer:
    """An answer sent (or to send) with message id `id`, not acknowledged yet."""

    id: str
    answer: AnswerContent
    question_id: str | None


@dataclass(frozen=True)
class RefusedAnswer(PendingAnswer):
    """An answer the server will never store, and why (an error code)."""

    code: str = ""


@dataclass(frozen=True)
class Hearing:
    """What the server recognised so far of the utterance being transcribed."""

    id: str
    text: str


def _no_scores() -> Scores:
    return {"dimensions": [], "overall": None}


@dataclass(frozen=True)
class Model:
    ready: bool = False
    """A `session.ready` was applied (nothing is known before)."""
    seq: int = 0
    """The highest durable seq applied."""
    status: SessionStatus = "created"
    plan_id: str = ""
    transcript: tuple[TranscriptEntry, ...] = ()
    """Finished turns and accepted answers, in order."""
    open_turn: OpenTurn | None = None
    """The turn in flight, with its text so far."""
    awaiting_answer: AwaitingAnswer | None = None
    """Set exactly when an answer would be accepted now."""
    pending: tuple[PendingAnswer, ...] = ()
    """This client's answers not acknowledged yet, oldest first."""
    refused: tuple[RefusedAnswer, ...] = ()
    """This client's answers refused so far, oldest first."""
    scores: Scores = field(default_factory=_no_scores)
    """Running scores."""
    clock: Clock | None = None
    """The last clock the server sent (`state.clock` or a `clock` tick)."""
    ending: EndReason | None = None
    """Set by `session.ending`: the end is decided, a report is coming."""
    ended_reason: EndReason | None = None
    """Set once `status` is `ended`."""
    minutes_low: int | None = None
    """Seconds of the candidate's minutes left when `usage.low` came (metering)."""
    report_ready: bool = False
    resync: bool = False
    """The model missed something: only a new `session.ready` repairs it."""
    voice: Voice | None = None
    """The ways the session is spoken (`state.voice`), None for text."""
    hearing: Hearing | None = None
    """The partial transcript of the utterance being transcribed, until its answer."""

    @property
    def can_answer(self) -> bool:
        """Whether an answer can be sent now: one is awaited, or the question is still being
        spoken (sending interrupts it first), and the previous one is acknowledged."""
        if not self.ready or self.resync or self.status != "live" or self.ending or self.pending:
            return False
        if self.awaiting_answer:
            return True
        return self.open_turn is not None and self.open_turn["kind"] in ("question", "follow_up")


def reduce(model: Model, action: Action) -> Model:
    """The model after `action`; `model` itself when nothing changes."""
    if action["type"] == "session.ready":
        return _ready(model, action)
    if action["type"] == "local.submit":
        return _submit(model, action)
    if not model.ready or model.resync:
        return model
    # What does not fit is not applied: the model still holds everything up to its `seq`.
    held = model
    seq = cast("int | None", action.get("seq"))
    if seq is not None:
        if seq <= model.seq:
            return _replayed(model, action)
        if seq != model.seq + 1:
            return replace(held, resync=True)
        model = replace(model, seq=seq)

    if action["type"] == "turn.started":
        return replace(
            model,
            status="live" if model.status == "created" else model.status,
            awaiting_answer=None,
            open_turn={
                "turn_id": action["turn_id"],
                "kind": action["kind"],
                "question_id": action["question_id"],
                "expects": action["expects"],
                "text": "",
                "next_index": 0,
            },
        )
    if action["type"] == "turn.delta":
        turn = model.open_turn
        # Only the open turn's next delta: an old one, one out of order or one for another
        # turn changes nothing (its `turn.done` carries the whole text anyway).
        if not turn or turn["turn_id"] != action["turn_id"] or turn["next_index"] != action["index"]:
            return model
        return replace(
            model,
            open_turn={**turn, "text": turn["text"] + action["text"], "next_index": turn["next_index"] + 1},
        )
    if action["type"] == "turn.done":
        turn = model.open_turn
        if not turn or turn["turn_id"] != action["turn_id"]:
            return replace(held, resync=True)
        asks = turn["kind"] in ("question", "follow_up")
        awaits = asks and action["status"] != "failed" and not model.ending
        question_id, expects = turn["question_id"], turn["expects"]
        entry: TurnEntry = {
            "entry": "turn",
            "turn_id": turn["turn_id"],
            "kind": turn["kind"],
            "question_id": question_id,
            "text": action["text"],
            "status": action["status"],
        }
        return replace(
            model,
            transcript=(*model.transcript, entry),
            open_turn=None,
            awaiting_answer={"question_id": question_id, "expects": expects}
            if awaits and question_id and expects
            else None,
        )
    if action["type"] == "answer.received":
        if action.get("source") == "voice":
            return _spoken(model, action)
        mine = next((p for p in model.pending if p.id == action["id"]), None)
        if mine is None:
            return replace(held, resync=True)  # an answer whose content this client does not have
        answer: AnswerEntry = {
            "entry": "answer",
            "answer_id": action["answer_id"],
            "question_id": mine.question_id or "",
            "answer": mine.answer,
            "score": None,
        }
        return replace(
            model,
            transcript=(*model.transcript, answer),
            pending=tuple(p for p in model.pending if p is not mine),
            awaiting_answer=None,
        )
    if action["type"] == "turn.truncated":
        # The turn as heard replaces the turn as delivered (its `turn.done` had the whole text).
        turn_id = action["turn_id"]
        at = next(
            (i for i, e in enumerate(model.transcript) if e["entry"] == "turn" and e["turn_id"] == turn_id),
            None,
        )
        if at is None:
            open_turn = model.open_turn
            return model if open_turn and open_turn["turn_id"] == turn_id else replace(held, resync=True)
        was = cast(TurnEntry, model.transcript[at])
        heard: TurnEntry = {**was, "text": action["text"]}
        return replace(model, transcript=(*model.transcript[:at], heard, *model.transcript[at + 1 :]))
    if action["type"] == "usage.low":
        return replace(model, minutes_low=action["remaining_s"])
    if action["type"] == "answer.transcript.delta":
        so_far = model.hearing.text if model.hearing and model.hearing.id == action["id"] else ""
        return replace(model, hearing=Hearing(action["id"], so_far + action["text"]))
    if action["type"] == "score.updated":
        answer_id, own = action["answer_id"], action["answer"]
        return replace(
            model,
            scores={"dimensions": action["dimensions"], "overall": action["overall"]},
            transcript=tuple(
                cast(AnswerEntry, {**e, "score": own}) if e["entry"] == "answer" and e["answer_id"] == answer_id else e
                for e in model.transcript
            ),
        )
    if action["type"] == "report.ready":
        return replace(model, report_ready=True)
    if action["type"] == "session.ending":
        return replace(model, ending=action["reason"], awaiting_answer=None)
    if action["type"] == "session.ended":
        return replace(
            _refuse_all(model, "session_ended"),
            status="ended",
            ended_reason=action["reason"],
            open_turn=None,
            awaiting_answer=None,
        )
    if action["type"] == "clock":
        return replace(model, clock={"elapsed_s": action["elapsed_s"], "remaining_s": action["remaining_s"]})
    if action["type"] == "error":
        mine = next((p for p in model.pending if p.id == action["ref"]), None)
        if mine is None or action["code"] in RETRY_ERRORS:
            return model
        return replace(
            model,
            pending=tuple(p for p in model.pending if p is not mine),
            refused=(*model.refused, RefusedAnswer(mine.id, mine.answer, mine.question_id, action["code"])),
        )
    return model  # pong, audio, and anything newer than this client


def _ready(model: Model, m: SessionReady) -> Model:
    """Everything up to `seq` is in `state`. The client's own answers stay pending: their
    `answer.received` (replayed, or re-sent when the client re-sends them) says which were
    stored."""
    state = m["state"]
    ended = state["status"] == "ended"
    # The replay after `session.ready` holds the acknowledgements of answers stored while the
    # client was away; on an ended session it closes with the `session.ended` that gives the
    # rest back. With nothing to replay, answers still pending on an ended session are refused.
    replay_coming = m["resumed"] and model.seq < m["seq"]
    base = _refuse_all(model, "session_ended") if ended and not replay_coming else model
    live = state["status"] == "live"
    return Model(
        ready=True,
        seq=m["seq"],
        status=state["status"],
        plan_id=state["plan_id"],
        transcript=tuple(state["transcript"]),
        open_turn=state["open_turn"],
        awaiting_answer=state["awaiting_answer"],
        pending=base.pending,
        refused=base.refused,
        scores=state["scores"],
        clock=state["clock"],
        # `state` does not say that a session is ending (protocol.md section 9, item 12): an
        # end once seen is never undone, and a replayed `session.ending` says so too.
        ending=model.ending if live else None,
        ended_reason=state["ended_reason"],
        # Not in `state` either: a warning once seen stays (a replayed `usage.low` says so too).
        minutes_low=model.minutes_low if live else None,
        report_ready=state["report_ready"],
        voice=state.get("voice"),
    )


def _spoken(model: Model, m: AnswerReceived) -> Model:
    """A spoken answer is stored: its transcript is the answer (the client has no content of
    its own for it). Whichever pending entry or partial transcript it had goes."""
    entry: AnswerEntry = {
        "entry": "answer",
        "answer_id": m["answer_id"],
        "question_id": _asked(model) or "",
        "answer": {"format": "text", "text": m.get("transcript", "")},
        "score": None,
    }
    return replace(
        model,
        transcript=(*model.transcript, entry),
        pending=tuple(p for p in model.pending if p.id != m["id"]),
        awaiting_answer=None,
        hearing=None if model.hearing and model.hearing.id == m["id"] else model.hearing,
    )


def _replayed(model: Model, m: Action) -> Model:
    """A durable event the model already holds (replayed after `session.ready`, or the re-sent
    acknowledgement of a duplicate answer): ignored, except for what `state` cannot say."""
    if m["type"] == "answer.received":
        # The answer is in the transcript already; this says it is ours.
        pending = tuple(p for p in model.pending if p.id != m["id"])
        return model if len(pending) == len(model.pending) else replace(model, pending=pending)
    if m["type"] == "session.ending":
        return replace(model, ending=m["reason"]) if model.status == "live" and not model.ending else model
    if m["type"] == "session.ended":
        # The replay is over: what is still pending was never stored.
        return _refuse_all(model, "session_ended")
    return model


def _submit(model: Model, action: LocalSubmit) -> Model:
    if not model.can_answer:
        return model
    return replace(model, pending=(*model.pending, PendingAnswer(action["id"], action["answer"], _asked(model))))


def _asked(model: Model) -> str | None:
    """The question an answer now would answer: the one awaited, or the one being spoken."""
    if model.awaiting_answer:
        return model.awaiting_answer["question_id"]
    return model.open_turn["question_id"] if model.open_turn else None


def _refuse_all(model: Model, code: str) -> Model:
    if not model.pending:
        return model
    refused = tuple(RefusedAnswer(p.id, p.answer, p.question_id, code) for p in model.pending)
    return replace(model, pending=(), refused=(*model.refused, *refused))
