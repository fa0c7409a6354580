"""One interview's socket, kept connected until the session ends (docs/protocol.md sections
2, 6 and 7).

`Interview` is an async iterator of server messages. Under it: a ticket for every connect;
the resume handshake (`?last_seq=` the highest durable seq shown, so what happened while the
socket was down is replayed); durable events shown once each, in `seq` order (a replayed event
already shown, or the re-sent acknowledgement of a duplicate answer, is not shown again); the
client's answers kept until acknowledged and re-sent with the same id after a reconnect; and
reconnects with jittered, bounded backoff after the close codes that say to.
`model` follows the interview (`viva_client.model`).

One task iterates; the others may send. The socket is read only while someone iterates.
"""

from __future__ import annotations

import asyncio
import logging
import random
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from .codec import SUBPROTOCOLS, Encoding, decode, encode
from .errors import ApiError, ReconnectFailed, SessionClosed, VivaError
from .model import RETRY_ERRORS, Model, PendingAnswer, reduce
from .protocol import AnswerContent, ClientMessage, ServerMessage, SessionStart, Voice

log = logging.getLogger("viva_client")

Tickets = Callable[[], Awaitable[str]]
"""Gives a fresh socket ticket (`POST /v1/sessions/{id}/ticket`): one per connect."""

# Close codes after which to reconnect (section 7), the list of the protocol crate's
# `CloseCode::reconnects`: a server or a proxy going away or failing (1001, 1006 for no close
# frame, 1011-1014), 4000 going away, 4008 slow consumer, 4011 moved, 4013 internal error,
# 4503 at capacity. 1000 (the session ended) ends the iteration. Any other code raises
# SessionClosed: the session is elsewhere for good (4009: reconnecting would take it back, and
# the two clients would replace each other forever), gone (4010), or the client is at fault
# (1002, 1007, 1009, 4002, 4029), which reconnecting would repeat.
_RECONNECT = frozenset({1001, 1006, 1011, 1012, 1013, 1014, 4000, 4008, 4011, 4013, 4503})
# Close codes that ask for a longer wait before reconnecting: seconds at least.
_WAIT_AT_LEAST = {4503: 5.0}
# Handshake and ticket refusals that a later attempt can cure; any other (401, 403, 404, ...)
# will not change and is raised.
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Seconds before re-sending an answer refused with a retry error (rate_limited refills 10
# tokens a second).
_RETRY_AFTER_S = 1.0
# Acknowledge at most this often: `ack` costs a rate-limit token and the server ignores it
# (section 3), so it must never crowd out an answer.
_ACK_EVERY_S = 5.0


@dataclass(frozen=True)
class Backoff:
    """How long to wait before each reconnect attempt: "full jitter", a delay drawn uniformly
    between 0 and `base_s * 2**attempt` capped at `cap_s`, so that clients dropped together do
    not come back together. After `attempts` failed attempts in a row, `ReconnectFailed`."""

    base_s: float = 0.25
    cap_s: float = 10.0
    attempts: int = 8

    def delay(self, attempt: int, at_least: float = 0.0) -> float:
        return max(at_least, random.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt)))


