"""What the interview tests share: answering, waiting for the server, comparing transcripts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from viva_client import Interview, Viva
from viva_client.protocol import ServerMessage, TranscriptEntry

TEXT = "I would use a token bucket per user kept in Redis, with a TTL, and fail open when Redis is down."
CODE = "def total(xs):\n    # one pass, O(n)\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"


def run(scenario: Coroutine[Any, Any, None]) -> None:
    """Runs a test's scenario; one that is stuck fails after a minute instead of hanging."""
    asyncio.run(asyncio.wait_for(scenario, 60))


async def answer(interview: Interview) -> str:
    """Answers the question awaited in the format it expects; returns the answer's id."""
    awaited = interview.model.awaiting_answer
    assert awaited is not None
    if awaited["expects"]["format"] == "code":
        return await interview.submit_code(awaited["expects"]["language"], CODE)
    return await interview.answer(TEXT)


def should_answer(interview: Interview) -> bool:
    return interview.model.awaiting_answer is not None and not interview.model.pending


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits for the server to reach a state (bounded: a condition never met fails the test)."""
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def durable(messages: Sequence[ServerMessage]) -> list[dict[str, Any]]:
    return [dict(m) for m in messages if "seq" in m and m["type"] != "session.ready"]


def comparable(transcript: Sequence[TranscriptEntry]) -> list[dict[str, Any]]:
    """The entries without their times (entries the client builds from events have none)."""
    times = ("started_at", "ended_at", "at")
    return [{k: v for k, v in entry.items() if k not in times} for entry in transcript]


async def events(viva: Viva, session_id: str) -> list[dict[str, Any]]:
    """The session's durable log as the server stored it."""
    log: list[dict[str, Any]] = (await viva.request("GET", f"/v1/sessions/{session_id}/events"))["events"]
    return log


async def assert_matches_server(viva: Viva, interview: Interview, shown: Sequence[ServerMessage]) -> None:
    """Every durable event was shown exactly once, in order, as stored; the model is the
    server's session."""
    stored = await events(viva, interview.session_id)
    assert [m["seq"] for m in durable(shown)] == list(range(1, len(stored) + 1))
    assert durable(shown) == stored
    view = await viva.session(interview.session_id)
    assert comparable(interview.model.transcript) == comparable(view["transcript"])
    assert interview.model.scores == view["scores"]
    assert interview.model.status == view["status"]
    assert not interview.model.pending and not interview.model.refused
