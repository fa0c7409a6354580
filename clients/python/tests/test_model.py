"""The reducer's edges that a well-behaved gateway does not show on demand, as tables of
messages (the gateway tests cover the ordinary course of an interview)."""

from __future__ import annotations

from typing import Any

from viva_client import Model, reduce
from viva_client.model import Action
from viva_client.protocol import SessionReady


def ready(seq: int, *, resumed: bool = False, status: str = "live", awaiting: bool = True) -> SessionReady:
    state: Any = {
        "status": status,
        "plan_id": "test",
        "transcript": [],
        "open_turn": None,
        "awaiting_answer": {"question_id": "cache", "expects": {"format": "text"}} if awaiting else None,
        "scores": {"dimensions": [], "overall": None},
        "clock": {"elapsed_s": 1, "remaining_s": 599},
        "ended_reason": "completed" if status == "ended" else None,
        "report_ready": status == "ended",
    }
    return {
        "type": "session.ready",
        "session_id": "ses_1",
        "epoch": 1,
        "resumed": resumed,
        "seq": seq,
        "last_seq": seq,
        "state": state,
    }


SUBMIT: Action = {"type": "local.submit", "id": "a1", "answer": {"format": "text", "text": "An LRU cache."}}
RECEIVED: Action = {"type": "answer.received", "seq": 5, "id": "a1", "answer_id": 1}


def play(*actions: Action) -> Model:
    model = Model()
    for action in actions:
        model = reduce(model, action)
    return model


def test_an_answer_is_pending_until_received_then_in_the_transcript() -> None:
    sent = play(ready(4), SUBMIT)
    assert [p.id for p in sent.pending] == ["a1"] and not sent.can_answer
    received = reduce(sent, RECEIVED)
    assert received.pending == () and received.awaiting_answer is None and received.seq == 5
    assert received.transcript[-1] == {
        "entry": "answer",
        "answer_id": 1,
        "question_id": "cache",
        "answer": {"format": "text", "text": "An LRU cache."},
        "score": None,
    }
    # The re-sent acknowledgement of a duplicate changes nothing: the very same model.
    assert reduce(received, RECEIVED) is received


def test_a_gap_in_seq_applies_nothing_and_asks_for_a_resync() -> None:
    model = play(ready(4))
    gap = reduce(model, {"type": "report.ready", "seq": 6, "session_id": "ses_1"})
    assert gap.resync and not gap.report_ready and gap.seq == 4
    assert reduce(gap, {"type": "report.ready", "seq": 5, "session_id": "ses_1"}) is gap
    assert not reduce(gap, ready(6)).resync  # a new session.ready repairs it


def test_an_acknowledgement_the_client_cannot_place_asks_for_a_resync() -> None:
    assert play(ready(4), RECEIVED).resync


def test_retry_errors_keep_an_answer_pending_and_others_refuse_it() -> None:
    sent = play(ready(4), SUBMIT)
    limited = reduce(sent, {"type": "error", "code": "rate_limited", "message": "", "fatal": False, "ref": "a1"})
    assert limited is sent
    refused = reduce(sent, {"type": "error", "code": "session_ended", "message": "", "fatal": False, "ref": "a1"})
    assert refused.pending == () and [(r.id, r.code) for r in refused.refused] == [("a1", "session_ended")]


def test_after_a_reconnect_the_replay_says_which_pending_answers_were_stored() -> None:
    sent = play(ready(4), SUBMIT)
    # Stored while the client was away: the replay acknowledges it.
    back = reduce(sent, ready(7, resumed=True, awaiting=False))
    assert [p.id for p in back.pending] == ["a1"]
    assert reduce(back, RECEIVED).pending == ()
    # Never stored, and the session ended meanwhile: the replay's end refuses it.
    ended = reduce(sent, ready(7, resumed=True, status="ended", awaiting=False))
    assert [p.id for p in ended.pending] == ["a1"]
    over = reduce(ended, {"type": "session.ended", "seq": 7, "reason": "completed"})
    assert over.pending == () and [r.code for r in over.refused] == ["session_ended"]
    # With nothing to replay, an ended session refuses it at once.
    assert [r.id for r in reduce(sent, ready(7, status="ended", awaiting=False)).refused] == ["a1"]