class Interview:
    """A session's socket. Use `async with` (connects, then closes) and `async for` (every
    server message, until the session ends)."""

    def __init__(
        self,
        base_url: str,
        session_id: str,
        tickets: Tickets,
        *,
        encoding: Encoding = "json",
        last_seq: int | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        scheme, rest = base_url.rstrip("/").split("://", 1)
        ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
        self._url = f"{ws_scheme}://{rest}/v1/sessions/{urllib.parse.quote(session_id, safe='')}/ws"
        self.session_id = session_id
        self.encoding: Encoding = encoding
        self.backoff = backoff
        self.model = Model()
        self._tickets = tickets
        # The highest durable seq shown to the caller: the `last_seq` of every reconnect.
        # None before the first `session.ready` when the caller gave none.
        self._shown = last_seq
        self._ws: ClientConnection | None = None
        self._done = False  # the session ended, the socket may not reconnect, or close()
        self._attempt = 0  # reconnect attempts since the last `session.ready`
        self._wait_at_least = 0.0
        self._acked = 0
        self._acked_at = float("-inf")
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def last_seq(self) -> int:
        """The highest durable seq shown so far: keep it to resume in another process
        (`Viva.connect(..., last_seq=)`)."""
        return self._shown or 0

    async def __aenter__(self) -> Interview:
        await self._open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Leaves: the session carries on without this client."""
        self._done = True
        for task in self._retries:
            task.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    def __aiter__(self) -> Interview:
        return self

    async def __anext__(self) -> ServerMessage:
        while not self._done:
            ws = self._ws
            if ws is None:
                await self._reconnect()
                continue
            await self._ack()
            try:
                frame = await ws.recv()
            except ConnectionClosed as closed:
                self._closed(closed)
                continue
            message = decode(frame, self.encoding)
            if await self._apply(message):
                return message
        raise StopAsyncIteration

    # --- Sending ---------------------------------------------------------------------------

    async def send(self, message: ClientMessage) -> bool:
        """Sends any client message as it is. False when the socket is down and it was not
        sent: answers sent with `answer` and `submit_code` are kept and re-sent after the
        reconnect; anything else is the caller's to re-send, if its effect is not seen."""
        return await self._send_frame(encode(message, self.encoding))

    async def start(self, *, voice: Voice | None = None) -> str:
        """`session.start`: the interviewer starts speaking. Returns the message id."""
        message: SessionStart = {"type": "session.start", "id": _new_id()}
        if voice is not None:
            message["voice"] = voice
        await self.send(message)
        return message["id"]

    async def answer(self, text: str) -> str:
        """A prose answer; returns its id. Kept (`model.pending`) and re-sent with the same id
        until the server acknowledges it (`answer.received`) or refuses it (`model.refused`).
        While the question is still being spoken it is interrupted first. VivaError when no
        answer can be sent now (`model.can_answer`)."""
        return await self._submit({"format": "text", "text": text})

    async def submit_code(self, language: str, source: str) -> str:
        """A code answer, as `answer`."""
        return await self._submit({"format": "code", "language": language, "source": source})

    async def interrupt(self) -> str:
        """`turn.interrupt`: ends the interviewer's turn in flight."""
        return await self._control("turn.interrupt")

    async def end(self) -> str:
        """`session.end`: the candidate ends the interview early; the report follows."""
        return await self._control("session.end")

    async def ping(self) -> str:
        """`ping`: answered with a `pong` carrying the same id."""
        return await self._control("ping")

    async def _control(self, kind: str) -> str:
        message_id = _new_id()
        await self.send(cast(ClientMessage, {"type": kind, "id": message_id}))
        return message_id

    async def _submit(self, content: AnswerContent) -> str:
        if not self.model.can_answer:
            raise VivaError("no answer can be sent now: none is awaited, or one is still pending")
        answer_id = _new_id()
        frame = encode(_answer_message(answer_id, content), self.encoding)  # too big: raises first
        speaking = self.model.open_turn is not None  # a question or follow-up (`can_answer`)
        self.model = reduce(self.model, {"type": "local.submit", "id": answer_id, "answer": content})
        if speaking:
            await self._control("turn.interrupt")
        await self._send_frame(frame)
        return answer_id

    async def _resend(self, pending: PendingAnswer) -> None:
        log.info("re-sending unacknowledged answer %s", pending.id)
        await self.send(_answer_message(pending.id, pending.answer))

    async def _resend_later(self, answer_id: str) -> None:
        await asyncio.sleep(_RETRY_AFTER_S)
        pending = next((p for p in self.model.pending if p.id == answer_id), None)
        if pending is not None:
            await self._resend(pending)

    async def _send_frame(self, frame: str | bytes) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(frame)
        except ConnectionClosed:
            return False  # the reading side sees the close and reconnects
        return True

    async def _ack(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._shown and self._shown > self._acked and now - self._acked_at >= _ACK_EVERY_S:
            if await self.send({"type": "ack", "seq": self._shown}):
                self._acked, self._acked_at = self._shown, now

    # --- Receiving -------------------------------------------------------------------------

    async def _apply(self, message: ServerMessage) -> bool:
        """Applies a message to the model; whether to show it to the caller."""
        if message["type"] == "session.ready":
            self._attempt, self._wait_at_least = 0, 0.0
            self.model = reduce(self.model, message)
            if not message["resumed"] or self._shown is None:
                self._shown = message["seq"]  # nothing is replayed: it is all in `state`
            for pending in self.model.pending:
                await self._resend(pending)
            return True
        seq = cast("int | None", message.get("seq"))
        if seq is not None:
            assert self._shown is not None  # set by `session.ready`, always first
            if seq <= self._shown:
                # Shown already: replayed, or the re-sent acknowledgement of a duplicate answer.
                log.debug("not shown again: %s %d", message["type"], seq)
                self.model = reduce(self.model, message)
                return False
            if seq != self._shown + 1:
                await self._drop(f"seq {seq} after {self._shown}")  # never expected: get the replay
                return False
            self._shown = seq
        self.model = reduce(self.model, message)
        if self.model.resync:
            await self._drop(f"the model could not apply a {message['type']}")
        if message["type"] == "error" and message["code"] in RETRY_ERRORS:
            if any(p.id == message["ref"] for p in self.model.pending):
                task = asyncio.create_task(self._resend_later(cast(str, message["ref"])))
                self._retries.add(task)
                task.add_done_callback(self._retries.discard)
        return True

    def _closed(self, closed: ConnectionClosed) -> None:
        self._ws = None
        code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
        if code == 1000:
            self._done = True  # the session ended: the report is ready
        elif code in _RECONNECT:
            self._wait_at_least = _WAIT_AT_LEAST.get(code, 0.0)
            log.info("socket closed (%d %r): reconnecting", code, reason)
        else:
            self._done = True
            raise SessionClosed(code, reason)

    async def _drop(self, why: str) -> None:
        log.warning("reconnecting to resynchronise: %s", why)
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def _reconnect(self) -> None:
        last_error: BaseException | None = None
        while self._attempt < self.backoff.attempts:
            await asyncio.sleep(self.backoff.delay(self._attempt, self._wait_at_least))
            self._attempt += 1
            try:
                await self._open()
                return
            except ApiError as refused:
                if refused.status not in _RETRY_STATUS:
                    self._done = True
                    raise
                last_error = refused
            except (OSError, asyncio.TimeoutError, InvalidHandshake) as failed:
                last_error = failed
            log.info("reconnect attempt %d failed: %s", self._attempt, last_error)
        self._done = True
        raise ReconnectFailed(self._attempt) from last_error

    async def _open(self) -> None:
        query = {"ticket": await self._tickets()}
        if self._shown is not None:
            query["last_seq"] = str(self._shown)
        subprotocol = SUBPROTOCOLS[self.encoding]
        try:
            ws = await connect(
                f"{self._url}?{urllib.parse.urlencode(query)}",
                subprotocols=[Subprotocol(subprotocol)],
                compression=None,  # the server negotiates no extension
                max_size=None,  # a long session's `session.ready` can be large; trust the server
            )
        except InvalidStatus as refused:
            raise ApiError.from_response(refused.response.status_code, bytes(refused.response.body)) from None
        if ws.subprotocol != subprotocol:
            await ws.close()
            raise VivaError(f"the server did not agree to {subprotocol} (it answered {ws.subprotocol!r})")
        self._ws = ws


def _answer_message(answer_id: str, content: AnswerContent) -> ClientMessage:
    if content["format"] == "code":
        return {"type": "code.submit", "id": answer_id, "language": content["language"], "source": content["source"]}
    return {"type": "answer.submit", "id": answer_id, "text": content["text"]}


def _new_id() -> str:
    return uuid.uuid4().hex
