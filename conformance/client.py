#!/usr/bin/env python3
"""Independent conformance check of the Viva protocol v1, written from docs/protocol.md only.

Usage: python3 conformance/client.py --base http://127.0.0.1:PORT

Runs whole interviews over the WebSocket (JSON and MessagePack), a resume, and bad input, and
prints one line per check. The last line is `conformance: N passed, M failed`; the exit status
is non-zero when any check failed. Needs Python 3.11 and the packages `websockets` (>= 14) and
`msgpack`; REST calls use urllib from the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any, Callable

import jsonschema
import msgpack
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

TIMEOUT = 20.0  # every single wait (one message, one handshake, one REST call)

JSON = "viva.v1.json"
MSGPACK = "viva.v1.msgpack"

DURABLE = {"turn.started", "turn.done", "answer.received", "score.updated", "report.ready", "session.ending", "session.ended"}
EPHEMERAL = {"turn.delta", "clock", "error", "pong"}
TURN_KINDS = {"intro", "question", "follow_up", "feedback", "closing"}
TURN_STATUSES = {"completed", "interrupted", "failed"}
END_REASONS = {"completed", "time_up", "ended_by_candidate", "interviewer_failed", "out_of_minutes", "abandoned"}

# The server messages' JSON Schema as committed (protocol/schema/): every message received on a
# JSON socket is checked against it (MessagePack carries audio as bytes, which JSON Schema
# cannot say, so those are checked by the rules above only).
SCHEMA_PATH = __import__("pathlib").Path(__file__).resolve().parent.parent / "protocol/schema/server-message.schema.json"
SERVER_SCHEMA = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
SCHEMA_CHECKED: Counter = Counter()
SCHEMA_ERRORS: list[str] = []


# ---------------------------------------------------------------------------------------------
# Reporting


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail or 'failed'}", flush=True)
        return ok

    def problems(self, name: str, problems: list[str], ok_detail: str = "") -> bool:
        """One check that passes when `problems` is empty; shows the first few otherwise."""
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            return self.check(name, False, "; ".join(problems[:3]) + more)
        return self.check(name, True, ok_detail)


R = Results()


class Abort(Exception):
    """A scenario cannot go on; the reason was already reported as a failed check."""


# ---------------------------------------------------------------------------------------------
# REST (stdlib only)


def rest(base: str, method: str, path: str, user: str | None = None, body: Any = None) -> tuple[int, dict, Any]:
    """Returns (status, lower-cased headers, parsed JSON body or text)."""
    data = None
    headers = {"Accept": "application/json"}
    if user is not None:
        headers["Authorization"] = f"Bearer dev:{user}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, hdrs, parsed


async def arest(*args: Any, **kwargs: Any) -> tuple[int, dict, Any]:
    return await asyncio.to_thread(rest, *args, **kwargs)


def error_code(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


async def create_session(base: str, user: str, plan: str) -> str:
    status, _, body = await arest(base, "POST", "/v1/sessions", user=user, body={"plan": plan})
    ok = (
        status == 201
        and isinstance(body, dict)
        and isinstance(body.get("session_id"), str)
        and body["session_id"].startswith("ses_")
        and isinstance(body.get("plan"), dict)
        and body["plan"].get("id") == plan
        and body.get("ws_path") == f"/v1/sessions/{body['session_id']}/ws"
    )
    if not ok:
        R.check(f"POST /v1/sessions plan={plan} user={user} -> 201 SessionCreated", False, f"{status} {body!r}"[:300])
        raise Abort()
    return body["session_id"]


# ---------------------------------------------------------------------------------------------
# WebSocket


def ws_url(base: str, sid: str, last_seq: Any = None) -> str:
    url = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + f"/v1/sessions/{sid}/ws"
    if last_seq is not None:
        url += f"?last_seq={last_seq}"
    return url


async def ws_connect(base: str, sid: str, user: str | None, subprotocols: list[str] | None, last_seq: Any = None):
    headers = {"Authorization": f"Bearer dev:{user}"} if user is not None else {}
    return await asyncio.wait_for(
        websockets.connect(
            ws_url(base, sid, last_seq),
            additional_headers=headers,
            subprotocols=subprotocols,
            open_timeout=TIMEOUT,
            ping_interval=None,
            max_size=2**24,
        ),
        TIMEOUT + 1,
    )


class Conn:
    """One socket in one encoding; checks that every frame has the encoding's frame type."""

    def __init__(self, ws: Any, fmt: str, on_violation: Callable[[str], None]) -> None:
        self.ws = ws
        self.fmt = fmt
        self.on_violation = on_violation

    @classmethod
    async def open(cls, base, sid, user, fmt, on_violation, last_seq=None) -> "Conn":
        ws = await ws_connect(base, sid, user, [fmt], last_seq)
        if ws.subprotocol != fmt:
            on_violation(f"handshake echoed subprotocol {ws.subprotocol!r}, offered {fmt!r}")
        return cls(ws, fmt, on_violation)

    async def send(self, obj: dict) -> None:
        if self.fmt == MSGPACK:
            await self.ws.send(msgpack.packb(obj, use_bin_type=True))
        else:
            await self.ws.send(json.dumps(obj))

    async def recv(self, timeout: float = TIMEOUT) -> dict:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if self.fmt == MSGPACK:
            if not isinstance(raw, bytes):
                self.on_violation("text frame on a msgpack socket")
                return json.loads(raw)
            msg = msgpack.unpackb(raw, raw=False)
        else:
            if not isinstance(raw, str):
                self.on_violation("binary frame on a JSON socket")
                return msgpack.unpackb(raw, raw=False)
            msg = json.loads(raw)
            SCHEMA_CHECKED[msg.get("type") if isinstance(msg, dict) else "?"] += 1
            for error in SERVER_SCHEMA.iter_errors(msg):
                SCHEMA_ERRORS.append(f"{str(msg)[:120]}: {error.message[:160]}")
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.on_violation(f"message is not an object with a string type: {msg!r}"[:200])
            return {"type": "?"}
        return msg

    async def drop(self) -> None:
        """Drops the connection without a closing handshake, like a lost network."""
        self.ws.transport.abort()
        try:
            await asyncio.wait_for(self.ws.wait_closed(), TIMEOUT)
        except Exception:
            pass

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), TIMEOUT)
        except Exception:
            pass


def close_of(ws: Any) -> tuple[Any, Any]:
    """(code, reason) of the close frame the server sent, or (None, None)."""
    rcvd = getattr(getattr(ws, "protocol", None), "close_rcvd", None)
    if rcvd is None:
        return None, None
    return rcvd.code, rcvd.reason


# ---------------------------------------------------------------------------------------------
# One interview, tracked across connections


def is_score(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 10.0


def bad_scores(obj: Any) -> bool:
    """True unless obj is {dimensions: [{name, score}], overall: score|null}."""
    if not isinstance(obj, dict) or not isinstance(obj.get("dimensions"), list):
        return True
    for d in obj["dimensions"]:
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not is_score(d.get("score")):
            return True
    ov = obj.get("overall", "missing")
    return not (ov is None or is_score(ov))


class Interview:
    def __init__(self, base: str, plan: str, fmt: str, user: str, label: str) -> None:
        self.base, self.plan, self.fmt, self.user = base, plan, fmt, user
        self.label = label
        self.sid = ""
        # problems by check; each becomes one output line at the end
        self.p: dict[str, list[str]] = {k: [] for k in ("frames", "seq", "turns", "deltas", "answers", "scores", "end", "other", "replay")}
        self.last_seq = 0
        self.events: dict[int, dict] = {}  # seq -> durable event as first received
        self.turns: dict[int, dict] = {}
        self.open_tid: int | None = None
        self.max_tid = 0
        self.awaiting: int | None = None  # turn_id of the question/follow_up waiting for an answer
        self.answered_turn: int | None = None  # awaiting turn we already sent an answer for
        self.sent: dict[str, dict] = {}  # answer client id -> {kind, content, turn_id}
        self.acks: dict[str, tuple[int, int]] = {}  # client id -> (seq, answer_id)
        self.ack_count: Counter = Counter()
        self.dup_acks: Counter = Counter()
        self.aid_to_id: dict[int, str] = {}
        self.score_count: Counter = Counter()
        self.score_before_ack: list[int] = []
        self.prev_durable: str | None = None
        self.report_seq: int | None = None
        self.ending: dict | None = None  # session.ending, when the end had to wait
        self.ended: dict | None = None
        self.after_end: list[str] = []
        self.n = 0
        # per connection
        self.head = 0
        self.caught_up_checked = True
        self.ready_state: dict = {}
        self.pending_open: dict | None = None
        self.conn_seqs: list[int] = []
        self.replay_expect: int | None = None  # next seq expected in a re-replay of seen events
        self.replay_matched = 0

    # --- bookkeeping -------------------------------------------------------------------------

    def violation(self, what: str) -> None:
        self.p["frames"].append(what)

    def on_ready(self, m: dict, requested: int | None) -> None:
        self.head = m.get("seq")
        st = m.get("state") or {}
        self.ready_state = st
        self.conn_seqs = []
        self.caught_up_checked = False
        self.pending_open = None
        self.replay_expect = None
        if requested is not None and requested < self.last_seq:
            self.replay_expect = requested + 1
        ot = st.get("open_turn")
        if ot is not None:
            t = self.turns.get(ot.get("turn_id"))
            if t is not None and t["done"] == 0:
                # the turn was open when we dropped: deltas we may have missed are in ot.text
                if not ot.get("text", "").startswith(t["text"]):
                    self.p["deltas"].append(f"turn {ot['turn_id']}: open_turn.text {ot.get('text')!r} does not extend the deltas seen {t['text']!r}")
                t["text"], t["next_index"], t["partial"] = ot.get("text", ""), ot.get("next_index"), False
            elif t is None:
                self.pending_open = ot  # its turn.started is in the replay
        for tid, t in self.turns.items():
            if t["done"] == 0 and (ot is None or ot.get("turn_id") != tid):
                t["partial"] = True  # finished while we were away: its turn.done is in the replay

    def on_msg(self, m: dict) -> None:
        t = m["type"]
        if self.ended is not None:
            self.after_end.append(t)
        if t == "session.ready":
            self.p["other"].append("a second session.ready on one connection")
            return
        if t not in DURABLE and t not in EPHEMERAL:
            self.p["other"].append(f"unknown server message type {t!r}")
            return
        if t in DURABLE:
            seq = m.get("seq")
            if not isinstance(seq, int):
                self.p["seq"].append(f"{t} without an integer seq")
                return
            if seq <= self.last_seq:
                if self.replay_expect is not None and seq == self.replay_expect:
                    # a replay of events this client has already seen (it asked for an older last_seq)
                    self.replay_expect += 1
                    self.replay_matched += 1
                    if self.events.get(seq) != m:
                        self.p["replay"].append(f"replayed seq {seq} differs: {m!r} vs {self.events.get(seq)!r}"[:300])
                    if seq >= self.last_seq:
                        self.replay_expect = None
                    self.conn_seqs.append(seq)
                    return
                if t == "answer.received" and self.acks.get(m.get("id")) == (seq, m.get("answer_id")):
                    self.dup_acks[m.get("id")] += 1  # re-sent acknowledgement of a duplicate answer
                    return
                self.p["seq"].append(f"{t} seq {seq} not above {self.last_seq} (duplicate or out of order)")
                return
            if self.replay_expect is not None:
                self.p["replay"].append(f"replay of seen events stopped at {self.replay_expect - 1}, then got seq {seq}")
                self.replay_expect = None
            if seq != self.last_seq + 1:
                self.p["seq"].append(f"gap: seq {seq} after {self.last_seq}")
            self.last_seq = seq
            self.events[seq] = m
            self.conn_seqs.append(seq)
            if self.ending is not None and t not in self.AFTER_ENDING:
                self.p["end"].append(f"{t} after session.ending")
            if self.prev_durable == "report.ready" and t != "session.ended":
                self.p["end"].append(f"report.ready followed by {t}, not session.ended")
            self.prev_durable = t
        getattr(self, "on_" + t.replace(".", "_"))(m)

    # protocol.md, session.ending: "Nothing but score.updated, that closing turn, report.ready and
    # session.ended follows it" (the closing turn only for out_of_minutes, checked below)
    AFTER_ENDING = {"score.updated", "turn.started", "turn.done", "report.ready", "session.ended"}

    def on_session_ending(self, m: dict) -> None:
        if self.ending is not None:
            self.p["end"].append("two session.ending")
        if self.report_seq is not None:
            self.p["end"].append("session.ending after report.ready")
        if m.get("reason") not in END_REASONS:
            self.p["end"].append(f"session.ending: unknown reason {m.get('reason')!r}")
        self.ending = m

    def on_turn_started(self, m: dict) -> None:
        if self.ending is not None and not (self.ending.get("reason") == "out_of_minutes" and m.get("kind") == "closing"):
            self.p["end"].append(f"turn.started ({m.get('kind')}) after session.ending ({self.ending.get('reason')})")
        tid, kind = m.get("turn_id"), m.get("kind")
        if tid != self.max_tid + 1:
            self.p["turns"].append(f"turn.started turn_id {tid} after {self.max_tid}")
        if self.open_tid is not None:
            self.p["turns"].append(f"turn {tid} started while turn {self.open_tid} is open")
        if kind not in TURN_KINDS:
            self.p["turns"].append(f"turn {tid}: unknown kind {kind!r}")
        qid, exp = m.get("question_id", "missing"), m.get("expects", "missing")
        if kind in ("intro", "closing") and qid is not None:
            self.p["turns"].append(f"turn {tid} ({kind}): question_id {qid!r}, expected null")
        if kind in ("question", "follow_up", "feedback") and not isinstance(qid, str):
            self.p["turns"].append(f"turn {tid} ({kind}): question_id {qid!r}, expected a string")
        if kind in ("question", "follow_up"):
            if not (isinstance(exp, dict) and exp.get("format") in ("text", "code")):
                self.p["turns"].append(f"turn {tid} ({kind}): expects {exp!r}")
        elif exp is not None:
            self.p["turns"].append(f"turn {tid} ({kind}): expects {exp!r}, expected null")
        if self.awaiting is not None:
            self.p["turns"].append(f"turn {tid} started while the interviewer waits for an answer to turn {self.awaiting}")
        self.max_tid = max(self.max_tid, tid if isinstance(tid, int) else 0)
        rec = {"kind": kind, "question_id": qid, "expects": exp, "done": 0, "text": "", "next_index": 0,
               "partial": False, "deltas": 0, "done_text": None, "status": None}
        if self.pending_open is not None and self.pending_open.get("turn_id") == tid:
            rec["text"], rec["next_index"] = self.pending_open.get("text", ""), self.pending_open.get("next_index")
            self.pending_open = None
        elif m["seq"] <= self.head:
            rec["partial"] = True  # started and finished while we were away: no deltas to see
        if tid in self.turns:
            self.p["turns"].append(f"turn {tid} started twice")
        self.turns[tid] = rec
        self.open_tid = tid

    def on_turn_delta(self, m: dict) -> None:
        tid = m.get("turn_id")
        rec = self.turns.get(tid)
        if rec is None or tid != self.open_tid:
            self.p["deltas"].append(f"turn.delta for turn {tid}, which is not open (open: {self.open_tid})")
            return
        if m.get("index") != rec["next_index"]:
            self.p["deltas"].append(f"turn {tid}: delta index {m.get('index')}, expected {rec['next_index']}")
        if not isinstance(m.get("text"), str) or m["text"] == "":
            self.p["deltas"].append(f"turn {tid}: empty delta text {m.get('text')!r}")
        rec["text"] += m.get("text") or ""
        rec["next_index"] = (m.get("index") if isinstance(m.get("index"), int) else rec["next_index"]) + 1
        rec["deltas"] += 1

    def on_turn_done(self, m: dict) -> None:
        tid, status, text = m.get("turn_id"), m.get("status"), m.get("text")
        rec = self.turns.get(tid)
        if rec is None:
            self.p["turns"].append(f"turn.done for turn {tid} that never started")
            return
        rec["done"] += 1
        rec["done_text"], rec["status"] = text, status
        if tid != self.open_tid:
            self.p["turns"].append(f"turn.done for turn {tid}, open turn is {self.open_tid}")
        self.open_tid = None
        if status not in TURN_STATUSES:
            self.p["turns"].append(f"turn {tid}: unknown status {status!r}")
        if not isinstance(text, str):
            self.p["deltas"].append(f"turn {tid}: turn.done.text {text!r}")
        elif rec["partial"]:
            if not text.startswith(rec["text"]):
                self.p["deltas"].append(f"turn {tid}: done text {text!r} does not start with the deltas seen {rec['text']!r}")
        elif text != rec["text"]:
            self.p["deltas"].append(f"turn {tid}: concatenated deltas {rec['text']!r} != turn.done.text {text!r}")
        if rec["kind"] in ("question", "follow_up") and status != "failed":
            self.awaiting = tid

    def on_answer_received(self, m: dict) -> None:
        cid, aid = m.get("id"), m.get("answer_id")
        if cid not in self.sent:
            self.p["answers"].append(f"answer.received for an id this client never sent: {cid!r}")
            return
        self.ack_count[cid] += 1
        if self.ack_count[cid] > 1:
            self.p["answers"].append(f"answer {cid!r} acknowledged twice with new seqs")
            return
        if aid != len(self.acks) + 1:
            self.p["answers"].append(f"answer {cid!r}: answer_id {aid}, expected {len(self.acks) + 1}")
        self.acks[cid] = (m["seq"], aid)
        self.aid_to_id[aid] = cid
        self.sent[cid]["answer_id"] = aid
        if self.awaiting != self.sent[cid]["turn_id"]:
            self.p["answers"].append(f"answer {cid!r} acknowledged while the model waits on turn {self.awaiting}")
        self.awaiting = None

    def on_score_updated(self, m: dict) -> None:
        aid = m.get("answer_id")
        if aid not in self.aid_to_id:
            self.score_before_ack.append(aid)
        self.score_count[aid] += 1
        if bad_scores(m) or bad_scores(m.get("answer")):
            self.p["scores"].append(f"score.updated for answer {aid} has malformed scores: {m!r}"[:300])
        if self.report_seq is not None:
            self.p["scores"].append(f"score.updated for answer {aid} after report.ready")

    def on_report_ready(self, m: dict) -> None:
        if m.get("session_id") != self.sid:
            self.p["end"].append(f"report.ready session_id {m.get('session_id')!r}")
        if self.report_seq is not None:
            self.p["end"].append("two report.ready")
        self.report_seq = m["seq"]

    def on_session_ended(self, m: dict) -> None:
        if self.report_seq is None or m["seq"] != self.report_seq + 1:
            self.p["end"].append(f"session.ended seq {m['seq']} not right after report.ready (seq {self.report_seq})")
        if m.get("reason") not in END_REASONS:
            self.p["end"].append(f"unknown end reason {m.get('reason')!r}")
        if self.ending is not None and self.ending.get("reason") != m.get("reason"):
            self.p["end"].append(f"session.ended reason {m.get('reason')!r} after session.ending {self.ending.get('reason')!r}")
        if self.open_tid is not None:
            self.p["end"].append(f"session ended with turn {self.open_tid} still open")
        self.ended = m

    def on_clock(self, m: dict) -> None:
        if not (isinstance(m.get("elapsed_s"), int) and isinstance(m.get("remaining_s"), int)):
            self.p["other"].append(f"malformed clock {m!r}")

    def on_error(self, m: dict) -> None:
        self.p["other"].append(f"unexpected error {m.get('code')!r}: {m.get('message')!r} (ref {m.get('ref')!r})")

    def on_pong(self, m: dict) -> None:
        pass

    # --- driving -----------------------------------------------------------------------------

    def caught_up(self) -> bool:
        return self.last_seq >= self.head

    def check_caught_up(self) -> None:
        """Once the replay is in: the model must agree with session.ready's state (as of head)."""
        if self.caught_up_checked or not self.caught_up():
            return
        self.caught_up_checked = True
        aw = self.ready_state.get("awaiting_answer")
        model = self.awaiting if self.answered_turn != self.awaiting else None
        if (aw is None) != (model is None):
            self.p["other"].append(f"state.awaiting_answer {aw!r} but after the replay the client model says awaiting={model}")
        elif aw is not None and aw.get("question_id") != self.turns[model]["question_id"]:
            self.p["other"].append(f"state.awaiting_answer {aw!r} vs turn {model} {self.turns[model]['question_id']!r}")
        finished = [e.get("turn_id") for e in self.ready_state.get("transcript", []) if e.get("entry") == "turn"]
        for tid in finished:
            rec = self.turns.get(tid)
            entry = next(e for e in self.ready_state["transcript"] if e.get("entry") == "turn" and e.get("turn_id") == tid)
            if rec is None or rec["done_text"] != entry.get("text"):
                self.p["other"].append(f"state.transcript turn {tid} {entry.get('text')!r} vs turn.done {rec and rec['done_text']!r}")

    def make_answer(self, tid: int) -> tuple[str, dict]:
        self.n += 1
        cid = f"{self.user}-{self.fmt.rsplit('.', 1)[1]}-a{self.n}"
        rec = self.turns[tid]
        q = (rec["done_text"] or "").strip() or "the question"
        exp = rec["expects"] if isinstance(rec["expects"], dict) else {"format": "text"}
        if exp.get("format") == "code":
            lang = exp.get("language") or "python"
            source = (
                f"# answer {self.n} in {lang} to: {q[:200]}\n"
                "def solve(items, limit=100):\n"
                "    if not items:\n"
                "        return []\n"
                "    seen = set()\n"
                "    result = []\n"
                "    for item in items:  # O(n) time, O(n) memory\n"
                "        if item not in seen and len(result) < limit:\n"
                "            seen.add(item)\n"
                "            result.append(item)\n"
                "    return result\n"
            )
            msg = {"type": "code.submit", "id": cid, "language": lang, "source": source}
            self.sent[cid] = {"kind": "code", "content": {"format": "code", "language": lang, "source": source}, "turn_id": tid}
        else:
            text = (
                f"Answer {self.n}. You asked: {q} I would start with the requirements and measure first, "
                "then pick the simplest design that works, add a cache with a TTL and LRU eviction, "
                "retries with backoff and idempotency keys, monitoring and alerts, tests, and I would "
                "own the rollout and explain the trade-offs to the team, for example p99 latency under 50 ms."
            )
            msg = {"type": "answer.submit", "id": cid, "text": text}
            self.sent[cid] = {"kind": "text", "content": {"format": "text", "text": text}, "turn_id": tid}
        return cid, msg

    async def maybe_answer(self, conn: Conn) -> None:
        self.check_caught_up()
        if not self.caught_up() or self.awaiting is None or self.answered_turn == self.awaiting:
            return
        self.answered_turn = self.awaiting
        _, msg = self.make_answer(self.awaiting)
        await conn.send(msg)

    async def connect(self, last_seq: int | None = None, expect_resumed: bool = False) -> Conn:
        try:
            conn = await Conn.open(self.base, self.sid, self.user, self.fmt, self.violation, last_seq)
            first = await conn.recv()
        except (OSError, InvalidStatus, ConnectionClosed, asyncio.TimeoutError) as e:
            R.check(f"{self.label} connect (last_seq={last_seq})", False, repr(e)[:300])
            raise Abort()
        st = first.get("state")
        ok = (
            first.get("type") == "session.ready"
            and first.get("session_id") == self.sid
            and first.get("resumed") is expect_resumed
            and isinstance(first.get("seq"), int)
            and first.get("last_seq") == first.get("seq")
            and isinstance(first.get("epoch"), int)
            and isinstance(st, dict)
            and st.get("plan_id") == self.plan
        )
        if last_seq is None:
            ok = ok and first.get("seq") == 0 and st.get("status") == "created" and st.get("transcript") == [] and not st.get("report_ready")
        else:
            ok = ok and first["seq"] >= last_seq
        R.check(
            f"{self.label} session.ready is the first message (last_seq={last_seq}, resumed={str(expect_resumed).lower()})",
            ok,
            f"seq={first.get('seq')} status={(st or {}).get('status')}" if ok else repr(first)[:300],
        )
        if not ok:
            raise Abort()
        self.on_ready(first, last_seq)
        return conn

    async def pump(self, conn: Conn, stop: Callable[[dict], bool] | None = None) -> str:
        """Reads until the server closes ('closed'), `stop` says so ('stopped') or a wait times out."""
        await self.maybe_answer(conn)
        while True:
            try:
                m = await conn.recv()
            except ConnectionClosed:
                return "closed"
            except asyncio.TimeoutError:
                self.p["other"].append(f"no message for {TIMEOUT:.0f} s (last seq {self.last_seq}, awaiting {self.awaiting})")
                return "timeout"
            self.on_msg(m)
            if stop is not None and stop(m):
                return "stopped"
            await self.maybe_answer(conn)

    async def finish(self, conn: Conn) -> None:
        """Runs the current connection to the end and reports every invariant."""
        how = await self.pump(conn)
        code, reason = close_of(conn.ws)
        await conn.close()
        L = self.label
        R.problems(f"{L} frames: {'binary' if self.fmt == MSGPACK else 'text'} frames, one well-formed message each", self.p["frames"])
        R.problems(f"{L} durable seq contiguous from 1, no gap or duplicate", self.p["seq"] + (
            [] if sorted(self.events) == list(range(1, self.last_seq + 1)) else ["seen seqs are not 1..last"]),
            f"1..{self.last_seq}")
        unmatched = [f"turn {tid} ({t['kind']}) has {t['done']} turn.done" for tid, t in self.turns.items() if t["done"] != 1]
        R.problems(f"{L} every turn.started has exactly one turn.done", self.p["turns"] + unmatched, f"{len(self.turns)} turns")
        full = sum(1 for t in self.turns.values() if not t["partial"])
        R.problems(f"{L} turn.delta indexes 0,1,2,... and their concatenation == turn.done.text", self.p["deltas"],
                   f"{full} turns checked whole, {sum(t['deltas'] for t in self.turns.values())} deltas")
        missing = [f"answer {cid!r} has {self.ack_count[cid]} answer.received" for cid in self.sent if self.ack_count[cid] != 1]
        R.problems(f"{L} every answer gets exactly one answer.received with its id", self.p["answers"] + missing,
                   f"{len(self.sent)} answers ({sum(1 for s in self.sent.values() if s['kind'] == 'code')} code)")
        sc = [f"answer_id {aid} has {self.score_count[aid]} score.updated" for aid in self.aid_to_id if self.score_count[aid] != 1]
        sc += [f"score.updated for unknown/unacknowledged answer_id {aid}" for aid in self.score_before_ack]
        R.problems(f"{L} every answer gets exactly one score.updated", self.p["scores"] + sc)
        end = list(self.p["end"])
        if self.report_seq is None or self.ended is None:
            end.append(f"report.ready seq={self.report_seq}, session.ended={self.ended!r}")
        elif self.ended["seq"] != self.last_seq:
            end.append(f"session.ended seq {self.ended['seq']} is not the last durable event ({self.last_seq})")
        elif self.ended.get("reason") != "completed":
            end.append(f"end reason {self.ended.get('reason')!r}, expected completed")
        if self.after_end:
            end.append(f"messages after session.ended: {self.after_end}")
        R.problems(f"{L} report.ready, then session.ended (last durable event, reason completed)", end)
        ok = how == "closed" and code == 1000 and reason == "session ended"
        R.check(f"{L} server closes with 1000 'session ended'", ok, "" if ok else f"how={how} code={code} reason={reason!r}")
        R.problems(f"{L} no unexpected error/other messages", self.p["other"])
        if self.p["replay"]:
            R.problems(f"{L} replay", self.p["replay"])
        await self.check_rest()

    async def check_rest(self) -> None:
        L, sid = self.label, self.sid
        status, _, rep = await arest(self.base, "GET", f"/v1/sessions/{sid}/report", user=self.user)
        ok = status == 200 and isinstance(rep, dict) and rep.get("session_id") == sid
        detail = f"status {status}"
        if ok:
            aids = [a.get("answer_id") for a in rep.get("answers", [])]
            ok = (aids == list(range(1, len(self.acks) + 1)) and rep.get("ended_reason") == "completed"
                  and isinstance(rep.get("plan"), dict) and rep["plan"].get("id") == self.plan and isinstance(rep["plan"].get("version"), int)
                  and (rep.get("overall") is None or is_score(rep.get("overall"))))
            detail = f"answers {aids}, overall {rep.get('overall')}, plan {rep.get('plan')}"
        R.check(f"{L} GET /v1/sessions/{{id}}/report -> 200 for the owner, one AnswerEvidence per answer", ok, detail)
        status, _, body = await arest(self.base, "GET", f"/v1/sessions/{sid}/report", user=self.user + "-other")
        ok = status == 404 and error_code(body) == "not_found"
        R.check(f"{L} GET /v1/sessions/{{id}}/report -> 404 not_found for another user", ok, "" if ok else f"{status} {body!r}"[:200])
        status, _, view = await arest(self.base, "GET", f"/v1/sessions/{sid}", user=self.user)
        problems = []
        if status != 200 or not isinstance(view, dict):
            problems.append(f"status {status} {view!r}"[:200])
        else:
            if view.get("status") != "ended" or view.get("last_seq") != self.last_seq or view.get("report_ready") is not True:
                problems.append(f"status={view.get('status')} last_seq={view.get('last_seq')} (client {self.last_seq}) report_ready={view.get('report_ready')}")
            answers = {e.get("answer_id"): e for e in view.get("transcript", []) if e.get("entry") == "answer"}
            for cid, s in self.sent.items():
                e = answers.get(s.get("answer_id"))
                if e is None or e.get("answer") != s["content"]:
                    problems.append(f"answer {cid!r} (answer_id {s.get('answer_id')}) not in the transcript as sent")
            if len(answers) != len(self.acks):
                problems.append(f"{len(answers)} answers in the transcript, {len(self.acks)} acknowledged")
            turns = [e for e in view.get("transcript", []) if e.get("entry") == "turn"]
            for e in turns:
                rec = self.turns.get(e.get("turn_id"))
                if rec is None or rec["done_text"] != e.get("text") or rec["status"] != e.get("status"):
                    problems.append(f"transcript turn {e.get('turn_id')} differs from its turn.done")
            if len(turns) != len(self.turns):
                problems.append(f"{len(turns)} turns in the transcript, {len(self.turns)} seen")
        R.problems(f"{L} GET /v1/sessions/{{id}} is ended, at the same last_seq, with every answer's text and every turn in its transcript", problems)


# ---------------------------------------------------------------------------------------------
# Scenarios


async def scenario_interview(base: str, plan: str, fmt: str, n: int) -> None:
    user = f"conf-{n}"
    iv = Interview(base, plan, fmt, user, f"[{fmt.rsplit('.', 1)[1]} {plan}]")
    iv.sid = await create_session(base, user, plan)
    conn = await iv.connect()
    await conn.send({"type": "session.start", "id": f"{user}-start"})
    await iv.finish(conn)


async def scenario_resume(base: str, plan: str, n: int) -> None:
    user = f"conf-{n}"
    iv = Interview(base, plan, JSON, user, f"[resume {plan}]")
    L = iv.label
    iv.sid = await create_session(base, user, plan)
    conn = await iv.connect()
    await conn.send({"type": "session.start", "id": f"{user}-start"})

    # 1. drop the socket right after the first answer.received, resume from there
    how = await iv.pump(conn, stop=lambda m: m["type"] == "answer.received")
    if not R.check(f"{L} first answer acknowledged, then the socket is dropped", how == "stopped", "" if how == "stopped" else how):
        raise Abort()
    await conn.drop()
    dropped_at = iv.last_seq
    conn = await iv.connect(last_seq=dropped_at, expect_resumed=True)
    head = iv.head
    how = await iv.pump(conn, stop=lambda m: iv.caught_up() and m["type"] == "answer.received")
    replayed = [s for s in iv.conn_seqs if s <= head]
    R.check(f"{L} replay after ?last_seq={dropped_at} is seqs {dropped_at + 1}..{head} in order, then live from {head + 1}",
            replayed == list(range(dropped_at + 1, head + 1)) and iv.conn_seqs[: len(replayed)] == replayed and not iv.p["seq"],
            f"{len(replayed)} replayed, {len(iv.conn_seqs)} durable on this connection" if not iv.p["seq"] else "; ".join(iv.p["seq"][:3]))
    if not R.check(f"{L} an answer after the resume is acknowledged, then the socket is dropped again", how == "stopped", "" if how == "stopped" else how):
        raise Abort()

    # 2. drop again; ?last_seq=0 replays the whole history, identical to what was seen
    await conn.drop()
    seen = iv.last_seq
    conn = await iv.connect(last_seq=0, expect_resumed=True)
    first_cid = next(iter(iv.acks))
    first_ack = iv.acks[first_cid]

    def replay_done(m: dict) -> bool:
        return iv.replay_expect is None and iv.caught_up()

    if iv.replay_expect is None:
        how = "stopped"
    else:
        how = await iv.pump(conn, stop=replay_done)
    R.problems(f"{L} ?last_seq=0 replays every durable event 1..{seen} exactly as first sent",
               iv.p["replay"] + ([] if iv.replay_matched == seen else [f"{iv.replay_matched} of {seen} replayed ({how})"]),
               f"{iv.replay_matched} events")

    # 3. a re-sent answer (same id) is acknowledged again with its original seq, not applied twice
    content = iv.sent[first_cid]["content"]
    dup = ({"type": "answer.submit", "id": first_cid, "text": content["text"]} if content["format"] == "text"
           else {"type": "code.submit", "id": first_cid, "language": content["language"], "source": content["source"]})
    await conn.send(dup)
    await conn.send({"type": "ping", "id": f"{user}-p-after-dup"})
    how = await iv.pump(conn, stop=lambda m: m["type"] == "pong" and m.get("id") == f"{user}-p-after-dup")
    got_pong = how == "stopped"
    R.check(f"{L} duplicate answer id -> its original answer.received again (seq {first_ack[0]}, answer_id {first_ack[1]}), before the next reply",
            got_pong and iv.dup_acks[first_cid] == 1, f"re-acks={iv.dup_acks[first_cid]} pong={got_pong}")
    await iv.finish(conn)


async def expect_reply(conn: Conn, pred: Callable[[dict], bool], timeout: float = TIMEOUT) -> dict | None:
    """The first message for which pred holds (others, e.g. clock, are skipped), or None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            m = await conn.recv(left)
        except (asyncio.TimeoutError, ConnectionClosed):
            return None
        if pred(m):
            return m


async def expect_error(conn: Conn, L: str, what: str, code: str, ref: Any, ping_id: str) -> None:
    m = await expect_reply(conn, lambda m: m["type"] in ("error", "pong"))
    ok = (m is not None and m["type"] == "error" and m.get("code") == code and m.get("ref") == ref
          and m.get("fatal") is False and isinstance(m.get("message"), str))
    R.check(f"{L} {what} -> error {code} (ref {ref!r}, fatal false)", ok, repr(m.get("message")) if ok and m else repr(m)[:300])
    await conn.send({"type": "ping", "id": ping_id})
    m = await expect_reply(conn, lambda m: m["type"] in ("error", "pong"))
    ok = m == {"type": "pong", "id": ping_id}
    R.check(f"{L} ... then ping -> pong with the same id", ok, "" if ok else repr(m)[:200])


async def expect_refusal(L: str, what: str, base: str, sid: str, user: str | None, subprotocols: list[str] | None,
                         status: int, code: str, last_seq: Any = None) -> None:
    try:
        ws = await ws_connect(base, sid, user, subprotocols, last_seq)
    except InvalidStatus as e:
        resp = e.response
        try:
            body = json.loads(resp.body or b"")
        except ValueError:
            body = resp.body
        ok = resp.status_code == status and error_code(body) == code
        if status == 401:
            ok = ok and resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
        R.check(f"{L} {what} -> HTTP {status} {code} at the handshake", ok, "" if ok else f"{resp.status_code} {body!r}"[:200])
        return
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        R.check(f"{L} {what} -> HTTP {status} {code} at the handshake", False, repr(e)[:200])
        return
    await ws.close()
    R.check(f"{L} {what} -> HTTP {status} {code} at the handshake", False, "the upgrade succeeded")


async def scenario_bad_input(base: str, plan: str) -> None:
    L = "[bad-input]"
    user = "conf-bad"
    sid = await create_session(base, user, plan)
    viol: list[str] = []
    conn = await Conn.open(base, sid, user, JSON, viol.append)
    first = await conn.recv()
    ok = first.get("type") == "session.ready" and first.get("seq") == 0
    R.check(f"{L} session.ready first on a JSON socket", ok, "" if ok else repr(first)[:200])

    await conn.ws.send("{not json")
    await expect_error(conn, L, "malformed JSON", "invalid_message", None, "p1")
    await conn.send({"type": "interview.explode", "id": "u1"})
    await expect_error(conn, L, "unknown type", "unknown_type", "u1", "p2")
    await conn.ws.send(json.dumps({"type": "ping", "id": "bin"}).encode())
    await expect_error(conn, L, "binary frame on a JSON socket", "wrong_frame_type", "bin", "p3")
    await conn.send({"type": "answer.submit", "id": "a0"})
    await expect_error(conn, L, "answer.submit without text", "invalid_message", "a0", "p4")
    await conn.send({"type": "answer.submit", "id": "", "text": "hello"})
    await expect_error(conn, L, "empty id", "invalid_id", None, "p5")
    await conn.send({"type": "answer.submit", "id": "a1", "text": "too early"})
    await expect_error(conn, L, "answer before session.start", "not_started", "a1", "p6")

    # a second socket replaces the first (4009); on MessagePack the wrong frame type is text
    mp = await Conn.open(base, sid, user, MSGPACK, viol.append)
    first = await mp.recv()
    ok = first.get("type") == "session.ready" and first.get("seq") == 0
    R.check(f"{L} session.ready first on a MessagePack socket (binary frame, map)", ok, "" if ok else repr(first)[:200])
    try:
        extra = await asyncio.wait_for(conn.ws.recv(), TIMEOUT)
        R.check(f"{L} the older socket is closed with 4009 when a new one attaches", False, f"got a message {extra!r}"[:200])
    except ConnectionClosed:
        code, reason = close_of(conn.ws)
        R.check(f"{L} the older socket is closed with 4009 when a new one attaches", code == 4009, f"code={code} reason={reason!r}")
    except asyncio.TimeoutError:
        R.check(f"{L} the older socket is closed with 4009 when a new one attaches", False, "still open")
    await mp.ws.send(json.dumps({"type": "ping", "id": "txt"}))
    await expect_error(mp, L, "text frame on a MessagePack socket", "wrong_frame_type", None, "p7")
    await mp.ws.send(b"\xc1\xc1")
    await expect_error(mp, L, "malformed MessagePack", "invalid_message", None, "p8")
    await mp.send({"type": "ping"})
    m = await expect_reply(mp, lambda m: m["type"] in ("error", "pong"))
    R.check(f"{L} ping without id -> pong without id", m == {"type": "pong"}, repr(m)[:200])
    R.problems(f"{L} every server frame matched its socket's encoding", viol)
    await mp.close()

    # handshake refusals
    await expect_refusal(L, "another user's session", base, sid, "conf-intruder", [JSON], 404, "not_found")
    await expect_refusal(L, "no such session", base, "ses_00000000000000000000000000000000", user, [JSON], 404, "not_found")
    await expect_refusal(L, "no Authorization header", base, sid, None, [JSON], 401, "unauthorized")
    await expect_refusal(L, "only unknown subprotocols", base, sid, user, ["viva.v2.json", "chat"], 400, "bad_request")
    await expect_refusal(L, "last_seq not a u64", base, sid, user, [JSON], 400, "bad_request", last_seq="abc")

    # no subprotocol means JSON without a subprotocol header; last_seq beyond the head -> resumed false
    ws = await ws_connect(base, sid, user, None, last_seq=99)
    try:
        raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
        m = json.loads(raw) if isinstance(raw, str) else None
        R.check(f"{L} no subprotocol -> JSON text frames, none echoed; last_seq beyond head -> resumed false",
                ws.subprotocol is None and isinstance(m, dict) and m.get("type") == "session.ready" and m.get("resumed") is False,
                "" if ws.subprotocol is None and isinstance(m, dict) and m.get("resumed") is False
                else f"subprotocol={ws.subprotocol!r} first={raw!r}"[:200])
    finally:
        await ws.close()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the gateway, e.g. http://127.0.0.1:8080")
    args = ap.parse_args()
    base = args.base.rstrip("/")
    started = time.monotonic()

    status, _, body = await arest(base, "GET", "/v1/plans")
    plans = [p.get("id") for p in body.get("plans", [])] if status == 200 and isinstance(body, dict) else []
    R.check("GET /v1/plans -> 200 with plans", status == 200 and bool(plans) and all(isinstance(p, str) for p in plans),
            f"{plans}" if plans else f"{status} {body!r}"[:200])

    scenarios: list[tuple[str, Callable[[], Any]]] = []
    if plans:
        scenarios.append(("bad input", lambda: scenario_bad_input(base, plans[0])))
        n = 0
        for i, plan in enumerate(plans):
            n += 1
            scenarios.append((f"json {plan}", lambda plan=plan, n=n: scenario_interview(base, plan, JSON, n)))
            if i < 2 or len(plans) <= 4:  # MessagePack: every plan (at least two)
                n += 1
                scenarios.append((f"msgpack {plan}", lambda plan=plan, n=n: scenario_interview(base, plan, MSGPACK, n)))
        n += 1
        scenarios.append((f"resume {plans[0]}", lambda n=n: scenario_resume(base, plans[0], n)))

    for name, run in scenarios:
        try:
            await asyncio.wait_for(run(), 90)
        except Abort:
            pass
        except asyncio.TimeoutError:
            R.check(f"scenario {name} finishes", False, "timed out")
        except Exception as e:  # noqa: BLE001 - a crash is a failed check, not a traceback
            R.check(f"scenario {name} runs without an unexpected exception", False, f"{type(e).__name__}: {e}"[:300])

    kinds = ", ".join(f"{t} {n}" for t, n in sorted(SCHEMA_CHECKED.items()))
    R.problems(f"every server message on a JSON socket matches {SCHEMA_PATH.name} ({sum(SCHEMA_CHECKED.values())}: {kinds})",
               SCHEMA_ERRORS[:10])
    print(f"conformance: ran in {time.monotonic() - started:.1f} s", flush=True)
    print(f"conformance: {R.passed} passed, {R.failed} failed", flush=True)
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
